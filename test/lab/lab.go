// Package lab runs the reference topology of DESIGN.md on one machine: two control
// planes, west (the hub, where the operator runs) and east (a spoke registered through
// its kubeconfig Secret), the operator binary in hub mode, the BGP fabric (FRR routers in
// network namespaces, or GoBGP routers in this process on loopback addresses when FRR
// cannot run), a MetalLB speaker stand-in per cluster (test/lab/speaker), the Skupper
// status fixture (test/fixtures/skupper), and the samples of config/samples. It prints a
// table of what the clusters, the operator, the core router and the client router (AS
// 64500, beyond the core) say, and walks through a drain, an undrain and a speaker
// failure with measured timings, checking that the client keeps a path to the VIP.
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
)

// Options configure a lab.
type Options struct {
	// Dir holds everything the lab writes: kubeconfigs, pid files, etcd data, logs.
	Dir string
	// Fabric is FabricAuto (default), FabricFRR or FabricGoBGP.
	Fabric string
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
	// Timings of the bring-up, in order.
	Timings []Timing

	opts       Options
	fabric     bgpFabric
	west, east *cluster
	operator   *exec.Cmd
	opExited   chan struct{}
	opErr      error
	stands     map[string]*speaker.Speaker
	skupper    *skupperfixture.Fixture
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	started    time.Time
	closeOnce  sync.Once
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

// Up removes whatever an earlier lab in opts.Dir left (Down), then brings up the whole
// lab and waits until the sample ingress is Ready with ECMP at the core and the client
// router has a path to the VIP. On error, everything started is removed again.
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

	mode, why, err := chooseFabric(l.opts.Fabric)
	if err != nil {
		return err
	}
	l.FabricMode, l.FabricReason = mode, why

	// The control planes and the fabric come up side by side.
	t = time.Now()
	var wg sync.WaitGroup
	var westErr, eastErr, fabErr error
	var fabTook time.Duration
	wg.Add(3)
	go func() { defer wg.Done(); l.west, westErr = startCluster(l.Dir, "west") }()
	go func() { defer wg.Done(); l.east, eastErr = startCluster(l.Dir, "east") }()
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

	t = time.Now()
	if err := l.prepareClusters(ctx); err != nil {
		return err
	}
	if err := l.startOperator(ctx); err != nil {
		return err
	}
	l.phase("operator running and ready (hub mode, east registered)", t)

	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	if err := l.startFixtures(runCtx); err != nil {
		return err
	}

	t = time.Now()
	class, ingress, err := samples(l.fabric)
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
	return nil
}

func (l *Lab) startFabric(ctx context.Context, mode string) (bgpFabric, error) {
	if mode == FabricFRR {
		f, err := newFRRFabric()
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
		"--zap-log-level=info")
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

// startFixtures runs what stands in for the controllers the lab has no room for: each
// cluster's Gateway implementation with MetalLB's address assignment and the sample's
// workloads (apps.go), a MetalLB speaker per cluster announcing, as MetalLB's does, the
// addresses LoadBalancer Services hold, and the Skupper controllers' status writes.
func (l *Lab) startFixtures(ctx context.Context) error {
	for _, c := range []*cluster{l.west, l.east} {
		s := &speaker.Speaker{Client: c.Client, Namespace: MetalLBNamespace, Announcer: l.fabric.Announcer(c.Name),
			AnnounceServices: true}
		l.stands[c.Name] = s
		l.wg.Add(1)
		go func() { defer l.wg.Done(); _ = s.Run(ctx) }()
	}
	l.skupper = &skupperfixture.Fixture{Hub: l.west.Client, HubSite: "west", Spokes: map[string]client.Client{"east": l.east.Client},
		Interval: 250 * time.Millisecond}
	l.skupper.SetHubEndpoints(true)
	l.skupper.SetRouter(true) // the stand-in for the skupper-router pods
	l.wg.Add(1)
	go func() { defer l.wg.Done(); l.skupper.Run(ctx) }()
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

// Close stops everything in reverse order and removes the lab directory.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
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

// strays are kube-apiserver, etcd and anycast-operator processes whose command line
// names dir.
func strays(dir string) []int {
	var out []int
	for _, bin := range []string{"kube-apiserver", "etcd", "anycast-operator"} {
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
	if r.Block >= 0 {
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

// Strays lists kube-apiserver, etcd and operator processes naming dir on their command
// line, recorded or not: none once a lab in dir is down.
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
