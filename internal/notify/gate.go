package notify

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
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
//   - one refresh runs at a time, leaving the other workers free;
//   - a refresh waits while a reconcile of new work runs, but never more than MaxDelay
//     since the last refresh went in: under a steady stream of new work, refreshes still
//     go on, one per MaxDelay at least.
//
// A refresh that must wait is parked: the gate queues it again itself, one at a time, the
// moment one may go in (a refresh ended, the new work ended, MaxDelay passed), instead of
// every waiting refresh polling the queue (a hundred refreshes retried every 50 ms were
// two thousand empty reconciles a second, and one slipped in only by chance). The
// reconcile also asks for a retry after RetryAfter, a safety net only.
//
// The gate knows which request is a refresh from the priority the queue handed it out
// with: a request queued again by a real event in the meantime was raised to that
// event's priority, and is new work.
type RefreshGate struct {
	// RetryAfter is how soon a refresh turned back is tried again if the gate has not
	// queued it before; zero means two seconds.
	RetryAfter time.Duration
	// MaxDelay is the longest refreshes wait for new work: one goes in at least that
	// long after the last one did. Zero means one second.
	MaxDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once     sync.Once
	queue    priorityqueue.PriorityQueue[reconcile.Request]
	mu       sync.Mutex
	dequeued map[reconcile.Request]int
	// working counts the reconciles of new work running; refreshing says a refresh runs;
	// lastRefresh is when one last went in.
	working     int
	refreshing  bool
	lastRefresh time.Time
	// parked are the refreshes turned back, in order; parkedSet says which are still
	// waiting (one that went in since, as new work or queued again, is skipped).
	parked    []reconcile.Request
	parkedSet map[reconcile.Request]bool
	timer     *time.Timer
}

func (g *RefreshGate) init() {
	g.once.Do(func() {
		g.dequeued = map[reconcile.Request]int{}
		g.parkedSet = map[reconcile.Request]bool{}
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
	g.mu.Lock()
	g.queue = pq
	g.mu.Unlock()
	return &gatedQueue{PriorityQueue: pq, g: g}
}

// Enter is called before a reconcile does anything. ok false means the request is a
// refresh that must wait: the reconcile returns
// reconcile.Result{RequeueAfter: g.Retry(), Priority: ptr.To(RefreshPriority)} at once,
// and the gate queues it again when it may go in.
// Otherwise release must be called when the reconcile ends.
func (g *RefreshGate) Enter(req reconcile.Request) (release func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	wasParked := g.parkedSet[req] // then it is in g.parked too
	delete(g.parkedSet, req)
	p, seen := g.dequeued[req]
	if !seen || p > RefreshPriority {
		g.working++
		return func() {
			g.mu.Lock()
			g.working--
			g.mu.Unlock()
			g.kick()
		}, true
	}
	now := g.now()
	if !g.refreshing && (g.working == 0 || now.Sub(g.lastRefresh) >= g.maxDelay()) {
		g.refreshing, g.lastRefresh = true, now
		return func() {
			g.mu.Lock()
			g.refreshing = false
			g.mu.Unlock()
			g.kick()
		}, true
	}
	g.parkedSet[req] = true
	if !wasParked {
		g.parked = append(g.parked, req)
	}
	// Held back by new work: if nothing ends before MaxDelay runs out, a timer wakes the
	// refresh.
	g.armLocked(now)
	return nil, false
}

// kick queues the next parked refresh if one may go in now.
func (g *RefreshGate) kick() {
	g.mu.Lock()
	next, ok := g.nextLocked()
	q := g.queue
	g.mu.Unlock()
	if ok && q != nil {
		q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(RefreshPriority)}, next)
	}
}

// nextLocked takes the first parked refresh off the list when one may go in: none runs,
// and no new work runs or MaxDelay has passed since the last refresh went in.
func (g *RefreshGate) nextLocked() (reconcile.Request, bool) {
	for len(g.parked) > 0 {
		req := g.parked[0]
		if !g.parkedSet[req] {
			g.parked = g.parked[1:]
			continue
		}
		if g.refreshing {
			return reconcile.Request{}, false // the running refresh's release kicks
		}
		if g.working > 0 && g.armLocked(g.now()) {
			return reconcile.Request{}, false
		}
		g.parked = g.parked[1:]
		delete(g.parkedSet, req)
		return req, true
	}
	g.parked = nil
	return reconcile.Request{}, false
}

// armLocked sets a timer for when MaxDelay since the last refresh runs out, if that is
// still ahead; it reports whether it is.
func (g *RefreshGate) armLocked(now time.Time) bool {
	wait := g.maxDelay() - now.Sub(g.lastRefresh)
	if wait <= 0 {
		return false
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(wait, func() {
			g.mu.Lock()
			g.timer = nil
			g.mu.Unlock()
			g.kick()
		})
	}
	return true
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

// Retry is how soon a refresh turned back is tried again if the gate has not queued it
// again before (a safety net).
func (g *RefreshGate) Retry() time.Duration {
	if g.RetryAfter > 0 {
		return g.RetryAfter
	}
	return 2 * time.Second
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
