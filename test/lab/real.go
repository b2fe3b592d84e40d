package lab

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
	"github.com/anycast-operator/anycast-operator/test/traffic"
)

// What the real stack installs on each cluster, as the components' own installations
// would.
const (
	// TraefikNamespace is where Traefik's (stand-in) pod runs; the class's gatewayService
	// names it, and the operator makes each ingress's LoadBalancer Service there.
	TraefikNamespace = "traefik"
	// TraefikClass is the GatewayClass a Traefik installation creates
	// (controllerName traefik.io/gateway-controller); the class's gatewayClassName.
	TraefikClass = "traefik"
	// TraefikEntryPoint is the port of Traefik's entry point "web". Traefik attaches a
	// Gateway listener to the entry point whose port is the listener's port, so it is the
	// listener's port (80) itself, and the Service maps 80 to 80.
	TraefikEntryPoint = 80
	// helloPort is the hello-world pods' container port ("http"); the Service's port is
	// 8080, its targetPort the name "http". It differs from backendPort because every pod
	// here runs on its node's network and east runs both.
	helloPort = 8082
	// backendPort is the backend pods' container port: the port of the sample's
	// cross-cluster service, which Skupper's Connector targets on the pods.
	backendPort = 8080
)

// traefikSelector selects Traefik's pods (its Helm chart's label).
var traefikSelector = map[string]string{"app.kubernetes.io/name": "traefik"}

// realMember is one cluster on the real stack: its node (a namespace of the FRR fabric,
// where the fabric's gobgpd speaker does not run), the real MetalLB controller (in the root
// namespace), speaker, frr-k8s (FRR and its reloader) and Traefik (on the node), the
// stand-ins for the kubelet (Nodes, Pods), the EndpointSlice controller and kube-proxy,
// and the sample's backends, real HTTP servers on the node.
type realMember struct {
	name string
	mode string // realstack.ModeNative or realstack.ModeFRRK8s
	asn  uint32
	spk  *labfabric.Speaker // the node's namespace, addresses and TOR

	cluster    *realstack.Cluster
	node       *realstack.Node
	controller *realstack.Process
	traefik    *realstack.Process
	proxy      *realstack.KubeProxy
	slices     *realstack.EndpointSliceController

	mu      sync.Mutex
	speaker *realstack.Process
	frr     *realstack.FRRK8s
	down    bool // the speaker was killed by the walk-through

	servers []*http.Server
	// entries counts the requests each backend answered, by the cluster they entered
	// through (the cluster whose node the connection came from: east's own Traefik, or
	// west's Skupper router stand-in), by service.
	entries sync.Map // "<service>/<cluster>" -> *atomic.Int64
}

// answered is how many requests a backend of this member answered that entered through
// cluster.
func (m *realMember) answered(service, cluster string) int64 {
	if v, ok := m.entries.Load(service + "/" + cluster); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// nodeIPs are the node's addresses (its link to the TOR).
func (m *realMember) nodeIPs() []netip.Addr { return []netip.Addr{m.spk.Addr, m.spk.Addr6} }

// startRealMember brings up one cluster's real components on its node, in the order an
// installation would: the node, MetalLB's controller, frr-k8s (frr-k8s mode), the speaker,
// Traefik with its GatewayClass, then the workloads.
func (l *Lab) startRealMember(ctx context.Context, c *cluster, mode string, asn uint32, spk *labfabric.Speaker, bin realstack.Binaries) (*realMember, error) {
	rc, err := realstack.NewCluster(c.Name, c.Config, c.Client, c.env.KubeConfig, bin, c.Dir)
	if err != nil {
		return nil, err
	}
	m := &realMember{name: c.Name, mode: mode, asn: asn, spk: spk, cluster: rc}
	rc.Started = func(p *realstack.Process) { _ = recordProc(l.Dir, c.Name+"-"+p.Name, p.Pid()) }
	if m.node, err = rc.AddNode(ctx, c.Name+"-node", spk.NS, m.nodeIPs()...); err != nil {
		return m, fmt.Errorf("%s: node: %w", c.Name, err)
	}
	// The stand-ins first: the components read what they write from their first moment.
	m.slices = &realstack.EndpointSliceController{Client: c.Client}
	m.proxy = &realstack.KubeProxy{Client: c.Client, Node: m.node}
	l.goFixture(m.slices.Run)
	l.goFixture(m.proxy.Run)

	if m.controller, err = rc.StartMetalLBController(ctx, realstack.ControllerOptions{}); err != nil {
		return m, fmt.Errorf("%s: MetalLB controller: %w", c.Name, err)
	}
	if err := m.startSpeaker(ctx); err != nil {
		return m, err
	}
	if err := l.startTraefik(ctx, m); err != nil {
		return m, err
	}
	return m, l.startWorkloads(ctx, m)
}

// startSpeaker starts the node's BGP speaker: MetalLB's speaker in native mode, or
// frr-k8s (FRR, the reloader, the frr-k8s controller) and MetalLB's speaker in frr-k8s
// mode.
func (m *realMember) startSpeaker(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mode == realstack.ModeFRRK8s {
		// In MetalLB's namespace, as MetalLB's Helm chart deploys frr-k8s: the operator reads
		// the BGPSessionStates and writes FRRConfigurations there.
		f, err := m.node.StartFRRK8s(ctx, realstack.FRRK8sOptions{Namespace: MetalLBNamespace, ASN: m.asn})
		if err != nil {
			return fmt.Errorf("%s: frr-k8s: %w", m.name, err)
		}
		m.frr = f
	}
	sp, err := m.node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: m.mode, FRRK8sNamespace: MetalLBNamespace})
	if err != nil {
		return fmt.Errorf("%s: MetalLB speaker (%s): %w", m.name, m.mode, err)
	}
	m.speaker, m.down = sp, false
	return nil
}

// killSpeaker kills the node's BGP speaker at once, as a crash would: MetalLB's speaker
// and, in frr-k8s mode, frr-k8s's pod (its FRR holds the sessions: killing MetalLB's
// speaker alone leaves the FRRConfiguration in place and FRR announcing).
func (m *realMember) killSpeaker() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frr != nil {
		m.frr.Kill()
	}
	m.speaker.Kill()
	m.down = true
}

func (m *realMember) speakerRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.down && m.speaker != nil && m.speaker.Running()
}

// processes are the MetalLB processes whose logs ConfigErrors reads.
func (m *realMember) processes() []*realstack.Process {
	var out []*realstack.Process
	for _, p := range m.cluster.Processes() {
		if p.Name == "metallb-controller" || p.Name == "metallb-speaker" {
			out = append(out, p)
		}
	}
	return out
}

// startTraefik installs Traefik as its chart would (its namespace, its GatewayClass, its
// pod on the node: a stand-in Pod for the kubelet's, on the node's network) and runs it on
// the node with one entry point per listener port.
func (l *Lab) startTraefik(ctx context.Context, m *realMember) error {
	c := m.cluster.Client
	gc := &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: TraefikClass},
		Spec:       gwv1.GatewayClassSpec{ControllerName: realstack.TraefikControllerName},
	}
	if err := c.Create(ctx, gc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: GatewayClass %s: %w", m.name, TraefikClass, err)
	}
	if err := realstack.StandInPodWith(ctx, c, realstack.Pod{
		Namespace: TraefikNamespace, Name: "traefik-" + m.node.Name, Node: m.node.Name, Labels: traefikSelector, IPs: m.nodeIPs(),
		Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: TraefikEntryPoint, Protocol: corev1.ProtocolTCP},
			{Name: "websecure", ContainerPort: TraefikEntryPointSecure, Protocol: corev1.ProtocolTCP}},
	}); err != nil {
		return fmt.Errorf("%s: Traefik's pod: %w", m.name, err)
	}
	tr, err := m.node.StartTraefik(realstack.TraefikOptions{EntryPoints: map[string]int{"web": TraefikEntryPoint, "websecure": TraefikEntryPointSecure}})
	if err != nil {
		return fmt.Errorf("%s: Traefik: %w", m.name, err)
	}
	m.traefik = tr
	return nil
}

// sampleApp is one workload of the sample ingress: a Service in the ingress namespace,
// its pod on the node (on the node's network), and the real HTTP server that pod stands
// for.
type sampleApp struct {
	service    string
	selector   map[string]string
	port       int32 // the Service's port
	targetPort intstr.IntOrString
	podPort    int32
}

// sampleApps are the sample ingress's route backends on a cluster: hello-world on both,
// backend on east only (west reaches it over Skupper).
func sampleApps(cluster string) []sampleApp {
	apps := []sampleApp{{"hello-world", map[string]string{"app": "hello-world"}, 8080, intstr.FromString("http"), helloPort}}
	if cluster == "east" {
		apps = append(apps, sampleApp{"backend", map[string]string{"app": "backend"}, 8080, intstr.FromString("http"), backendPort})
	}
	return apps
}

// startWorkloads runs the sample's backends on the node: for each, a Service, a pod
// (stand-in for the kubelet's) and a real HTTP server on the node that answers with its
// cluster's name, in the body and in the X-Anycast-Cluster header the traffic generator
// reads. Also the Skupper router's pod of the ingress namespace's Site (what the
// router data path stand-in listens for: skupperpath.go).
func (l *Lab) startWorkloads(ctx context.Context, m *realMember) error {
	c := m.cluster.Client
	for _, a := range sampleApps(m.name) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: IngressNamespace, Name: a.service},
			Spec: corev1.ServiceSpec{Selector: a.selector, Ports: []corev1.ServicePort{
				{Name: "http", Port: a.port, TargetPort: a.targetPort, Protocol: corev1.ProtocolTCP},
			}},
		}
		if err := c.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: Service %s: %w", m.name, a.service, err)
		}
		if err := realstack.StandInPodWith(ctx, c, realstack.Pod{
			Namespace: IngressNamespace, Name: a.service + "-" + m.node.Name, Node: m.node.Name, Labels: a.selector, IPs: m.nodeIPs(),
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: a.podPort, Protocol: corev1.ProtocolTCP}},
		}); err != nil {
			return fmt.Errorf("%s: pod of %s: %w", m.name, a.service, err)
		}
		ln, err := realstack.ListenInNetNS(m.node.NetNS, fmt.Sprintf(":%d", a.podPort))
		if err != nil {
			return fmt.Errorf("%s: %s's server: %w", m.name, a.service, err)
		}
		name, service := m.name, a.service
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(traffic.ClusterHeader, name)
			fmt.Fprintf(w, "%s from %s: %s\n", service, name, r.URL.Path)
			n, _ := m.entries.LoadOrStore(service+"/"+l.nodeCluster(r.RemoteAddr, name), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		})}
		m.servers = append(m.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	return realstack.StandInPodWith(ctx, c, realstack.Pod{
		Namespace: IngressNamespace, Name: "skupper-router-" + m.node.Name, Node: m.node.Name, IPs: m.nodeIPs(),
		Labels: map[string]string{"application": "skupper-router", "skupper.io/component": "router"},
	})
}

// close stops the servers; the processes are stopped by the cluster's Close.
func (m *realMember) close() {
	for _, s := range m.servers {
		_ = s.Close()
	}
	m.cluster.Close()
}

// nodeCluster names the cluster whose node a connection came from (its host:port); self
// when it is none of the nodes (a local connection).
func (l *Lab) nodeCluster(remote, self string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return self
	}
	f, ok := l.fabric.(*frrFabric)
	if !ok {
		return self
	}
	a := ap.Addr().Unmap()
	for name, s := range map[string]*labfabric.Speaker{"west": f.f.West, "east": f.f.East} {
		if a == s.Addr || a == s.Addr6 {
			return name
		}
	}
	return self
}

// torAddr is the TOR's address the member peers with (IPv6 on the IPv6 run).
// TORSessionDown shuts, from the TOR's side, the BGP sessions a cluster's TOR holds with
// the cluster's node (FRR's `neighbor <node> shutdown`, as a network team taking the
// port down would), waits until the hub's class shows that member's speakers' sessions
// to the TOR down (the BGPSessionStates the real frr-k8s writes, status.clusters[].speakers,
// SpeakerSessionsEstablished=False), reopens them and waits until the speakers are
// Established again and the ingress is served by both clusters. It returns how long each
// took; the member must run MetalLB in frr-k8s mode.
func (l *Lab) TORSessionDown(ctx context.Context, cluster string) (down, up time.Duration, err error) {
	f, ok := l.fabric.(*frrFabric)
	if !ok || l.real == nil {
		return 0, 0, fmt.Errorf("the TOR session check needs the real stack")
	}
	m := l.real.members[cluster]
	if m == nil || m.mode != realstack.ModeFRRK8s {
		return 0, 0, fmt.Errorf("%s does not run frr-k8s, whose BGPSessionStates the class reports", cluster)
	}
	tor := f.f.TORWest
	if cluster == "east" {
		tor = f.f.TOREast
	}
	shut := func(no string) error {
		args := []string{"-N", tor.NS, "-c", "configure terminal", "-c", fmt.Sprintf("router bgp %d", tor.ASN)}
		for _, a := range []netip.Addr{m.spk.Addr, m.spk.Addr6} {
			args = append(args, "-c", fmt.Sprintf("%sneighbor %s shutdown", no, a))
		}
		if out, err := exec.CommandContext(ctx, "vtysh", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("vtysh on %s: %v: %s", tor.Name, err, out)
		}
		return nil
	}
	speakers := func(s *Snapshot, established bool) error {
		if s.Class == nil {
			return fmt.Errorf("no class")
		}
		for _, c := range s.Class.Status.Clusters {
			if c.Name != cluster {
				continue
			}
			if len(c.Speakers) == 0 {
				return fmt.Errorf("%s: no speaker session in the class status", cluster)
			}
			for _, sp := range c.Speakers {
				if (sp.BGPState == "Established") != established {
					return fmt.Errorf("%s: speakers' session to %s (%s) is %s", cluster, sp.Peer, sp.Address, sp.BGPState)
				}
			}
			want := metav1.ConditionTrue
			if !established {
				want = metav1.ConditionFalse
			}
			return s.classCondition(v1alpha1.ConditionSpeakerSessionsEstablished, want)
		}
		return fmt.Errorf("%s is not in the class status", cluster)
	}
	if err := shut(""); err != nil {
		return 0, 0, err
	}
	down, err = l.measure(ctx, cluster+"'s TOR session down in the class status", StepTimeout, func(s *Snapshot) error { return speakers(s, false) })
	if err != nil {
		_ = shut("no ")
		return 0, 0, err
	}
	if err := shut("no "); err != nil {
		return down, 0, err
	}
	up, err = l.measure(ctx, cluster+"'s TOR session back, the ingress served by both", 2*StepTimeout, func(s *Snapshot) error {
		return errs1(speakers(s, true), s.serving("west", "east"))
	})
	return down, up, err
}

// staticClientRoute routes the clients' network (labfabric.ClientNet) from the node
// through its TOR.
func (m *realMember) staticClientRoute() error {
	out, err := exec.Command("ip", "-n", m.node.NetNS, "route", "replace", labfabric.ClientNet.String(), "via", m.spk.TORAddr.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: static route to %s: %v: %s", m.name, labfabric.ClientNet, err, out)
	}
	return nil
}

// clientRoute is the node's kernel route to the clients' network ("" without one), as
// `ip route` prints it.
func (m *realMember) clientRoute() (string, error) {
	out, err := exec.Command("ip", "-n", m.node.NetNS, "-4", "route", "show", labfabric.ClientNet.String()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: ip route: %v: %s", m.name, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// clientDialer is how the client's requests are made: from the clients' network on the
// IPv4 run of the real stack (so that a node answers them only through a route to it).
func (l *Lab) clientDialer() *net.Dialer {
	if l.real == nil || l.opts.IPv6 {
		return &net.Dialer{}
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: labfabric.ClientHost.AsSlice()}}
}

// ReturnPath is what AsymmetricReturn measured.
type ReturnPath struct {
	// Cluster is the member whose receive was turned off and on again.
	Cluster string
	// DefaultRoute is the node's IPv4 default route during the check: on its management
	// interface.
	DefaultRoute string
	// RouteWith and RouteGoneAfter are the node's kernel route to the clients' network while
	// it receives, and how long after receive was turned off that route was gone.
	RouteWith      string
	RouteGoneAfter time.Duration
	// Sessions are the BGP neighbours of the node's FRR while it receives: the TOR alone
	// (the FRRConfiguration joins MetalLB's session; it opens none of its own).
	Sessions []string
	// Off and On are the probes' outcomes without and with receive.
	Off, On Probe
	// RouteBackAfter is how long after receive was turned on again the route was back.
	RouteBackAfter time.Duration
}

// Probe is one burst of requests from the clients' network to the VIP.
type Probe struct {
	Sent, Failed int
	ByCluster    map[string]int
}

func (p Probe) String() string {
	return fmt.Sprintf("%d sent, %d failed, answered by west %d, east %d", p.Sent, p.Failed, p.ByCluster["west"], p.ByCluster["east"])
}

// AsymmetricReturn shows why the nodes learn the clients' network from their TORs: the
// member's node gets its IPv4 default route on its management interface (as a node with a
// management VLAN has; the lab's walk-through keeps it on the TOR), the member's receive
// is turned off (spec.clusters[].receive: {mode: None}) until its node's
// kernel has no route to the clients left, a burst of requests from the clients' network
// is sent (the requests hashed to that member reach its node, whose answers leave through
// the management interface and are lost), then the class's receive applies again until
// the route is back (learnt over MetalLB's session, proto bgp, via the TOR) and a second
// burst is answered by both members. The real stack's IPv4 run only.
func (l *Lab) AsymmetricReturn(ctx context.Context, cluster string) (r ReturnPath, rerr error) {
	r = ReturnPath{Cluster: cluster}
	if l.real == nil || l.opts.IPv6 {
		return r, fmt.Errorf("the asymmetric-return check runs on the real stack's IPv4 run")
	}
	m := l.real.members[cluster]
	if m == nil || m.mode != realstack.ModeFRRK8s {
		return r, fmt.Errorf("%s does not run frr-k8s, which receives routes", cluster)
	}
	f, ok := l.fabric.(*frrFabric)
	if !ok || !f.f.Mgmt {
		return r, fmt.Errorf("the fabric has no management network")
	}
	// The node's default route moves to its management interface for the check, and back
	// to the TOR after it.
	if err := f.f.MgmtDefault(cluster, true); err != nil {
		return r, err
	}
	defer func() {
		if err := f.f.MgmtDefault(cluster, false); err != nil && rerr == nil {
			rerr = err
		}
	}()
	out, err := exec.Command("ip", "-n", m.node.NetNS, "-4", "route", "show", "default").CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("%s: ip route: %v: %s", cluster, err, out)
	}
	r.DefaultRoute = strings.TrimSpace(string(out))
	route := func(want bool) func() error {
		return func() error {
			rt, err := m.clientRoute()
			if err != nil {
				return err
			}
			if want && !(strings.Contains(rt, "proto bgp") && strings.Contains(rt, "via "+m.spk.TORAddr.String())) {
				return fmt.Errorf("%s's node: route to %s %q, want one learnt by BGP via its TOR %s", cluster, labfabric.ClientNet, rt, m.spk.TORAddr)
			}
			if !want && rt != "" {
				return fmt.Errorf("%s's node still routes %s: %s", cluster, labfabric.ClientNet, rt)
			}
			return nil
		}
	}
	if err := labfabric.WaitFor(StepTimeout, route(true)); err != nil {
		return r, err
	}
	r.RouteWith, _ = m.clientRoute()
	m.mu.Lock()
	frr := m.frr
	m.mu.Unlock()
	nbrs, err := frr.Router.Neighbors()
	if err != nil {
		return r, err
	}
	for a, n := range nbrs {
		r.Sessions = append(r.Sessions, a.String()+" "+n.State)
	}
	sort.Strings(r.Sessions)
	// receiveOff re-applies the samples, with the member opted out of receiving when off.
	receiveOff := func(off bool) error {
		class, _, err := samples(l.fabric, l.sampleOptions())
		if err != nil {
			return err
		}
		if off {
			members, _, _ := unstructured.NestedSlice(class.Object, "spec", "clusters")
			for _, x := range members {
				if mm := x.(map[string]interface{}); mm["name"] == cluster {
					mm["receive"] = map[string]interface{}{"mode": "None"}
				}
			}
			if err := unstructured.SetNestedSlice(class.Object, members, "spec", "clusters"); err != nil {
				return err
			}
		}
		return l.west.Client.Patch(ctx, class, client.Apply, client.FieldOwner("anycast-lab"), client.ForceOwnership)
	}
	t := time.Now()
	if err := receiveOff(true); err != nil {
		return r, err
	}
	if err := labfabric.WaitFor(StepTimeout, route(false)); err != nil {
		return r, err
	}
	r.RouteGoneAfter = time.Since(t)
	if r.Off, err = l.probe(ctx); err != nil {
		return r, err
	}
	t = time.Now()
	if err := receiveOff(false); err != nil {
		return r, err
	}
	if err := labfabric.WaitFor(StepTimeout, route(true)); err != nil {
		return r, err
	}
	r.RouteBackAfter = time.Since(t)
	r.On, err = l.probe(ctx)
	return r, err
}

// probe sends a bounded burst of requests from the clients' network to the VIP, each on a
// new connection (so the core's layer-4 hash spreads them), and counts the answers.
func (l *Lab) probe(ctx context.Context) (Probe, error) {
	f, ok := l.fabric.(*frrFabric)
	if !ok {
		return Probe{}, fmt.Errorf("the probe needs the FRR fabric")
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := realstack.InNetNS(f.f.Client.NS, func() (err error) {
			c, err = l.clientDialer().DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	g, err := traffic.Start(traffic.Config{Target: netip.AddrPortFrom(l.vip.Addr(), 80), Host: TrafficHost, Path: "/hello",
		Allowed: []netip.Prefix{l.vip}, Rate: 20, MaxRequests: 40, MaxDuration: 10 * time.Second, Timeout: time.Second, Dial: dial})
	if err != nil {
		return Probe{}, err
	}
	select {
	case <-g.Done():
	case <-ctx.Done():
		g.Stop()
		return Probe{}, ctx.Err()
	}
	p := Probe{ByCluster: map[string]int{}}
	for _, res := range g.Results() {
		if res.Cut() {
			continue
		}
		p.Sent++
		if res.OK() {
			p.ByCluster[res.Cluster]++
		} else {
			p.Failed++
		}
	}
	return p, nil
}

func (m *realMember) torAddr(ipv6 bool) netip.Addr {
	if ipv6 {
		return m.spk.TORAddr6
	}
	return m.spk.TORAddr
}

// hubRouterPoolName is the platform team's pool for the hub's Skupper router Service, as
// the sample class's routerAccess names it; hubRouterPoolRange is its addresses (RFC 2544
// benchmarking range, unused by the fabric, away from the anycast pools).
const (
	hubRouterPoolName  = "skupper-links"
	hubRouterPoolRange = "198.18.200.0/29"
)

// hubRouterPool creates, on the hub, the MetalLB pool the class's routerAccess names: on
// bare metal the platform team provides it so that MetalLB can address the Skupper
// router's LoadBalancer Service (it is not an anycast pool: no BGPAdvertisement).
func (l *Lab) hubRouterPool(ctx context.Context) error {
	pool := &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: MetalLBNamespace, Name: hubRouterPoolName},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: []string{hubRouterPoolRange}},
	}
	if err := l.west.Client.Create(ctx, pool); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("west: IPAddressPool %s: %w", hubRouterPoolName, err)
	}
	return nil
}

// hubEndpointsFromMetalLB gives the Skupper fixture's hub Site the endpoints the real
// controller would resolve: the address the real MetalLB assigned to the hub's
// skupper-router Service (none until it has one).
func (l *Lab) hubEndpointsFromMetalLB(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		svc := &corev1.Service{}
		host := ""
		if err := l.west.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: "skupper-router"}, svc); err == nil {
			for _, in := range svc.Status.LoadBalancer.Ingress {
				host = in.IP
			}
		}
		if host != "" {
			l.skupper.SetHubRouterHost(host)
		}
		l.skupper.SetHubEndpoints(host != "")
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ConfigErrors lists what the real MetalLB controllers and speakers logged about
// rejecting their configuration (realstack.ConfigErrors), per cluster; nil on the
// stand-in stack.
func (l *Lab) ConfigErrors() []realstack.ConfigError {
	if l.real == nil {
		return nil
	}
	var out []realstack.ConfigError
	for _, name := range []string{"west", "east"} {
		if m := l.real.members[name]; m != nil {
			for _, e := range realstack.ConfigErrors(m.processes()...) {
				e.Process = name + " " + e.Process
				out = append(out, e)
			}
		}
	}
	return out
}

// metallbControllerTails is what each real MetalLB controller last said about Services
// and its configuration (no debug lines, no start-up chatter): a step that times out
// waiting for an address shows it, since the controller's view is not in any status.
// Empty on the stand-in stack.
func (l *Lab) metallbControllerTails() string {
	if l.real == nil {
		return ""
	}
	var b strings.Builder
	for _, name := range []string{"west", "east"} {
		m := l.real.members[name]
		if m == nil {
			continue
		}
		for _, p := range m.processes() {
			if p.Name != "metallb-controller" {
				continue
			}
			data, err := os.ReadFile(p.LogPath)
			if err != nil {
				continue
			}
			var kept []string
			for _, line := range strings.Split(string(data), "\n") {
				if line == "" || strings.Contains(line, `"level":"debug"`) || strings.Contains(line, `"msg":"Starting `) ||
					strings.Contains(line, "ConfigurationStateReconciler") || strings.Contains(line, "PoolStatusReconciler") {
					continue
				}
				if len(line) > 300 {
					line = line[:300] + "..."
				}
				kept = append(kept, line)
			}
			if len(kept) > 12 {
				kept = kept[len(kept)-12:]
			}
			fmt.Fprintf(&b, "\n--- %s metallb-controller.log (tail, no debug) ---\n%s\n", name, strings.Join(kept, "\n"))
		}
	}
	return b.String()
}

// TraefikVerdicts lists what real Traefik did not accept on either cluster: the
// ingress's Gateway not Accepted or not Programmed, a route without an Accepted (and
// ResolvedRefs) parent status. Empty when all is accepted; nil on the stand-in stack.
func (l *Lab) TraefikVerdicts(ctx context.Context) []string {
	if l.real == nil {
		return nil
	}
	var out []string
	for _, c := range []*cluster{l.west, l.east} {
		gw := &gwv1.Gateway{}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: IngressName}, gw); err != nil {
			out = append(out, fmt.Sprintf("%s: Gateway %s: %v", c.Name, IngressName, err))
			continue
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if cond := meta.FindStatusCondition(gw.Status.Conditions, typ); cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != gw.Generation {
				out = append(out, fmt.Sprintf("%s: Gateway %s not %s: %s", c.Name, gw.Name, typ, condString(cond)))
			}
		}
		routes := &gwv1.HTTPRouteList{}
		if err := c.Client.List(ctx, routes, client.InNamespace(IngressNamespace)); err != nil {
			out = append(out, fmt.Sprintf("%s: HTTPRoutes: %v", c.Name, err))
			continue
		}
		if len(routes.Items) == 0 {
			out = append(out, fmt.Sprintf("%s: no HTTPRoute", c.Name))
		}
		for _, r := range routes.Items {
			if len(r.Status.Parents) == 0 {
				out = append(out, fmt.Sprintf("%s: HTTPRoute %s: no status from Traefik", c.Name, r.Name))
			}
			for _, p := range r.Status.Parents {
				for _, typ := range []string{"Accepted", "ResolvedRefs"} {
					if cond := meta.FindStatusCondition(p.Conditions, typ); cond == nil || cond.Status != metav1.ConditionTrue {
						out = append(out, fmt.Sprintf("%s: HTTPRoute %s not %s by %s: %s", c.Name, r.Name, typ, p.ControllerName, condString(cond)))
					}
				}
			}
		}
	}
	return out
}

// Diagnostics are what helps explain a failed walk-through on the real stack, in time
// order: the kube-proxy stand-ins' binds and unbinds, the route changes of the core, the
// TORs, the client and the nodes, and the neighbour events of the routers and the nodes.
func (l *Lab) Diagnostics() []string {
	var out []string
	for _, e := range l.events() {
		out = append(out, e.String())
	}
	return out
}

// Timeline is Diagnostics between from and to: what happened around a failure.
func (l *Lab) Timeline(from, to time.Time) []string {
	var out []string
	for _, e := range l.events() {
		if !e.At.Before(from) && !e.At.After(to) {
			out = append(out, e.String())
		}
	}
	return out
}

// labEvent is one dated line of the diagnostics.
type labEvent struct {
	At   time.Time
	What string
}

func (e labEvent) String() string { return e.At.Format("15:04:05.000") + " " + e.What }

func (l *Lab) events() []labEvent {
	if l.real == nil {
		return nil
	}
	var out []labEvent
	add := func(at time.Time, format string, args ...any) {
		out = append(out, labEvent{At: at, What: fmt.Sprintf(format, args...)})
	}
	for _, name := range []string{"west", "east"} {
		for _, e := range l.real.members[name].proxy.Events() {
			add(e.At, "kube-proxy stand-in on %s: %s", name, e.What)
		}
	}
	if l.traffic != nil {
		routes := func(what string, m *labfabric.RouteMonitor) {
			for _, c := range m.Changes() {
				add(c.At, "%s: %s -> %s", what, hops(c.From), hops(c.To))
			}
		}
		for i, m := range l.traffic.tors {
			routes("TOR "+[]string{"west", "east"}[i]+" route", m)
		}
		routes("core route", l.traffic.core)
		routes("core's route to the clients", l.traffic.coreBack)
		routes("client's route to the VIP", l.traffic.client)
		for i, m := range l.traffic.nodes {
			routes([]string{"west", "east"}[i]+" node's route to the clients", m)
		}
		for _, name := range slices.Sorted(maps.Keys(l.traffic.neigh)) {
			events, dropped := l.traffic.neigh[name].Events()
			if dropped > 0 && len(events) > 0 {
				add(events[0].At, "%s neighbour: %d earlier events not kept", name, dropped)
			}
			for _, e := range events {
				add(e.At, "%s neighbour: %s", name, e.Line)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b labEvent) int { return a.At.Compare(b.At) })
	return out
}

func condString(c *metav1.Condition) string {
	if c == nil {
		return "no condition"
	}
	return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
}

// ProbeIngressIPv6 is the ingress the default real-stack run uses to show the operator
// refusing an IPv6 VIP on the native member; ProbeVIP6 its address (from Pool6).
const (
	ProbeIngressIPv6 = "hello-ipv6"
	ProbeVIP6        = "2001:db8:155::152"
)

// refuseIPv6OnNative applies an ingress with an IPv6 VIP on west alone, whose MetalLB runs
// in native mode (it can neither announce IPv6 nor peer over it, and one IPv6 pool makes
// it reject its whole configuration), and checks that the operator refuses it in status
// (Accepted=False, UnsupportedByMetalLBMode, for the current generation) and applied
// nothing of it on west; then removes it. It returns the refusal as "reason: message".
func (l *Lab) refuseIPv6OnNative(ctx context.Context) (string, error) {
	ing := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Namespace: IngressNamespace, Name: ProbeIngressIPv6},
		Spec: v1alpha1.AnycastIngressSpec{
			ClassName: ClassName, Address: ProbeVIP6, Clusters: []string{"west"},
			Listeners: []v1alpha1.Listener{{Name: "http", Protocol: v1alpha1.ProtocolHTTP, Port: 80}},
		},
	}
	if err := l.west.Client.Create(ctx, ing); err != nil {
		return "", fmt.Errorf("creating %s: %w", ProbeIngressIPv6, err)
	}
	key := client.ObjectKeyFromObject(ing)
	defer func() {
		_ = l.west.Client.Delete(context.Background(), &v1alpha1.AnycastIngress{ObjectMeta: ing.ObjectMeta})
	}()
	var refusal string
	if err := labfabric.WaitFor(time.Minute, func() error {
		got := &v1alpha1.AnycastIngress{}
		if err := l.west.Client.Get(ctx, key, got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted)
		if c == nil || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("no Accepted condition for generation %d yet", got.Generation)
		}
		if c.Status != metav1.ConditionFalse || c.Reason != "UnsupportedByMetalLBMode" || !strings.Contains(c.Message, "west") {
			return fmt.Errorf("Accepted=%s %s: %s; want False, UnsupportedByMetalLBMode, naming west", c.Status, c.Reason, c.Message)
		}
		refusal = c.Reason + ": " + c.Message
		return nil
	}); err != nil {
		return "", fmt.Errorf("the operator did not refuse an IPv6 VIP on the native member west: %w", err)
	}
	// Nothing of it on west: no pool, advertisement, Gateway, Service or route.
	sel := client.MatchingLabels(owner.Ingress(ClassName, IngressNamespace, ProbeIngressIPv6).Labels())
	lists := []client.ObjectList{&metallbv1beta1.IPAddressPoolList{}, &metallbv1beta1.BGPAdvertisementList{}, &gwv1.GatewayList{},
		&corev1.ServiceList{}, &gwv1.HTTPRouteList{}}
	for _, list := range lists {
		if err := l.west.Client.List(ctx, list, sel); err != nil {
			return "", err
		}
		if n := meta.LenList(list); n > 0 {
			return "", fmt.Errorf("the operator refused %s on west but applied %d %T there", ProbeIngressIPv6, n, list)
		}
	}
	if err := l.west.Client.Delete(ctx, ing); err != nil {
		return "", err
	}
	return refusal, labfabric.WaitFor(time.Minute, func() error {
		err := l.west.Client.Get(ctx, key, &v1alpha1.AnycastIngress{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("%s still there (%v)", ProbeIngressIPv6, err)
	})
}
