package scale_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// BenchmarkWatcherBurst1000: 1,000 AnycastIngresses with 1,000 VIPs that west and east
// both announce on the real BGP fabric (FRR core and TORs, gobgpd speakers), watched by
// the operator's watcher through the core (ADD-PATH). Three bursts change every VIP's
// paths at once:
//
//   - east's speaker stops: TOR east withdraws all 1,000 east paths;
//   - east's speaker starts again and re-announces them (one gobgp call per prefix, so
//     this burst is spread over the re-announcement);
//   - `clear bgp *` on TOR east: every session of the TOR resets, the core withdraws all
//     east paths and learns them again seconds later.
//
// For each: the time until every ingress's status matches the routers (the core's origin
// ASes; after the reset, east's paths must be the re-learned ones, not stale), the status
// writes the burst cost (per ingress: the coalescing target is one per ingress per burst),
// and the BGP-update-to-status-write delays the operator observed.
func BenchmarkWatcherBurst1000(b *testing.B) {
	const n = 1000
	f := fabric.Start(b, fabric.Options{})
	ctx := context.Background()
	west, east := startEnv(b, "west"), startEnv(b, "east")
	for _, e := range []*testenv.Env{west, east} {
		for _, ns := range []string{operatorNamespace, "metallb-system"} {
			mustCreate(b, e.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	}
	const namespaces = 10
	for i := 0; i < namespaces; i++ {
		mustCreate(b, west.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}})
	}
	mustCreate(b, west.Client, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "east-kubeconfig", Namespace: operatorNamespace},
		Data:       map[string][]byte{"kubeconfig": east.Kubeconfig()},
	})

	counter := &apicount.Counter{}
	var delays delaySamples
	cfg := rest.CopyConfig(west.Config)
	cfg.QPS, cfg.Burst = -1, 0
	mgr, err := operator.New(cfg, operator.Options{
		Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0", MemberProbeInterval: time.Second,
		WrapTransport: counter.Wrap, SkipControllerNameValidation: true, StatusDelayObserver: delays.add,
	})
	if err != nil {
		b.Fatal(err)
	}
	stop := runManager(b, mgr)
	defer stop()

	cls := scaleClass()
	cls.Spec.Pools = []string{"10.200.0.0/22"}
	one := metav1.Duration{Duration: time.Second}
	hold := metav1.Duration{Duration: 9 * time.Second}
	keep := metav1.Duration{Duration: 3 * time.Second}
	cls.Spec.Watcher = &v1alpha1.Watcher{
		ASN: int64(f.WatcherASN), RouterID: "198.18.255.99",
		Sessions: []v1alpha1.WatcherSession{{
			Name: "core", Address: f.CoreLink.RouterAddr.String(), ASN: int64(f.CoreLink.RouterASN),
			LocalAddress: f.CoreLink.WatcherAddr.String(), HoldTime: &hold, KeepaliveTime: &keep, ConnectRetry: &one,
		}},
	}
	mustCreate(b, west.Client, cls)

	vips := make([]netip.Prefix, n)
	base := netip.MustParseAddr("10.200.0.1")
	for i := range vips {
		vips[i] = netip.PrefixFrom(base, 32)
		base = base.Next()
	}
	start := time.Now()
	createVIPIngresses(b, west.Client, vips, namespaces)
	waitProgrammed(b, west, n, 30*time.Minute)
	b.Logf("%d ingresses Programmed in %s", n, time.Since(start).Round(time.Second))
	start = time.Now()
	var wg sync.WaitGroup
	for _, s := range []*fabric.Speaker{f.West, f.East} {
		wg.Add(1)
		go func(s *fabric.Speaker) { defer wg.Done(); s.AnnounceMany(vips) }(s)
	}
	wg.Wait()
	b.Logf("both speakers announce %d VIPs (%s)", n, time.Since(start).Round(time.Second))
	both := map[int64]bool{fabric.WestASN: true, fabric.EastASN: true}
	waitRouters(b, west, vips, both, time.Time{}, 10*time.Minute)

	type burst struct {
		key     string // metric suffix
		name    string
		trigger func()
		want    map[int64]bool
		fresh   bool // east's paths must be newer than the trigger
	}
	bursts := []burst{
		{"stop", "east speaker stops (1,000 withdrawals)", func() { f.East.Stop() }, map[int64]bool{fabric.WestASN: true}, false},
		{"start", "east speaker starts (1,000 announcements)", func() { f.East.Start() }, both, false},
		{"reset", "clear bgp * on TOR east (withdraw, re-learn)", func() {
			if out, err := f.TOREast.Vtysh("clear bgp *"); err != nil {
				b.Fatalf("clear bgp: %v: %s", err, out)
			}
		}, both, true},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n%d VIPs, watcher on the core (ADD-PATH), status writes per burst:\n", n)
	fmt.Fprintf(&report, "  %-46s %10s %8s %18s %10s %22s\n", "burst", "to status", "writes", "per ingress 0/1/2/3+", "class st.", "update->status p50/p99")
	for _, bu := range bursts {
		settleWrites(b, counter)
		counter.Reset()
		delays.take()
		t0 := time.Now()
		bu.trigger()
		var since time.Time
		if bu.fresh {
			since = t0
		}
		waitRouters(b, west, vips, bu.want, since, 10*time.Minute)
		took := time.Since(t0)
		settleWrites(b, counter)
		per := counter.PerObject(func(r apicount.Request) bool {
			return r.Write() && r.Resource == "anycastingresses" && r.Subresource == "status"
		})
		var hist [4]int
		total := 0
		for _, k := range per {
			total += k
			hist[min(k, 3)]++
		}
		hist[0] = n - (hist[1] + hist[2] + hist[3])
		classWrites := counter.Count(func(r apicount.Request) bool {
			return r.Write() && r.Resource == "anycastclasses" && r.Subresource == "status"
		})
		d := delays.take()
		fmt.Fprintf(&report, "  %-46s %10s %8d %18s %10d %22s\n", bu.name, took.Round(time.Millisecond), total,
			fmt.Sprintf("%d/%d/%d/%d", hist[0], hist[1], hist[2], hist[3]), classWrites,
			fmt.Sprintf("%s/%s", pct(d, 50).Round(time.Millisecond), pct(d, 99).Round(time.Millisecond)))
		b.ReportMetric(took.Seconds(), "s-to-status-"+bu.key)
		b.ReportMetric(float64(total)/n, "writes/ingress-"+bu.key)
	}
	b.Log(report.String())
	_ = ctx
}

// createVIPIngresses creates one ingress per VIP, eight at a time.
func createVIPIngresses(tb testing.TB, c client.Client, vips []netip.Prefix, namespaces int) {
	tb.Helper()
	testenv.Parallel(tb, 8, len(vips), func(i int) error {
		ing := &v1alpha1.AnycastIngress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%04d", i), Namespace: nsName(i % namespaces)},
			Spec:       v1alpha1.AnycastIngressSpec{ClassName: className, Address: vips[i].Addr().String()},
		}
		return c.Create(context.Background(), ing)
	})
}

// waitRouters waits until every VIP's ingress reports paths from exactly the origin ASes
// want, Advertised True with both clusters and False (Degraded) with one, and, when since
// is set, east's path seen no earlier than since (the status reflects the re-learned
// path, not one from before the burst).
func waitRouters(tb testing.TB, e *testenv.Env, vips []netip.Prefix, want map[int64]bool, since time.Time, timeout time.Duration) {
	tb.Helper()
	wantStatus, wantReason := metav1.ConditionTrue, "Advertised"
	if len(want) < 2 {
		wantStatus, wantReason = metav1.ConditionFalse, "Degraded"
	}
	isVIP := map[string]bool{}
	for _, v := range vips {
		isVIP[v.Addr().String()] = true
	}
	waitIngresses(tb, e, len(vips), timeout, "as the routers say", func(i *v1alpha1.AnycastIngress) bool {
		return isVIP[i.Spec.Address] && statusMatches(i, want, wantStatus, wantReason, since) == nil
	})
}

func statusMatches(ing *v1alpha1.AnycastIngress, want map[int64]bool, status metav1.ConditionStatus, reason string, since time.Time) error {
	if ing == nil {
		return fmt.Errorf("no ingress")
	}
	seen := map[int64]bool{}
	for _, p := range ing.Status.Paths {
		seen[p.OriginAS] = true
		if !since.IsZero() && p.OriginAS == fabric.EastASN && (p.Since == nil || p.Since.Time.Before(since.Truncate(time.Second))) {
			return fmt.Errorf("east's path is from before the burst (%v)", p.Since)
		}
	}
	if len(seen) != len(want) {
		return fmt.Errorf("paths from %v", seen)
	}
	for as := range want {
		if !seen[as] {
			return fmt.Errorf("paths from %v", seen)
		}
	}
	c := meta.FindStatusCondition(ing.Status.Conditions, v1alpha1.ConditionAdvertised)
	if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != ing.Generation {
		return fmt.Errorf("Advertised %+v", c)
	}
	return nil
}

// settleWrites waits until the operator has written nothing for 3 seconds.
func settleWrites(tb testing.TB, counter *apicount.Counter) {
	tb.Helper()
	prev := counter.Writes()
	stable := time.Now()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		if w := counter.Writes(); w != prev {
			prev, stable = w, time.Now()
			continue
		}
		if time.Since(stable) >= 3*time.Second {
			return
		}
	}
	tb.Fatal("the operator kept writing for 5 minutes")
}

// delaySamples collects the operator's BGP-change-to-status-write delays.
type delaySamples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *delaySamples) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *delaySamples) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.d
	s.d = nil
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}
