// Package lab_test is the end-to-end test of `make lab`: the reference topology on this
// machine (two API servers, the operator binary in hub mode, the BGP fabric with its
// client router beyond the core, the MetalLB speaker stand-ins and the Skupper fixture, the
// samples), walked through a drain, an undrain and a speaker failure with the client
// keeping a path to the VIP, and removed without a trace; then the lab binary itself,
// killed with SIGKILL and started again, as a user's second `make lab` after a crash.
//
// TestLab needs the FRR fabric (root, FRR, gobgpd): it is skipped without it, unless CI is
// set, where that is a failure. TestLabAfterCrash runs whatever fabric this machine has for
// the crashed run and the GoBGP fallback (LAB_FABRIC=gobgp) for the second, so both fabric
// modes run on every machine that has FRR.
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
	for out, pkg := range map[string]string{bins.operator: "./cmd/anycast-operator", bins.lab: "./cmd/anycast-lab"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: go build %s: %v\n", pkg, err)
			return 1
		}
	}
	return m.Run()
}

// requireFRR skips (outside CI) or fails (CI) without the FRR fabric.
func requireFRR(t *testing.T) {
	t.Helper()
	if err := labfabric.Available(); err != nil {
		if labfabric.InCI() {
			t.Fatalf("CI is set, so this is a failure, not a skip: the lab's FRR fabric cannot run: %v", err)
		}
		t.Skipf("the lab's FRR fabric cannot run here (%v); TestLabAfterCrash covers the GoBGP fabric", err)
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

// TestLab is `make lab` in this process on the FRR fabric: the sample ingress Ready with
// ECMP at the core's kernel, the client router (in its own namespace) holding a path to
// the VIP from the core, the kubeconfigs usable, every walk-through step within its
// deadline (the client keeping a path via west while east is drained or its speaker
// down), and nothing left after Close.
func TestLab(t *testing.T) {
	requireFRR(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lab")
	var out logWriter
	out.t = t
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Fabric: lab.FabricFRR, OperatorBinary: bins.operator, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	rec := lab.ReadRecord(dir)
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	for _, tm := range l.Timings {
		t.Logf("bring-up: %-58s %s", tm.What, tm.Took.Round(10*time.Millisecond))
	}
	if l.FabricMode != lab.FabricFRR || rec.Block < 0 {
		t.Fatalf("fabric %s, block %d", l.FabricMode, rec.Block)
	}
	if running := rec.Running(); len(running) != 6 {
		t.Errorf("recorded processes alive: %v, want lab, operator and two kube-apiservers and etcds", running)
	}

	clientNS := fmt.Sprintf("acf-%d-client", rec.Block)
	if nss := labfabric.BlockNamespaces(rec.Block); !slices.Contains(nss, clientNS) {
		t.Errorf("namespaces of block %d: %v, want %s among them", rec.Block, nss, clientNS)
	}

	snap := l.Snapshot(ctx)
	table := snap.Render()
	t.Logf("table:\n%s", table)
	for _, want := range []string{"FRR", "ECMP via", lab.VIP, "west", "east", "Ready=True", "64001 65001", "64002 65002",
		"CLIENT (AS64500", "client: via core 64666 6400", fmt.Sprintf("acf-%d-{client,", rec.Block)} {
		if !strings.Contains(table, want) {
			t.Errorf("the table does not show %q", want)
		}
	}
	checkClientPaths(t, snap)
	checkKubeconfig(t, l.Kubeconfig("west"))

	steps, err := l.WalkThrough(ctx, &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 5 {
		t.Fatalf("%d steps, want the start and four actions", len(steps))
	}
	for _, s := range steps {
		found := false
		for _, c := range s.Checks {
			t.Logf("%-24s %-70s %s", s.Name, c.What, c.Took.Round(10*time.Millisecond))
			found = found || c.What == clientChecks[s.Name]
		}
		if !found {
			t.Errorf("step %q has no client check %q", s.Name, clientChecks[s.Name])
		}
	}
	checkClientPaths(t, l.Snapshot(ctx))

	l.Close()
	closed = true
	if left := append(rec.Leftovers(), lab.Strays(dir)...); len(left) > 0 {
		t.Fatalf("left after Close: %v", left)
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

// TestLabAfterCrash runs the lab binary as `make lab` does. A first lab (LAB_KEEP) is
// killed with SIGKILL once ready, leaving its API servers, etcds and FRR namespaces
// behind. A second lab in the same directory on the GoBGP fabric (LAB_FABRIC=gobgp) must
// remove them, come up, walk through every step and stay up; `anycast-lab down` (make
// lab-down) then ends it, and nothing of either lab remains.
func TestLabAfterCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")

	first := startLab(t, dir, "LAB_KEEP=1", "LAB_WALK=0")
	first.waitFor(t, "READY (total)", 4*time.Minute)
	crashed := lab.ReadRecord(dir)
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

	second := startLab(t, dir, "LAB_KEEP=1", "LAB_FABRIC=gobgp")
	second.waitFor(t, "LAB_KEEP: the lab stays up", 5*time.Minute)
	// The directory is the second lab's now; everything else of the first must be gone.
	if l := removeDir(crashed.Leftovers(), crashed.Dir); len(l) > 0 {
		t.Errorf("the second lab did not remove the first one's leftovers: %v", l)
	}
	kept := lab.ReadRecord(dir)
	out := second.output()
	for _, want := range []string{
		"BGP fabric: GOBGP", "READY (total)",
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
