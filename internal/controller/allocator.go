package controller

import (
	"context"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Reasons of address problems (decided in internal/ipam).
const (
	ReasonAddressInUse  = ipam.ReasonAddressInUse
	ReasonPoolExhausted = ipam.ReasonPoolExhausted
)

// Allocator is the operator's address index (ipam.Index) fed by the ingress informer, and
// guarded for the concurrent reconcilers and the BGP bridge that read it. The decision is
// ipam's; this type only wires it to the cluster.
type Allocator struct {
	mu     sync.Mutex
	index  *ipam.Index
	synced func() bool
}

// NewAllocator returns an empty allocator.
func NewAllocator() *Allocator { return &Allocator{index: ipam.NewIndex()} }

// Watch feeds the index from the ingress informer. Until the informer has handed every
// existing ingress to the index, IndexSynced is false and the controller waits: an
// address must not be handed out before its holder is known.
func (a *Allocator) Watch(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &v1alpha1.AnycastIngress{})
	if err != nil {
		return err
	}
	observe := func(o interface{}) {
		if ing, ok := o.(*v1alpha1.AnycastIngress); ok {
			a.mu.Lock()
			a.index.Observe(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}, ipam.HoldingOf(ing))
			a.mu.Unlock()
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, o interface{}) { observe(o) },
		DeleteFunc: func(o interface{}) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if ing, ok := o.(*v1alpha1.AnycastIngress); ok {
				a.mu.Lock()
				a.index.Forget(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
				a.mu.Unlock()
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

// Resolve returns the address an ingress uses (see ipam.Index.Resolve). The caller makes
// sure IndexSynced is true.
func (a *Allocator) Resolve(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) (netip.Addr, *render.Problem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, refusal := a.index.Resolve(class, ing)
	return addr, render.ProblemOf(refusal)
}

// Holders lists the ingresses of a class whose spec or status holds addr: those a BGP
// change for that VIP concerns.
func (a *Allocator) Holders(class string, addr netip.Addr) []types.NamespacedName {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index.Holders(class, addr)
}

// Release forgets the reservation of a deleted ingress.
func (a *Allocator) Release(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index.Release(key)
}
