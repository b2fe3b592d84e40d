// Package ipam picks anycast VIPs from class pools. It is pure: the caller says which
// addresses are taken.
package ipam

import (
	"fmt"
	"net/netip"
)

// ParsePools parses CIDR pools, as the class schema admits them.
func ParsePools(pools []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(pools))
	for _, p := range pools {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("pool %q is not a CIDR: %w", p, err)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

// Contains reports whether addr lies inside one of the pools and may be used as a VIP
// (the network address and, for IPv4, the broadcast address of a pool cannot).
func Contains(pools []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range pools {
		if p.Contains(addr) && usable(p, addr) {
			return true
		}
	}
	return false
}

// Lowest returns the lowest usable address of the pools, in pool order, for which used
// is false. ok is false when every address is taken.
func Lowest(pools []netip.Prefix, used func(netip.Addr) bool) (netip.Addr, bool) {
	for _, p := range pools {
		// Large pools are scanned lazily: the loop only runs past addresses already taken,
		// so its length is bounded by the addresses in use, not by the pool size.
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			if !usable(p, a) {
				continue
			}
			if !used(a) {
				return a, true
			}
			if !a.Next().IsValid() {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// usable excludes a pool's network address and its IPv4 broadcast address, except in /31,
// /32, /127 and /128 pools where every address is a host (RFC 3021).
func usable(p netip.Prefix, a netip.Addr) bool {
	if p.Bits() >= a.BitLen()-1 {
		return true
	}
	if a == p.Masked().Addr() {
		return false
	}
	if a.Is4() && a == lastAddr(p) {
		return false
	}
	return true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		return a.Unmap()
	}
	return a
}
