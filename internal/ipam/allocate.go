package ipam

import (
	"fmt"
	"net/netip"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// ParseVIP parses an address as the API writes a VIP (spec.address, status.address), in
// its canonical form (an IPv4-mapped IPv6 address is the IPv4 address). It is the one
// place a VIP string becomes an address.
func ParseVIP(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Age orders two claimants of one thing (an address, a member's BGP setup, a router
// session): the older one wins, by creation time, then namespace, then name, so that
// every reconcile, in any order, agrees on who keeps it.
type Age struct {
	Created   metav1.Time
	Namespace string
	Name      string
}

// Older reports whether a takes precedence over b.
func Older(a, b Age) bool {
	if !a.Created.Equal(&b.Created) {
		return a.Created.Before(&b.Created)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// AgeOf is an object's age.
func AgeOf(o metav1.Object) Age {
	return Age{Created: o.GetCreationTimestamp(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Reasons of a refused address.
const (
	ReasonAddressInUse  = "AddressInUse"
	ReasonPoolExhausted = "PoolExhausted"
	ReasonInvalidSpec   = "InvalidSpec"
)

// Refusal says why an ingress gets no address.
type Refusal struct {
	Reason, Field, Message string
}

// Holding is what one ingress's own object says it holds: its spec.address, else the
// address its status records.
type Holding struct {
	Class    string
	Addr     netip.Addr // invalid when it holds none
	Age      Age
	Deleting bool
}

// HoldingOf reads an ingress's holding.
func HoldingOf(ing *v1alpha1.AnycastIngress) Holding {
	h := Holding{Class: ing.Spec.ClassName, Age: AgeOf(ing), Deleting: ing.DeletionTimestamp != nil}
	for _, s := range []string{ing.Spec.Address, ing.Status.Address} {
		if a, ok := ParseVIP(s); ok {
			h.Addr = a
			break
		}
	}
	return h
}

type classAddr struct {
	class string
	addr  netip.Addr
}

// Index decides which VIP each ingress uses and refuses a VIP another ingress holds. It
// knows what every ingress holds (Observe, Forget: the operator feeds it from its ingress
// informer) and remembers, until an ingress's status records it, the address it handed out
// (the cache may not show a status written a moment ago, and two ingresses must never be
// handed the same address). Resolving one ingress looks up the holders of one address; a
// fresh allocation walks the addresses in use from the pool's start. It is pure data: no
// client, no clock. The caller serialises access.
type Index struct {
	entries    map[types.NamespacedName]Holding
	holders    map[classAddr]map[types.NamespacedName]bool
	reserved   map[types.NamespacedName]netip.Addr
	reservedBy map[netip.Addr]map[types.NamespacedName]bool
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		entries:    map[types.NamespacedName]Holding{},
		holders:    map[classAddr]map[types.NamespacedName]bool{},
		reserved:   map[types.NamespacedName]netip.Addr{},
		reservedBy: map[netip.Addr]map[types.NamespacedName]bool{},
	}
}

// IndexOf builds an index of a class's ingresses (the render command and the fuzzer have
// no informer).
func IndexOf(all []v1alpha1.AnycastIngress) *Index {
	x := NewIndex()
	for i := range all {
		x.Observe(types.NamespacedName{Namespace: all[i].Namespace, Name: all[i].Name}, HoldingOf(&all[i]))
	}
	return x
}

// Observe records what an ingress holds now.
func (x *Index) Observe(key types.NamespacedName, h Holding) {
	x.Forget(key)
	x.entries[key] = h
	if h.Addr.IsValid() {
		ca := classAddr{h.Class, h.Addr}
		if x.holders[ca] == nil {
			x.holders[ca] = map[types.NamespacedName]bool{}
		}
		x.holders[ca][key] = true
	}
}

// Forget drops a deleted ingress from the index (its reservation stays until Release).
func (x *Index) Forget(key types.NamespacedName) {
	prev, ok := x.entries[key]
	if !ok {
		return
	}
	delete(x.entries, key)
	if prev.Addr.IsValid() {
		ca := classAddr{prev.Class, prev.Addr}
		delete(x.holders[ca], key)
		if len(x.holders[ca]) == 0 {
			delete(x.holders, ca)
		}
	}
}

// Release forgets the reservation of a deleted ingress.
func (x *Index) Release(key types.NamespacedName) {
	prev, ok := x.reserved[key]
	if !ok {
		return
	}
	delete(x.reserved, key)
	delete(x.reservedBy[prev], key)
	if len(x.reservedBy[prev]) == 0 {
		delete(x.reservedBy, prev)
	}
}

func (x *Index) reserve(key types.NamespacedName, addr netip.Addr) {
	if prev, ok := x.reserved[key]; ok && prev == addr {
		return
	}
	x.Release(key)
	x.reserved[key] = addr
	if x.reservedBy[addr] == nil {
		x.reservedBy[addr] = map[types.NamespacedName]bool{}
	}
	x.reservedBy[addr][key] = true
}

// Holders lists the live ingresses of a class whose spec or status holds addr.
func (x *Index) Holders(class string, addr netip.Addr) []types.NamespacedName {
	var out []types.NamespacedName
	for k := range x.holders[classAddr{class, addr}] {
		if !x.entries[k].Deleting {
			out = append(out, k)
		}
	}
	return out
}

// HoldersOfAddress lists the ingresses of any class whose spec or status holds addr.
func (x *Index) HoldersOfAddress(addr netip.Addr) []types.NamespacedName {
	var out []types.NamespacedName
	for ca, keys := range x.holders {
		if ca.addr != addr {
			continue
		}
		for k := range keys {
			out = append(out, k)
		}
	}
	return out
}

// claimants calls each for the other live ingresses of the class holding addr: by spec or
// status, or by a reservation of this process.
func (x *Index) claimants(class string, self types.NamespacedName, addr netip.Addr, each func(types.NamespacedName, Holding) bool) {
	for k := range x.holders[classAddr{class, addr}] {
		if e := x.entries[k]; k != self && !e.Deleting && !each(k, e) {
			return
		}
	}
	for k := range x.reservedBy[addr] {
		// A reservation counts beside what the object says: an ingress whose status still
		// names an address it lost to an older claimant has been handed another one.
		e, ok := x.entries[k]
		if k == self || !ok || e.Class != class || e.Deleting || e.Addr == addr {
			continue
		}
		if !each(k, e) {
			return
		}
	}
}

// Resolve returns the address ing uses, allocating the lowest free one of the class pools
// when spec.address is unset, or the refusal that stops it. An address already allocated
// is kept while it is valid and not held by an older ingress: a VIP must not move under
// running traffic.
func (x *Index) Resolve(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) (netip.Addr, *Refusal) {
	self := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	me := AgeOf(ing)
	olderHolder := func(addr netip.Addr) (types.NamespacedName, bool) {
		var best types.NamespacedName
		var bestAge Age
		found := false
		x.claimants(class.Name, self, addr, func(k types.NamespacedName, e Holding) bool {
			if Older(e.Age, me) && (!found || Older(e.Age, bestAge)) {
				best, bestAge, found = k, e.Age, true
			}
			return true
		})
		return best, found
	}
	used := func(addr netip.Addr) bool {
		taken := false
		x.claimants(class.Name, self, addr, func(types.NamespacedName, Holding) bool { taken = true; return false })
		return taken
	}

	if ing.Spec.Address != "" {
		addr, ok := ParseVIP(ing.Spec.Address)
		if !ok {
			return netip.Addr{}, &Refusal{Reason: ReasonInvalidSpec, Field: "spec.address", Message: fmt.Sprintf("spec.address %q is not an IP address", ing.Spec.Address)}
		}
		if h, taken := olderHolder(addr); taken {
			x.Release(self)
			return netip.Addr{}, addressInUse(addr, h)
		}
		x.reserve(self, addr)
		return addr, nil
	}
	pools, err := ParsePools(class.Spec.Pools)
	if err != nil {
		return netip.Addr{}, &Refusal{Reason: ReasonInvalidSpec, Field: "spec.pools", Message: err.Error()}
	}
	if prev, ok := x.held(ing, self); ok && Contains(pools, prev) {
		if _, taken := olderHolder(prev); !taken {
			x.reserve(self, prev)
			return prev, nil
		}
	}
	addr, ok := Lowest(pools, used)
	if !ok {
		x.Release(self)
		return netip.Addr{}, &Refusal{Reason: ReasonPoolExhausted, Field: "spec.address",
			Message: fmt.Sprintf("every address of the class %s pools (%s) is in use; add a pool to the class or free an address", class.Name, strings.Join(class.Spec.Pools, ", "))}
	}
	x.reserve(self, addr)
	return addr, nil
}

// held is the address an ingress was last given: the one this process reserved for it,
// which is never older than what its status says (the status is written after the
// reservation), else its status.address (after a restart).
func (x *Index) held(ing *v1alpha1.AnycastIngress, key types.NamespacedName) (netip.Addr, bool) {
	if a, ok := x.reserved[key]; ok {
		return a, true
	}
	if h := HoldingOf(ing); h.Addr.IsValid() {
		return h.Addr, true
	}
	return netip.Addr{}, false
}

func addressInUse(addr netip.Addr, holder types.NamespacedName) *Refusal {
	return &Refusal{Reason: ReasonAddressInUse, Field: "spec.address",
		Message: fmt.Sprintf("address %s is already used by AnycastIngress %s, which claimed it first; choose another address or leave spec.address empty to get a free one", addr, holder)}
}
