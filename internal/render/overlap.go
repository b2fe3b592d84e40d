package render

import (
	"fmt"
	"net/netip"
	"strings"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// ReasonPoolOverlap: the VIP lies inside another IPAddressPool on the member. MetalLB
// validates its configuration as a whole and rejects all of it when two pools overlap
// (the other pool included, even one that is not ours), keeping its last good
// configuration: every later change on that member would silently do nothing.
const ReasonPoolOverlap = "PoolOverlap"

// overlapRefusals refuses the VIP's pool on a member where another pool already covers the
// VIP. The ingress's own pool (same name, same namespace) is not another pool, nor are the
// pools of the class's other ingresses (see PoolObserved.Class).
func overlapRefusals(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, member string, vip netip.Addr, obs *Observed) []Problem {
	mo, ok := obs.Members[member]
	if !ok {
		return nil
	}
	ns, own := MetalLBNamespace(c), PoolName(ing.Namespace, ing.Name)
	var out []Problem
	for _, p := range mo.Pools {
		if (p.Namespace == ns && p.Name == own) || p.Class == c.Name {
			continue
		}
		for _, a := range p.Addresses {
			if !PoolRangeContains(a, vip) {
				continue
			}
			out = append(out, Problem{
				Reason: ReasonPoolOverlap, Cluster: member, Field: "spec.address",
				Message: fmt.Sprintf("the VIP %s lies inside IPAddressPool %s/%s (%s) on %s; MetalLB rejects its whole configuration when two pools overlap, so the VIP's pool is not applied there: remove the VIP's range from that pool, or choose a VIP outside it",
					vip, p.Namespace, p.Name, a, member),
			})
			break
		}
	}
	return out
}

// PoolRangeContains reports whether one address entry of an IPAddressPool, a CIDR or a
// "first-last" range as MetalLB accepts them, holds addr. An entry that does not parse
// holds nothing (MetalLB would reject it on its own).
func PoolRangeContains(entry string, addr netip.Addr) bool {
	e, ok := parsePoolEntry(entry)
	if !ok {
		return false
	}
	if e.isRange {
		return e.lo.Is4() == addr.Is4() && e.lo.Compare(addr) <= 0 && addr.Compare(e.hi) <= 0
	}
	return e.prefix.Masked().Contains(addr)
}

// PoolEntryAddress returns the one address an IPAddressPool entry holds, when it holds
// exactly one: a full-length prefix, or a range from an address to itself.
func PoolEntryAddress(entry string) (netip.Addr, bool) {
	e, ok := parsePoolEntry(entry)
	switch {
	case !ok:
		return netip.Addr{}, false
	case e.isRange:
		return e.lo, e.lo == e.hi
	default:
		return e.prefix.Addr(), e.prefix.Bits() == e.prefix.Addr().BitLen()
	}
}

// poolEntry is one address entry of an IPAddressPool: a prefix, or a range lo-hi.
type poolEntry struct {
	prefix  netip.Prefix
	lo, hi  netip.Addr
	isRange bool
}

func parsePoolEntry(entry string) (poolEntry, bool) {
	entry = strings.TrimSpace(entry)
	if first, last, ok := strings.Cut(entry, "-"); ok {
		lo, err1 := netip.ParseAddr(strings.TrimSpace(first))
		hi, err2 := netip.ParseAddr(strings.TrimSpace(last))
		return poolEntry{lo: lo, hi: hi, isRange: true}, err1 == nil && err2 == nil
	}
	p, err := netip.ParsePrefix(entry)
	return poolEntry{prefix: p}, err == nil
}
