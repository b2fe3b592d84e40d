package notify

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// RefreshPriority is the priority of a refresh: below controller-runtime's LowPriority,
// which it gives to the objects of a cache's first list (every object at a start) and to
// unchanged resyncs; those must not be held back as refreshes are.
const RefreshPriority = 2 * handler.LowPriority

// RefreshGate keeps refreshes out of the way of new work. A refresh (every ingress of a
// class looked at again, because a member's health or a BGP session changed) only
// reports what changed, or programs a member that came back; new work (an ingress
// created or changed) is what someone waits for. The queue already hands new work out
// first, but that is not enough: once the workers had taken refreshes they were busy with
// them, and a new ingress created while a member went down shared the CPU and the hub's
// API server with a hundred refreshes (issue 20's isolation figure). So:
//
//   - at most Concurrent refreshes run at once, leaving the other workers free;
//   - a refresh waits while a reconcile of new work runs, but never more than MaxDelay
//     since the last refresh went in: under a steady stream of new work, refreshes still
//     go on, one per MaxDelay at least.
//
// A refresh turned back is put back in the queue, at the refresh priority, for
// RetryAfter. The gate knows which request is a refresh from the priority the queue
// handed it out with: a request queued again by a real event in the meantime was raised
// to that event's priority, and is new work.
type RefreshGate struct {
	// Concurrent is how many refreshes may run at once; zero means one.
	Concurrent int
	// RetryAfter is how soon a refresh that found the gate full is tried again; zero
	// means 50 ms.
	RetryAfter time.Duration
	// MaxDelay is the longest refreshes wait for new work: one goes in at least that
	// long after the last one did. Zero means one second.
	MaxDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once     sync.Once
	slots    chan struct{}
	mu       sync.Mutex
	dequeued map[reconcile.Request]int
	// working counts the reconciles of new work running; lastRefresh is when a refresh
	// last went in.
	working     int
	lastRefresh time.Time
}

func (g *RefreshGate) init() {
	g.once.Do(func() {
		n := g.Concurrent
		if n <= 0 {
			n = 1
		}
		g.slots = make(chan struct{}, n)
		g.dequeued = map[reconcile.Request]int{}
	})
}

// NewQueue is a controller's queue (controller.Options.NewQueue): controller-runtime's
// priority queue, telling the gate with which priority it hands each request out.
func (g *RefreshGate) NewQueue(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	g.init()
	pq := priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
		o.Log = logf.Log.WithValues("controller", name)
		o.RateLimiter = rl
	})
	return &gatedQueue{PriorityQueue: pq, g: g}
}

// Enter is called before a reconcile does anything. ok false means the request is a
// refresh that must wait: the reconcile returns
// reconcile.Result{RequeueAfter: g.Retry(), Priority: ptr.To(RefreshPriority)} at once.
// Otherwise release must be called when the reconcile ends.
func (g *RefreshGate) Enter(req reconcile.Request) (release func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	p, seen := g.dequeued[req]
	if !seen || p > RefreshPriority {
		g.working++
		return func() {
			g.mu.Lock()
			g.working--
			g.mu.Unlock()
		}, true
	}
	now := g.now()
	if g.working > 0 && now.Sub(g.lastRefresh) < g.maxDelay() {
		return nil, false
	}
	select {
	case g.slots <- struct{}{}:
		g.lastRefresh = now
		return func() { <-g.slots }, true
	default:
		return nil, false
	}
}

func (g *RefreshGate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *RefreshGate) maxDelay() time.Duration {
	if g.MaxDelay > 0 {
		return g.MaxDelay
	}
	return time.Second
}

// Retry is how soon a refresh that found the gate full is tried again.
func (g *RefreshGate) Retry() time.Duration {
	if g.RetryAfter > 0 {
		return g.RetryAfter
	}
	return 50 * time.Millisecond
}

type gatedQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	g *RefreshGate
}

func (q *gatedQueue) GetWithPriority() (reconcile.Request, int, bool) {
	item, p, shutdown := q.PriorityQueue.GetWithPriority()
	if !shutdown {
		q.g.mu.Lock()
		q.g.dequeued[item] = p
		q.g.mu.Unlock()
	}
	return item, p, shutdown
}

func (q *gatedQueue) Done(item reconcile.Request) {
	q.g.mu.Lock()
	delete(q.g.dequeued, item)
	q.g.mu.Unlock()
	q.PriorityQueue.Done(item)
}
