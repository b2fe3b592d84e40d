// Package lab runs the reference topology of docs/lab.md on one machine: two control
// planes, west (the hub, where the operator runs) and east (a spoke registered through
// its kubeconfig Secret), the operator binary in hub mode, the BGP fabric (FRR routers in
// network namespaces, or GoBGP routers in this process on loopback addresses when FRR
// cannot run), the Skupper controllers' fixture (test/fixtures/skupper), and the samples
// of config/samples, on one of two stacks:
//
//   - the real stack (default where it can run: root, FRR, the components built by
//     `make real-components`): each cluster has a node, a network namespace of the FRR
//     fabric, where the upstream MetalLB speaker (west native, east frr-k8s with the real
//     frr-k8s and FRR), Traefik and the sample's HTTP backends run; the upstream MetalLB
//     controller assigns the VIP; real HTTP traffic from the client router's namespace
//     reaches the VIP through the core's ECMP route (real.go, traffic.go). Stand-ins
//     remain only for the kubelet, the EndpointSlice controller, kube-proxy and the
//     Skupper router's data path (skupperpath.go);
//   - the stand-in stack (LAB_STACK=standin, and what a machine without root gets): a
//     MetalLB speaker stand-in per cluster (test/lab/speaker) and the Gateway
//     implementation stand-in (test/fixtures/gateway); no packet reaches the VIP.
//
// It prints a table of what the clusters, the operator, the core router, the client
// router (AS 64500, beyond the core) and the traffic say, and walks through a drain, an
// undrain and a speaker failure with measured timings, checking that the client keeps a
// path to the VIP (and, on the real stack, that requests keep being answered).
//
// `make lab` (cmd/anycast-lab) and the end-to-end test (test/lab) drive it. Everything
// it starts is recorded under its directory (pid files in run/, the fabric's block in
// fabric), so Down removes it all, also after a crash of the process that started it.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperfixture "github.com/anycast-operator/anycast-operator/test/fixtures/skupper"
	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// Options configure a lab.
type Options struct {
	// Dir holds everything the lab writes: kubeconfigs, pid files, etcd data, logs.
	Dir string
	// Fabric is FabricAuto (default), FabricFRR or FabricGoBGP.
	Fabric string
	// Stack is StackAuto (default), StackReal or StackStandin.
	Stack string
	// IPv6 runs the real stack with an IPv6 VIP, both members in MetalLB's frr-k8s mode
	// peering with their TORs over IPv6 (native mode can neither announce IPv6 nor peer
	// over it).
	IPv6 bool
	// BMP makes the watcher a BMP collector that the core and both TORs stream to (FRR's
	// BMP module), instead of a BGP session to the core: the FRR fabric only.
	BMP bool
	// OperatorBinary is the anycast-operator binary to run.
	OperatorBinary string
	// Out receives progress lines (default: discarded).
	Out io.Writer
}

// Lab is a running lab.
type Lab struct {
	Dir        string
	FabricMode string
	// FabricReason says why this fabric runs (auto mode's choice).
	FabricReason string
	// StackMode is StackReal or StackStandin; StackReason says why.
	StackMode, StackReason string
	// Timings of the bring-up, in order.
	Timings []Timing
	// IPv6Refusal is what the operator said about an IPv6 VIP on the native member (the
	// default real stack checks it at bring-up), as "reason: message".
	IPv6Refusal string
	// Rotation is what the client saw of the walk-through's certificate renewal on the
	// hub; Stale of the renewal while east refused its copy (real stack).
	Rotation, Stale Rotation

	opts      Options
	vip       netip.Prefix
	fabric    bgpFabric
	west      *cluster
	east      *cluster
	operator  *exec.Cmd
	opExited  chan struct{}
	opErr     error
	stands    map[string]*speaker.Speaker // the stand-in stack's speakers
	real      *realStack                  // the real stack, nil on the stand-ins
	traffic   *labTraffic                 // the real stack's traffic, once started
	certs     *labCerts                   // the real stack's HTTPS certificates
	skupper   *skupperfixture.Fixture
	runCtx    context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   time.Time
	closeOnce sync.Once
}

// realStack is what runs the real components of both clusters.
type realStack struct {
	bin     realstack.Binaries
	members map[string]*realMember
	path    *skupperRouterPath
}

// Timing is one measured phase or step.
type Timing struct {
	What string
	Took time.Duration
}

func (l *Lab) printf(format string, args ...any) {
	if l.opts.Out != nil {
		fmt.Fprintf(l.opts.Out, format, args...)
	}
}

func (l *Lab) phase(what string, start time.Time) {
	d := time.Since(start)
	l.Timings = append(l.Timings, Timing{What: what, Took: d})
	l.printf("  %-58s %s\n", what, fmtDur(d))
}

// goFixture runs a stand-in until the lab closes.
func (l *Lab) goFixture(run func(context.Context)) {
	l.wg.Add(1)
	go func() { defer l.wg.Done(); run(l.runCtx) }()
}

// Up removes whatever an earlier lab in opts.Dir left (Down), then brings up the whole
// lab and waits until the sample ingress is Ready with ECMP at the core and the client
// router has a path to the VIP (and, on the real stack, both clusters answer the
// client's requests). On error, everything started is removed again.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Dir == "" {
		opts.Dir = "lab"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	l := &Lab{Dir: dir, opts: opts, stands: map[string]*speaker.Speaker{}, started: time.Now()}
	l.runCtx, l.cancel = context.WithCancel(context.Background())
	if err := l.up(ctx); err != nil {
		if l.operator != nil {
			err = fmt.Errorf("%w%s", err, l.operatorLogTail())
		}
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) up(ctx context.Context) error {
	t := time.Now()
	if err := Down(l.Dir); err != nil {
		return fmt.Errorf("removing the previous lab: %w", err)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	if err := recordProc(l.Dir, "lab", os.Getpid()); err != nil {
		return err
	}
	l.phase("previous lab removed", t)

	stack, why, err := chooseStack(l.opts.Stack, l.opts.Fabric)
	if err != nil {
		return err
	}
	l.StackMode, l.StackReason = stack, why
	fabricAsked := l.opts.Fabric
	if stack == StackReal {
		fabricAsked = FabricFRR
	} else if l.opts.IPv6 {
		return fmt.Errorf("the IPv6 walk-through runs on the real stack only (stack: %s, %s)", stack, why)
	}
	mode, fwhy, err := chooseFabric(fabricAsked)
	if err != nil {
		return err
	}
	l.FabricMode, l.FabricReason = mode, fwhy
	if l.opts.BMP && mode != FabricFRR {
		return fmt.Errorf("the BMP watcher needs the FRR fabric, whose routers stream BMP (fabric: %s, %s)", mode, fwhy)
	}
	l.vip = netip.PrefixFrom(netip.MustParseAddr(VIP), 32)
	if l.opts.IPv6 {
		l.vip = netip.PrefixFrom(netip.MustParseAddr(VIP6), 128)
	}
	l.printf("  stack: %s (%s)\n", strings.ToUpper(stack), why)

	var extraCRDs []string
	if stack == StackReal {
		if l.real, err = newRealStack(); err != nil {
			return err
		}
		extraCRDs = append(extraCRDs, l.real.bin.FRRK8sCRDs())
	}

	// The control planes and the fabric come up side by side.
	t = time.Now()
	var wg sync.WaitGroup
	var westErr, eastErr, fabErr error
	var fabTook time.Duration
	wg.Add(3)
	go func() { defer wg.Done(); l.west, westErr = startCluster(l.Dir, "west", extraCRDs...) }()
	go func() { defer wg.Done(); l.east, eastErr = startCluster(l.Dir, "east", extraCRDs...) }()
	go func() {
		defer wg.Done()
		ft := time.Now()
		l.fabric, fabErr = l.startFabric(ctx, mode)
		fabTook = time.Since(ft)
	}()
	wg.Wait()
	if err := errors.Join(westErr, eastErr, fabErr); err != nil {
		return err
	}
	l.Timings = append(l.Timings, Timing{What: "BGP fabric up, sessions Established", Took: fabTook})
	l.printf("  %-58s %s\n", "BGP fabric up ("+mode+"), sessions Established", fmtDur(fabTook))
	l.phase("control planes west and east up, CRDs installed", t)

	if err := l.prepareClusters(ctx); err != nil {
		return err
	}
	if l.real != nil {
		t = time.Now()
		if err := l.createCertificate(ctx); err != nil {
			return err
		}
		if err := l.startReal(ctx); err != nil {
			return err
		}
		l.phase("real stack up: MetalLB, frr-k8s, Traefik, backends", t)
	}
	t = time.Now()
	if err := l.startOperator(ctx); err != nil {
		return err
	}
	l.phase("operator running and ready (hub mode, east registered)", t)

	if err := l.startFixtures(l.runCtx); err != nil {
		return err
	}

	t = time.Now()
	class, ingress, err := samples(l.fabric, l.sampleOptions())
	if err != nil {
		return err
	}
	for _, o := range []client.Object{class, ingress} {
		if err := l.west.Client.Patch(ctx, o, client.Apply, client.FieldOwner("anycast-lab"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	if err := l.waitFor(ctx, "the sample ingress Ready with both clusters at the core and a path at the client", 3*time.Minute, func(s *Snapshot) error {
		return errs1(s.serving("west", "east"), s.clientReaches())
	}); err != nil {
		return err
	}
	l.phase("samples applied -> hello Ready, ECMP at core, client path", t)
	if l.real == nil {
		return nil
	}
	return l.upTraffic(ctx)
}

// upTraffic starts the real stack's traffic and waits until both clusters answer it and
// /api enters through both; then, on the default (IPv4) run, shows the operator refusing
// an IPv6 VIP on the native member.
func (l *Lab) upTraffic(ctx context.Context) error {
	t := time.Now()
	if problems := l.TraefikVerdicts(ctx); len(problems) > 0 {
		return fmt.Errorf("Traefik does not accept the operator's objects: %s", strings.Join(problems, "; "))
	}
	f, ok := l.fabric.(*frrFabric)
	if !ok {
		return fmt.Errorf("the real stack needs the FRR fabric")
	}
	before := l.apiEntries()
	if err := l.startTraffic(f); err != nil {
		return err
	}
	if err := l.waitFor(ctx, "both clusters answer the client's requests to the VIP, /api through both", 2*time.Minute, func(*Snapshot) error {
		return errs1(l.traffic.answered(t, 5, time.Second, "west", "east"), l.traffic.apiThroughBoth(t, before))
	}); err != nil {
		return err
	}
	l.phase("traffic: both clusters answer, /api through both entries", t)
	if l.opts.IPv6 {
		return nil
	}
	t = time.Now()
	refusal, err := l.refuseIPv6OnNative(ctx)
	if err != nil {
		return err
	}
	l.IPv6Refusal = refusal
	l.phase("IPv6 VIP on the native member refused, nothing applied", t)
	return nil
}

// sampleOptions says how the samples are changed for this lab.
func (l *Lab) sampleOptions() sampleOptions {
	o := sampleOptions{vip: l.vip.Addr()}
	if f, ok := l.fabric.(*frrFabric); ok && l.opts.BMP {
		o.bmp = f.bmpWatcher()
	}
	if l.real == nil {
		return o
	}
	o.real, o.receive = true, !l.opts.IPv6
	for _, m := range l.real.members {
		o.members = append(o.members, sampleMember{name: m.name, mode: m.mode, tor: m.torAddr(l.opts.IPv6), torASN: m.spk.TORASN})
	}
	return o
}

// newRealStack finds the real components.
func newRealStack() (*realStack, error) {
	bin, err := realstack.Locate()
	if err != nil {
		return nil, err
	}
	return &realStack{bin: bin, members: map[string]*realMember{}}, nil
}

// startReal brings up both clusters' real components side by side: west native (frr-k8s
// for IPv6), east frr-k8s, each on the node of its fabric namespace.
func (l *Lab) startReal(ctx context.Context) error {
	f, ok := l.fabric.(*frrFabric)
	if !ok {
		return fmt.Errorf("the real stack needs the FRR fabric")
	}
	westMode := realstack.ModeNative
	if l.opts.IPv6 {
		westMode = realstack.ModeFRRK8s
	}
	type spec struct {
		c    *cluster
		mode string
		asn  uint32
		spk  *labfabric.Speaker
	}
	specs := []spec{{l.west, westMode, labfabric.WestASN, f.f.West}, {l.east, realstack.ModeFRRK8s, labfabric.EastASN, f.f.East}}
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	members := make([]*realMember, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			members[i], errs[i] = l.startRealMember(ctx, s.c, s.mode, s.asn, s.spk, l.real.bin)
		}()
	}
	wg.Wait()
	for _, m := range members {
		if m != nil {
			l.real.members[m.name] = m
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.real.path = &skupperRouterPath{members: l.real.members}
	// Native mode cannot receive the clients' network from the TOR: its node gets the static
	// route a platform team would add (its default route leads to the management network).
	for _, m := range l.real.members {
		if m.mode == realstack.ModeNative {
			if err := m.staticClientRoute(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Lab) startFabric(ctx context.Context, mode string) (bgpFabric, error) {
	if mode == FabricFRR {
		// The real stack's speakers run on the nodes, and its traffic crosses the fabric.
		opts := labfabric.Options{Client: true, Nodes: l.real != nil, DataPlane: l.real != nil, Mgmt: l.real != nil}
		if l.opts.BMP {
			p, err := realstack.FreePort()
			if err != nil {
				return nil, err
			}
			opts.BMPPort = uint16(p)
		}
		f, err := newFRRFabric(opts)
		if err != nil {
			return nil, fmt.Errorf("building the FRR fabric (LAB_FABRIC=gobgp runs the GoBGP fabric instead): %w", err)
		}
		if err := os.WriteFile(filepath.Join(l.Dir, "fabric"), []byte(fmt.Sprintf("frr %d\n", f.Block())), 0o644); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	log, err := os.OpenFile(filepath.Join(l.Dir, "gobgp.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	f, err := newGoFabric(ctx, log)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("building the GoBGP fabric: %w", err)
	}
	return f, os.WriteFile(filepath.Join(l.Dir, "fabric"), []byte("gobgp\n"), 0o644)
}

// prepareClusters creates what an installation would have: the operator namespace and
// east's kubeconfig Secret on the hub, MetalLB's namespace on both clusters, the
// application's namespace on both (its workloads run there).
func (l *Lab) prepareClusters(ctx context.Context) error {
	ns := map[*cluster][]string{
		l.west: {OperatorNamespace, MetalLBNamespace, IngressNamespace},
		l.east: {MetalLBNamespace, IngressNamespace},
	}
	for c, names := range ns {
		for _, n := range names {
			if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: namespace %s: %w", c.Name, n, err)
			}
		}
	}
	kc, err := os.ReadFile(l.east.Kubeconfig)
	if err != nil {
		return err
	}
	return l.west.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: EastSecret, Namespace: OperatorNamespace},
		Data:       map[string][]byte{"kubeconfig": kc},
	})
}

// startOperator runs the operator binary against west, as a Deployment would: the
// operator namespace, no leader election (one replica), probes on a local port.
func (l *Lab) startOperator(ctx context.Context) error {
	bin := l.opts.OperatorBinary
	if bin == "" {
		return fmt.Errorf("no operator binary (make build writes bin/anycast-operator)")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("operator binary: %w (make build writes bin/anycast-operator)", err)
	}
	probe, err := freeLocalPort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(l.Dir, "operator.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin,
		"--namespace="+OperatorNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address="+probe,
		"--zap-log-level=info",
		// The HTTPS listener's certificate is copied from the hub's Secret there; a
		// renewal is seen at once.
		"--certificate-namespaces="+IngressNamespace)
	// The binary reads its cluster from KUBECONFIG (controller-runtime's GetConfig).
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.west.Kubeconfig)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (a terminal's Ctrl-C reaches only the lab, which stops it in
	// order), and killed with the lab if the lab is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	l.operator = cmd
	l.opExited = make(chan struct{})
	go func() {
		l.opErr = cmd.Wait()
		_ = logf.Close()
		close(l.opExited)
	}()
	if err := recordProc(l.Dir, "operator", cmd.Process.Pid); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-l.opExited:
			return fmt.Errorf("the operator exited: %v", l.opErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := hc.Get("http://" + probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator is not ready after a minute (/readyz on %s)", probe)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeLocalPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// OperatorPid is the operator's process id.
func (l *Lab) OperatorPid() int {
	if l.operator == nil || l.operator.Process == nil {
		return 0
	}
	return l.operator.Process.Pid
}

// OperatorRunning says whether the operator process still runs.
func (l *Lab) OperatorRunning() bool {
	if l.opExited == nil {
		return false
	}
	select {
	case <-l.opExited:
		return false
	default:
		return true
	}
}

func (l *Lab) operatorLogTail() string {
	b, err := os.ReadFile(filepath.Join(l.Dir, "operator.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\n--- operator.log (tail) ---\n" + string(b)
}

// startFixtures runs what stands in for the controllers the lab has no room for. On the
// stand-in stack: each cluster's Gateway implementation with MetalLB's address assignment
// and the sample's workloads (apps.go), a MetalLB speaker per cluster announcing, as
// MetalLB's does, the addresses LoadBalancer Services hold. On both: the Skupper
// controllers' status writes, with the router stand-in on; on the real stack the hub
// Site's endpoints come from the address the real MetalLB gives its skupper-router
// Service, and the routers' data path is skupperpath.go's relay.
func (l *Lab) startFixtures(ctx context.Context) error {
	l.skupper = &skupperfixture.Fixture{Hub: l.west.Client, HubSite: "west", Spokes: map[string]client.Client{"east": l.east.Client},
		Interval: 250 * time.Millisecond}
	l.skupper.SetRouter(true) // the stand-in for the skupper-router pods
	if l.real != nil {
		if err := l.hubRouterPool(ctx); err != nil {
			return err
		}
		l.goFixture(l.hubEndpointsFromMetalLB)
		l.goFixture(l.real.path.Run)
	} else {
		l.skupper.SetHubEndpoints(true)
	}
	l.goFixture(l.skupper.Run)
	if l.real != nil {
		return nil
	}
	for _, c := range []*cluster{l.west, l.east} {
		s := &speaker.Speaker{Client: c.Client, Namespace: MetalLBNamespace, Announcer: l.fabric.Announcer(c.Name),
			AnnounceServices: true}
		l.stands[c.Name] = s
		l.goFixture(func(ctx context.Context) { _ = s.Run(ctx) })
	}
	l.startGateways(ctx)
	return l.startBackends(ctx)
}

// Kubeconfig is the path of a cluster's admin kubeconfig.
func (l *Lab) Kubeconfig(cluster string) string {
	return filepath.Join(l.Dir, cluster+".kubeconfig")
}

// Client is a cluster's client.
func (l *Lab) Client(cluster string) client.WithWatch {
	if cluster == "east" {
		return l.east.Client
	}
	return l.west.Client
}

// Close stops everything in reverse order and removes the lab directory: the traffic
// first (it is bounded, and stopped on every exit path), then the stand-ins, the
// operator, the real components, the fabric and the control planes.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
		if l.traffic != nil {
			l.traffic.stop()
		}
		if l.cancel != nil {
			l.cancel()
			l.wg.Wait()
		}
		if l.operator != nil && l.OperatorRunning() {
			_ = l.operator.Process.Signal(syscall.SIGTERM)
			select {
			case <-l.opExited:
			case <-time.After(10 * time.Second):
				_ = l.operator.Process.Kill()
				<-l.opExited
			}
		}
		if l.real != nil {
			for _, m := range l.real.members {
				m.close()
			}
		}
		if l.fabric != nil {
			l.fabric.Close()
		}
		for _, c := range []*cluster{l.west, l.east} {
			if c != nil {
				c.stop()
			}
		}
		_ = Down(l.Dir)
	})
}

// Down removes everything a lab in dir left: the lab process itself if it still runs
// (LAB_KEEP), every recorded process (operator, kube-apiservers, etcds), the FRR fabric's
// namespaces and daemons, and the directory. It is what `make lab-down` runs, and what
// Up runs first.
func Down(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return sweepFabrics()
	}
	var list []error
	procs := recordedProcs(dir)
	// The lab first: a kept lab tears itself down in order when told to.
	var rest []procRecord
	for _, p := range procs {
		switch {
		case p.Name == "lab" && p.Pid != os.Getpid():
			list = append(list, stopProc(p, 30*time.Second))
		case p.Name != "lab":
			rest = append(rest, p)
		}
	}
	// A control plane process started but not yet recorded when the lab died is found by
	// its name and the directory on its command line.
	for _, pid := range strays(dir) {
		if start, err := procStart(pid); err == nil {
			rest = append(rest, procRecord{Name: procComm(pid), Pid: pid, Start: start})
		}
	}
	// The API servers and etcds hold nothing worth a graceful stop: their data goes too.
	list = append(list, stopProcs(rest, 2*time.Second))
	list = append(list, sweepFabrics())
	if err := os.RemoveAll(dir); err != nil {
		list = append(list, err)
	}
	return errors.Join(list...)
}

// sweepFabrics removes FRR fabrics whose owner is dead (a crashed lab's included); live
// fabrics of other processes are untouched.
func sweepFabrics() error {
	if labfabric.Available() != nil {
		return nil
	}
	return labfabric.Sweep()
}

// strays are kube-apiserver, etcd, anycast-operator and real-component processes whose
// command line names dir (the real components' kubeconfigs are in it).
func strays(dir string) []int {
	var out []int
	for _, bin := range []string{"kube-apiserver", "etcd", "anycast-operator", "controller", "speaker", "traefik", "frr-k8s-controller", "frr-status"} {
		for _, pid := range procsMatching(0, dir+string(filepath.Separator)) {
			if comm := procComm(pid); comm != "" && strings.HasPrefix(bin, comm) { // comm is cut at 15 bytes
				out = append(out, pid)
			}
		}
	}
	return out
}

// Record is what a lab directory says was started: the recorded processes and the FRR
// fabric's block (-1 for none). Read it before Down to check afterwards, with
// Leftovers, that nothing survived.
type Record struct {
	Dir   string
	Procs []procRecord
	Block int
}

// ReadRecord reads a lab directory's records.
func ReadRecord(dir string) Record {
	dir, _ = filepath.Abs(dir)
	r := Record{Dir: dir, Procs: recordedProcs(dir), Block: -1}
	if b, err := os.ReadFile(filepath.Join(dir, "fabric")); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 && f[0] == "frr" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				r.Block = n
			}
		}
	}
	return r
}

// Leftovers lists what of r still exists: recorded processes alive, the FRR block's
// namespaces and run directory, the lab directory. Empty after Down.
func (r Record) Leftovers() []string {
	var out []string
	for _, p := range r.Procs {
		if p.alive() && p.Pid != os.Getpid() {
			out = append(out, fmt.Sprintf("process %s (pid %d)", p.Name, p.Pid))
		}
	}
	// The block may be another live process's by now (a test's fabric took it once this
	// lab released it): its namespaces are that process's.
	if owner := labfabric.BlockOwner(r.Block); r.Block >= 0 && (owner == 0 || owner == os.Getpid() || r.recorded(owner)) {
		for _, ns := range labfabric.BlockNamespaces(r.Block) {
			out = append(out, "namespace "+ns)
		}
		// One per FRR router: core, TORs, client.
		dirs, _ := filepath.Glob(filepath.Join("/var/run/frr", fmt.Sprintf("acf-%d-*", r.Block)))
		for _, d := range dirs {
			out = append(out, "FRR run directory "+d)
		}
	}
	if _, err := os.Stat(r.Dir); err == nil {
		out = append(out, "directory "+r.Dir)
	}
	return out
}

// recorded says whether pid is one of the recorded processes (the lab's own, when the
// fabric was built by the lab process).
func (r Record) recorded(pid int) bool {
	for _, p := range r.Procs {
		if p.Pid == pid {
			return true
		}
	}
	return false
}

// Strays lists kube-apiserver, etcd, operator and real-component processes naming dir on
// their command line, recorded or not: none once a lab in dir is down.
func Strays(dir string) []string {
	dir, _ = filepath.Abs(dir)
	var out []string
	for _, pid := range strays(dir) {
		out = append(out, fmt.Sprintf("process %s (pid %d) naming %s", procComm(pid), pid, dir))
	}
	return out
}

// Running lists the recorded processes alive, by name.
func (r Record) Running() []string {
	var out []string
	for _, p := range r.Procs {
		if p.alive() {
			out = append(out, p.Name)
		}
	}
	return out
}
