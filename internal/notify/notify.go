// Package notify carries reconcile requests from outside the hub's informers (member
// clusters, the BGP watcher) to a controller, as a channel source. A sender never blocks:
// pending requests are deduplicated and forwarded by one goroutine, so a slow or not yet
// started controller (a standby replica) costs memory bounded by the number of distinct
// objects, never a stuck BGP or informer goroutine.
package notify

import (
	"context"
	"sync"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Notifier forwards requests to one controller.
type Notifier struct {
	mu      sync.Mutex
	pending map[reconcile.Request]struct{}
	order   []reconcile.Request
	wake    chan struct{}
	out     chan event.TypedGenericEvent[reconcile.Request]
	once    sync.Once
}

// New returns a Notifier; Source must be registered with a controller for requests to flow.
func New() *Notifier {
	return &Notifier{
		pending: map[reconcile.Request]struct{}{},
		wake:    make(chan struct{}, 1),
		out:     make(chan event.TypedGenericEvent[reconcile.Request]),
	}
}

// Notify queues requests; duplicates of a pending request are merged.
func (n *Notifier) Notify(reqs ...reconcile.Request) {
	n.mu.Lock()
	for _, r := range reqs {
		if _, ok := n.pending[r]; ok {
			continue
		}
		n.pending[r] = struct{}{}
		n.order = append(n.order, r)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Source is the controller-runtime source delivering the requests, each mapped through
// fan (nil: delivered as is) — for instance a class request to every ingress of the class.
// The forwarding goroutine starts with the controller that starts the source, and stops
// with its context.
func (n *Notifier) Source(fan func(context.Context, reconcile.Request) []reconcile.Request) source.Source {
	return &starter{n: n, Source: source.TypedChannel[reconcile.Request, reconcile.Request](n.out, handler.TypedFuncs[reconcile.Request, reconcile.Request]{
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if fan == nil {
				q.Add(e.Object)
				return
			}
			for _, r := range fan(ctx, e.Object) {
				q.Add(r)
			}
		},
	})}
}

type starter struct {
	source.Source
	n *Notifier
}

func (s *starter) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	if err := s.Source.Start(ctx, q); err != nil {
		return err
	}
	s.n.once.Do(func() { go s.n.forward(ctx) })
	return nil
}

func (n *Notifier) forward(ctx context.Context) {
	for {
		n.mu.Lock()
		batch := n.order
		n.order = nil
		n.pending = map[reconcile.Request]struct{}{}
		n.mu.Unlock()
		for _, r := range batch {
			select {
			case n.out <- event.TypedGenericEvent[reconcile.Request]{Object: r}:
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
