package controller

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Reasons of address problems.
const (
	ReasonAddressInUse  = "AddressInUse"
	ReasonPoolExhausted = "PoolExhausted"
)

// Allocator decides which VIP an ingress uses and refuses a VIP another ingress holds.
//
// The older ingress (creation time, then namespace/name) keeps a contested address, so the
// outcome does not depend on reconcile order. Allocations are remembered in memory until
// the ingress's status records them: the cache may not show a status written a moment ago,
// and two ingresses must never be handed the same address.
type Allocator struct {
	mu       sync.Mutex
	reserved map[types.NamespacedName]netip.Addr
}

// NewAllocator returns an empty allocator.
func NewAllocator() *Allocator {
	return &Allocator{reserved: map[types.NamespacedName]netip.Addr{}}
}

// Release forgets the reservation of a deleted ingress.
func (a *Allocator) Release(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.reserved, key)
}

// claim is one ingress's hold on an address.
type claim struct {
	key  types.NamespacedName
	ing  *v1alpha1.AnycastIngress
	addr netip.Addr
}

// Resolve returns the address ing uses, allocating one when spec.address is unset, or the
// problem that stops it. all lists every ingress of the class, ing included.
func (a *Allocator) Resolve(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, all []v1alpha1.AnycastIngress) (netip.Addr, *render.Problem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	self := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}

	var others []claim
	for i := range all {
		o := &all[i]
		k := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		if k == self || o.DeletionTimestamp != nil {
			continue
		}
		if addr, ok := a.heldBy(o, k); ok {
			others = append(others, claim{key: k, ing: o, addr: addr})
		}
	}
	sort.Slice(others, func(i, j int) bool { return older(others[i].ing, others[j].ing) })

	holderOf := func(addr netip.Addr) *claim {
		for i := range others {
			if others[i].addr == addr && older(others[i].ing, ing) {
				return &others[i]
			}
		}
		return nil
	}

	if ing.Spec.Address != "" {
		addr, err := netip.ParseAddr(ing.Spec.Address)
		if err != nil {
			return netip.Addr{}, &render.Problem{Reason: render.ReasonInvalidSpec, Field: "spec.address", Message: fmt.Sprintf("spec.address %q is not an IP address", ing.Spec.Address)}
		}
		addr = addr.Unmap()
		if h := holderOf(addr); h != nil {
			delete(a.reserved, self)
			return netip.Addr{}, addressInUse(addr, h.key)
		}
		a.reserved[self] = addr
		return addr, nil
	}

	pools, err := ipam.ParsePools(class.Spec.Pools)
	if err != nil {
		return netip.Addr{}, &render.Problem{Reason: render.ReasonInvalidSpec, Field: "spec.pools", Message: err.Error()}
	}
	// Keep the address already allocated while it is still valid and not taken by an
	// older ingress: a VIP must not move under running traffic.
	if prev, ok := a.heldBy(ing, self); ok && ipam.Contains(pools, prev) && holderOf(prev) == nil {
		a.reserved[self] = prev
		return prev, nil
	}
	used := map[netip.Addr]bool{}
	for _, o := range others {
		used[o.addr] = true
	}
	addr, ok := ipam.Lowest(pools, used)
	if !ok {
		delete(a.reserved, self)
		return netip.Addr{}, &render.Problem{Reason: ReasonPoolExhausted, Field: "spec.address",
			Message: fmt.Sprintf("every address of the class %s pools (%s) is in use; add a pool to the class or free an address", class.Name, strings.Join(class.Spec.Pools, ", "))}
	}
	a.reserved[self] = addr
	return addr, nil
}

// heldBy is the address an ingress holds: its spec.address, the address recorded in its
// status, or one reserved for it in this process.
func (a *Allocator) heldBy(o *v1alpha1.AnycastIngress, k types.NamespacedName) (netip.Addr, bool) {
	for _, s := range []string{o.Spec.Address, o.Status.Address} {
		if s == "" {
			continue
		}
		if addr, err := netip.ParseAddr(s); err == nil {
			return addr.Unmap(), true
		}
	}
	addr, ok := a.reserved[k]
	return addr, ok
}

// older orders ingresses by age, then by namespace/name, so every reconcile agrees on who
// keeps a contested address.
func older(a, b *v1alpha1.AnycastIngress) bool {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func addressInUse(addr netip.Addr, holder types.NamespacedName) *render.Problem {
	return &render.Problem{Reason: ReasonAddressInUse, Field: "spec.address",
		Message: fmt.Sprintf("address %s is already used by AnycastIngress %s, which claimed it first; choose another address or leave spec.address empty to get a free one", addr, holder)}
}
