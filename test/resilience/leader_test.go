//go:build resilience

package resilience_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// Lease timings of the test: shorter than controller-runtime's defaults (LeaseDuration
// 15s, RenewDeadline 10s, RetryPeriod 2s, which the binary uses) so a crash handover
// takes seconds; the figures scale with them.
const (
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = time.Second
)

// TestLeaderHandover runs two replicas with leader election against a watcher class on
// the real BGP fabric (FRR core and TORs, gobgpd speakers for west and east), with five
// ingresses whose VIPs both clusters announce.
//
//  1. Clean handover: the leader's context is cancelled (it releases the lease, as on a
//     rolling upgrade) while east withdraws one VIP; the standby must take over and
//     report that VIP as missing from east.
//  2. Crash handover: a new standby starts; the leader is cut off its API server (every
//     request fails, so it cannot renew its lease) while east announces the VIP again;
//     the old leader must stop leading and the standby take over once the lease expires,
//     and report the VIP from both clusters.
//
// After each, every ingress's status must match the core router's table (the same
// origin ASes), and the handover time is reported: leader lost -> lease acquired ->
// first status write -> status matching the routers. The status writes each handover
// cost per ingress and any transient states seen (polled every 100 ms) are reported.
func TestLeaderHandover(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	const cls = "leader"
	ctx := context.Background()
	nss := namespaces(t, "leader", 1)
	c := class(cls, "192.168.155.0/24")
	one := metav1.Duration{Duration: time.Second}
	hold := metav1.Duration{Duration: 9 * time.Second}
	keep := metav1.Duration{Duration: 3 * time.Second}
	c.Spec.Watcher = &v1alpha1.Watcher{
		ASN: int64(f.WatcherASN), RouterID: "198.18.255.99",
		Sessions: []v1alpha1.WatcherSession{{
			Name: "core", Address: f.CoreLink.RouterAddr.String(), ASN: int64(f.CoreLink.RouterASN),
			LocalAddress: f.CoreLink.WatcherAddr.String(), HoldTime: &hold, KeepaliveTime: &keep, ConnectRetry: &one,
		}},
	}
	create(t, west.Client, c)
	var vips []netip.Prefix
	for i := 0; i < 5; i++ {
		vip := netip.MustParsePrefix(fmt.Sprintf("192.168.155.%d/32", 161+i))
		vips = append(vips, vip)
		create(t, west.Client, &v1alpha1.AnycastIngress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%d", 161+i), Namespace: nss[0]},
			Spec:       v1alpha1.AnycastIngressSpec{ClassName: cls, Address: vip.Addr().String()},
		})
	}
	f.West.AnnounceMany(vips)
	f.East.AnnounceMany(vips)

	opts := operator.Options{LeaderElection: true, LeaderElectionID: "resilience-leader",
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod}
	a := startReplica(t, "a", opts)
	waitElected(t, a, time.Minute)
	b := startReplica(t, "b", opts)
	select {
	case <-b.mgr.Elected():
		t.Fatal("two replicas lead at once")
	case <-time.After(3 * time.Second):
	}
	both := map[int64]bool{fabric.WestASN: true, fabric.EastASN: true}
	waitView(t, f, cls, vips, map[netip.Prefix]map[int64]bool{}, both)
	t.Log("replica a leads; every VIP is seen from west and east")

	// 1. Clean handover, with a change while it happens.
	withdrawn := vips[0]
	h1 := handover(t, f, cls, vips, b, func() {
		if err := a.stop(t); err != nil {
			t.Errorf("the cancelled leader returned %v", err)
		}
		f.East.Withdraw(withdrawn)
	}, map[netip.Prefix]map[int64]bool{withdrawn: {fabric.WestASN: true}}, both)

	// 2. Crash handover: the leader is partitioned from its API server.
	a2 := startReplica(t, "a2", opts)
	select {
	case <-a2.mgr.Elected():
		t.Fatal("the new standby leads while b does")
	case <-time.After(2 * time.Second):
	}
	h2 := handover(t, f, cls, vips, a2, func() {
		b.counter.Block("hub", true)
		f.East.Announce(withdrawn)
	}, map[netip.Prefix]map[int64]bool{}, both)
	select {
	case err := <-b.done:
		b.stopped = true
		if err == nil || !strings.Contains(err.Error(), "leader election lost") {
			t.Errorf("the partitioned leader stopped with %v, want leader election lost", err)
		}
	case <-time.After(time.Minute):
		t.Error("the partitioned leader never stopped leading")
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nleader handover (lease %s, renew deadline %s, retry %s; controller-runtime defaults 15s/10s/2s), 5 ingresses:\n", leaseDuration, renewDeadline, retryPeriod)
	fmt.Fprintf(&sb, "  %-62s %12s %12s\n", "", "clean", "crash")
	row := func(k string, a, b time.Duration) {
		fmt.Fprintf(&sb, "  %-62s %12s %12s\n", k, a.Round(time.Millisecond), b.Round(time.Millisecond))
	}
	row("leader lost -> standby holds the lease", h1.elected, h2.elected)
	row("leader lost -> new leader's first status write", h1.firstWrite, h2.firstWrite)
	row("leader lost -> new leader's watcher session Established", h1.session, h2.session)
	row("leader lost -> every status matches the routers", h1.consistent, h2.consistent)
	fmt.Fprintf(&sb, "  %-62s %12.1f %12.1f\n", "status writes per ingress by the new leader until consistent", h1.writesPerIngress, h2.writesPerIngress)
	fmt.Fprintf(&sb, "  %-62s %12s %12s\n", "transient Advertised states seen", strings.Join(h1.transient, ","), strings.Join(h2.transient, ","))
	t.Log(sb.String())
	// A new leader's sessions start empty: until they hold the routers' table, a missing
	// path is not an outage, and must not be reported as one (WatcherSyncing instead).
	for _, h := range []handoverFigures{h1, h2} {
		for _, s := range h.transient {
			if s == "False/NotAdvertised" {
				t.Errorf("a new leader reported NotAdvertised before its sessions had the routers' table (transients %v)", h.transient)
			}
		}
	}
	_ = ctx
	deleteClass(t, cls)
}

// handoverFigures are one handover's timings, from the moment the leader was lost.
type handoverFigures struct {
	elected, firstWrite, session, consistent time.Duration
	writesPerIngress                         float64
	transient                                []string
}

// handover runs lose (which makes the current leader go, and changes what the routers
// carry) and measures next taking over until every ingress's status matches the routers
// (wantPaths: the origin ASes per VIP, others: the default).
func handover(t *testing.T, f *fabric.Fabric, cls string, vips []netip.Prefix, next *replica, lose func(), want map[netip.Prefix]map[int64]bool, others map[int64]bool) handoverFigures {
	t.Helper()
	var h handoverFigures
	var mu sync.Mutex
	var firstWrite time.Time
	next.counter.Reset()
	next.counter.OnRequest = func(r apicount.Request) {
		if r.Write() && r.Subresource == "status" && (r.Resource == "anycastingresses" || r.Resource == "anycastclasses") {
			mu.Lock()
			if firstWrite.IsZero() {
				firstWrite = time.Now()
			}
			mu.Unlock()
		}
	}
	stopPoll := pollTransients(t, cls, &h)
	start := time.Now()
	lose()
	waitElected(t, next, 2*time.Minute)
	h.elected = time.Since(start)
	sessionUp := make(chan time.Duration, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			c := &v1alpha1.AnycastClass{}
			if err := west.Client.Get(context.Background(), client.ObjectKey{Name: cls}, c); err == nil {
				for _, s := range c.Status.Sessions {
					if s.State == "Established" && s.Since != nil && !s.Since.Time.Before(start.Truncate(time.Second)) {
						sessionUp <- time.Since(start)
						return
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		sessionUp <- 0
	}()
	waitView(t, f, cls, vips, want, others)
	h.consistent = time.Since(start)
	h.session = <-sessionUp
	stopPoll()
	mu.Lock()
	if !firstWrite.IsZero() {
		h.firstWrite = firstWrite.Sub(start)
	}
	mu.Unlock()
	writes := next.counter.Count(func(r apicount.Request) bool {
		return r.Write() && r.Resource == "anycastingresses" && r.Subresource == "status"
	})
	h.writesPerIngress = float64(writes) / float64(len(vips))
	next.counter.OnRequest = nil
	return h
}

func waitElected(t testing.TB, r *replica, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-r.mgr.Elected():
		return time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("replica %s not elected after %s", r.name, timeout)
		return 0
	}
}

// waitView waits until every VIP's ingress is Advertised as the routers say: the origin
// ASes in its status paths equal those of the core's BGP table for the VIP, which equal
// want[vip] (default others); Advertised is True when both clusters are seen, False
// (Degraded) when one is missing.
func waitView(t testing.TB, f *fabric.Fabric, cls string, vips []netip.Prefix, want map[netip.Prefix]map[int64]bool, others map[int64]bool) {
	t.Helper()
	testenv.Eventually(t, "every ingress's status matches the routers", 2*time.Minute, func() error {
		byAddr := map[string]v1alpha1.AnycastIngress{}
		for _, i := range ingressesOf(t, cls) {
			byAddr[i.Spec.Address] = i
		}
		for _, vip := range vips {
			w := others
			if x, ok := want[vip]; ok {
				w = x
			}
			routers, err := coreOrigins(f, vip)
			if err != nil {
				return err
			}
			if !sameSet(routers, w) {
				return fmt.Errorf("the core carries %s from %v, want %v", vip, keys(routers), keys(w))
			}
			ing, ok := byAddr[vip.Addr().String()]
			if !ok {
				return fmt.Errorf("no ingress for %s", vip)
			}
			seen := map[int64]bool{}
			for _, p := range ing.Status.Paths {
				seen[p.OriginAS] = true
			}
			if !sameSet(seen, routers) {
				return fmt.Errorf("%s: status paths from %v, the core from %v", vip, keys(seen), keys(routers))
			}
			wantStatus, wantReason := metav1.ConditionTrue, ""
			if len(routers) < 2 {
				wantStatus, wantReason = metav1.ConditionFalse, "Degraded"
			}
			if err := testenv.ConditionIs(ing.Status.Conditions, ing.Generation, v1alpha1.ConditionAdvertised, wantStatus, wantReason); err != nil {
				return fmt.Errorf("%s: %w", vip, err)
			}
		}
		return nil
	})
}

// coreOrigins is the set of origin ASes of the core's valid paths to vip.
func coreOrigins(f *fabric.Fabric, vip netip.Prefix) (map[int64]bool, error) {
	paths, err := f.Core.BGPPaths(vip)
	if err != nil {
		return nil, err
	}
	out := map[int64]bool{}
	for _, p := range paths {
		if !p.Valid {
			continue
		}
		as := strings.Fields(p.ASPath)
		if len(as) == 0 {
			continue
		}
		var origin int64
		if _, err := fmt.Sscan(as[len(as)-1], &origin); err != nil {
			return nil, fmt.Errorf("AS path %q: %w", p.ASPath, err)
		}
		out[origin] = true
	}
	return out, nil
}

// pollTransients records, every 100 ms until stopped, the Advertised states the class's
// ingresses pass through other than True and Degraded.
func pollTransients(t testing.TB, cls string, h *handoverFigures) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	seen := map[string]bool{}
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			list := &v1alpha1.AnycastIngressList{}
			if err := west.Client.List(context.Background(), list); err != nil {
				continue
			}
			for _, i := range list.Items {
				if i.Spec.ClassName != cls {
					continue
				}
				c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionAdvertised)
				switch {
				case c == nil:
					seen["absent"] = true
				case c.Status == metav1.ConditionTrue, c.Reason == "Degraded":
				default:
					seen[string(c.Status)+"/"+c.Reason] = true
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		for k := range seen {
			h.transient = append(h.transient, k)
		}
		sort.Strings(h.transient)
		if len(h.transient) == 0 {
			h.transient = []string{"none"}
		}
	}
}

func sameSet(a, b map[int64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
