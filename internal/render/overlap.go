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
	entry = strings.TrimSpace(entry)
	if first, last, ok := strings.Cut(entry, "-"); ok {
		lo, err1 := netip.ParseAddr(strings.TrimSpace(first))
		hi, err2 := netip.ParseAddr(strings.TrimSpace(last))
		if err1 != nil || err2 != nil || lo.Is4() != addr.Is4() {
			return false
		}
		return lo.Compare(addr) <= 0 && addr.Compare(hi) <= 0
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return false
	}
	return p.Masked().Contains(addr)
}
