package bgp

import (
	"net/netip"
	"slices"
	"testing"
)

// TestIndexAll: every held path of a class, by prefix (as comparePrefix orders them) and
// then as one prefix's paths are ordered, copies that do not alias the index; a limit
// stops before the prefix that would cross it (a prefix's paths are judged together),
// and the total still counts every held path.
func TestIndexAll(t *testing.T) {
	ix := newIndex()
	a := netip.MustParsePrefix("192.168.155.151/32")
	b := netip.MustParsePrefix("192.168.155.20/32")
	c := netip.MustParsePrefix("192.168.155.0/25")
	for _, p := range []Path{
		{Session: "core", PathID: 2, Prefix: a, ASPath: []uint32{64666, 65002}, OriginAS: 65002},
		{Session: "core", PathID: 1, Prefix: a, ASPath: []uint32{64666, 65001}, OriginAS: 65001},
		{Session: "tor-west", Peer: netip.MustParseAddr("10.0.1.2"), RIB: RIBPrePolicy, Prefix: b, ASPath: []uint32{65001}, OriginAS: 65001},
		{Session: "core", PathID: 3, Prefix: c, ASPath: []uint32{64666, 65099}, OriginAS: 65099, Communities: []string{"65535:1"}},
	} {
		ix.set(p)
	}
	key := func(ps []Path) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Prefix.String()+"/"+p.Session+"/"+string(rune('0'+p.PathID)))
		}
		return out
	}

	all, total := ix.all(0)
	want := []string{"192.168.155.0/25/core/3", "192.168.155.20/32/tor-west/0", "192.168.155.151/32/core/1", "192.168.155.151/32/core/2"}
	if total != 4 || !slices.Equal(key(all), want) {
		t.Fatalf("all(0) = %v (total %d), want %v (4)", key(all), total, want)
	}
	all[0].ASPath[1] = 1
	all[0].Communities[0] = "x"
	if again, _ := ix.all(0); again[0].ASPath[1] != 65099 || again[0].Communities[0] != "65535:1" {
		t.Errorf("all returns the index's own slices: %+v", again[0])
	}

	// Three would split the VIP's two paths: only the two prefixes before it.
	some, total := ix.all(3)
	if total != 4 || !slices.Equal(key(some), want[:2]) {
		t.Errorf("all(3) = %v (total %d), want %v (4)", key(some), total, want[:2])
	}
	if none, total := newIndex().all(0); len(none) != 0 || total != 0 {
		t.Errorf("empty index: %v, %d", none, total)
	}
}
