package bgp

import (
	"net/netip"
	"slices"
)

// pools is the import filter: a route is kept (its attributes decoded and
// indexed) when its prefix lies inside one of them; every other route is
// only counted (see sessionRIB).
type pools []netip.Prefix

func newPools(ps []netip.Prefix) pools {
	out := make(pools, 0, len(ps))
	for _, p := range ps {
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked())
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// contains reports whether p (a route) lies inside a pool: same family,
// at least as long, and its network address inside the pool.
func (ps pools) contains(p netip.Prefix) bool {
	for _, pool := range ps {
		if p.Bits() >= pool.Bits() && pool.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func (ps pools) equal(other pools) bool { return slices.Equal(ps, other) }

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// afis lists the address families of the pools, whose End-of-RIB markers tell that a
// session's table is complete.
func (ps pools) afis() []uint16 {
	var v4, v6 bool
	for _, p := range ps {
		v4 = v4 || p.Addr().Is4()
		v6 = v6 || !p.Addr().Is4()
	}
	var out []uint16
	if v4 {
		out = append(out, afiIPv4)
	}
	if v6 {
		out = append(out, afiIPv6)
	}
	return out
}
