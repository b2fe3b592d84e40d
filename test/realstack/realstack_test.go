package realstack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	metallbv1beta2 "go.universe.tf/metallb/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

func init() {
	// envtest's CRD installation logs through controller-runtime; nothing to show here.
	ctrllog.SetLogger(logr.Discard())
}

const (
	mlbNS   = realstack.DefaultMetalLBNamespace
	appNS   = "hello"
	vipText = "192.168.155.151"
)

var vip = netip.MustParsePrefix(vipText + "/32")

// vipPool is the pool the operator renders for one ingress: the VIP alone, never
// auto-assigned, for the ingress namespace only.
func vipPool(name, cidr string) *metallbv1beta1.IPAddressPool {
	return &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: name},
		Spec: metallbv1beta1.IPAddressPoolSpec{
			Addresses:  []string{cidr},
			AutoAssign: new(false),
			AllocateTo: &metallbv1beta1.ServiceAllocation{Namespaces: []string{appNS}},
		},
	}
}

// lbService is a LoadBalancer Service asking MetalLB for ip from pool by annotation.
func lbService(name, pool, ip string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if pool != "" {
		svc.Annotations = map[string]string{"metallb.io/address-pool": pool, "metallb.io/loadBalancerIPs": ip}
	}
	return svc
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func ingressIPs(svc *corev1.Service) []string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return ips
}

// noConfigErrors fails the test when a MetalLB process logged that it rejected its
// configuration.
func noConfigErrors(t *testing.T, procs ...*realstack.Process) {
	t.Helper()
	if errs := realstack.ConfigErrors(procs...); len(errs) > 0 {
		t.Fatalf("MetalLB rejected its configuration: %+v", errs)
	}
}

// TestControllerAssignsVIP: the real MetalLB controller gives a LoadBalancer Service that
// asks by annotation for the VIP of a one-/32 pool with autoAssign false exactly that VIP,
// and a Service that does not ask gets nothing from that pool.
func TestControllerAssignsVIP(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB)
	ctx := realstack.Ctx(t)
	cl := realstack.StartCluster(t, bin, "west")
	ctl, err := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, vipPool("vip", vipText+"/32"), lbService("gw", "vip", vipText), lbService("other", "", ""))

	svc := &corev1.Service{}
	realstack.Eventually(t, "the VIP on the Service", time.Minute, func() error {
		if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "gw"}, svc); err != nil {
			return err
		}
		if ips := ingressIPs(svc); !slices.Equal(ips, []string{vipText}) {
			return fmt.Errorf("status.loadBalancer.ingress %v, want [%s]", ips, vipText)
		}
		return nil
	})
	// MetalLB names the pool it allocated from on the Service.
	if got := svc.Annotations["metallb.io/ip-allocated-from-pool"]; got != "vip" {
		t.Errorf("metallb.io/ip-allocated-from-pool = %q, want vip (annotations %v)", got, svc.Annotations)
	}
	other := &corev1.Service{}
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "other"}, other); err != nil {
		t.Fatal(err)
	}
	if ips := ingressIPs(other); len(ips) != 0 {
		t.Errorf("a Service without the annotations got %v from an autoAssign=false pool", ips)
	}
	noConfigErrors(t, ctl)
	realstack.Eventually(t, "the controller's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "controller", metallbv1beta1.ConfigurationResultValid)
	})
}

// stateIs checks the result of one of MetalLB's ConfigurationStates.
func stateIs(ctx context.Context, c client.Client, name string, want metallbv1beta1.ConfigurationResult) error {
	states, err := realstack.ConfigurationStates(ctx, c, mlbNS)
	if err != nil {
		return err
	}
	for _, s := range states {
		if s.Name == name {
			if s.Status.Result != want {
				return fmt.Errorf("ConfigurationState %s: result %q (%q), want %q", name, s.Status.Result, s.Status.ErrorSummary, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no ConfigurationState %s yet (have %d)", name, len(states))
}

// bgpObjects are what the operator renders for one member with one TOR: the peer, and
// the advertisement of the VIP pool to it with a community.
func bgpObjects(pool string, myASN, peerASN uint32, peer netip.Addr) []client.Object {
	return []client.Object{
		&metallbv1beta2.BGPPeer{
			ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: "tor"},
			Spec: metallbv1beta2.BGPPeerSpec{
				MyASN: myASN, ASN: peerASN, Address: peer.String(),
				HoldTime: &metav1.Duration{Duration: 9 * time.Second},
			},
		},
		&metallbv1beta1.BGPAdvertisement{
			ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: pool},
			Spec: metallbv1beta1.BGPAdvertisementSpec{
				IPAddressPools: []string{pool}, Peers: []string{"tor"}, Communities: []string{"65535:100"},
			},
		},
	}
}

// announcedVIP is the Service a speaker announces: the VIP by annotation, with a ready
// endpoint on node (the speaker announces nothing for a Service without one).
func announcedVIP(t *testing.T, cl *realstack.Cluster, node string) *corev1.Service {
	t.Helper()
	ctx := context.Background()
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	svc := lbService("gw", "vip", vipText)
	create(t, cl.Client, vipPool("vip", vipText+"/32"), svc)
	setEndpoint(t, cl, svc, node, true)
	return svc
}

func setEndpoint(t *testing.T, cl *realstack.Cluster, svc *corev1.Service, node string, ready bool) {
	t.Helper()
	ep := realstack.Endpoint{Address: "10.244.0.10", Node: node, NotReady: !ready}
	if err := realstack.StandInEndpointSlice(context.Background(), cl.Client, svc, []realstack.Endpoint{ep}); err != nil {
		t.Fatal(err)
	}
}

// torLacks checks, over a few seconds, that router holds no path for the VIP.
func torLacks(t *testing.T, router *fabric.Router, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		paths, err := router.BGPPaths(vip)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) > 0 {
			t.Fatalf("%s holds the VIP: %+v", router.Name, paths)
		}
	}
}

// torHolds waits until router holds the VIP from the speaker at from, with AS path asPath,
// next hop from.
func torHolds(t *testing.T, router *fabric.Router, from netip.Addr, asPath string) {
	t.Helper()
	realstack.Eventually(t, router.Name+" holds the VIP from the speaker", 2*time.Minute, func() error {
		paths, err := router.BGPPaths(vip)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if p.From == from && p.ASPath == asPath && slices.Contains(p.NextHops, from) && p.Valid {
				return nil
			}
		}
		n, _ := router.Neighbor(from)
		return fmt.Errorf("paths %+v; want one from %s with AS path %q (neighbor %s: %s, last reset %q)", paths, from, asPath, from, n.State, n.LastReset)
	})
}

// startMember plays cluster name of the fabric on the real stack: its API server, the real
// MetalLB controller, and its node "<name>-node" in the namespace of the fabric's speaker
// sp, which is stopped to leave the namespace to the real speaker (started by the test,
// after frr-k8s when frrK8s).
func startMember(t *testing.T, bin realstack.Binaries, name string, sp *fabric.Speaker, frrK8s bool) (*realstack.Cluster, *realstack.Process, *realstack.Node) {
	t.Helper()
	ctx := realstack.Ctx(t)
	sp.Stop()
	cl := realstack.StartCluster(t, bin, name)
	if frrK8s {
		if err := cl.InstallFRRK8sCRDs(); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := cl.AddNode(ctx, name+"-node", sp.NS)
	if err != nil {
		t.Fatal(err)
	}
	return cl, ctl, node
}

// torPeer is the TOR's end of the /30 between a speaker namespace of the fabric and its
// TOR: the speaker has .2, the TOR .1.
func torPeer(speaker netip.Addr) netip.Addr { return speaker.Prev() }

// TestNativeSpeakerAnnounces: the real speaker in native mode, in a node namespace of the
// fabric, peers with the FRR TOR west and the TOR's RIB holds the VIP from it; it follows
// the readiness of the Service's endpoint.
func TestNativeSpeakerAnnounces(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	cl, ctl, node := startMember(t, bin, "west", f.West, false)
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeNative})
	if err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, bgpObjects("vip", fabric.WestASN, fabric.TORWestASN, torPeer(f.West.Addr))...)
	svc := announcedVIP(t, cl, node.Name)
	torHolds(t, f.TORWest, f.West.Addr, fmt.Sprint(fabric.WestASN))

	// The speaker withdraws the VIP when the Service's only endpoint is not ready, and
	// announces it again when it is.
	setEndpoint(t, cl, svc, node.Name, false)
	realstack.Eventually(t, "the VIP withdrawn without a ready endpoint", time.Minute, func() error {
		paths, err := f.TORWest.BGPPaths(vip)
		if err != nil || len(paths) > 0 {
			return fmt.Errorf("paths %+v (%v)", paths, err)
		}
		return nil
	})
	torLacks(t, f.TORWest, 3*time.Second)
	setEndpoint(t, cl, svc, node.Name, true)
	torHolds(t, f.TORWest, f.West.Addr, fmt.Sprint(fabric.WestASN))
	noConfigErrors(t, ctl, sp)
	realstack.Eventually(t, "the speaker's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "speaker-"+node.Name, metallbv1beta1.ConfigurationResultValid)
	})
}

// sessionState is the bgpStatus of the BGPSessionState frr-k8s's status exporter wrote for
// a node and a peer address in ns.
func sessionState(ctx context.Context, c client.Client, ns, node string, peer netip.Addr) (string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: "frrk8s.metallb.io", Version: "v1beta1", Kind: "BGPSessionStateList"})
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return "", err
	}
	var seen []string
	for _, o := range list.Items {
		n, _, _ := unstructured.NestedString(o.Object, "status", "node")
		p, _, _ := unstructured.NestedString(o.Object, "status", "peer")
		st, _, _ := unstructured.NestedString(o.Object, "status", "bgpStatus")
		seen = append(seen, fmt.Sprintf("%s %s %s", n, p, st))
		if a, err := netip.ParseAddr(p); n == node && err == nil && a == peer {
			return st, nil
		}
	}
	return "", fmt.Errorf("no BGPSessionState for %s to %s in %s (there are: %v)", node, peer, ns, seen)
}

// TestFRRK8sSpeakerAnnounces: the real speaker in frr-k8s mode writes its node's
// FRRConfiguration, the real frr-k8s controller on that node turns it into FRR's
// configuration, frr-k8s's reloader applies it to the node's FRR, and that FRR peers with
// the FRR TOR east, whose RIB holds the VIP from the node. frr-k8s's status exporter
// reports that session in a BGPSessionState, and the TOR shutting it down.
func TestFRRK8sSpeakerAnnounces(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB, realstack.ComponentFRRK8s)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	cl, ctl, node := startMember(t, bin, "east", f.East, true)
	frr, err := node.StartFRRK8s(ctx, realstack.FRRK8sOptions{ASN: fabric.EastASN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frr-k8s wrote:\n%s\nreload status %q\nFRR log:\n%s", frr.ConfigFile(), frr.ReloadStatus(), frr.FRRLog())
		}
	})
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeFRRK8s})
	if err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, bgpObjects("vip", fabric.EastASN, fabric.TOREastASN, torPeer(f.East.Addr))...)
	announcedVIP(t, cl, node.Name)

	torHolds(t, f.TOREast, f.East.Addr, fmt.Sprint(fabric.EastASN))
	// The path went through frr-k8s: its config names the VIP, and the node's FRR holds
	// the session.
	if conf := frr.ConfigFile(); !strings.Contains(conf, vip.String()) {
		t.Errorf("frr-k8s's FRR configuration does not name %s:\n%s", vip, conf)
	}
	if st, err := frr.Router.Neighbor(torPeer(f.East.Addr)); err != nil || st.State != "Established" {
		t.Errorf("the node's FRR: neighbor %s is %+v (%v), want Established", torPeer(f.East.Addr), st, err)
	}
	noConfigErrors(t, ctl, sp)
	realstack.Eventually(t, "the speaker's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "speaker-"+node.Name, metallbv1beta1.ConfigurationResultValid)
	})

	// frr-k8s's status exporter reports the node's session to the TOR as FRR sees it: a
	// BGPSessionState (what the operator reads for status.clusters[].speakers), Established,
	// then not once the TOR shuts the session, and Established again.
	peer := torPeer(f.East.Addr)
	session := func(want bool) func() error {
		return func() error {
			st, err := sessionState(ctx, cl.Client, realstack.DefaultFRRK8sNamespace, node.Name, peer)
			if err != nil {
				return err
			}
			if (st == "Established") != want {
				return fmt.Errorf("BGPSessionState of %s to %s: %s", node.Name, peer, st)
			}
			return nil
		}
	}
	realstack.Eventually(t, "a BGPSessionState Established for the TOR", 30*time.Second, session(true))
	shut := func(no string) {
		t.Helper()
		if _, err := f.TOREast.Vtysh(fmt.Sprintf("configure terminal\nrouter bgp %d\n%sneighbor %s shutdown", fabric.TOREastASN, no, f.East.Addr)); err != nil {
			t.Fatal(err)
		}
	}
	shutAt := time.Now()
	shut("")
	realstack.Eventually(t, "the BGPSessionState not Established after the TOR shut the session", 30*time.Second, session(false))
	t.Logf("the TOR shut the session: the BGPSessionState said so %s later (poll interval 2 s)", time.Since(shutAt).Round(10*time.Millisecond))
	shut("no ")
	realstack.Eventually(t, "the BGPSessionState Established again", time.Minute, session(true))
}

// TestOverlappingPoolsInvalid: a pool that overlaps another makes the real MetalLB
// (v0.16.1) reject its whole configuration: both its ConfigurationStates turn Invalid
// with an errorSummary, the controller and the speaker log the rejection (ConfigErrors
// finds it), and the speaker keeps its last good configuration: a BGPAdvertisement deleted
// meanwhile is still announced until the overlap is gone.
func TestOverlappingPoolsInvalid(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	cl, ctl, node := startMember(t, bin, "west", f.West, false)
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bgp := bgpObjects("vip", fabric.WestASN, fabric.TORWestASN, torPeer(f.West.Addr))
	create(t, cl.Client, bgp...)
	announcedVIP(t, cl, node.Name)
	torHolds(t, f.TORWest, f.West.Addr, fmt.Sprint(fabric.WestASN))
	for _, name := range []string{"controller", "speaker-" + node.Name} {
		realstack.Eventually(t, name+" Valid", 30*time.Second, func() error {
			return stateIs(ctx, cl.Client, name, metallbv1beta1.ConfigurationResultValid)
		})
	}
	noConfigErrors(t, ctl, sp)

	// A site-wide pool covering the VIP, as a platform team may already have.
	site := &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: "site"},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"192.168.155.0/24"}},
	}
	create(t, cl.Client, site)
	for _, name := range []string{"controller", "speaker-" + node.Name} {
		realstack.Eventually(t, name+" Invalid", time.Minute, func() error {
			return stateIs(ctx, cl.Client, name, metallbv1beta1.ConfigurationResultInvalid)
		})
	}
	states, err := realstack.ConfigurationStates(ctx, cl.Client, mlbNS)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		t.Logf("ConfigurationState %s/%s labels %v: result %q errorSummary %q", st.Namespace, st.Name, st.Labels, st.Status.Result, st.Status.ErrorSummary)
		for _, c := range st.Status.Conditions {
			t.Logf("  condition %s=%s reason %s: %q", c.Type, c.Status, c.Reason, c.Message)
		}
		if !strings.Contains(st.Status.ErrorSummary, "overlaps") {
			t.Errorf("ConfigurationState %s: errorSummary %q does not name the overlap", st.Name, st.Status.ErrorSummary)
		}
	}
	wantLabels := map[string]map[string]string{
		"controller":           {"metallb.io/component-type": "controller"},
		"speaker-" + node.Name: {"metallb.io/component-type": "speaker", "metallb.io/node-name": node.Name},
	}
	for _, st := range states {
		for k, v := range wantLabels[st.Name] {
			if st.Labels[k] != v {
				t.Errorf("ConfigurationState %s: label %s=%q, want %q", st.Name, k, st.Labels[k], v)
			}
		}
	}
	errs := realstack.ConfigErrors(ctl, sp)
	for _, e := range errs {
		t.Logf("%s logged: %s", e.Process, e.Line)
	}
	for _, p := range []*realstack.Process{ctl, sp} {
		if !slices.ContainsFunc(errs, func(e realstack.ConfigError) bool {
			return e.Process == p.Name && strings.Contains(e.Message, "overlaps")
		}) {
			t.Errorf("ConfigErrors found no overlap in the %s's log", p.Name)
		}
	}

	// Frozen: the speaker keeps the last good configuration, so withdrawing the
	// advertisement does nothing while the overlap stays.
	if err := cl.Client.Delete(ctx, bgp[1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	torHolds(t, f.TORWest, f.West.Addr, fmt.Sprint(fabric.WestASN))
	// Without the overlap the configuration is valid again, and the deletion takes effect.
	if err := cl.Client.Delete(ctx, site); err != nil {
		t.Fatal(err)
	}
	realstack.Eventually(t, "the TOR drops the VIP once the configuration is valid again", time.Minute, func() error {
		paths, err := f.TORWest.BGPPaths(vip)
		if err != nil {
			return err
		}
		if len(paths) > 0 {
			return fmt.Errorf("still %+v", paths)
		}
		return nil
	})
	realstack.Eventually(t, "speaker Valid again", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "speaker-"+node.Name, metallbv1beta1.ConfigurationResultValid)
	})
}

// TestTraefikServesGateway: real Traefik, in a node namespace with its Kubernetes Gateway
// provider, programs a Gateway of its GatewayClass and an HTTPRoute to a backend Service
// whose endpoint (from an EndpointSlice with a named port) is a real HTTP server on the
// node; an HTTP GET to Traefik's entry point is answered 200 by that backend.
func TestTraefikServesGateway(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentTraefik)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	cl := realstack.StartCluster(t, bin, "west")
	node, err := cl.AddNode(ctx, "west-node", f.West.NS)
	if err != nil {
		t.Fatal(err)
	}
	// The backend: a real HTTP server on the node's address (Traefik skips loopback
	// endpoints).
	backendAddr := netip.AddrPortFrom(f.West.Addr, 8080)
	ln, err := realstack.ListenInNetNS(node.NetNS, backendAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from west %s", r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	backend := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "backend"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "backend"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	create(t, cl.Client, backend)
	if err := realstack.StandInEndpointSlice(ctx, cl.Client, backend, []realstack.Endpoint{{Address: f.West.Addr.String(), Node: node.Name}}); err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client,
		&gwv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: "traefik"},
			Spec:       gwv1.GatewayClassSpec{ControllerName: realstack.TraefikControllerName},
		},
		&gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "gw"},
			Spec: gwv1.GatewaySpec{
				GatewayClassName: "traefik",
				Listeners:        []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}},
			},
		},
		&gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "hello"},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
				Rules: []gwv1.HTTPRouteRule{{
					Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{
						Type: new(gwv1.PathMatchPathPrefix), Value: new("/hello"),
					}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
						Name: "backend", Port: new(gwv1.PortNumber(8080)),
					}}}},
				}},
			},
		},
	)
	tr, err := node.StartTraefik(realstack.TraefikOptions{EntryPoints: map[string]int{"web": 80}})
	if err != nil {
		t.Fatal(err)
	}

	httpc := realstack.HTTPClientInNetNS(node.NetNS, 5*time.Second)
	url := fmt.Sprintf("http://%s/hello", netip.AddrPortFrom(f.West.Addr, 80))
	realstack.Eventually(t, "GET "+url+" through Traefik", time.Minute, func() error {
		resp, err := httpc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "hello from west /hello" {
			return fmt.Errorf("%s: %q", resp.Status, body)
		}
		return nil
	})
	// Only the route's path is routed.
	if resp, err := httpc.Get(fmt.Sprintf("http://%s/other", netip.AddrPortFrom(f.West.Addr, 80))); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /other: %s, want 404 (no route)", resp.Status)
		}
	}
	// Traefik's own verdicts, in status.
	gw := &gwv1.Gateway{}
	realstack.Eventually(t, "Gateway Programmed", 30*time.Second, func() error {
		if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "gw"}, gw); err != nil {
			return err
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if c := meta.FindStatusCondition(gw.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("Gateway %s: %+v", typ, c)
			}
		}
		return nil
	})
	route := &gwv1.HTTPRoute{}
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "hello"}, route); err != nil {
		t.Fatal(err)
	}
	if len(route.Status.Parents) != 1 || meta.FindStatusCondition(route.Status.Parents[0].Conditions, "Accepted") == nil ||
		!meta.IsStatusConditionTrue(route.Status.Parents[0].Conditions, "Accepted") {
		t.Errorf("HTTPRoute status %+v, want Accepted by its Gateway", route.Status.Parents)
	}
	t.Logf("Gateway status: %+v", gw.Status)
	_ = tr
}
