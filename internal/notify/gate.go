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

// RefreshGate lets a limited number of refreshes run at once, so that the workers left
// are free for new work the moment it comes. A refresh (every ingress of a class looked
// at again, because a member's health changed) is queued behind new work, but once the
// workers have taken refreshes they are busy with them: a new ingress created while a
// member went down found all four workers refreshing, and its reconcile shared the CPU
// with them (issue 20's isolation figure). A refresh that finds the gate full is put back
// in the queue, at the refresh priority, for RetryAfter.
//
// The gate knows which request is a refresh from the priority the queue handed it out
// with: a request queued again by a real event in the meantime was raised to that
// event's priority, and is not held back.
type RefreshGate struct {
	// Concurrent is how many refreshes may run at once; zero means one.
	Concurrent int
	// RetryAfter is how soon a refresh that found the gate full is tried again; zero
	// means 50 ms.
	RetryAfter time.Duration

	once     sync.Once
	slots    chan struct{}
	mu       sync.Mutex
	dequeued map[reconcile.Request]int
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
// refresh and the gate is full: the reconcile returns
// reconcile.Result{RequeueAfter: g.Retry(), Priority: ptr.To(RefreshPriority)} at once.
// Otherwise release must be called when the reconcile ends.
func (g *RefreshGate) Enter(req reconcile.Request) (release func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	g.init()
	g.mu.Lock()
	p, seen := g.dequeued[req]
	g.mu.Unlock()
	if !seen || p > RefreshPriority {
		return func() {}, true
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, true
	default:
		return nil, false
	}
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
