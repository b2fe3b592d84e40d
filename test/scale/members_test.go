package scale_test

// The hub at scale (issue 20): one class programmed on N member clusters, each a real
// API server of its own; a member stopped or slowed while the others take new
// ingresses; and a member running thousands of Services and EndpointSlices that are none
// of the operator's business.
//
// The hub is member m00 (the operator's own cluster); m01..m(N-1) are reached through
// kubeconfig Secrets, as in production. Every figure is the test process's, which is the
// operator plus the test's own clients (small: they create the ingresses and follow one
// watch).

import (
	"context"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/scale/membercheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestMembersSmoke runs the smallest configuration of every member benchmark once, so
// their code paths stay alive in `make test`: three members with ten ingresses, all
// programmed and exactly what they render; the last member slowed by 2 s per request and
// then a member stopped, each while a new ingress comes, which must be programmed on the
// others and say which member is behind; a few unrelated Services on a member; and the
// new ingresses deleted the way the isolation benchmark deletes its samples, after which
// every member holds exactly what the first ten render. No timing is asserted.
func TestMembersSmoke(t *testing.T) {
	h := startHub(t, 3, true)
	f := h.program(t, 10, 2)
	f.log(t)

	// A slow member: the new ingress is programmed on the two others, and the slow one's
	// entry says it is behind until it catches up.
	h.proxy.delay.Store(int64(2 * time.Second))
	slow := memberName(2)
	ing := h.newIngress(t, "smoke-slow", h.names[:2])
	// The first status that has the others programmed says the slow one is behind: each
	// create there takes 2 s, and the ingress has four objects to create.
	if cs := ing.Status.Cluster(slow); cs == nil || cs.Programmed || !strings.HasPrefix(cs.Message, "Behind: ") {
		t.Errorf("when %v were programmed, the slow member's entry was %+v; want not programmed, Behind", h.names[:2], cs)
	}
	if c := meta.FindStatusCondition(ing.Status.Conditions, v1alpha1.ConditionProgrammed); c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, slow) {
		t.Errorf("Programmed condition %+v; want False, naming %s", c, slow)
	}
	h.waitMember(t, ing, slow, "programmed after the slow member answers", 2*time.Minute, func(cs *v1alpha1.IngressClusterStatus) bool { return cs.Programmed })
	h.proxy.delay.Store(0)

	// A stopped member: the same, and its entry says it is unavailable. The new ingress
	// comes the moment the API server stops answering, as in the benchmark.
	stopped := h.envs[1]
	_, exited := stopAnswering(t, stopped)
	ing = h.newIngress(t, "smoke-stopped", []string{h.names[0], h.names[2]})
	if err := <-exited; err != nil {
		t.Fatal(err)
	}
	h.waitMember(t, ing, stopped.Name, "not programmed, with a message", time.Minute, func(cs *v1alpha1.IngressClusterStatus) bool {
		return !cs.Programmed && cs.Message != ""
	})
	if err := stopped.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	h.waitMember(t, ing, stopped.Name, "programmed once it is back", 2*time.Minute, func(cs *v1alpha1.IngressClusterStatus) bool { return cs.Programmed })

	// Unrelated Services on a member: the operator keeps programming.
	createUnrelated(t, h.envs[2].Client, 20, 2)
	h.newIngress(t, "smoke-unrelated", h.names)

	// The isolation benchmark deletes its samples between rounds: they leave the hub,
	// and every member keeps exactly what the remaining ten render.
	h.deleteIngresses(t, "smoke-slow", "smoke-stopped", "smoke-unrelated")
	if got := h.checkMembers(t); got[h.names[1]] != f.objects[h.names[1]] {
		t.Errorf("after the deletes %s holds %d labelled objects; want the %d of the ten ingresses", h.names[1], got[h.names[1]], f.objects[h.names[1]])
	}
}

// BenchmarkMembers programs one class with 100 ingresses on N members, N = 2, 5, 10 and
// 20 (`make bench-members` runs each N in a process of its own, so that one N's freed
// memory does not hide in the next one's figures). Reports the time from the first create
// to all Programmed, the operator's peak RSS and heap, RSS per member, API requests per
// ingress and member, and CPU per ingress and member, the operator's beside the API
// servers'. Targets (issue 20): under 30 MiB per added member; requests and CPU per
// ingress-member within 20 % from N = 2 to N = 20. With BENCH_PIN set (make
// bench-members sets it) the operator runs on a CPU of its own, with the yardstick beside
// it, and the API servers on the others: what the operator's CPU is set against then runs
// on the same CPU as the operator, under the same conditions.
func BenchmarkMembers(b *testing.B) {
	for _, n := range []int{2, 5, 10, 20} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			h := startHub(b, n, false)
			f := h.program(b, 100, 10)
			f.rest = h.atRest(b, time.Minute) // a minute: the once-a-minute work (API group checks, cache sweeps) falls in it
			f.log(b)
			f.report(b)
		})
	}
}

// BenchmarkMemberIsolation: ten members with 100 ingresses; then new ingresses one after
// another, with every member healthy, with one member's API server stopped (then started
// again), and with the last member slowed by a proxy that holds each request 2 s. Reports
// each case's median time from create to programmed on every healthy member. The stopped
// case is measured twice: from the moment the API server stops (while the hub reports the
// outage in every ingress's status, once), and once every ingress reports it (a member
// that stays down). The cases run in three rounds, each round starting with a healthy
// block, and each round's samples are deleted before the next, so every round meets the
// same hub; every member healthy is measured once more at the end. Target (issue 20): the
// slow and stopped figures within 10 % of the healthy one (the median of every healthy
// sample).
func BenchmarkMemberIsolation(b *testing.B) {
	// A sample takes a quarter to half a second; on a 2-core machine shared with ten API
	// servers one sample can take twice as long as the next, and the medians of 11 samples
	// moved by 10 % from run to run with the same code: 21 each.
	const samples = 21
	// The seconds after a stop happen once per stop, and one stop's figure moved from -20
	// to +43 % of the healthy one between runs of the same code, with the machine's pace
	// drifting within a run by as much (healthy medians 294 and 212 ms minutes apart):
	// three rounds, each case set beside the healthy block of its round, and all pooled.
	const rounds = 3
	h := startHub(b, 10, true)
	f := h.program(b, 100, 10)
	f.log(b)
	// BENCH_PROFILE=DIR: the operator's CPU profile of each case, in DIR/healthy-R and
	// DIR/stopped-R for each round R.
	profile := func(c string) func() { return startProfile(profileDir(c), nil) }

	stopped := h.envs[len(h.envs)-2]
	slowName := h.names[len(h.names)-1]
	var healthy, dead, down, slow []*isolation
	var reported []time.Duration
	for r := 1; r <= rounds; r++ {
		stop := profile(fmt.Sprintf("healthy-%d", r))
		hb := h.isolationSamples(b, fmt.Sprintf("healthy-%d", r), fmt.Sprintf("healthy %d", r), h.names, samples)
		stop()
		// The samples start the moment the API server stops answering, not once its
		// process has exited (its graceful shutdown took seconds, and the hub could
		// report the outage in every status before the first sample).
		stoppedAt := time.Now()
		refused, exited := stopAnswering(b, stopped)
		stop = profile(fmt.Sprintf("stopped-%d", r))
		db := h.isolationSamples(b, fmt.Sprintf("stopped-%d", r), fmt.Sprintf("stopped %d, from the stop", r), without(h.names, stopped.Name), samples)
		stop()
		if err := <-exited; err != nil {
			b.Fatal(err)
		}
		// Once every ingress says the member is unavailable, the hub is done reporting the
		// outage: what a member that stays down costs from then on.
		rep := h.waitReported(b, stopped.Name, false, 5*time.Minute)
		reported = append(reported, rep.Sub(refused))
		b.Logf("round %d: %s's API server refused connections %s after it was told to stop; every ingress reports it unavailable %s after that",
			r, stopped.Name, refused.Sub(stoppedAt).Round(time.Millisecond), rep.Sub(refused).Round(time.Millisecond))
		wb := h.isolationSamples(b, fmt.Sprintf("down-%d", r), fmt.Sprintf("stopped %d, once reported", r), without(h.names, stopped.Name), samples)
		restartedAt := time.Now()
		if err := stopped.StartAPIServer(); err != nil {
			b.Fatal(err)
		}
		h.waitMember(b, db.last, stopped.Name, "programmed once it is back", 5*time.Minute, func(cs *v1alpha1.IngressClusterStatus) bool { return cs.Programmed })
		// The slow case starts once the hub is done with the stopped member's return
		// (every ingress programmed there again), not during it.
		back := h.waitReported(b, stopped.Name, true, 5*time.Minute)
		b.Logf("round %d: every ingress reports %s programmed again %s after its API server started", r, stopped.Name, back.Sub(restartedAt).Round(time.Millisecond))

		h.proxy.delay.Store(int64(2 * time.Second))
		sb := h.isolationSamples(b, fmt.Sprintf("slow-%d", r), fmt.Sprintf("slow %d", r), without(h.names, slowName), samples)
		h.waitMember(b, sb.last, slowName, "programmed while slow", 5*time.Minute, func(cs *v1alpha1.IngressClusterStatus) bool { return cs.Programmed })
		h.proxy.delay.Store(0)
		healthy, dead, down, slow = append(healthy, hb), append(dead, db), append(down, wb), append(slow, sb)
		// The next round meets the same hub: the 100 ingresses alone.
		h.deleteIngresses(b, slices.Concat(hb.names, db.names, wb.names, sb.names)...)
	}
	// Every member healthy once more, at the end.
	again := h.isolationSamples(b, "again", "healthy, again", h.names, samples)

	allHealthy := pooled("every member healthy, all blocks", append(slices.Clone(healthy), again)...)
	allDead := pooled("stopped, from the stop, all rounds", dead...)
	allDown := pooled("stopped, once reported, all rounds", down...)
	allSlow := pooled("one member 2 s per request away, all rounds", slow...)
	base := allHealthy.median()

	var s strings.Builder
	fmt.Fprintf(&s, "\nnew ingress, create -> programmed on every healthy member (%d members, 100 ingresses; %d samples each):\n", len(h.names), samples)
	line := func(c *isolation) {
		fmt.Fprintf(&s, "  %-60s median %s, max %s (%s)\n", c.label, c.median().Round(time.Millisecond), c.max().Round(time.Millisecond), c.all())
		fmt.Fprintf(&s, "  %-60s %s\n", "", c.cpu())
	}
	for r := range rounds {
		for _, c := range []*isolation{healthy[r], dead[r], down[r], slow[r]} {
			line(c)
		}
		hm := healthy[r].median()
		fmt.Fprintf(&s, "  round %d against its healthy block: stopped from the stop %+.0f %%, once reported %+.0f %%, slow %+.0f %%; the stopped member reported in every ingress's status %s after it stopped answering\n",
			r+1, percentAbove(dead[r].median(), hm), percentAbove(down[r].median(), hm), percentAbove(slow[r].median(), hm), reported[r].Round(time.Millisecond))
	}
	line(again)
	for _, c := range []*isolation{allHealthy, allDead, allDown, allSlow} {
		fmt.Fprintf(&s, "  %-60s median %s (%d samples)\n", c.label, c.median().Round(time.Millisecond), len(c.took))
	}
	fmt.Fprintf(&s, "  against the median of every healthy sample, %s: slow %+.0f %%, stopped from the stop %+.0f %%, stopped once reported %+.0f %%\n",
		base.Round(time.Millisecond), percentAbove(allSlow.median(), base), percentAbove(allDead.median(), base), percentAbove(allDown.median(), base))
	b.Log(s.String())
	b.ReportMetric(allHealthy.median().Seconds(), "s-healthy")
	b.ReportMetric(allSlow.median().Seconds(), "s-one-slow")
	b.ReportMetric(allDead.median().Seconds(), "s-one-stopped")
	b.ReportMetric(allDown.median().Seconds(), "s-one-stopped-reported")
	b.ReportMetric(meanDuration(reported).Seconds(), "s-outage-reported")
	for _, c := range []*isolation{allSlow, allDead, allDown} {
		if c.median() > base*11/10 {
			b.Logf("TARGET MISSED: %s %s against %s healthy (the median of every healthy sample; target within 10 %%)", c.label, c.median().Round(time.Millisecond), base.Round(time.Millisecond))
		}
	}
}

// profileDir is BENCH_PROFILE/sub, or "" (no profile) when BENCH_PROFILE is not set.
func profileDir(sub string) string {
	if dir := os.Getenv("BENCH_PROFILE"); dir != "" {
		return filepath.Join(dir, sub)
	}
	return ""
}

// percentAbove is how much larger d is than base, in percent.
func percentAbove(d, base time.Duration) float64 {
	return 100 * (d.Seconds() - base.Seconds()) / base.Seconds()
}

// BenchmarkMemberUnrelatedServices: two members with 100 ingresses; then 5,000 Services
// and 5,000 EndpointSlices in 50 namespaces without an ingress, on the remote member.
// Reports what they add to the operator: its RSS, and its Go heap after a collection.
// Target (issue 20): under 10 MiB.
func BenchmarkMemberUnrelatedServices(b *testing.B) {
	h := startHub(b, 2, false)
	f := h.program(b, 100, 10)
	f.log(b)
	settle(b, h.counter)
	rss0, heap0 := settledMemory(b)
	start := time.Now()
	createUnrelated(b, h.envs[1].Client, 5000, 50)
	created := time.Since(start)
	// The member's informers (if they select these) receive them within a few seconds
	// of their creation; 20 s more leaves them time on a busy machine.
	time.Sleep(20 * time.Second)
	rss1, heap1 := settledMemory(b)
	b.Logf("\n5,000 unrelated Services and EndpointSlices on member %s (created in %s):\n  operator RSS %.1f -> %.1f MiB (%+.1f), Go heap in use after GC %.1f -> %.1f MiB (%+.1f)",
		h.names[1], created.Round(time.Second), mib(rss0), mib(rss1), mib(rss1)-mib(rss0), mib(heap0), mib(heap1), mib(heap1)-mib(heap0))
	b.ReportMetric(mib(rss1)-mib(rss0), "MiB-RSS-added")
	b.ReportMetric(mib(heap1)-mib(heap0), "MiB-heap-added")
	if rss1 > rss0+10<<20 {
		b.Logf("TARGET MISSED: 5,000 unrelated Services add %.1f MiB of RSS (target 10 MiB)", mib(rss1)-mib(rss0))
	}
}

// hub is an operator with N members, m00 its own cluster.
type hub struct {
	envs    []*testenv.Env
	names   []string
	counter *apicount.Counter
	// proxy, when asked for, stands between the operator and the last member.
	proxy *slowProxy
	// base is the process's RSS before the operator started.
	base uint64
	heap *heapSampler
	cpu0 time.Duration
	api0 map[string]time.Duration
	// yard measures what CPU time costs on the machine while the hub runs.
	yard *yardstick
}

// operatorCPU is this process's CPU time less the yardstick's: the operator's, and the
// harness's own small share.
func (h *hub) operatorCPU() time.Duration {
	_, yard := h.yard.read()
	return selfCPU() - yard
}

// requestKind is a request's verb and resource ("patch anycastingresses/status").
func requestKind(r apicount.Request) string {
	return r.Verb + " " + strings.TrimSuffix(r.Resource+"/"+r.Subresource, "/")
}

func memberName(i int) string { return fmt.Sprintf("m%02d", i) }

// startHub starts n API servers, four at a time (a 2-core machine times out bringing up
// many at once), and an operator on the first.
func startHub(tb testing.TB, n int, proxyLast bool) *hub {
	tb.Helper()
	ctx := context.Background()
	h := &hub{envs: make([]*testenv.Env, n), counter: &apicount.Counter{}}
	t0 := time.Now()
	for i := range n {
		h.names = append(h.names, memberName(i))
	}
	// Every API server that started is stopped at the end, even when another failed.
	tb.Cleanup(func() {
		for _, e := range h.envs {
			if e != nil {
				_ = e.Stop()
			}
		}
	})
	testenv.Parallel(tb, 4, n, func(i int) (err error) {
		h.envs[i], err = testenv.Start(memberName(i))
		return err
	})
	tb.Logf("%d API servers started in %s", n, time.Since(t0).Round(time.Second))
	// BENCH_PIN=1: the operator on a CPU of its own, the API servers on the others.
	if os.Getenv("BENCH_PIN") != "" {
		undo, err := pinApart()
		if err != nil {
			tb.Fatalf("BENCH_PIN: %v", err)
		}
		// One CPU, one P: as the runtime would have set it, had the process started on
		// one CPU (two Ps on one CPU spin against each other).
		prev := runtime.GOMAXPROCS(1)
		tb.Cleanup(func() { runtime.GOMAXPROCS(prev); undo() })
		tb.Logf("BENCH_PIN: the operator on CPU 0 (GOMAXPROCS 1), the API servers and etcds on the others")
	}
	west := h.envs[0]
	for _, e := range h.envs {
		for _, ns := range []string{operatorNamespace, "metallb-system"} {
			mustCreate(tb, e.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	}
	class := &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec:       v1alpha1.AnycastClassSpec{Pools: []string{"10.100.0.0/20"}, GatewayClassName: "envoy"},
	}
	for i, e := range h.envs {
		m := v1alpha1.ClusterMember{Name: e.Name, ASN: int64(65001 + i),
			Peers: []v1alpha1.Peer{{Name: "tor", Address: fmt.Sprintf("198.18.%d.254", i+1), ASN: int64(64001 + i)}}}
		if i == 0 {
			m.Interconnect = v1alpha1.InterconnectHub
		} else {
			kubeconfig := e.Kubeconfig()
			if proxyLast && i == n-1 {
				h.proxy = startSlowProxy(tb, e)
				kubeconfig = h.proxy.kubeconfig(tb)
			}
			secret := e.Name + "-kubeconfig"
			mustCreate(tb, west.Client, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: operatorNamespace},
				Data:       map[string][]byte{"kubeconfig": kubeconfig},
			})
			m.KubeconfigSecretRef = &v1alpha1.SecretKeyReference{Name: secret}
		}
		class.Spec.Clusters = append(class.Spec.Clusters, m)
	}

	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200); err != nil {
		tb.Logf("cannot reset the peak RSS (%v): VmHWM covers the whole process life", err)
	}
	h.base = procStatus(tb, "VmRSS")
	h.heap = sampleHeap()
	h.yard = startYardstick()
	tb.Cleanup(h.yard.Stop)
	h.cpu0, h.api0 = h.operatorCPU(), childrenCPU()
	startOperator(tb, west, h.counter, 3*time.Minute)
	mustCreate(tb, west.Client, class)
	t0 = time.Now()
	testenv.Eventually(tb, "class Ready", 5*time.Minute, func() error {
		c := &v1alpha1.AnycastClass{}
		if err := west.Client.Get(ctx, client.ObjectKey{Name: className}, c); err != nil {
			return err
		}
		return testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	})
	tb.Logf("class Ready on %d members in %s", n, time.Since(t0).Round(time.Millisecond))
	return h
}

// memberFigures are what one programming of N members measured.
type memberFigures struct {
	members, ingresses      int
	programmed              time.Duration
	base, peakRSS, peakHeap uint64
	operatorCPU, apiCPU     time.Duration
	// ingressCPU and ingressAPICPU are the CPU from the first create on: the ingresses'
	// own cost, without the operator's start and the class's programming (a cost per
	// member, not per ingress), which operatorCPU and apiCPU include.
	ingressCPU, ingressAPICPU time.Duration
	// ingressSysCPU is the part of ingressCPU spent in the kernel.
	ingressSysCPU time.Duration
	// switches are the process's context switches from the first create on, and sysmon
	// the CPU of the runtime's monitor thread over that span (part of ingressCPU).
	switches                 int64
	sysmon                   time.Duration
	requests, memberRequests int
	byCluster                []apicount.Row
	// hubRequests are the hub's requests by verb and resource: the share every ingress
	// costs whatever N is.
	hubRequests []apicount.Row
	objects     map[string]int
	// reconciles are the reconciles from the first create to all Programmed, by
	// controller; allocated is the bytes the process allocated in that span: a measure of
	// the operator's work that, unlike CPU seconds, the API servers sharing the two cores
	// do not inflate.
	reconciles map[string]float64
	allocated  uint64
	gcCycles   uint64
	// rest is the operator's cost once everything is programmed: what N members cost with
	// nothing to do.
	rest restFigures
	// yardPerUnit is the yardstick's CPU per unit from the first create to all
	// Programmed (operatorCPU and ingressCPU are without its own CPU: hub.operatorCPU).
	yardPerUnit time.Duration
}

// program creates the ingresses on the hub, waits until all are Programmed and checks
// that every member holds exactly what they render.
func (h *hub) program(tb testing.TB, ingresses, namespaces int) *memberFigures {
	tb.Helper()
	west := h.envs[0]
	for i := 0; i < namespaces; i++ {
		mustCreate(tb, west.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}})
	}
	h.counter.Reset()
	// BENCH_PROFILE=DIR: the operator's CPU and heap profiles of the programming, in
	// DIR/program-N.
	stopProfile := startProfile(profileDir(fmt.Sprintf("program-%d", len(h.envs))), nil)
	cpu1, api1, sys1, sw1, mon1 := h.operatorCPU(), childrenCPU(), selfSysCPU(), selfSwitches(), sysmonCPU()
	rec1, alloc1, gc1 := reconcileCounts(tb), allocatedBytes(), gcCycles()
	yardUnits0, yardCPU0 := h.yard.read()
	start := time.Now()
	createIngresses(tb, west.Client, params{ingresses: ingresses, namespaces: namespaces})
	waitProgrammed(tb, west, ingresses, 30*time.Minute)
	f := &memberFigures{members: len(h.envs), ingresses: ingresses, programmed: time.Since(start), base: h.base}
	stopProfile()
	f.peakRSS = procStatus(tb, "VmHWM")
	f.peakHeap = h.heap.Peak()
	f.operatorCPU = h.operatorCPU() - h.cpu0
	_, f.apiCPU = cpuSince(h.api0)
	f.ingressCPU = h.operatorCPU() - cpu1
	f.ingressSysCPU = selfSysCPU() - sys1
	f.switches = selfSwitches() - sw1
	f.sysmon = sysmonCPU() - mon1
	_, f.ingressAPICPU = cpuSince(api1)
	f.yardPerUnit = h.yard.perUnitSince(yardUnits0, yardCPU0)
	f.allocated, f.gcCycles = allocatedBytes()-alloc1, gcCycles()-gc1
	f.reconciles = reconcilesSince(tb, rec1)
	f.requests = int(h.counter.Total())
	f.memberRequests = h.counter.Count(func(r apicount.Request) bool { return r.Cluster != "hub" })
	f.byCluster = h.counter.Breakdown(func(r apicount.Request) string { return r.Cluster })
	f.hubRequests = h.counter.Breakdown(func(r apicount.Request) string {
		if r.Cluster != "hub" {
			return "(members)"
		}
		return requestKind(r)
	})

	f.objects = h.checkMembers(tb)
	return f
}

// checkMembers waits until every member holds exactly what the hub's ingresses render
// (nothing missing, stale or orphaned) and returns the labelled objects per member.
func (h *hub) checkMembers(tb testing.TB) map[string]int {
	tb.Helper()
	members := map[string]client.Client{}
	for _, e := range h.envs {
		members[e.Name] = e.Client
	}
	var objects map[string]int
	testenv.Eventually(tb, "members hold exactly what the ingresses render", 5*time.Minute, func() error {
		rep, err := membercheck.Check(context.Background(), h.envs[0].Client, className, members)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return rep
		}
		objects = rep.Objects
		return nil
	})
	return objects
}

func (f *memberFigures) ingressMembers() float64 { return float64(f.ingresses * f.members) }

// workCPU is the operator's CPU from the first create less what it spends at rest over a
// span as long (its probes, leases and sweeps, per member and second): the programming's
// own cost. The span is the machine's doing (N API servers on the other CPU answer
// slower as N grows), and the time-bound work would grow with it. Zero before the rest
// is measured.
func (f *memberFigures) workCPU() time.Duration {
	if f.rest.span <= 0 {
		return 0
	}
	return f.ingressCPU - time.Duration(float64(f.rest.cpu)*f.programmed.Seconds()/f.rest.span.Seconds())
}

// restFigures are the operator's cost over a span with nothing to program.
type restFigures struct {
	span, cpu time.Duration
	// apiCPU is the API servers' and etcds' CPU over the span.
	apiCPU    time.Duration
	requests  int
	switches  int64
	allocated uint64
	// byKind are the requests by verb and resource (hub or member alike).
	byKind []apicount.Row
}

// atRest waits until the operator stops writing, then measures it for d: the cost of
// keeping N members (their watches, probes and leases) with nothing to do.
func (h *hub) atRest(tb testing.TB, d time.Duration) restFigures {
	tb.Helper()
	settle(tb, h.counter)
	before := map[string]int{}
	for _, r := range h.counter.Breakdown(requestKind) {
		before[r.Key] = r.Count
	}
	// BENCH_PROFILE=DIR: the operator's CPU profile at rest in DIR/rest-N, and the first
	// remote member's API server's.
	stop := startProfile(profileDir(fmt.Sprintf("rest-%d", len(h.envs))), map[string]*rest.Config{h.envs[1].Name: h.envs[1].Config})
	cpu0, api0, req0, alloc0, sw0, t0 := h.operatorCPU(), childrenCPU(), h.counter.Total(), allocatedBytes(), selfSwitches(), time.Now()
	time.Sleep(d)
	stop()
	f := restFigures{span: time.Since(t0), cpu: h.operatorCPU() - cpu0, requests: int(h.counter.Total() - req0), allocated: allocatedBytes() - alloc0}
	_, f.apiCPU = cpuSince(api0)
	f.switches = selfSwitches() - sw0
	for _, r := range h.counter.Breakdown(requestKind) {
		if n := r.Count - before[r.Key]; n > 0 {
			f.byKind = append(f.byKind, apicount.Row{Key: r.Key, Count: n})
		}
	}
	sort.Slice(f.byKind, func(i, j int) bool { return f.byKind[i].Count > f.byKind[j].Count })
	return f
}

func (f *memberFigures) log(tb testing.TB) {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "  %-52s %s\n", k, v) }
	fmt.Fprintf(&b, "\n%d AnycastIngresses, one class, %d members (m00 local, the others by kubeconfig):\n", f.ingresses, f.members)
	row("first create -> all Programmed", f.programmed.Round(time.Millisecond).String())
	row("test process RSS before the operator / peak", fmt.Sprintf("%.0f / %.0f MiB (operator: %.0f MiB, %.1f MiB per member)", mib(f.base), mib(f.peakRSS), mib(f.peakRSS-f.base), mib(f.peakRSS-f.base)/float64(f.members)))
	row("Go heap in use, peak (MemStats, sampled 100 ms)", fmt.Sprintf("%.0f MiB", mib(f.peakHeap)))
	row("CPU from operator start: operator / API servers+etcd", fmt.Sprintf("%s / %s", f.operatorCPU.Round(time.Millisecond), f.apiCPU.Round(time.Millisecond)))
	row("CPU per ingress-member: operator / API servers", fmt.Sprintf("%.2f / %.2f ms", ms(f.operatorCPU)/f.ingressMembers(), ms(f.apiCPU)/f.ingressMembers()))
	row("CPU from the first create: operator / API servers", fmt.Sprintf("%s / %s (%.2f / %.2f ms per ingress-member)", f.ingressCPU.Round(time.Millisecond), f.ingressAPICPU.Round(time.Millisecond), ms(f.ingressCPU)/f.ingressMembers(), ms(f.ingressAPICPU)/f.ingressMembers()))
	row("  the operator's in its own code / in the kernel", fmt.Sprintf("%.2f / %.2f ms per ingress-member", ms(f.ingressCPU-f.ingressSysCPU)/f.ingressMembers(), ms(f.ingressSysCPU)/f.ingressMembers()))
	row("  context switches (the process's threads)", fmt.Sprintf("%d, %.1f per ingress-member", f.switches, float64(f.switches)/f.ingressMembers()))
	row("  the runtime's monitor thread (sysmon)", fmt.Sprintf("%s, %.2f ms per ingress-member (%.0f %%)", f.sysmon.Round(time.Millisecond), ms(f.sysmon)/f.ingressMembers(), 100*f.sysmon.Seconds()/f.ingressCPU.Seconds()))
	if f.yardPerUnit > 0 {
		units := float64(f.ingressCPU) / float64(f.yardPerUnit)
		row("yardstick (fixed work, own thread): CPU per unit", fmt.Sprintf("%.1f µs over the programming; the operator's CPU from the first create is %.0f units per ingress-member", float64(f.yardPerUnit)/1e3, units/f.ingressMembers()))
		if w := f.workCPU(); w > 0 {
			row("  less its at-rest CPU over as long a span", fmt.Sprintf("%.2f ms, %.0f units per ingress-member", ms(w)/f.ingressMembers(), float64(w)/float64(f.yardPerUnit)/f.ingressMembers()))
		}
	}
	row("allocated from the first create (GC cycles)", fmt.Sprintf("%.0f MiB, %.0f KiB per ingress-member (%d)", mib(f.allocated), float64(f.allocated)/1024/f.ingressMembers(), f.gcCycles))
	row("reconciles from the first create, per ingress", reconcileRow(f.reconciles, f.ingresses))
	if r := f.rest; r.span > 0 {
		sec := r.span.Seconds()
		row(fmt.Sprintf("at rest, over %s: operator CPU", r.span.Round(time.Second)), fmt.Sprintf("%.1f ms/s (%.2f ms per member-second); %.1f requests/s; %.0f context switches/s; %.0f KiB/s allocated; API servers %.0f %% of a core",
			ms(r.cpu)/sec, ms(r.cpu)/sec/float64(f.members), float64(r.requests)/sec, float64(r.switches)/sec, float64(r.allocated)/1024/sec, 100*r.apiCPU.Seconds()/sec))
		for _, k := range r.byKind {
			row("  at rest: "+k.Key, fmt.Sprint(k.Count))
		}
	}
	row("API requests until Programmed", fmt.Sprintf("%d (%.2f per ingress-member)", f.requests, float64(f.requests)/f.ingressMembers()))
	row("  to remote members", fmt.Sprintf("%d (%.2f per ingress and remote member)", f.memberRequests, float64(f.memberRequests)/float64(f.ingresses*(f.members-1))))
	for _, r := range f.byCluster {
		row("  cluster "+r.Key, fmt.Sprint(r.Count))
	}
	for _, r := range f.hubRequests {
		if r.Key != "(members)" {
			row("  hub: "+r.Key, fmt.Sprintf("%d (%.2f per ingress)", r.Count, float64(r.Count)/float64(f.ingresses)))
		}
	}
	names := make([]string, 0, len(f.objects))
	for n := range f.objects {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []string
	for _, n := range names {
		objs = append(objs, fmt.Sprintf("%s %d", n, f.objects[n]))
	}
	row("labelled objects per member", strings.Join(objs, ", "))
	tb.Log(b.String())
}

func (f *memberFigures) report(b *testing.B) {
	b.ReportMetric(f.programmed.Seconds(), "s-to-programmed")
	b.ReportMetric(mib(f.peakRSS), "MiB-peak-RSS")
	b.ReportMetric(mib(f.peakRSS-f.base)/float64(f.members), "MiB-RSS/member")
	b.ReportMetric(mib(f.peakHeap), "MiB-peak-heap")
	b.ReportMetric(float64(f.requests)/f.ingressMembers(), "requests/ingress-member")
	b.ReportMetric(ms(f.operatorCPU)/f.ingressMembers(), "ms-CPU/ingress-member")
	b.ReportMetric(ms(f.apiCPU)/f.ingressMembers(), "ms-apiCPU/ingress-member")
	b.ReportMetric(ms(f.ingressCPU)/f.ingressMembers(), "ms-ingressCPU/ingress-member")
	b.ReportMetric(ms(f.ingressSysCPU)/f.ingressMembers(), "ms-ingressSysCPU/ingress-member")
	b.ReportMetric(float64(f.switches)/f.ingressMembers(), "switches/ingress-member")
	b.ReportMetric(ms(f.sysmon)/f.ingressMembers(), "ms-sysmonCPU/ingress-member")
	b.ReportMetric(float64(f.allocated)/1024/f.ingressMembers(), "KiB-alloc/ingress-member")
	if f.yardPerUnit > 0 {
		b.ReportMetric(float64(f.yardPerUnit)/1e3, "us-yardstick/unit")
		b.ReportMetric(float64(f.ingressCPU)/float64(f.yardPerUnit)/f.ingressMembers(), "yardstick-units/ingress-member")
		if w := f.workCPU(); w > 0 {
			b.ReportMetric(float64(w)/float64(f.yardPerUnit)/f.ingressMembers(), "work-units/ingress-member")
		}
	}
	b.ReportMetric(f.reconciles["anycastingress"]/float64(f.ingresses), "reconciles/ingress")
	if f.rest.span > 0 {
		b.ReportMetric(ms(f.rest.cpu)/f.rest.span.Seconds()/float64(f.members), "ms-restCPU/member-s")
	}
}

// reconcileRow is the reconciles by controller, per ingress.
func reconcileRow(counts map[string]float64, ingresses int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if counts[k] > 0 {
			out = append(out, fmt.Sprintf("%s %.0f (%.2f)", k, counts[k], counts[k]/float64(ingresses)))
		}
	}
	return strings.Join(out, ", ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newIngress creates one more ingress and waits until it is programmed on every member
// in healthy (its status entry for each says so), returning it.
func (h *hub) newIngress(tb testing.TB, name string, healthy []string) *v1alpha1.AnycastIngress {
	tb.Helper()
	ing := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nsName(0)},
		Spec: v1alpha1.AnycastIngressSpec{
			ClassName: className,
			Routes:    []v1alpha1.Route{{Name: "web", PathPrefix: "/", Backend: v1alpha1.Backend{Service: "web", Port: 8080}}},
			Health:    &v1alpha1.HealthGate{Enabled: ptr.To(false)}, // see createIngresses
		},
	}
	mustCreate(tb, h.envs[0].Client, ing)
	want := map[string]bool{}
	for _, n := range healthy {
		want[n] = true
	}
	var seen *v1alpha1.AnycastIngress
	waitIngresses(tb, h.envs[0], 1, 5*time.Minute, "programmed on "+strings.Join(healthy, ","), func(i *v1alpha1.AnycastIngress) bool {
		if i.Name != name || i.Namespace != ing.Namespace {
			return false
		}
		got := 0
		for _, cs := range i.Status.Clusters {
			if want[cs.Name] && cs.Programmed {
				got++
			}
		}
		if got == len(want) && meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionAccepted) != nil {
			seen = i.DeepCopy()
			return true
		}
		return false
	}, client.InNamespace(ing.Namespace), client.MatchingFields{"metadata.name": name})
	return seen
}

// waitMember waits until the status entry of member for ing satisfies ok.
func (h *hub) waitMember(tb testing.TB, ing *v1alpha1.AnycastIngress, member, what string, timeout time.Duration, ok func(*v1alpha1.IngressClusterStatus) bool) {
	tb.Helper()
	var last string
	testenv.Eventually(tb, fmt.Sprintf("%s/%s on %s %s", ing.Namespace, ing.Name, member, what), timeout, func() error {
		got := &v1alpha1.AnycastIngress{}
		if err := h.envs[0].Client.Get(context.Background(), client.ObjectKeyFromObject(ing), got); err != nil {
			return err
		}
		for i := range got.Status.Clusters {
			cs := &got.Status.Clusters[i]
			if cs.Name == member {
				if m := fmt.Sprintf("programmed=%t %q", cs.Programmed, cs.Message); m != last {
					last = m
					tb.Logf("%s/%s on %s: %s", ing.Namespace, ing.Name, member, m)
				}
				if ok(cs) {
					return nil
				}
				return fmt.Errorf("programmed=%t message %q", cs.Programmed, cs.Message)
			}
		}
		return fmt.Errorf("no status entry for %s", member)
	})
}

// waitReported waits until every ingress on the hub says member is programmed (or not),
// and returns when it saw that.
func (h *hub) waitReported(tb testing.TB, member string, programmed bool, timeout time.Duration) time.Time {
	tb.Helper()
	testenv.Eventually(tb, fmt.Sprintf("every ingress reports %s programmed=%t", member, programmed), timeout, func() error {
		list := &v1alpha1.AnycastIngressList{}
		if err := h.envs[0].Client.List(context.Background(), list); err != nil {
			return err
		}
		waiting := 0
		for i := range list.Items {
			if cs := list.Items[i].Status.Cluster(member); cs == nil || cs.Programmed != programmed {
				waiting++
			}
		}
		if waiting > 0 {
			return fmt.Errorf("%d of %d ingresses do not report %s programmed=%t yet", waiting, len(list.Items), member, programmed)
		}
		return nil
	})
	return time.Now()
}

// isolation is one case's samples.
type isolation struct {
	label string
	took  []time.Duration
	last  *v1alpha1.AnycastIngress
	// names are the ingresses the samples created, in the order they were.
	names []string
	// wall, operatorCPU and apiCPU cover all the samples: the CPU of this process (the
	// operator and the harness) and of the API servers and etcds that ran throughout.
	wall, operatorCPU, apiCPU time.Duration
	// hubWrites are the operator's writes to the hub during the samples, by verb and
	// resource: the samples' own, and what else the hub was busy writing.
	hubWrites []apicount.Row
	// memberRequests are the operator's requests to the other members during the samples.
	memberRequests int
	// reconciles are the reconciles during the samples, by controller, and allocated the
	// bytes the process allocated: the operator's work, which CPU seconds on a shared
	// machine only estimate.
	reconciles map[string]float64
	allocated  uint64
}

// cpu says what the samples cost the machine: the two cores are shared by the operator
// and every API server, so a busier API server slows the operator's samples.
func (c *isolation) cpu() string {
	var w []string
	for _, r := range c.hubWrites {
		w = append(w, fmt.Sprintf("%d %s", r.Count, r.Key))
	}
	return fmt.Sprintf("over %s: operator %s CPU, %.0f MiB allocated, API servers %s; requests to the other members %d; reconciles: %s; hub writes: %s",
		c.wall.Round(10*time.Millisecond), c.operatorCPU.Round(10*time.Millisecond), mib(c.allocated), c.apiCPU.Round(10*time.Millisecond), c.memberRequests,
		reconcileRow(c.reconciles, len(c.took)), strings.Join(w, ", "))
}

// hubWrites counts the operator's writes to the hub by verb and resource.
func (h *hub) hubWrites() map[string]int {
	out := map[string]int{}
	for _, r := range h.counter.Breakdown(func(r apicount.Request) string {
		if r.Cluster != "hub" || !r.Write() {
			return ""
		}
		return strings.TrimPrefix(r.String(), "hub ")
	}) {
		if r.Key != "" {
			out[r.Key] = r.Count
		}
	}
	return out
}

// isolationSamples creates n ingresses one after another (iso-<name>-<i>), each timed
// from its create to programmed on every member in healthy; label names the case in the
// report.
func (h *hub) isolationSamples(tb testing.TB, name, label string, healthy []string, n int) *isolation {
	tb.Helper()
	c := &isolation{label: fmt.Sprintf("%s (programmed on %d members)", label, len(healthy))}
	remote := func(r apicount.Request) bool { return r.Cluster != "hub" }
	t0, cpu0, api0, writes0, member0 := time.Now(), h.operatorCPU(), childrenCPUByPID(), h.hubWrites(), h.counter.Count(remote)
	rec0, alloc0 := reconcileCounts(tb), allocatedBytes()
	defer func() {
		c.wall, c.operatorCPU, c.apiCPU = time.Since(t0), h.operatorCPU()-cpu0, childrenCPUSince(api0)
		c.memberRequests = h.counter.Count(remote) - member0
		c.allocated, c.reconciles = allocatedBytes()-alloc0, reconcilesSince(tb, rec0)
		for k, n := range h.hubWrites() {
			if d := n - writes0[k]; d > 0 {
				c.hubWrites = append(c.hubWrites, apicount.Row{Key: k, Count: d})
			}
		}
		sort.Slice(c.hubWrites, func(i, j int) bool { return c.hubWrites[i].Count > c.hubWrites[j].Count })
	}()
	for i := range n {
		start := time.Now()
		ing := fmt.Sprintf("iso-%s-%d", name, i)
		c.names = append(c.names, ing)
		c.last = h.newIngress(tb, ing, healthy)
		c.took = append(c.took, time.Since(start))
		for _, name := range h.names {
			if !slices.Contains(healthy, name) {
				if cs := c.last.Status.Cluster(name); cs != nil {
					tb.Logf("%s: %s; %s's entry then: programmed=%t %q", c.last.Name, c.took[i].Round(time.Millisecond), name, cs.Programmed, cs.Message)
				}
			}
		}
	}
	tb.Logf("%s: %s", c.label, c.all())
	return c
}

func (c *isolation) sorted() []time.Duration {
	s := append([]time.Duration(nil), c.took...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
func (c *isolation) median() time.Duration { s := c.sorted(); return s[len(s)/2] }
func (c *isolation) max() time.Duration    { s := c.sorted(); return s[len(s)-1] }
func (c *isolation) all() string {
	var out []string
	for _, d := range c.took {
		out = append(out, d.Round(time.Millisecond).String())
	}
	return strings.Join(out, " ")
}

// stopAnswering stops e's API server and returns as soon as it refuses connections,
// with that instant; exited says how stopping its process ended (its graceful shutdown
// goes on for seconds after it stops answering).
func stopAnswering(tb testing.TB, e *testenv.Env) (time.Time, <-chan error) {
	tb.Helper()
	exited := make(chan error, 1)
	go func() { exited <- e.StopAPIServer() }()
	refused, err := e.WaitRefused(30 * time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return refused, exited
}

// pooled is one case made of the samples of several blocks, for their common median.
func pooled(label string, blocks ...*isolation) *isolation {
	c := &isolation{label: label}
	for _, b := range blocks {
		c.took = append(c.took, b.took...)
	}
	return c
}

func meanDuration(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

// deleteIngresses deletes the named ingresses of the first namespace and waits until they
// are gone from the hub: the operator's finalizer lets go only once their objects are
// removed from every member.
func (h *hub) deleteIngresses(tb testing.TB, names ...string) {
	tb.Helper()
	ctx := context.Background()
	for _, name := range names {
		ing := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nsName(0)}}
		if err := h.envs[0].Client.Delete(ctx, ing); client.IgnoreNotFound(err) != nil {
			tb.Fatalf("deleting %s: %v", name, err)
		}
	}
	testenv.Eventually(tb, fmt.Sprintf("%d ingresses deleted", len(names)), 5*time.Minute, func() error {
		list := &v1alpha1.AnycastIngressList{}
		if err := h.envs[0].Client.List(ctx, list, client.InNamespace(nsName(0))); err != nil {
			return err
		}
		left := 0
		for i := range list.Items {
			if slices.Contains(names, list.Items[i].Name) {
				left++
			}
		}
		if left > 0 {
			return fmt.Errorf("%d of %d still there", left, len(names))
		}
		return nil
	})
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// slowProxy is a reverse proxy in front of a member's API server that holds every
// request for delay before passing it on: a member behind a slow link, or an overloaded
// API server. Watches are held at their start only, then stream.
type slowProxy struct {
	delay atomic.Int64 // nanoseconds
	srv   *httptest.Server
}

func startSlowProxy(tb testing.TB, e *testenv.Env) *slowProxy {
	tb.Helper()
	target, err := url.Parse(e.Config.Host)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := rest.TransportFor(e.Config) // the member's own credentials
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	p := &slowProxy{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(p.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.EnableHTTP2 = true
	p.srv.StartTLS()
	tb.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// kubeconfig reaches the member through the proxy.
func (p *slowProxy) kubeconfig(tb testing.TB) []byte {
	tb.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	b, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"proxy": {Server: p.srv.URL, CertificateAuthorityData: ca}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"proxy": {}},
		Contexts:       map[string]*clientcmdapi.Context{"proxy": {Cluster: "proxy", AuthInfo: "proxy"}},
		CurrentContext: "proxy",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// createUnrelated creates n Services, each with an EndpointSlice of two endpoints, spread
// over namespaces unrelated-00.. that no ingress uses: a busy member's own workloads.
func createUnrelated(tb testing.TB, c client.Client, n, namespaces int) {
	tb.Helper()
	ctx := context.Background()
	for i := range namespaces {
		mustCreate(tb, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%02d", i)}})
	}
	testenv.Parallel(tb, 8, n, func(i int) error {
		ns, name := fmt.Sprintf("unrelated-%02d", i%namespaces), fmt.Sprintf("svc-%05d", i)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		}
		if err := c.Create(ctx, svc); err != nil {
			return err
		}
		ready := true
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-abcde", Namespace: ns, Labels: map[string]string{
				discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, NodeName: ptr.To("node-a")},
				{Addresses: []string{fmt.Sprintf("10.245.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, NodeName: ptr.To("node-b")},
			},
		}
		return c.Create(ctx, slice)
	})
}

// settledMemory is the process's RSS and Go heap in use after a collection that returns
// what it can to the OS.
func settledMemory(tb testing.TB) (rss, heap uint64) {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procStatus(tb, "VmRSS"), ms.HeapInuse
}
