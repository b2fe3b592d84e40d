package bgp_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestPerTORSessions: without ADD-PATH each TOR sends only its best path,
// so a watcher with one session per TOR still sees every cluster: the west
// TOR's best is west's own route, the east TOR's east's.
func TestPerTORSessions(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	f.West.Announce(vip)
	f.East.Announce(vip)
	m, _ := newManager(t)
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{
		session("tor-west", f.TORWestLink, ""), session("tor-east", f.TOREastLink, ""),
	}})
	paths := waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 2 {
			return fmt.Errorf("%d paths, want one per TOR", len(ps))
		}
		return origins(fabric.WestASN, fabric.EastASN)(ps)
	})
	want := map[string][]uint32{
		"tor-east": {fabric.TOREastASN, fabric.EastASN},
		"tor-west": {fabric.TORWestASN, fabric.WestASN},
	}
	for _, p := range paths {
		if !slices.Equal(p.ASPath, want[p.Session]) {
			t.Errorf("session %s: AS path %v, want %v", p.Session, p.ASPath, want[p.Session])
		}
		if p.PathID != 0 {
			t.Errorf("session %s: path id %d without ADD-PATH", p.Session, p.PathID)
		}
	}
}

// TestWatcherNeverAdvertises: the watcher holds routes from three eBGP
// sessions (core and both TORs), which a plain BGP speaker would re-advertise
// to the others. Every router must still see zero prefixes from it, in both
// families, over a stability window after convergence. The only UPDATEs a
// router receives are the two End-of-RIB markers (FRR announces graceful
// restart, in helper mode, so RFC 4724 asks the watcher for them): FRR counts
// exactly two UPDATEs and has End-of-RIB for both families.
func TestWatcherNeverAdvertises(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	f.West.Announce(vip)
	f.East.Announce(vip)
	f.West.Announce(vip6)
	m, _ := newManager(t)
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool, pool6}, Sessions: []bgp.SessionConfig{
		coreSession(f), session("tor-west", f.TORWestLink, ""), session("tor-east", f.TOREastLink, ""),
	}})
	for _, s := range []string{"core", "tor-west", "tor-east"} {
		waitSession(t, m, s, established)
	}
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 4 { // two through the core (ADD-PATH), one per TOR
			return fmt.Errorf("%d paths, want 4", len(ps))
		}
		return nil
	})
	waitPaths(t, m, vip6, origins(fabric.WestASN))

	checks := []struct {
		r    *fabric.Router
		from netip.Addr
	}{
		{f.Core, f.CoreLink.WatcherAddr}, {f.TORWest, f.TORWestLink.WatcherAddr}, {f.TOREast, f.TOREastLink.WatcherAddr},
	}
	// Not a timing assertion: advertisements would arrive within the first
	// second or so (FRR's datacenter profile has no advertisement interval);
	// watching for five seconds makes a late one visible.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		for _, c := range checks {
			n, err := c.r.Neighbor(c.from)
			if err != nil {
				t.Fatal(err)
			}
			if n.State != "Established" {
				t.Fatalf("%s sees the watcher as %s", c.r.Name, n.State)
			}
			if len(n.Received) != 2 {
				t.Fatalf("%s has families %v with the watcher, want IPv4 and IPv6 unicast", c.r.Name, n.Received)
			}
			for af, count := range n.Received {
				if count != 0 {
					t.Fatalf("%s received %d %s prefixes from the watcher, want 0", c.r.Name, count, af)
				}
			}
			updates, eor, err := frrUpdatesFrom(c.r, c.from)
			if err != nil {
				t.Fatal(err)
			}
			if updates != 2 || !eor["ipv4Unicast"] || !eor["ipv6Unicast"] {
				t.Fatalf("%s received %d UPDATEs from the watcher, End-of-RIB %v; want exactly the two End-of-RIB markers, IPv4 and IPv6 unicast", c.r.Name, updates, eor)
			}
		}
	}
}

// frrUpdatesFrom reads how many UPDATEs an FRR router has received from a
// neighbor, and for which families it has the neighbor's End-of-RIB.
func frrUpdatesFrom(r *fabric.Router, from netip.Addr) (int, map[string]bool, error) {
	out, err := r.Vtysh("show bgp neighbors " + from.String() + " json")
	if err != nil {
		return 0, nil, err
	}
	var nbrs map[string]struct {
		MessageStats struct {
			UpdatesRecv int `json:"updatesRecv"`
		} `json:"messageStats"`
		GracefulRestartInfo struct {
			EndOfRibRecv map[string]bool `json:"endOfRibRecv"`
		} `json:"gracefulRestartInfo"`
	}
	if err := json.Unmarshal([]byte(out), &nbrs); err != nil {
		return 0, nil, fmt.Errorf("decoding %s's neighbor %s: %w", r.Name, from, err)
	}
	n, ok := nbrs[from.String()]
	if !ok {
		return 0, nil, fmt.Errorf("%s has no neighbor %s", r.Name, from)
	}
	return n.MessageStats.UpdatesRecv, n.GracefulRestartInfo.EndOfRibRecv, nil
}
