//go:build resilience

package resilience_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/scale/membercheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// replica is one running in-process operator.
type replica struct {
	name    string
	mgr     manager.Manager
	counter *apicount.Counter
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// startReplica runs an operator against west as the binary would (no client-side rate
// limit on the hub), counting its requests; it is stopped at the end of the test.
func startReplica(t testing.TB, name string, opts operator.Options) *replica {
	t.Helper()
	cfg := rest.CopyConfig(west.Config)
	cfg.QPS, cfg.Burst = -1, 0
	r := &replica{name: name, counter: &apicount.Counter{}, done: make(chan error, 1)}
	opts.Namespace = operatorNamespace
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.WrapTransport = r.counter.Wrap
	opts.SkipControllerNameValidation = true
	if opts.MemberProbeInterval == 0 {
		opts.MemberProbeInterval = time.Second
	}
	if opts.MemberProbeTimeout == 0 {
		opts.MemberProbeTimeout = 2 * time.Second
	}
	mgr, err := operator.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica and waits for it to return; it returns the manager's error.
func (r *replica) stop(t testing.TB) error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(time.Minute):
		t.Errorf("replica %s did not stop within a minute", r.name)
		return nil
	}
}

// class is a two-member class (west local, east by kubeconfig) on pool.
func class(name, pool string) *v1alpha1.AnycastClass {
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools:            []string{pool},
			GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub, Peers: []v1alpha1.Peer{{Name: "tor", Address: "10.0.63.254", ASN: 64001}}},
				{Name: "east", ASN: 65002, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}, Peers: []v1alpha1.Peer{{Name: "tor", Address: "10.1.63.254", ASN: 64002}}},
			},
		},
	}
}

func create(t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// namespaces creates count namespaces named prefix-NN on both clusters, each with the
// ready backends the tests' routes use (web:8080, api:9090), as the applications the
// ingresses expose would be on every member.
func namespaces(t testing.TB, prefix string, count int) []string {
	t.Helper()
	var out []string
	for i := 0; i < count; i++ {
		ns := fmt.Sprintf("%s-%02d", prefix, i)
		for _, e := range []*testenv.Env{west, east} {
			create(t, e.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			for svc, port := range map[string]int32{"web": 8080, "api": 9090} {
				if err := gatewayfixture.ReadyBackend(context.Background(), e.Client, ns, svc, port, 1); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, ns)
	}
	return out
}

// createIngresses creates n ingresses of cls over nss, eight at a time, with one route
// and an allocated address.
func createIngresses(t testing.TB, cls string, nss []string, n int) {
	t.Helper()
	testenv.Parallel(t, 8, n, func(i int) error {
		return west.Client.Create(context.Background(), &v1alpha1.AnycastIngress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ing-%04d", i), Namespace: nss[i%len(nss)]},
			Spec: v1alpha1.AnycastIngressSpec{
				ClassName: cls,
				Routes:    []v1alpha1.Route{{Name: "web", PathPrefix: "/", Backend: v1alpha1.Backend{Service: "web", Port: 8080}}},
			},
		})
	})
}

// updateIngresses applies change to every ingress, eight at a time (each retried on a
// conflict), so that the operator sees them all at once, as a bulk edit would bring them.
func updateIngresses(t testing.TB, ings []v1alpha1.AnycastIngress, change func(*v1alpha1.AnycastIngress)) {
	t.Helper()
	testenv.Parallel(t, 8, len(ings), func(i int) error {
		key := client.ObjectKeyFromObject(&ings[i])
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &v1alpha1.AnycastIngress{}
			if err := west.Client.Get(context.Background(), key, cur); err != nil {
				return err
			}
			change(cur)
			return west.Client.Update(context.Background(), cur)
		})
	})
}

// ingressesOf lists the class's ingresses on the hub.
func ingressesOf(t testing.TB, cls string) []v1alpha1.AnycastIngress {
	t.Helper()
	list := &v1alpha1.AnycastIngressList{}
	if err := west.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	var out []v1alpha1.AnycastIngress
	for _, i := range list.Items {
		if i.Spec.ClassName == cls {
			out = append(out, i)
		}
	}
	return out
}

// programmed counts the class's ingresses Programmed=True for their generation.
func programmed(t testing.TB, cls string) (done, total int) {
	t.Helper()
	done, total, err := countProgrammed(cls, nil)
	if err != nil {
		t.Fatal(err)
	}
	return done, total
}

// countProgrammed is programmed for a goroutine other than the test's (no t). With
// after, only the ingresses whose generation is past the one after names count as done.
func countProgrammed(cls string, after map[string]int64) (done, total int, err error) {
	list := &v1alpha1.AnycastIngressList{}
	if err := west.Client.List(context.Background(), list); err != nil {
		return 0, 0, err
	}
	for _, i := range list.Items {
		if i.Spec.ClassName != cls {
			continue
		}
		total++
		if g, ok := after[i.Namespace+"/"+i.Name]; ok && i.Generation <= g {
			continue
		}
		if c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionProgrammed); c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == i.Generation {
			done++
		}
	}
	return done, total, nil
}

// notProgrammed counts the ingresses of cls not Programmed for their generation by the
// reason their condition gives, with one message of each, so that a test that times out
// says what the operator was reporting.
func notProgrammed(t testing.TB, cls string) string {
	t.Helper()
	count := map[string]int{}
	sample := map[string]string{}
	for _, i := range ingressesOf(t, cls) {
		c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionProgrammed)
		key := "no Programmed condition"
		switch {
		case c == nil:
		case c.Status == metav1.ConditionTrue && c.ObservedGeneration == i.Generation:
			continue
		case c.ObservedGeneration != i.Generation:
			key = fmt.Sprintf("%s for generation %d of %d", c.Reason, c.ObservedGeneration, i.Generation)
		default:
			key = c.Reason
		}
		count[key]++
		if c != nil {
			sample[key] = i.Namespace + "/" + i.Name + ": " + c.Message
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "[%d %s (%s)] ", count[k], k, sample[k])
	}
	return b.String()
}

// fixtureErrors says how each cluster's stand-ins' last pass ended.
func fixtureErrors() string {
	var out []string
	for _, name := range []string{"west", "east"} {
		err := fixtures[name].LastPassError()
		if err == nil {
			out = append(out, name+": completed")
			continue
		}
		out = append(out, name+": "+err.Error())
	}
	return strings.Join(out, "; ")
}

// classConditions is the class's conditions that are not True, for a failure message.
func classConditions(t testing.TB, cls string) string {
	t.Helper()
	c := &v1alpha1.AnycastClass{}
	if err := west.Client.Get(context.Background(), client.ObjectKey{Name: cls}, c); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, cond := range c.Status.Conditions {
		if cond.Status != metav1.ConditionTrue {
			fmt.Fprintf(&b, "[%s=%s %s: %s] ", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
	}
	if b.Len() == 0 {
		return "every condition True"
	}
	return b.String()
}

// waitConverged waits until all n ingresses of cls are Programmed and Ready for their
// generation, every member holds exactly what they render, and no two share an address.
func waitConverged(t testing.TB, cls string, n int, timeout time.Duration) *membercheck.Report {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d ingresses of %s Programmed", n, cls), timeout, func() error {
		done, total := programmed(t, cls)
		if total != n || done != n {
			time.Sleep(300 * time.Millisecond)
			return fmt.Errorf("%d of %d Programmed (%d exist); the others: %s", done, n, total, notProgrammed(t, cls))
		}
		return nil
	})
	var rep *membercheck.Report
	testenv.Eventually(t, "members hold exactly what the ingresses render", timeout, func() error {
		var err error
		rep, err = membercheck.Check(context.Background(), west.Client, cls, map[string]client.Client{"west": west.Client, "east": east.Client})
		if err != nil {
			return err
		}
		if !rep.OK() {
			time.Sleep(300 * time.Millisecond)
			return fmt.Errorf("%w; the class says: %s; the stand-ins' last passes: %s", rep, classConditions(t, cls), fixtureErrors())
		}
		return nil
	})
	checkAddresses(t, cls)
	return rep
}

// checkAddresses fails when two ingresses hold the same address or one holds none.
func checkAddresses(t testing.TB, cls string) {
	t.Helper()
	holders := map[netip.Addr]string{}
	for _, i := range ingressesOf(t, cls) {
		a, err := netip.ParseAddr(i.Status.Address)
		if err != nil {
			t.Errorf("ingress %s/%s has no address: %q", i.Namespace, i.Name, i.Status.Address)
			continue
		}
		if other, dup := holders[a]; dup {
			t.Errorf("ingresses %s and %s/%s both hold %s", other, i.Namespace, i.Name, a)
		}
		holders[a] = i.Namespace + "/" + i.Name
	}
}

// deleteClass deletes the class's ingresses and the class (an operator must be running
// to finalize them) and waits until no member holds anything of it.
func deleteClass(t testing.TB, cls string) {
	t.Helper()
	ctx := context.Background()
	for _, i := range ingressesOf(t, cls) {
		if err := west.Client.Delete(ctx, &i); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if err := west.Client.Delete(ctx, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: cls}}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	testenv.Eventually(t, "class "+cls+" and its objects gone", 5*time.Minute, func() error {
		if n := len(ingressesOf(t, cls)); n > 0 {
			time.Sleep(300 * time.Millisecond)
			return fmt.Errorf("%d ingresses left", n)
		}
		for name, c := range map[string]client.Client{"west": west.Client, "east": east.Client} {
			objs, err := membercheck.Owned(ctx, c, cls)
			if err != nil {
				return err
			}
			if len(objs) > 0 {
				time.Sleep(300 * time.Millisecond)
				return fmt.Errorf("%s still holds %d objects of %s", name, len(objs), cls)
			}
		}
		return nil
	})
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// operatorBinary builds the operator binary once.
func operatorBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			binaryErr = err
			return
		}
		dir, err := os.MkdirTemp("", "anycast-operator-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "anycast-operator")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/anycast-operator")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// process is the operator binary running against west.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBinary runs the built operator against west, as `make run` does.
func startBinary(t testing.TB) *process {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "west.kubeconfig")
	if err := os.WriteFile(kubeconfig, west.Kubeconfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{logs: &syncBuffer{}}
	p.cmd = exec.Command(operatorBinary(t), "--leader-elect=false", "--namespace="+operatorNamespace,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=error")
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("operator binary log:\n%s", tail(p.logs.String(), 40))
		}
	})
	return p
}

// kill SIGKILLs the binary: no deferred function, no graceful shutdown.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func tail(s string, lines int) string {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n++
			if n > lines {
				return s[i+1:]
			}
		}
	}
	return s
}
