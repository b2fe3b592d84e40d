package ipam

import (
	"net/netip"
	"testing"
)

func mustPools(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePools(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLowestSkipsNetworkAndTaken(t *testing.T) {
	pools := mustPools(t, "192.168.155.0/24")
	a, ok := Lowest(pools, in(nil))
	if !ok || a.String() != "192.168.155.1" {
		t.Fatalf("got %v %v, want 192.168.155.1", a, ok)
	}
	used := map[netip.Addr]bool{netip.MustParseAddr("192.168.155.1"): true, netip.MustParseAddr("192.168.155.2"): true}
	a, _ = Lowest(pools, in(used))
	if a.String() != "192.168.155.3" {
		t.Fatalf("got %v, want 192.168.155.3", a)
	}
}

func TestLowestExhaustedAndNextPool(t *testing.T) {
	pools := mustPools(t, "10.0.0.0/30", "10.0.1.7/32")
	used := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true, netip.MustParseAddr("10.0.0.2"): true}
	a, ok := Lowest(pools, in(used))
	if !ok || a.String() != "10.0.1.7" {
		t.Fatalf("got %v %v, want 10.0.1.7 from the second pool", a, ok)
	}
	used[a] = true
	if a, ok := Lowest(pools, in(used)); ok {
		t.Fatalf("got %v, want exhaustion", a)
	}
}

func TestIPv6(t *testing.T) {
	pools := mustPools(t, "2001:db8:155::/120")
	a, ok := Lowest(pools, in(nil))
	if !ok || a.String() != "2001:db8:155::1" {
		t.Fatalf("got %v", a)
	}
	// No broadcast in IPv6: the last address is usable.
	if !Contains(pools, netip.MustParseAddr("2001:db8:155::ff")) {
		t.Fatal("last IPv6 address should be usable")
	}
}

func TestContains(t *testing.T) {
	pools := mustPools(t, "192.168.155.0/24", "198.18.0.9/32")
	for addr, want := range map[string]bool{
		"192.168.155.151": true,
		"192.168.155.0":   false, // network
		"192.168.155.255": false, // broadcast
		"192.168.156.1":   false,
		"198.18.0.9":      true, // a /32 is its own host
		"2001:db8::1":     false,
	} {
		if got := Contains(pools, netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParsePoolsRejectsGarbage(t *testing.T) {
	if _, err := ParsePools([]string{"192.168.155.0/33"}); err == nil {
		t.Fatal("want an error for /33")
	}
}

// in is a used-address function over a set.
func in(used map[netip.Addr]bool) func(netip.Addr) bool {
	return func(a netip.Addr) bool { return used[a] }
}
