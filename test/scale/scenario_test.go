package scale_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/scale/membercheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const (
	operatorNamespace = "anycast-system"
	className         = "scale"
)

// run builds two API servers, runs the scenario and returns its figures.
func run(tb testing.TB, p params) *figures {
	ctx := context.Background()
	west, east := startEnv(tb, "west"), startEnv(tb, "east")
	for _, e := range []*testenv.Env{west, east} {
		for _, ns := range []string{operatorNamespace, "metallb-system"} {
			mustCreate(tb, e.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	}
	for i := 0; i < p.namespaces; i++ {
		mustCreate(tb, west.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}})
	}
	mustCreate(tb, west.Client, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "east-kubeconfig", Namespace: operatorNamespace},
		Data:       map[string][]byte{"kubeconfig": east.Kubeconfig()},
	})

	f := &figures{n: p.ingresses}
	counter := &apicount.Counter{}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200); err != nil {
		tb.Logf("cannot reset the peak RSS (%v): VmHWM covers the whole process life", err)
	}
	f.baseRSS = procStatus(tb, "VmRSS")
	heap := sampleHeap()
	cpu0, api0 := selfCPU(), childrenCPU()
	stopProfile := startProfile(p.profileDir, map[string]*rest.Config{"west": west.Config, "east": east.Config})

	stop := startOperator(tb, west, counter, p.syncPeriod)
	mustCreate(tb, west.Client, scaleClass())
	testenv.Eventually(tb, "class Ready", 2*time.Minute, func() error {
		c := &v1alpha1.AnycastClass{}
		if err := west.Client.Get(ctx, client.ObjectKey{Name: className}, c); err != nil {
			return err
		}
		return testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	})
	counter.Reset()
	rec0 := reconciles(tb)

	start := time.Now()
	createIngresses(tb, west.Client, p)
	f.create = time.Since(start)
	waitProgrammed(tb, west, p.ingresses, 20*time.Minute)
	f.programmed = time.Since(start)
	stopProfile()
	f.peakRSS = procStatus(tb, "VmHWM")
	f.peakHeap = heap.Peak()
	f.operatorCPU = selfCPU() - cpu0
	f.apiCPUBy, f.apiCPU = cpuSince(api0)
	f.programReconciles = int(reconciles(tb) - rec0)
	f.requests = int(counter.Total())
	f.byVerb = counter.Breakdown(func(r apicount.Request) string {
		res := r.Resource
		if r.Subresource != "" {
			res += "/" + r.Subresource
		}
		return r.Verb + " " + res
	})
	f.byCluster = counter.Breakdown(func(r apicount.Request) string { return r.Cluster })

	members := map[string]client.Client{"west": west.Client, "east": east.Client}
	var rep *membercheck.Report
	testenv.Eventually(tb, "members hold exactly what the ingresses render", 2*time.Minute, func() error {
		var err error
		if rep, err = membercheck.Check(ctx, west.Client, className, members); err != nil {
			return err
		}
		if !rep.OK() {
			return rep
		}
		return nil
	})
	f.objectsWest, f.objectsEast = rep.Objects["west"], rep.Objects["east"]

	f.logProgramming(tb)

	// Steady state: a full SyncPeriod (the informers' resync fires within it, plus 10%
	// jitter) and at least one reconcile per ingress, whatever else requeues them.
	settle(tb, counter)
	counter.Reset()
	r0 := reconciles(tb)
	t0 := time.Now()
	time.Sleep(p.syncPeriod + p.syncPeriod/10)
	waitReconciles(tb, r0, p.ingresses, 2*time.Minute)
	settle(tb, counter)
	f.resyncReconciles, f.resyncWrites, f.resyncTook = int(reconciles(tb)-r0), counter.Writes(), time.Since(t0)
	f.resyncRequests = int(counter.Total())
	if f.resyncWrites > 0 {
		tb.Logf("writes during the resync: %v", counter.Breakdown(writeKey))
	}

	// Restart: a new operator reconciles everything from cold caches.
	stop()
	counter.Reset()
	r0 = reconciles(tb)
	stop = startOperator(tb, west, counter, p.syncPeriod)
	f.restartTook = waitReconciles(tb, r0, p.ingresses, 5*time.Minute)
	settle(tb, counter)
	f.restartReconciles, f.restartWrites, f.restartRequests = int(reconciles(tb)-r0), counter.Writes(), int(counter.Total())
	if f.restartWrites > 0 {
		tb.Logf("writes after the restart: %v", counter.Breakdown(writeKey))
	}
	stop()
	return f
}

func writeKey(r apicount.Request) string {
	if !r.Write() {
		return "(reads)"
	}
	return r.String() + " " + r.Namespace + "/" + r.Name
}

func nsName(i int) string { return fmt.Sprintf("scale-%02d", i) }

func startEnv(tb testing.TB, name string) *testenv.Env {
	tb.Helper()
	e, err := testenv.Start(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Stop() })
	return e
}

func mustCreate(tb testing.TB, c client.Client, obj client.Object) {
	tb.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		tb.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// startOperator runs an operator against west as the binary would (no client-side rate
// limit on the hub), counting its requests; stop cancels it and waits for it to return.
func startOperator(tb testing.TB, west *testenv.Env, counter *apicount.Counter, syncPeriod time.Duration) (stop func()) {
	tb.Helper()
	cfg := rest.CopyConfig(west.Config)
	cfg.QPS, cfg.Burst = -1, 0
	mgr, err := operator.New(cfg, operator.Options{
		Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0",
		SyncPeriod: syncPeriod, WrapTransport: counter.Wrap, SkipControllerNameValidation: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return runManager(tb, mgr)
}

func runManager(tb testing.TB, mgr manager.Manager) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Logf("operator stopped: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func scaleClass() *v1alpha1.AnycastClass {
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec: v1alpha1.AnycastClassSpec{
			Pools:            []string{"10.100.0.0/20"},
			GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub, Peers: []v1alpha1.Peer{{Name: "tor", Address: "198.18.1.254", ASN: 64001}}},
				{Name: "east", ASN: 65002, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}, Peers: []v1alpha1.Peer{{Name: "tor", Address: "198.18.2.254", ASN: 64002}}},
			},
		},
	}
}

// createIngresses creates p.ingresses ingresses spread over the namespaces, eight at a
// time, each with one route and an address allocated from the pool.
func createIngresses(tb testing.TB, c client.Client, p params) {
	tb.Helper()
	testenv.Parallel(tb, 8, p.ingresses, func(i int) error {
		ing := &v1alpha1.AnycastIngress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ing-%04d", i), Namespace: nsName(i % p.namespaces)},
			Spec: v1alpha1.AnycastIngressSpec{
				ClassName: className,
				Routes:    []v1alpha1.Route{{Name: "web", PathPrefix: "/", Backend: v1alpha1.Backend{Service: "web", Port: 8080}}},
				// No Gateway implementation runs here, so with the health gate on no
				// ingress would ever be healthy: each would report Pending, then
				// AllMembersUnhealthy when the 5-minute first-health deadline passes,
				// in the middle of the steady-state resync this scenario measures.
				// The gate is covered by test/safety.
				Health: &v1alpha1.HealthGate{Enabled: ptr.To(false)},
			},
		}
		return c.Create(context.Background(), ing)
	})
}

// waitProgrammed waits until n ingresses report Programmed=True for their generation.
func waitProgrammed(tb testing.TB, e *testenv.Env, n int, timeout time.Duration) {
	tb.Helper()
	waitIngresses(tb, e, n, timeout, "Programmed", func(i *v1alpha1.AnycastIngress) bool {
		c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionProgrammed)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == i.Generation
	})
}

// waitIngresses waits until at least n ingresses satisfy ok. It lists once and then
// follows a watch, so that the test process decodes each change once instead of listing
// every ingress again and again (which would cost more CPU than the operator it
// measures).
// opts narrow what is listed and watched (a sample waiting for its one ingress asks for
// that one: following every ingress would make the harness decode each status write of
// the others, work that grows with what the operator is busy with and would be charged to
// the sample).
func waitIngresses(tb testing.TB, e *testenv.Env, n int, timeout time.Duration, what string, ok func(*v1alpha1.AnycastIngress) bool, opts ...client.ListOption) {
	tb.Helper()
	wc, err := client.NewWithWatch(e.Config, client.Options{Scheme: e.Scheme})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	state := map[string]bool{}
	good := 0
	set := func(i *v1alpha1.AnycastIngress, deleted bool) {
		k := i.Namespace + "/" + i.Name
		now := !deleted && ok(i)
		if state[k] != now {
			if now {
				good++
			} else {
				good--
			}
		}
		if deleted {
			delete(state, k)
		} else {
			state[k] = now
		}
	}
	rv := ""
	start, lastLog := time.Now(), time.Now()
	for good < n {
		if rv == "" {
			list := &v1alpha1.AnycastIngressList{}
			if err := wc.List(ctx, list, opts...); err != nil {
				tb.Fatalf("waiting for %d ingresses %s: %v", n, what, err)
			}
			state, good = map[string]bool{}, 0
			for i := range list.Items {
				set(&list.Items[i], false)
			}
			rv = list.ResourceVersion
			continue
		}
		w, err := wc.Watch(ctx, &v1alpha1.AnycastIngressList{}, append([]client.ListOption{&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}}}, opts...)...)
		if err != nil {
			if ctx.Err() != nil {
				tb.Fatalf("%d of %d ingresses %s after %s", good, n, what, timeout)
			}
			rv = ""
			continue
		}
		for ev := range w.ResultChan() {
			i, isIngress := ev.Object.(*v1alpha1.AnycastIngress)
			if ev.Type == watch.Error || !isIngress {
				rv = "" // expired: list again
				break
			}
			rv = i.ResourceVersion
			if ev.Type != watch.Bookmark {
				set(i, ev.Type == watch.Deleted)
			}
			if good >= n {
				break
			}
			if time.Since(lastLog) > time.Minute {
				lastLog = time.Now()
				tb.Logf("after %s: %d of %d ingresses %s", time.Since(start).Round(time.Second), good, n, what)
			}
		}
		w.Stop()
		if ctx.Err() != nil && good < n {
			tb.Fatalf("%d of %d ingresses %s after %s", good, n, what, timeout)
		}
	}
}

// settle waits until the operator has written nothing for 3 seconds (reconciles may go
// on: requeues that find nothing to do are the steady state).
func settle(tb testing.TB, counter *apicount.Counter) {
	tb.Helper()
	prev := counter.Writes()
	stable := time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		if w := counter.Writes(); w != prev {
			prev, stable = w, time.Now()
			continue
		}
		if time.Since(stable) >= 3*time.Second {
			return
		}
	}
	tb.Fatalf("the operator never settled (still writing after 3 minutes): %v", counter.Breakdown(writeKey)[:min(10, len(counter.Breakdown(writeKey)))])
}

// reconciles is controller-runtime's count of AnycastIngress reconciles in this process.
func reconciles(tb testing.TB) float64 {
	tb.Helper()
	return reconcileCounts(tb)["anycastingress"]
}

// reconcileCounts is controller-runtime's count of reconciles in this process, by
// controller.
func reconcileCounts(tb testing.TB) map[string]float64 {
	tb.Helper()
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "controller")] += m.GetCounter().GetValue()
		}
	}
	return out
}

// reconcilesSince is reconcileCounts less before.
func reconcilesSince(tb testing.TB, before map[string]float64) map[string]float64 {
	tb.Helper()
	out := reconcileCounts(tb)
	for k, v := range before {
		out[k] -= v
	}
	return out
}

// allocatedBytes and gcCycles are the Go runtime's cumulative counts for this process.
func allocatedBytes() uint64 { return runtimeMetric("/gc/heap/allocs:bytes") }
func gcCycles() uint64       { return runtimeMetric("/gc/cycles/total:gc-cycles") }

func runtimeMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// waitReconciles waits until at least n ingress reconciles happened since r0 and returns
// how long that took.
func waitReconciles(tb testing.TB, r0 float64, n int, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if reconciles(tb)-r0 >= float64(n) {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("only %.0f of %d ingress reconciles after %s", reconciles(tb)-r0, n, timeout)
	return 0
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(tb testing.TB, field string) uint64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	user, sys := selfCPUTimes()
	return user + sys
}

// selfSysCPU is this process's CPU time in the kernel (system calls, the network stack,
// page faults): part of selfCPU, shown apart because what the kernel charges a process
// on a loaded machine moves more than its own code's time does.
func selfSysCPU() time.Duration {
	_, sys := selfCPUTimes()
	return sys
}

// selfCPUTimes is this process's CPU time in its own code and in the kernel.
func selfCPUTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// selfSwitches is how many times this process's threads gave up their CPU, waiting
// (voluntary) or preempted: each is a wake-up to come, which costs more than the work it
// does when events arrive one by one. The yardstick's thread is among them (a few per
// tick, four ticks a second), unlike in hub.operatorCPU.
func selfSwitches() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw + ru.Nivcsw
}

// sysmonCPU is the CPU time of the Go runtime's monitor thread (sysmon). It wakes up to
// every 20 µs while the process works and at every timer while it idles, and takes the P
// back from a thread that spends long in a system call: its cost grows with the time the
// process is busy and with how dear a system call and a wake-up are on the machine, not
// with the work. Zero if it cannot be read.
func sysmonCPU() time.Duration {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	pidMax := 1 << 22 // the kernel's largest
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			pidMax = n
		}
	}
	var ids []int
	for _, t := range tasks {
		if id, err := strconv.Atoi(t.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	st, ok := readStat(fmt.Sprintf("/proc/self/task/%d/stat", firstThread(os.Getpid(), pidMax, ids)))
	if !ok {
		return 0
	}
	return st.cpu
}

// firstThread is the thread the runtime started first after the main one (sysmon, which
// it starts before anything else): the one whose ID follows the process's most closely,
// counting past pid_max, where IDs wrap (twenty API servers and their etcds make them
// wrap at 32,768). Zero when the process has no other thread.
func firstThread(self, pidMax int, ids []int) int {
	first, dist := 0, 0
	for _, id := range ids {
		if id == self {
			continue
		}
		if d := ((id-self)%pidMax + pidMax) % pidMax; first == 0 || d < dist {
			first, dist = id, d
		}
	}
	return first
}

// procStat is what the benchmarks read of a /proc/<pid>/stat line.
type procStat struct {
	comm, ppid string
	cpu        time.Duration // utime + stime
}

// readStat reads a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file: "pid (comm)
// state ppid ... utime(14) stime(15) ...", comm in parentheses that may hold spaces.
func readStat(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return procStat{}, false
	}
	fields := strings.Fields(s[end+2:])
	if len(fields) < 13 {
		return procStat{}, false
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return procStat{comm: s[open+1 : end], ppid: fields[1], cpu: time.Duration(ut+st) * time.Second / 100}, true // USER_HZ
}

// childrenCPU is the CPU time of this process's running children (the kube-apiservers
// and etcds of envtest), from /proc, by command name.
func childrenCPU() map[string]time.Duration {
	total := map[string]time.Duration{}
	for k, d := range childrenCPUByPID() {
		total[k.comm] += d
	}
	return total
}

type childKey struct {
	pid  string
	comm string
}

// childrenCPUByPID is childrenCPU per process: a difference over a span in which a child
// stopped (an API server stopped on purpose) is taken over the processes alive at both
// ends.
func childrenCPUByPID() map[childKey]time.Duration {
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	total := map[childKey]time.Duration{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, ok := readStat("/proc/" + e.Name() + "/stat")
		if !ok || st.ppid != self {
			continue
		}
		total[childKey{pid: e.Name(), comm: st.comm}] = st.cpu
	}
	return total
}

// childrenCPUSince is the CPU the children alive now and at before used since before.
func childrenCPUSince(before map[childKey]time.Duration) time.Duration {
	var sum time.Duration
	for k, d := range childrenCPUByPID() {
		if b, ok := before[k]; ok {
			sum += d - b
		}
	}
	return sum
}

// cpuSince is the CPU each command used since before, and their sum.
func cpuSince(before map[string]time.Duration) (map[string]time.Duration, time.Duration) {
	out := map[string]time.Duration{}
	var sum time.Duration
	for name, d := range childrenCPU() {
		out[name] = d - before[name]
		sum += out[name]
	}
	return out, sum
}

// TestFirstThread: sysmon is the thread whose ID follows the process's, counting past
// pid_max where IDs wrap.
func TestFirstThread(t *testing.T) {
	for _, c := range []struct {
		self, pidMax int
		ids          []int
		want         int
	}{
		{self: 100, pidMax: 32768, ids: []int{100, 101, 102, 150}, want: 101},
		// Wrapped: the process is near pid_max; its later threads got low IDs.
		{self: 32760, pidMax: 32768, ids: []int{12, 32760, 32761, 32765, 300}, want: 32761},
		{self: 32760, pidMax: 32768, ids: []int{32760, 300, 12}, want: 12},
		{self: 100, pidMax: 32768, ids: []int{100}, want: 0},
	} {
		if got := firstThread(c.self, c.pidMax, c.ids); got != c.want {
			t.Errorf("firstThread(%d, %d, %v) = %d, want %d", c.self, c.pidMax, c.ids, got, c.want)
		}
	}
}

// TestReadStat reads a stat line whose command holds spaces and parentheses, and this
// process's own.
func TestReadStat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	line := "4242 (kube api (x)) S 17 4242 17 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 123 0 0\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	st, ok := readStat(path)
	if !ok || st.comm != "kube api (x)" || st.ppid != "17" || st.cpu != 3250*time.Millisecond {
		t.Errorf("readStat = %+v, %t; want comm %q, ppid 17, cpu 3.25s", st, ok, "kube api (x)")
	}
	if _, ok := readStat(filepath.Join(t.TempDir(), "missing")); ok {
		t.Error("a missing file read as a stat line")
	}
	if st, ok := readStat("/proc/self/stat"); !ok || st.ppid != strconv.Itoa(os.Getppid()) {
		t.Errorf("this process's stat: %+v, %t; want ppid %d", st, ok, os.Getppid())
	}
}
