package interop_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/interop"
)

// Issue 19, part 2: what FRR will not send on demand, sent by ExaBGP to the watcher.

// exaWatcher starts ExaBGP (add-path send, graceful restart) and a synced watcher session.
func exaWatcher(t *testing.T, tune func(*bgp.SessionConfig)) (*interop.ExaBGP, *bgp.Manager, interop.Link, *logBuffer) {
	t.Helper()
	n := interop.NewNet(t)
	l := n.Link("exa")
	e := interop.StartExaBGP(t, n, l, interop.ExaBGPOptions{ASN: routerASN, WatcherASN: watcherASN, AddPathSend: true, GracefulRestart: 120 * time.Second})
	m, logs := watcher(t, l, tune)
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || !s.Synced {
			return fmt.Errorf("%s, synced %v", s.State, s.Synced)
		}
		return nil
	})
	return e, m, l, logs
}

// waitPaths waits until prefix's paths satisfy cond.
func waitPaths(t *testing.T, m *bgp.Manager, prefix netip.Prefix, cond func([]bgp.Path) error) []bgp.Path {
	t.Helper()
	var ps []bgp.Path
	end := time.Now().Add(converge)
	for {
		ps = m.Paths(class, prefix)
		err := cond(ps)
		if err == nil {
			return ps
		}
		if time.Now().After(end) {
			t.Fatalf("%s: %v (paths %+v)", prefix, err, ps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func onePath(ps []bgp.Path) error {
	if len(ps) != 1 {
		return fmt.Errorf("%d paths, want 1", len(ps))
	}
	return nil
}

// TestExaBGPAttributes: an unknown optional transitive attribute, extended and large
// communities beside a standard one, and a 900-AS path (four AS_SEQUENCE segments, an
// UPDATE of about 3.7 KB) are decoded without harm: the path is kept with its origin, its
// whole AS path and its standard and large communities (extended ones are not reported),
// and the session stays up.
func TestExaBGPAttributes(t *testing.T) {
	e, m, l, _ := exaWatcher(t, nil)
	since := state(m).Since
	v1, v2 := netip.MustParsePrefix("192.168.155.151/32"), netip.MustParsePrefix("192.168.155.152/32")
	long := []string{fmt.Sprint(routerASN)}
	for i := range 898 {
		long = append(long, fmt.Sprint(4200000000+i))
	}
	long = append(long, "65001")
	e.Send(
		fmt.Sprintf("announce route %s next-hop %s as-path [ %d 65001 ] community [ 65535:100 ] extended-community [ target:65001:100 origin:65001:7 ] large-community [ 65001:1:2 ] attribute [ 0x63 0xc0 0x0102030405060708 ]", v1, l.RouterAddr, routerASN),
		fmt.Sprintf("announce route %s next-hop %s as-path [ %s ]", v2, l.RouterAddr, strings.Join(long, " ")))
	p := waitPaths(t, m, v1, onePath)[0]
	if p.OriginAS != 65001 || !slices.Equal(p.ASPath, []uint32{routerASN, 65001}) || !slices.Equal(p.Communities, []string{"65535:100", "large:65001:1:2"}) {
		t.Errorf("path with an unknown attribute and three kinds of communities: %+v", p)
	}
	p = waitPaths(t, m, v2, onePath)[0]
	if len(p.ASPath) != 900 || p.ASPath[0] != routerASN || p.ASPath[450] != 4200000449 || p.OriginAS != 65001 {
		t.Errorf("900-AS path: %d ASes, first %d, origin %d", len(p.ASPath), p.ASPath[0], p.OriginAS)
	}
	if st := state(m); st.State != bgp.StateEstablished || !st.Since.Equal(since) || st.Accepted != 2 {
		t.Errorf("the session did not stay up: %+v", st)
	}
}

// TestExaBGPMalformedAttribute: a COMMUNITIES attribute of 3 bytes (not a multiple of
// 4), and an ORIGIN of 7 (only 0 to 2 exist), are treat-as-withdraw under RFC 7606: the
// path the same UPDATE re-announces is withdrawn, the VIP's other paths stay, and the
// session is not reset (no NOTIFICATION reaches ExaBGP).
func TestExaBGPMalformedAttribute(t *testing.T) {
	e, m, l, logs := exaWatcher(t, nil)
	since := state(m).Since
	announce := func(id int, extra string) {
		e.Send(fmt.Sprintf("announce route %s next-hop %s path-information 0.0.0.%d as-path [ %d %d ]%s", vip, l.RouterAddr, id, routerASN, 65000+id, extra))
	}
	for id := 1; id <= 3; id++ {
		announce(id, "")
	}
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 3 {
			return fmt.Errorf("%d paths", len(ps))
		}
		return nil
	})
	announce(2, " attribute [ 0x08 0xc0 0x010203 ]")
	announce(3, " attribute [ 0x01 0x40 0x07 ]")
	ps := waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 1 || ps[0].OriginAS != 65001 {
			return fmt.Errorf("want the 65001 path alone")
		}
		return nil
	})
	if !strings.Contains(logs.String(), "malformed UPDATE treated as withdraw (RFC 7606)") {
		t.Errorf("the treat-as-withdraw is not logged")
	}
	if st := state(m); st.State != bgp.StateEstablished || !st.Since.Equal(since) {
		t.Errorf("the session was reset: %+v", st)
	}
	for _, msg := range e.Messages() {
		if msg.Type == "notification" {
			t.Errorf("ExaBGP received a NOTIFICATION: %+v", msg.Neighbor.Notification)
		}
	}
	t.Logf("after the malformed UPDATE: %+v", ps)
}

// TestExaBGPUnknownWithdrawals: withdrawals of prefixes and ADD-PATH path ids the watcher
// never received change nothing: the counters, the held paths and the session stay.
func TestExaBGPUnknownWithdrawals(t *testing.T) {
	e, m, l, _ := exaWatcher(t, nil)
	e.Send(fmt.Sprintf("announce route %s next-hop %s path-information 0.0.0.1 as-path [ %d 65001 ]", vip, l.RouterAddr, routerASN),
		fmt.Sprintf("announce route 10.99.1.0/24 next-hop %s path-information 0.0.0.1 as-path [ %d 65009 ]", l.RouterAddr, routerASN))
	before := waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.Received != 2 || s.Accepted != 1 {
			return fmt.Errorf("received %d, accepted %d", s.Received, s.Accepted)
		}
		return nil
	})
	// ExaBGP sends a withdrawal for whatever it is told, known to the watcher or not.
	e.Send("withdraw route "+vip.String()+" path-information 0.0.0.9",
		"withdraw route 192.168.155.200/32 path-information 0.0.0.1",
		"withdraw route 10.99.2.0/24 path-information 0.0.0.1",
		"withdraw route 2001:db8:155::99/128 path-information 0.0.0.1")
	// Then something known, so the wait ends once the unknown ones have been handled.
	e.Send(fmt.Sprintf("announce route 10.99.3.0/24 next-hop %s path-information 0.0.0.1 as-path [ %d 65009 ]", l.RouterAddr, routerASN))
	after := waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.Received != 3 {
			return fmt.Errorf("received %d", s.Received)
		}
		return nil
	})
	if after.State != bgp.StateEstablished || !after.Since.Equal(before.Since) || after.Accepted != 1 || after.ReceivedPaths != 3 {
		t.Errorf("before %+v\nafter %+v", before, after)
	}
	if ps := m.Paths(class, vip); len(ps) != 1 || ps[0].PathID != 1 {
		t.Errorf("paths %+v", ps)
	}
}

// TestExaBGPRouteRefresh: when the pools grow, the watcher asks ExaBGP for its table
// again (ROUTE-REFRESH), ExaBGP resends it, and the VIP of the new pool appears without
// the session being reset. A ROUTE-REFRESH from ExaBGP (asking for
// the watcher's routes: there are none) leaves the session up too.
func TestExaBGPRouteRefresh(t *testing.T) {
	e, m, l, _ := exaWatcher(t, nil)
	since := state(m).Since
	other := netip.MustParsePrefix("192.168.156.151/32")
	e.Send(fmt.Sprintf("announce route %s next-hop %s as-path [ %d 65001 ]", vip, l.RouterAddr, routerASN),
		fmt.Sprintf("announce route %s next-hop %s as-path [ %d 65002 ]", other, l.RouterAddr, routerASN))
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.Received != 2 || s.Accepted != 1 {
			return fmt.Errorf("received %d, accepted %d", s.Received, s.Accepted)
		}
		return nil
	})
	if ps := m.Paths(class, other); len(ps) != 0 {
		t.Fatalf("a path outside the pools is held: %+v", ps)
	}
	if err := m.Apply(context.Background(), class, watcherConfig(l, nil, pool, netip.MustParsePrefix("192.168.156.0/24"))); err != nil {
		t.Fatal(err)
	}
	p := waitPaths(t, m, other, onePath)[0]
	if p.OriginAS != 65002 {
		t.Errorf("relearnt path %+v", p)
	}
	// The session was not reset (checked below), and the watcher never keeps a route
	// outside the pools: only a ROUTE-REFRESH answered by ExaBGP brings it now. (ExaBGP
	// 4.2 does not pass a received ROUTE-REFRESH to its API processes to record it.)
	e.Send(fmt.Sprintf("neighbor %s announce route-refresh ipv4 unicast", l.WatcherAddr),
		fmt.Sprintf("neighbor %s announce route-refresh ipv6 unicast", l.WatcherAddr))
	time.Sleep(2 * time.Second)
	if st := state(m); st.State != bgp.StateEstablished || !st.Since.Equal(since) || st.Accepted != 2 {
		t.Errorf("the session did not stay up through route refreshes: %+v", st)
	}
}
