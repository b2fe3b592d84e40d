package bgp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestIPv6VIP: both clusters announce a /128 VIP inside an IPv6 pool (over
// IPv6 sessions to their TORs; the TORs and the core carry it over their
// IPv4 sessions with IPv6 next hops). The core installs it with two next
// hops, and the watcher sees both origins on an IPv6-transport session to
// the core, and on the IPv4 one too (every session carries both families).
func TestIPv6VIP(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	f.West.Announce(vip6)
	f.East.Announce(vip6)
	f.West.Announce(netip.MustParsePrefix("2001:db8:99::/48")) // outside the pool
	waitFIB(t, f, vip6, 2)

	m, _ := newManager(t)
	v6 := coreSession(f)
	v6.Name, v6.Address = "core-v6", f.CoreLink.RouterAddr6
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool, pool6}, Sessions: []bgp.SessionConfig{coreSession(f), v6}})

	paths := waitPaths(t, m, vip6, func(ps []bgp.Path) error {
		seen := map[string][]uint32{}
		for _, p := range ps {
			seen[p.Session] = append(seen[p.Session], p.OriginAS)
		}
		for _, s := range []string{"core", "core-v6"} {
			o := seen[s]
			slices.Sort(o)
			if !slices.Equal(o, []uint32{fabric.WestASN, fabric.EastASN}) {
				return fmt.Errorf("session %s: origins %v", s, o)
			}
		}
		return nil
	})
	for _, p := range paths {
		if !p.NextHop.Is6() || p.NextHop.IsLinkLocalUnicast() {
			t.Errorf("session %s: next hop %s, want the core's global IPv6 address", p.Session, p.NextHop)
		}
		if !slices.Equal(p.ASPath, pathAS[p.OriginAS]) {
			t.Errorf("AS path %v for origin %d", p.ASPath, p.OriginAS)
		}
	}
	st := waitSession(t, m, "core-v6", func(s bgp.SessionState) error {
		if s.Received != 2 || s.Accepted != 1 || s.ReceivedPaths != 3 || s.AcceptedPaths != 2 {
			return fmt.Errorf("received %d prefixes (%d paths), accepted %d (%d paths), want 2 (3) and 1 (2)",
				s.Received, s.ReceivedPaths, s.Accepted, s.AcceptedPaths)
		}
		return nil
	})
	t.Logf("core-v6: %+v", st)
}
