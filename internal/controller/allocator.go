package controller

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

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
//
// The operator's allocator also indexes what every ingress holds (Watch), fed by the
// ingress informer, so that resolving one ingress looks up the holders of one address
// instead of listing, copying and sorting every ingress of its class on every reconcile.
// Handing out a new address still walks the addresses in use from the pool's start, a map
// lookup each (about 0.5 s of CPU for 1,000 fresh allocations). Resolve, given the class's
// ingresses, is the same decision for callers without an informer (the render command,
// the fuzzer).
type Allocator struct {
	mu       sync.Mutex
	reserved map[types.NamespacedName]netip.Addr

	// The index (Watch): what each ingress holds by its spec and status, and the reverse
	// maps from an address to its holders. reservedBy mirrors reserved.
	synced     func() bool
	entries    map[types.NamespacedName]indexEntry
	holders    map[classAddr]map[types.NamespacedName]bool
	reservedBy map[netip.Addr]map[types.NamespacedName]bool
}

// indexEntry is what the index knows of one ingress.
type indexEntry struct {
	class    string
	addr     netip.Addr // spec.address, else status.address; invalid when neither
	created  metav1.Time
	deleting bool
}

type classAddr struct {
	class string
	addr  netip.Addr
}

// NewAllocator returns an empty allocator.
func NewAllocator() *Allocator {
	return &Allocator{
		reserved:   map[types.NamespacedName]netip.Addr{},
		entries:    map[types.NamespacedName]indexEntry{},
		holders:    map[classAddr]map[types.NamespacedName]bool{},
		reservedBy: map[netip.Addr]map[types.NamespacedName]bool{},
	}
}

// Release forgets the reservation of a deleted ingress.
func (a *Allocator) Release(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unreserve(key)
}

func (a *Allocator) reserve(key types.NamespacedName, addr netip.Addr) {
	if prev, ok := a.reserved[key]; ok && prev == addr {
		return
	}
	a.unreserve(key)
	a.reserved[key] = addr
	if a.reservedBy[addr] == nil {
		a.reservedBy[addr] = map[types.NamespacedName]bool{}
	}
	a.reservedBy[addr][key] = true
}

func (a *Allocator) unreserve(key types.NamespacedName) {
	prev, ok := a.reserved[key]
	if !ok {
		return
	}
	delete(a.reserved, key)
	delete(a.reservedBy[prev], key)
	if len(a.reservedBy[prev]) == 0 {
		delete(a.reservedBy, prev)
	}
}

// Watch feeds the index from the ingress informer. Until the informer has handed every
// existing ingress to the index, IndexSynced is false and the controller waits: an
// address must not be handed out before its holder is known.
func (a *Allocator) Watch(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &v1alpha1.AnycastIngress{})
	if err != nil {
		return err
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o interface{}) { a.observe(o) },
		UpdateFunc: func(_, o interface{}) { a.observe(o) },
		DeleteFunc: func(o interface{}) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if ing, ok := o.(*v1alpha1.AnycastIngress); ok {
				a.forget(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
			}
		},
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.synced = reg.HasSynced
	a.mu.Unlock()
	return nil
}

// IndexSynced reports whether the index holds every ingress the informer had at start.
func (a *Allocator) IndexSynced() bool {
	a.mu.Lock()
	synced := a.synced
	a.mu.Unlock()
	return synced != nil && synced()
}

func (a *Allocator) observe(o interface{}) {
	ing, ok := o.(*v1alpha1.AnycastIngress)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	e := indexEntry{class: ing.Spec.ClassName, created: ing.CreationTimestamp, deleting: ing.DeletionTimestamp != nil}
	e.addr, _ = specOrStatus(ing)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgetLocked(key)
	a.entries[key] = e
	if e.addr.IsValid() {
		ca := classAddr{e.class, e.addr}
		if a.holders[ca] == nil {
			a.holders[ca] = map[types.NamespacedName]bool{}
		}
		a.holders[ca][key] = true
	}
}

func (a *Allocator) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgetLocked(key)
}

func (a *Allocator) forgetLocked(key types.NamespacedName) {
	prev, ok := a.entries[key]
	if !ok {
		return
	}
	delete(a.entries, key)
	if prev.addr.IsValid() {
		ca := classAddr{prev.class, prev.addr}
		delete(a.holders[ca], key)
		if len(a.holders[ca]) == 0 {
			delete(a.holders, ca)
		}
	}
}

// ResolveIndexed is Resolve with the other ingresses of the class taken from the index.
// The caller makes sure IndexSynced is true.
func (a *Allocator) ResolveIndexed(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) (netip.Addr, *render.Problem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	self := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	me := indexEntry{class: class.Name, created: ing.CreationTimestamp}
	// claimants lists the other live ingresses of the class holding addr: by spec or
	// status, or by a reservation of this process when they hold nothing else.
	claimants := func(addr netip.Addr, each func(types.NamespacedName, indexEntry) bool) {
		for k := range a.holders[classAddr{class.Name, addr}] {
			if e := a.entries[k]; k != self && !e.deleting && !each(k, e) {
				return
			}
		}
		for k := range a.reservedBy[addr] {
			e, ok := a.entries[k]
			if k == self || !ok || e.class != class.Name || e.deleting || e.addr.IsValid() {
				continue
			}
			if !each(k, e) {
				return
			}
		}
	}
	holderOf := func(addr netip.Addr) (types.NamespacedName, bool) {
		var best types.NamespacedName
		var bestEntry indexEntry
		found := false
		claimants(addr, func(k types.NamespacedName, e indexEntry) bool {
			if olderEntry(e, k, me, self) && (!found || olderEntry(e, k, bestEntry, best)) {
				best, bestEntry, found = k, e, true
			}
			return true
		})
		return best, found
	}
	used := func(addr netip.Addr) bool {
		taken := false
		claimants(addr, func(types.NamespacedName, indexEntry) bool { taken = true; return false })
		return taken
	}
	return a.resolve(class, ing, holderOf, used)
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
	holderOf := func(addr netip.Addr) (types.NamespacedName, bool) {
		for i := range others {
			if others[i].addr == addr && older(others[i].ing, ing) {
				return others[i].key, true
			}
		}
		return types.NamespacedName{}, false
	}
	used := map[netip.Addr]bool{}
	for _, o := range others {
		used[o.addr] = true
	}
	return a.resolve(class, ing, holderOf, func(addr netip.Addr) bool { return used[addr] })
}

// resolve decides, given who else holds what: holderOf names the oldest other ingress
// older than ing holding an address, used says whether any other ingress holds one.
// a.mu is held.
func (a *Allocator) resolve(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, holderOf func(netip.Addr) (types.NamespacedName, bool), used func(netip.Addr) bool) (netip.Addr, *render.Problem) {
	self := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	if ing.Spec.Address != "" {
		addr, err := netip.ParseAddr(ing.Spec.Address)
		if err != nil {
			return netip.Addr{}, &render.Problem{Reason: render.ReasonInvalidSpec, Field: "spec.address", Message: fmt.Sprintf("spec.address %q is not an IP address", ing.Spec.Address)}
		}
		addr = addr.Unmap()
		if h, taken := holderOf(addr); taken {
			a.unreserve(self)
			return netip.Addr{}, addressInUse(addr, h)
		}
		a.reserve(self, addr)
		return addr, nil
	}

	pools, err := ipam.ParsePools(class.Spec.Pools)
	if err != nil {
		return netip.Addr{}, &render.Problem{Reason: render.ReasonInvalidSpec, Field: "spec.pools", Message: err.Error()}
	}
	// Keep the address already allocated while it is still valid and not taken by an
	// older ingress: a VIP must not move under running traffic.
	if prev, ok := a.heldBy(ing, self); ok && ipam.Contains(pools, prev) {
		if _, taken := holderOf(prev); !taken {
			a.reserve(self, prev)
			return prev, nil
		}
	}
	addr, ok := ipam.Lowest(pools, used)
	if !ok {
		a.unreserve(self)
		return netip.Addr{}, &render.Problem{Reason: ReasonPoolExhausted, Field: "spec.address",
			Message: fmt.Sprintf("every address of the class %s pools (%s) is in use; add a pool to the class or free an address", class.Name, strings.Join(class.Spec.Pools, ", "))}
	}
	a.reserve(self, addr)
	return addr, nil
}

// heldBy is the address an ingress holds: its spec.address, the address recorded in its
// status, or one reserved for it in this process.
func (a *Allocator) heldBy(o *v1alpha1.AnycastIngress, k types.NamespacedName) (netip.Addr, bool) {
	if addr, ok := specOrStatus(o); ok {
		return addr, true
	}
	addr, ok := a.reserved[k]
	return addr, ok
}

// specOrStatus is the address an ingress's own object says it holds.
func specOrStatus(o *v1alpha1.AnycastIngress) (netip.Addr, bool) {
	for _, s := range []string{o.Spec.Address, o.Status.Address} {
		if s == "" {
			continue
		}
		if addr, err := netip.ParseAddr(s); err == nil {
			return addr.Unmap(), true
		}
	}
	return netip.Addr{}, false
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

// olderEntry is older for index entries.
func olderEntry(a indexEntry, ka types.NamespacedName, b indexEntry, kb types.NamespacedName) bool {
	if !a.created.Equal(&b.created) {
		return a.created.Before(&b.created)
	}
	if ka.Namespace != kb.Namespace {
		return ka.Namespace < kb.Namespace
	}
	return ka.Name < kb.Name
}

func addressInUse(addr netip.Addr, holder types.NamespacedName) *render.Problem {
	return &render.Problem{Reason: ReasonAddressInUse, Field: "spec.address",
		Message: fmt.Sprintf("address %s is already used by AnycastIngress %s, which claimed it first; choose another address or leave spec.address empty to get a free one", addr, holder)}
}
