// Package lab_test is the end-to-end test of `make lab`: the reference topology on this
// machine on the real stack (two API servers, the operator binary in hub mode, the FRR
// fabric with its client router beyond the core, the upstream MetalLB in native and
// frr-k8s modes, frr-k8s, Traefik, real HTTP traffic from the client's namespace to the
// VIP, the Skupper fixture, the samples), walked through a drain, an undrain and a speaker
// failure with every failed request matched with the reroute it was in flight at, on an
// IPv4 VIP and on an IPv6 one (and on IPv4 with the watcher reading the routers over BMP),
// with the speakers' own session state and the asymmetric return path checked after the
// IPv4 walk, and removed without a trace; then the lab binary itself,
// killed with SIGKILL and started again, as a user's second `make lab` after a crash, the
// second time on the stand-ins and the GoBGP fabric.
//
// TestLab, TestLabIPv6 and TestLabBMP need the real stack (root, FRR, frr-pythontools, the components
// `make real-components` builds): they are skipped without it, unless CI is set, where
// that is a failure. TestLabAfterCrash crashes whatever stack this machine runs by default
// and runs the stand-in stack on the GoBGP fabric the second time, so every stack and
// fabric runs on a machine that has them.
package lab_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/scheme"
	"github.com/anycast-operator/anycast-operator/test/lab"
	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// bins holds the operator and lab binaries built once for the package.
var bins struct{ operator, lab string }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "anycast-lab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bins.operator, bins.lab = filepath.Join(tmp, "anycast-operator"), filepath.Join(tmp, "anycast-lab")
	build := map[string]string{bins.operator: "./cmd/anycast-operator", bins.lab: "./cmd/anycast-lab"}
	// LAB_OPERATOR_BINARY runs an operator built elsewhere (a checkout of another commit).
	if op := os.Getenv("LAB_OPERATOR_BINARY"); op != "" {
		delete(build, bins.operator)
		bins.operator = op
	}
	for out, pkg := range build {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: go build %s: %v\n", pkg, err)
			return 1
		}
	}
	return m.Run()
}

// requireReal skips (outside CI) or fails (CI) without the real stack.
func requireReal(t *testing.T) {
	t.Helper()
	if err := lab.RealStackMissing(lab.FabricFRR); err != nil {
		if labfabric.InCI() {
			t.Fatalf("CI is set, so this is a failure, not a skip: the lab's real stack cannot run: %v", err)
		}
		t.Skipf("the lab's real stack cannot run here (%v); TestLabAfterCrash covers the stand-ins", err)
	}
}

// clientChecks are the client checks each walk-through step must have, by step.
var clientChecks = map[string]string{
	"start":                  lab.CheckClientStart,
	"drain east":             lab.CheckClientViaWest,
	"undrain east":           lab.CheckClientBoth,
	"stop east's speaker":    lab.CheckClientViaWest,
	"restart east's speaker": lab.CheckClientBoth,
}

// TestLab is `make lab` in this process on the real stack with an IPv4 VIP: the real
// MetalLB (west native, east frr-k8s), frr-k8s and Traefik running, the sample ingress
// Ready with ECMP at the core's kernel, the client router holding a path to the VIP, both
// clusters answering the client's requests, the operator refusing an IPv6 VIP on the native
// member before applying anything, the kubeconfigs usable, every walk-through step within
// its deadline with its traffic report and no failed request outside a reroute, no
// configuration MetalLB rejected and nothing Traefik did not accept, and nothing left after
// Close.
func TestLab(t *testing.T) {
	requireReal(t)
	l, rec, dir := upReal(t, lab.Options{})
	defer l.Close() // once: closeClean's Close makes it a no-op
	if l.IPv6Refusal == "" || !strings.Contains(l.IPv6Refusal, "UnsupportedByMetalLBMode") {
		t.Errorf("the operator's refusal of an IPv6 VIP on the native member: %q", l.IPv6Refusal)
	}
	t.Logf("IPv6 VIP on the native member west: %s", l.IPv6Refusal)
	checkKubeconfig(t, l.Kubeconfig("west"))
	walkReal(t, l, "64666 64001 65001", "64666 64002 65002")
	down, up, err := l.TORSessionDown(context.Background(), "east")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TOR east shut its session to east's node: the class showed east's speakers down %s later (hold time 9 s; frr-k8s's status exporter polls every 2 s); reopened: Established and served by both %s later",
		down.Round(10*time.Millisecond), up.Round(10*time.Millisecond))
	checkReturnPath(t, l)
	closeClean(t, l, rec, dir)
}

// checkReturnPath: east's node, whose IPv4 default route leads to the management network,
// answers the clients' network only through the route it learns from its TOR: with
// receive on, that route is in its kernel (proto bgp, via the TOR) and both members
// answer; with east's receive off, the route goes, and every request the core hashes to
// east fails (its answer leaves through the management interface) while west's are
// answered.
func checkReturnPath(t *testing.T, l *lab.Lab) {
	t.Helper()
	r, err := l.AsymmetricReturn(context.Background(), "east")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("east's node (default route %s) with receive: %s, BGP neighbours %v; receive off: route gone %s later, %s; receive on: route back %s later, %s",
		r.DefaultRoute, r.RouteWith, r.Sessions, r.RouteGoneAfter.Round(10*time.Millisecond), r.Off, r.RouteBackAfter.Round(10*time.Millisecond), r.On)
	if len(r.Sessions) != 1 || !strings.HasSuffix(r.Sessions[0], " Established") {
		t.Errorf("east's node's FRR has neighbours %v; want one session, to its TOR, Established (the FRRConfiguration joins MetalLB's)", r.Sessions)
	}
	if r.Off.Failed == 0 || r.Off.ByCluster["east"] != 0 || r.Off.ByCluster["west"] == 0 {
		t.Errorf("receive off: %s; want east's requests failing on the return path and west's answered", r.Off)
	}
	if r.On.Failed != 0 || r.On.ByCluster["east"] == 0 || r.On.ByCluster["west"] == 0 {
		t.Errorf("receive on: %s; want every request answered, by both", r.On)
	}
}

// TestLabIPv6 is the same walk-through on an IPv6 VIP: both members in MetalLB's frr-k8s
// mode (native mode can neither announce IPv6 nor peer over it), peering with their TORs
// over IPv6, the client's requests to [VIP]:80.
func TestLabIPv6(t *testing.T) {
	requireReal(t)
	l, rec, dir := upReal(t, lab.Options{IPv6: true})
	defer l.Close() // once: closeClean's Close makes it a no-op
	walkReal(t, l, "64666 64001 65001", "64666 64002 65002")
	closeClean(t, l, rec, dir)
}

// TestLabBMP is the IPv4 walk-through with the watcher reading the routers over BMP
// (LAB_WATCHER=bmp): no BGP session to the core; the core and both TORs stream their
// Adj-RIB-In to the operator's collector. The verdicts must be the BGP watcher's through
// drain, undrain, speaker stop and restart (the same checks), and every step's status
// paths must name the TOR that received each cluster's path from its speaker.
func TestLabBMP(t *testing.T) {
	requireReal(t)
	l, rec, dir := upReal(t, lab.Options{BMP: true})
	defer l.Close() // once: closeClean's Close makes it a no-op
	checkBMPCollector(t, l)
	walkReal(t, l, "64666 64001 65001", "64666 64002 65002")
	checkBMPCollector(t, l)
	closeClean(t, l, rec, dir)
}

// closeClean closes the lab and fails the test if anything it started or wrote is left.
func closeClean(t *testing.T, l *lab.Lab, rec lab.Record, dir string) {
	t.Helper()
	l.Close()
	if left := append(rec.Leftovers(), lab.Strays(dir)...); len(left) > 0 {
		t.Fatalf("left after Close: %v", left)
	}
}

// checkBMPCollector checks the class's view of the BMP collector: the core and both TORs
// streaming, each reporting its neighbours, no watcher session, paths named by router,
// neighbour and table.
func checkBMPCollector(t *testing.T, l *lab.Lab) {
	t.Helper()
	snap := l.Snapshot(context.Background())
	if snap.Class == nil || snap.Ingress == nil {
		t.Fatalf("no class or ingress: %v", snap.Err)
	}
	st := snap.Class.Status
	if len(st.Sessions) != 0 {
		t.Errorf("the BMP watcher has BGP sessions: %+v", st.Sessions)
	}
	if st.BMP == nil {
		t.Fatalf("the class has no BMP status")
	}
	up := map[string]int{}
	for _, r := range st.BMP.Routers {
		if r.Connected && r.Synced {
			up[r.Name] = len(r.Peers)
		}
	}
	for _, r := range []string{"core", "tor-west", "tor-east"} {
		if up[r] == 0 {
			t.Errorf("router %s is not streaming with its neighbours: %+v", r, st.BMP.Routers)
		}
	}
	if len(st.BMP.Refused) != 0 {
		t.Errorf("the collector refused connections: %+v", st.BMP.Refused)
	}
	for _, p := range snap.Ingress.Status.Paths {
		if p.Peer == "" || p.RIB == "" {
			t.Errorf("path %+v: a BMP path names the router's neighbour and table", p)
		}
	}
}

// upReal brings the real-stack lab up (opts: IPv6, BMP) and checks what it runs: the real
// components' processes, the client's namespace, the table.
func upReal(t *testing.T, opts lab.Options) (*lab.Lab, lab.Record, string) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lab")
	var out logWriter
	out.t = t
	ipv6 := opts.IPv6
	opts.Dir, opts.Fabric, opts.Stack, opts.OperatorBinary, opts.Out = dir, lab.FabricFRR, lab.StackReal, bins.operator, &out
	l, err := lab.Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := lab.ReadRecord(dir)
	for _, tm := range l.Timings {
		t.Logf("bring-up: %-58s %s", tm.What, tm.Took.Round(10*time.Millisecond))
	}
	if l.FabricMode != lab.FabricFRR || rec.Block < 0 || l.StackMode != lab.StackReal {
		t.Fatalf("fabric %s, block %d, stack %s", l.FabricMode, rec.Block, l.StackMode)
	}
	running := rec.Running()
	want := []string{"lab", "operator", "west-kube-apiserver", "east-kube-apiserver", "west-etcd", "east-etcd",
		"west-metallb-controller", "east-metallb-controller", "west-metallb-speaker", "east-metallb-speaker",
		"east-frr-k8s-controller", "east-frr-status", "east-frr-reloader", "west-traefik", "east-traefik"}
	if ipv6 {
		want = append(want, "west-frr-k8s-controller", "west-frr-status", "west-frr-reloader")
	}
	for _, w := range want {
		if !slices.Contains(running, w) {
			t.Errorf("recorded processes alive: %v; %s is not among them", running, w)
		}
	}
	clientNS := fmt.Sprintf("acf-%d-client", rec.Block)
	if nss := labfabric.BlockNamespaces(rec.Block); !slices.Contains(nss, clientNS) {
		t.Errorf("namespaces of block %d: %v, want %s among them", rec.Block, nss, clientNS)
	}
	snap := l.Snapshot(ctx)
	table := snap.Render()
	t.Logf("table:\n%s", table)
	vip := lab.VIP
	if ipv6 {
		vip = lab.VIP6
	}
	westMode := "native"
	if ipv6 {
		westMode = "frr-k8s"
	}
	for _, want := range []string{"FRR", "ECMP via", vip, "Ready=True", "64001 65001", "64002 65002", "stack real",
		"SPEAKER (real MetalLB)", "MetalLB v0.16.1 " + westMode + " on west-node", "MetalLB v0.16.1 frr-k8s on east-node", "Established",
		"Traefik v3.7.13 up", "kube-proxy stand-in binds " + vip, "TRAFFIC  client namespace " + clientNS,
		"CLIENT (AS64500", "client: via core 64666 6400", fmt.Sprintf("acf-%d-{client,", rec.Block)} {
		if !strings.Contains(table, want) {
			t.Errorf("the table does not show %q", want)
		}
	}
	if snap.Traffic == nil || snap.Traffic.Total.ByCluster["west"] == 0 || snap.Traffic.Total.ByCluster["east"] == 0 {
		t.Errorf("both clusters should have answered the client's requests by now: %+v", snap.Traffic)
	}
	checkClientPaths(t, snap)
	return l, rec, dir
}

// walkReal walks through and checks each step's checks (the client's and the traffic's)
// and traffic report: requests sent, answered and failed, the share per cluster, every
// failure in flight at a reroute, the failover's window; then the real components'
// verdicts.
func walkReal(t *testing.T, l *lab.Lab, clientPaths ...string) {
	t.Helper()
	ctx := context.Background()
	var out logWriter
	out.t = t
	steps, err := l.WalkThrough(ctx, &out, false)
	for _, s := range steps {
		for _, c := range s.Checks {
			t.Logf("%-24s %-70s %s", s.Name, c.What, c.Took.Round(10*time.Millisecond))
		}
		if s.Traffic != nil {
			t.Logf("%-24s %s", s.Name, s.Traffic)
		}
	}
	if err != nil {
		for _, d := range l.Diagnostics() {
			t.Log(d)
		}
		t.Fatal(err)
	}
	if len(steps) != 8 {
		t.Fatalf("%d steps, want the start, four actions and three certificate steps", len(steps))
	}
	// The checks each step must have.
	wantChecks := map[string][]string{
		"start":                            {lab.CheckClientStart, lab.CheckTrafficBoth, lab.CheckTrafficAPI},
		"drain east":                       {lab.CheckClientViaWest, lab.CheckTrafficWest},
		"undrain east":                     {lab.CheckClientBoth, lab.CheckTrafficBoth},
		"stop east's speaker":              {lab.CheckClientViaWest, lab.CheckTrafficWest},
		"restart east's speaker":           {lab.CheckClientBoth, lab.CheckTrafficBoth},
		"renew the certificate on the hub": {lab.CheckCertStatus, lab.CheckCertTraffic, lab.CheckTrafficBoth},
		"east refuses its copy, the hub renews again": {lab.CheckStaleStatus, lab.CheckStaleTraffic, lab.CheckTrafficWest},
		"east's policy removed":                       {lab.CheckFixedStatus, lab.CheckCertTraffic, lab.CheckTrafficBoth},
	}
	for _, s := range steps {
		var names []string
		for _, c := range s.Checks {
			names = append(names, c.What)
		}
		if _, ok := wantChecks[s.Name]; !ok {
			t.Errorf("unexpected step %q", s.Name)
		}
		for _, want := range wantChecks[s.Name] {
			if !slices.Contains(names, want) {
				t.Errorf("step %q has no check %q", s.Name, want)
			}
		}
		tr := s.Traffic
		if tr == nil {
			t.Errorf("step %q has no traffic report", s.Name)
			continue
		}
		// The walk itself fails on a failure at no reroute; the report must agree.
		if out := tr.Outside(); len(out) > 0 {
			t.Errorf("step %q: %d request(s) failed at no reroute: %+v", s.Name, len(out), out)
		}
		if tr.Hello.Sent == 0 || tr.Hello.OK+tr.Hello.Failed != tr.Hello.Sent || tr.API.OK == 0 || tr.HTTPS.OK == 0 {
			t.Errorf("step %q: traffic %s / %s / HTTPS %s", s.Name, tr.Hello, tr.API, tr.HTTPS)
		}
		if tr.API.ByCluster["west"] != 0 {
			t.Errorf("step %q: west answered /api, whose backend runs on east only: %s", s.Name, tr.API)
		}
		switch s.Name {
		case "start":
			if tr.Hello.ByCluster["west"] == 0 || tr.Hello.ByCluster["east"] == 0 || tr.APIViaWest == 0 {
				t.Errorf("start: both clusters should answer and /api enter through west too: %s", tr)
			}
		case "drain east", "undrain east", "stop east's speaker", "restart east's speaker", "east refuses its copy, the hub renews again", "east's policy removed":
			if len(tr.Reroutes) == 0 || tr.Reroute <= 0 {
				t.Errorf("step %q: the core did not move its path: %s", s.Name, tr)
			}
		case "renew the certificate on the hub":
			// A renewal moves nothing and loses nothing.
			if len(tr.Reroutes) != 0 || len(tr.Failures) != 0 || tr.HTTPS.Failed != 0 {
				t.Errorf("the renewal: the core moved its path or requests failed: %s", tr)
			}
		}
		t.Logf("step %-24s sent %d, ok %d, failed %d (each in flight while the path moved), /hello shares %s, once the path settled %s; /api %s, %d through west",
			s.Name, tr.Hello.Sent+tr.API.Sent, tr.Hello.OK+tr.API.OK, len(tr.Failures), tr.Hello.Share(), tr.Settled.Share(), tr.API, tr.APIViaWest)
		// Both clusters answer while undrained, west alone while east is out.
		both := s.Name == "start" || s.Name == "undrain east" || s.Name == "restart east's speaker" || s.Name == "renew the certificate on the hub" || s.Name == "east's policy removed"
		if both != (tr.Settled.ByCluster["east"] > 0) || tr.Settled.ByCluster["west"] == 0 {
			t.Errorf("step %q: once the path settled %s; want west%s", s.Name, tr.Settled, map[bool]string{true: " and east", false: " alone"}[both])
		}
		if s.Name == "stop east's speaker" {
			t.Logf("failover: the core rerouted %s after east's speaker was killed; %d request(s) lost", tr.Reroute.Round(time.Millisecond), len(tr.Failures))
		}
	}
	// The renewal on the hub reached both clusters; with east's copy frozen, east answered
	// with the old certificate only until it was withdrawn.
	t.Logf("certificate renewal on the hub: %s", l.Rotation)
	t.Logf("renewal with east's copy frozen: %s", l.Stale)
	for _, c := range []string{"west", "east"} {
		if l.Rotation.New[c] == 0 {
			t.Errorf("the renewal: %s never answered with the new certificate: %s", c, l.Rotation)
		}
	}
	if l.Stale.Old["west"] > 0 && l.Stale.Converged["west"] > 5*time.Second {
		t.Errorf("with east's copy frozen, west answered with the old certificate %s after the renewal: %s", l.Stale.Converged["west"], l.Stale)
	}
	// The core sends ICMP redirects while a TOR routes the VIP back to it (a withdrawal's
	// micro-loop); the client router must not take them: one taken blackholed every new
	// connection for about 10 s.
	received, taken, err := l.ClientRedirects()
	if err != nil {
		t.Error(err)
	}
	t.Logf("the client router received %d ICMP redirect(s) during the walk-through and took %d", received, len(taken))
	if len(taken) > 0 {
		t.Errorf("the client router took redirects (neighbour entries for routers not on its link): %v", taken)
	}
	if errs := l.ConfigErrors(); len(errs) > 0 {
		t.Errorf("the real MetalLB rejected its configuration: %+v", errs)
	}
	if v := l.TraefikVerdicts(ctx); len(v) > 0 {
		t.Errorf("Traefik did not accept: %v", v)
	}
	snap := l.Snapshot(ctx)
	t.Logf("table after the walk-through:\n%s", snap.Render())
	for _, p := range snap.Client.Paths {
		if !slices.Contains(clientPaths, p.ASPath) {
			t.Errorf("client path %q, want one of %v", p.ASPath, clientPaths)
		}
	}
}

// checkClientPaths checks that the client router holds a best path to the VIP learnt from
// the core (AS path 64666 then a TOR and its cluster, next hop the core).
func checkClientPaths(t *testing.T, s *lab.Snapshot) {
	t.Helper()
	if s.ClientErr != nil {
		t.Fatalf("reading the client router: %v", s.ClientErr)
	}
	if len(s.Client.Paths) == 0 {
		t.Fatalf("the client router has no path to %s", lab.VIP)
	}
	for _, p := range s.Client.Paths {
		if p.ASPath != "64666 64001 65001" && p.ASPath != "64666 64002 65002" {
			t.Errorf("client path %q, want via the core to west or east", p.ASPath)
		}
		if p.NextHop != s.Client.CoreAddr || !p.Best {
			t.Errorf("client path %+v: next hop not the core %s, or not best", p, s.Client.CoreAddr)
		}
	}
}

// checkKubeconfig uses the kubeconfig as `kubectl --kubeconfig ... get anycastingresses
// -A` would (and runs kubectl when it is installed).
func checkKubeconfig(t *testing.T, path string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	var list v1alpha1.AnycastIngressList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != lab.IngressName {
		t.Errorf("ingresses through %s: %v", path, list.Items)
	}
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", path, "get", "anycastingresses", "-A", "-o", "name").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "anycastingress.anycast.dev/"+lab.IngressName {
			t.Errorf("kubectl get anycastingresses: %v: %s", err, out)
		}
	}
}

// TestLabAfterCrash runs the lab binary as `make lab` does. A first lab (LAB_KEEP, the
// stack this machine runs by default: the real one where it can) is killed with SIGKILL
// once ready, leaving its API servers, etcds and FRR namespaces (with the real stack's FRR
// daemons, which daemonize) behind. A second lab in the same directory on the stand-ins
// and the GoBGP fabric (LAB_STACK=standin LAB_FABRIC=gobgp) must remove them, come up,
// walk through every step and stay up; `anycast-lab down` (make lab-down) then ends it,
// and nothing of either lab remains.
func TestLabAfterCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")

	first := startLab(t, dir, "LAB_KEEP=1", "LAB_WALK=0")
	first.waitFor(t, "READY (total)", 6*time.Minute)
	crashed := lab.ReadRecord(dir)
	if lab.RealStackMissing(lab.FabricAuto) == nil && !slices.Contains(crashed.Running(), "east-metallb-speaker") {
		t.Errorf("the first lab should run the real stack here: recorded processes alive %v", crashed.Running())
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.wait(30 * time.Second); err == nil {
		t.Fatal("the killed lab exited cleanly?")
	}
	left := crashed.Leftovers()
	t.Logf("left behind by the killed lab: %v", left)
	var apiservers int
	for _, l := range left {
		if strings.HasPrefix(l, "process west-kube-apiserver ") || strings.HasPrefix(l, "process east-kube-apiserver ") {
			apiservers++
		}
	}
	if apiservers != 2 {
		t.Errorf("a killed lab should leave its two kube-apiservers running (that is what the next lab must clean): %v", left)
	}
	// Its FRR namespaces are left too, unless another package's fabric (make test runs
	// packages in parallel) already swept them: a dead owner's block is anyone's to clean.
	if crashed.Block >= 0 && !strings.Contains(strings.Join(left, " "), "namespace acf-") {
		t.Logf("the killed lab's namespaces were already swept by another fabric")
	}

	second := startLab(t, dir, "LAB_KEEP=1", "LAB_STACK=standin", "LAB_FABRIC=gobgp")
	second.waitFor(t, "LAB_KEEP: the lab stays up", 5*time.Minute)
	// The directory is the second lab's now; everything else of the first must be gone.
	if l := removeDir(crashed.Leftovers(), crashed.Dir); len(l) > 0 {
		t.Errorf("the second lab did not remove the first one's leftovers: %v", l)
	}
	kept := lab.ReadRecord(dir)
	out := second.output()
	for _, want := range []string{
		"STACK: STANDIN", "BGP fabric: GOBGP", "READY (total)",
		"drain east", "undrain east", "stop east's speaker", "restart east's speaker",
		"Drained=True verified in status", "failover detected in status", "ECMP back at the core",
		"0. start", "CLIENT (AS64500", "client: via core 64666 6400",
		lab.CheckClientStart, lab.CheckClientViaWest, lab.CheckClientBoth,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not show %q", want)
		}
	}
	// The summary lists every step's checks with their times: the client's among them.
	summary := out[strings.LastIndex(out, "\nsummary\n")+1:]
	for step, c := range clientChecks {
		found := false
		for _, line := range strings.Split(summary, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), step+" ") && strings.Contains(line, c) {
				found = true
				t.Logf("GoBGP walk-through: %s", strings.TrimSpace(line))
			}
		}
		if !found {
			t.Errorf("the walk-through summary has no %q for %q", c, step)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("a step failed")
	}

	down := exec.Command(bins.lab, "down", "-dir", dir)
	if b, err := down.CombinedOutput(); err != nil {
		t.Fatalf("anycast-lab down: %v\n%s", err, b)
	}
	if err := second.wait(30 * time.Second); err != nil {
		t.Errorf("the kept lab did not exit cleanly when taken down: %v", err)
	}
	if l := append(append(crashed.Leftovers(), kept.Leftovers()...), lab.Strays(dir)...); len(l) > 0 {
		t.Fatalf("left after make lab-down: %v", l)
	}
}

func removeDir(list []string, dir string) []string {
	var out []string
	for _, s := range list {
		if s != "directory "+dir {
			out = append(out, s)
		}
	}
	return out
}

// labProc is a running anycast-lab binary whose output is logged and kept.
type labProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan error
}

func startLab(t *testing.T, dir string, env ...string) *labProc {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := &labProc{done: make(chan error, 1)}
	p.cmd = exec.Command(bins.lab, "up", "-dir", dir, "-operator", bins.operator)
	p.cmd.Dir = root
	p.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		_ = pw.Close()
		p.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if p.wait(0) == errStillRunning {
			_ = p.cmd.Process.Kill()
			_ = p.wait(10 * time.Second)
		}
		_ = lab.Down(dir)
		t.Logf("anycast-lab %v output:\n%s", env, p.output())
	})
	return p
}

func (p *labProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *labProc) waitFor(t *testing.T, line string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output(), line) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("anycast-lab exited (%v) before printing %q", err, line)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("anycast-lab did not print %q within %s", line, timeout)
		}
	}
}

// wait waits for the process to exit and returns its error; an error too when it still
// runs after timeout.
func (p *labProc) wait(timeout time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		return errStillRunning
	}
}

var errStillRunning = fmt.Errorf("still running")

// logWriter sends the lab's progress lines to the test log.
type logWriter struct {
	t  *testing.T
	mu sync.Mutex
	b  []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	for {
		i := strings.IndexByte(string(w.b), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.b[:i]))
		w.b = w.b[i+1:]
	}
}
