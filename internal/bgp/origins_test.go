package bgp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestBothClustersSeenThroughCore: both clusters announce the VIP; the core
// installs two ECMP next hops (zebra's view), and the watcher, on one
// ADD-PATH session to the core, holds both paths with the clusters' ASNs
// as origins. A prefix outside the pools reaches the watcher but is not
// kept: Received > Accepted, and the index does not hold it. The counters
// count prefixes (the VIP once), and paths apart.
func TestBothClustersSeenThroughCore(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	f.West.Announce(vip, "65535:100", "large:64999:1:2")
	f.East.Announce(vip)
	f.West.Announce(outer)

	if nhs := waitFIB(t, f, vip, 2); !slices.Equal(nhs, []netip.Addr{f.TORWestUplink, f.TOREastUplink}) {
		t.Errorf("core FIB next hops %v, want both TORs %s and %s", nhs, f.TORWestUplink, f.TOREastUplink)
	}

	m, _ := newManager(t)
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{coreSession(f)}})
	waitSession(t, m, "core", established)

	paths := waitPaths(t, m, vip, origins(fabric.WestASN, fabric.EastASN))
	for _, p := range paths {
		if p.Session != "core" {
			t.Errorf("path from session %q, want core", p.Session)
		}
		if !slices.Equal(p.ASPath, pathAS[p.OriginAS]) {
			t.Errorf("AS path %v for origin %d, want %v", p.ASPath, p.OriginAS, pathAS[p.OriginAS])
		}
		if p.NextHop != f.CoreLink.RouterAddr {
			t.Errorf("next hop %s, want the core %s", p.NextHop, f.CoreLink.RouterAddr)
		}
		if p.OriginAS == fabric.WestASN && !slices.Equal(p.Communities, []string{"65535:100", "large:64999:1:2"}) {
			t.Errorf("west's communities %v", p.Communities)
		}
		if p.Since.IsZero() {
			t.Errorf("path without Since")
		}
	}
	if paths[0].PathID == paths[1].PathID {
		t.Errorf("ADD-PATH paths share path id %d", paths[0].PathID)
	}

	st := waitSession(t, m, "core", func(s bgp.SessionState) error {
		// Prefixes: the VIP once (its two ADD-PATH paths are two paths, one prefix)
		// and outer; paths: both of the VIP's and outer's.
		if s.Received != 2 || s.Accepted != 1 || s.ReceivedPaths != 3 || s.AcceptedPaths != 2 {
			return fmt.Errorf("received %d prefixes (%d paths), accepted %d (%d paths), want 2 (3: two VIP paths and %s) and 1 (2)",
				s.Received, s.ReceivedPaths, s.Accepted, s.AcceptedPaths, outer)
		}
		return nil
	})
	if st.Message != "" {
		t.Errorf("established session has message %q", st.Message)
	}
	if ps := m.Paths(class, outer); len(ps) != 0 {
		t.Errorf("%s is outside the pools but indexed: %s", outer, describePaths(ps))
	}
	if rib := bgp.HeldPrefixes(m, class); !slices.Equal(rib, []netip.Prefix{vip}) {
		t.Errorf("held routes %v, want only %s: the import filter must drop everything outside the pools", rib, vip)
	}

	bgp.ObserveStatusDelay(3 * time.Millisecond)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"anycast_watcher_session_established", map[string]string{"class": class, "session": "core"}, 1},
		{"anycast_watcher_prefixes", map[string]string{"class": class, "session": "core", "kind": "received"}, 2},
		{"anycast_watcher_prefixes", map[string]string{"class": class, "session": "core", "kind": "accepted"}, 1},
		{"anycast_watcher_origins", map[string]string{"class": class, "prefix": vip.String()}, 2},
	} {
		got, err := metric(t, c.name, c.labels)
		if err != nil || got != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, got, err, c.want)
		}
	}
	if n, err := metric(t, "anycast_watcher_update_to_status_seconds", nil); err != nil || n < 1 {
		t.Errorf("status delay histogram: %v samples (%v)", n, err)
	}
}
