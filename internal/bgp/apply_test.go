package bgp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestApplyReconfigures: Apply is idempotent, removes a session without
// touching the others, and re-filters when pools change: paths leaving the
// pools are dropped, and routes a new pool covers are asked for again (route
// refresh: no session restart, nothing needed from the speakers).
func TestApplyReconfigures(t *testing.T) {
	other := netip.MustParsePrefix("192.168.156.10/32")
	otherPool := netip.MustParsePrefix("192.168.156.0/24")
	f := fabric.Start(t, fabric.Options{})
	for _, sp := range []*fabric.Speaker{f.West, f.East} {
		sp.Announce(vip)
		sp.Announce(other)
	}
	m, _ := newManager(t)
	cfg := bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{
		coreSession(f), session("tor-west", f.TORWestLink, ""), session("tor-east", f.TOREastLink, ""),
	}}
	apply(t, m, cfg)
	for _, s := range []string{"core", "tor-west", "tor-east"} {
		waitSession(t, m, s, established)
	}
	waitPaths(t, m, vip, func(ps []bgp.Path) error { return count(ps, 4) })
	if ps := m.Paths(class, other); len(ps) != 0 {
		t.Fatalf("%s is outside the pools but indexed", other)
	}
	coreUp := sessionByName(t, m, "core").Since

	apply(t, m, cfg) // idempotent: nothing restarts
	for _, s := range m.Sessions(class) {
		if err := established(s); err != nil {
			t.Fatalf("after re-applying the same config: %v", err)
		}
	}

	// Remove tor-east, move the pools from .155 to .156.
	drainChanges(m)
	waitSession(t, m, "core", func(s bgp.SessionState) error {
		if !s.Synced {
			return fmt.Errorf("not synced yet (%s)", s.SyncIn)
		}
		return nil
	})
	cfg.Sessions = cfg.Sessions[:2]
	cfg.Pools = []netip.Prefix{otherPool}
	apply(t, m, cfg)
	// The core session stays synced; only the new pool is relearning (its routes come
	// back by route refresh), until the time rule says they have arrived.
	if core := sessionByName(t, m, "core"); !core.Synced || !slices.Equal(core.Relearning, []netip.Prefix{otherPool}) {
		t.Errorf("core right after the pool change: synced %v, relearning %v; want synced, relearning %s", core.Synced, core.Relearning, otherPool)
	}
	waitSession(t, m, "core", func(s bgp.SessionState) error {
		if len(s.Relearning) != 0 || !s.Synced {
			return fmt.Errorf("synced %v, relearning %v", s.Synced, s.Relearning)
		}
		return nil
	})
	c := waitChange(t, m, vip)
	if !c.Sessions {
		t.Errorf("Change %+v should name the session change", c)
	}
	// The new pool's routes were received but not kept: they come back by
	// route refresh, in a later Change (or the same one, if merged).
	if !slices.Contains(c.Prefixes, other) {
		waitChange(t, m, other)
	}
	if names := sessionNames(m); !slices.Equal(names, []string{"core", "tor-west"}) {
		t.Errorf("sessions %v after removing tor-east", names)
	}
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Errorf("%s left the pools but is still indexed: %s", vip, describePaths(ps))
	}
	paths := waitPaths(t, m, other, func(ps []bgp.Path) error { return count(ps, 3) }) // core x2 (ADD-PATH), tor-west
	for _, p := range paths {
		if p.Session == "tor-east" {
			t.Errorf("path from the removed session: %s", describePaths(paths))
		}
	}
	if rib := bgp.HeldPrefixes(m, class); !slices.Equal(rib, []netip.Prefix{other}) {
		t.Errorf("held routes %v after the pool change, want only %s", rib, other)
	}
	core := sessionByName(t, m, "core")
	if core.State != bgp.StateEstablished || !core.Since.Equal(coreUp) {
		t.Errorf("core session restarted by an unrelated change: %+v (up since %s)", core, coreUp)
	}

	// And back: the VIP's pool returns, tor-east too.
	cfg.Pools = []netip.Prefix{pool, otherPool}
	cfg.Sessions = append(cfg.Sessions, session("tor-east", f.TOREastLink, ""))
	apply(t, m, cfg)
	waitPaths(t, m, vip, func(ps []bgp.Path) error { return count(ps, 4) })
	waitPaths(t, m, other, func(ps []bgp.Path) error { return count(ps, 4) })
	if core := sessionByName(t, m, "core"); !core.Since.Equal(coreUp) {
		t.Errorf("core session restarted: up since %s, was %s", core.Since, coreUp)
	}
}

func count(ps []bgp.Path, n int) error {
	if len(ps) != n {
		return fmt.Errorf("%d paths, want %d", len(ps), n)
	}
	return nil
}

func sessionByName(t *testing.T, m *bgp.Manager, name string) bgp.SessionState {
	t.Helper()
	for _, s := range m.Sessions(class) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no session %q", name)
	return bgp.SessionState{}
}

func sessionNames(m *bgp.Manager) []string {
	var out []string
	for _, s := range m.Sessions(class) {
		out = append(out, s.Name)
	}
	return out
}
