// Package notify carries events from outside the hub's informers (a member's health, the
// BGP watcher) to a controller, as a channel source. A sender never blocks: pending
// events are deduplicated and forwarded by one goroutine, so a slow or not yet started
// controller (a standby replica) costs memory bounded by the number of distinct events,
// never a stuck BGP or probe goroutine.
package notify

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// IngressEvent says which ingresses to look at again: one (Ingress set), or every ingress
// of a class (Class set). Refresh marks an event for one ingress that only has something
// to report (RefreshGate).
type IngressEvent struct {
	Ingress types.NamespacedName
	Class   string
	Refresh bool
}

// Ingress is the event for one ingress.
func Ingress(key types.NamespacedName) IngressEvent { return IngressEvent{Ingress: key} }

// IsRefresh reports whether the event's requests are refreshes: queued behind new work
// (SourceWithPriority) and let through the RefreshGate.
func (e IngressEvent) IsRefresh() bool { return e.Class != "" || e.Refresh }

// IngressRefresh is the event for one ingress whose reconcile only reports something
// (an apply left behind on a slow member has ended): it waits behind new work as a
// class's refresh does.
func IngressRefresh(key types.NamespacedName) IngressEvent {
	return IngressEvent{Ingress: key, Refresh: true}
}

// ClassIngresses is the event for every ingress of a class.
func ClassIngresses(class string) IngressEvent { return IngressEvent{Class: class} }

// ClassEvent names a class to look at again.
type ClassEvent string

// Notifier forwards events of type T to one controller.
type Notifier[T comparable] struct {
	mu      sync.Mutex
	pending map[T]struct{}
	order   []T
	wake    chan struct{}
	out     chan event.TypedGenericEvent[T]
	once    sync.Once
}

// New returns a Notifier; Source must be registered with a controller for events to flow.
func New[T comparable]() *Notifier[T] {
	return &Notifier[T]{
		pending: map[T]struct{}{},
		wake:    make(chan struct{}, 1),
		out:     make(chan event.TypedGenericEvent[T]),
	}
}

// Notify queues events; duplicates of a pending event are merged.
func (n *Notifier[T]) Notify(evs ...T) {
	n.mu.Lock()
	for _, e := range evs {
		if _, ok := n.pending[e]; ok {
			continue
		}
		n.pending[e] = struct{}{}
		n.order = append(n.order, e)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Source is the controller-runtime source delivering the events, each turned into
// requests by fan (for instance a class's event into one request per ingress of the
// class). The forwarding goroutine starts with the controller that starts the source, and
// stops with its context.
func (n *Notifier[T]) Source(fan func(context.Context, T) []reconcile.Request) source.Source {
	return n.SourceWithPriority(fan, nil)
}

// SourceWithPriority is Source where the requests of the events low says are refreshes
// (every ingress of a class looked at again because a member's health changed) are queued
// at low priority: a new or changed object, queued at the normal priority, goes first.
// With 100 ingresses on a class, a member that stopped answering queued a refresh of each
// ahead of a new ingress, which then waited behind them (issue 20's isolation figure).
func (n *Notifier[T]) SourceWithPriority(fan func(context.Context, T) []reconcile.Request, low func(T) bool) source.Source {
	return &starter[T]{n: n, Source: source.TypedChannel[T, reconcile.Request](n.out, handler.TypedFuncs[T, reconcile.Request]{
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			reqs := fan(ctx, e.Object)
			if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok && low != nil && low(e.Object) {
				pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(RefreshPriority)}, reqs...)
				return
			}
			for _, r := range reqs {
				q.Add(r)
			}
		},
	})}
}

type starter[T comparable] struct {
	source.Source
	n *Notifier[T]
}

func (s *starter[T]) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	if err := s.Source.Start(ctx, q); err != nil {
		return err
	}
	s.n.once.Do(func() { go s.n.forward(ctx) })
	return nil
}

func (n *Notifier[T]) forward(ctx context.Context) {
	for {
		n.mu.Lock()
		batch := n.order
		n.order = nil
		n.pending = map[T]struct{}{}
		n.mu.Unlock()
		for _, e := range batch {
			select {
			case n.out <- event.TypedGenericEvent[T]{Object: e}:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-n.wake:
		case <-ctx.Done():
			return
		}
	}
}
