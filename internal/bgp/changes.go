package bgp

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// changeQueue delivers Changes without ever blocking the producers (session
// event callbacks): pending changes are merged per class (union of prefixes,
// earliest ReceivedAt, Sessions or-ed) while the consumer is busy, and one
// goroutine hands them out in the order classes first became pending.
// Nothing is dropped; a slow consumer just receives fewer, larger Changes.
type changeQueue struct {
	mu      sync.Mutex
	pending map[string]*pendingChange
	order   []string // classes with a pending change, oldest first
	wake    chan struct{}
	out     chan Change
	done    chan struct{}
	stopped chan struct{}
}

type pendingChange struct {
	prefixes   map[netip.Prefix]struct{}
	sessions   bool
	counters   bool
	receivedAt time.Time
}

func newChangeQueue() *changeQueue {
	q := &changeQueue{
		pending: map[string]*pendingChange{},
		wake:    make(chan struct{}, 1),
		out:     make(chan Change),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go q.run()
	return q
}

// push merges a change into the class's pending one. It never blocks.
func (q *changeQueue) push(class string, prefixes []netip.Prefix, sessions bool, receivedAt time.Time) {
	if len(prefixes) == 0 && !sessions {
		return
	}
	q.merge(class, prefixes, sessions, false, receivedAt)
}

// pushCounters merges "the class's prefix counters moved" into its pending change.
func (q *changeQueue) pushCounters(class string, receivedAt time.Time) {
	q.merge(class, nil, false, true, receivedAt)
}

func (q *changeQueue) merge(class string, prefixes []netip.Prefix, sessions, counters bool, receivedAt time.Time) {
	q.mu.Lock()
	pc := q.pending[class]
	if pc == nil {
		pc = &pendingChange{prefixes: map[netip.Prefix]struct{}{}, receivedAt: receivedAt}
		q.pending[class] = pc
		q.order = append(q.order, class)
	}
	for _, p := range prefixes {
		pc.prefixes[p] = struct{}{}
	}
	pc.sessions = pc.sessions || sessions
	pc.counters = pc.counters || counters
	if receivedAt.Before(pc.receivedAt) {
		pc.receivedAt = receivedAt
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // already signalled
	}
}

// next takes the oldest pending change, if any.
func (q *changeQueue) next() (Change, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return Change{}, false
	}
	class := q.order[0]
	q.order = q.order[1:]
	pc := q.pending[class]
	delete(q.pending, class)
	c := Change{Class: class, Sessions: pc.sessions, Counters: pc.counters, ReceivedAt: pc.receivedAt}
	for p := range pc.prefixes {
		c.Prefixes = append(c.Prefixes, p)
	}
	slices.SortFunc(c.Prefixes, comparePrefix)
	return c, true
}

func (q *changeQueue) run() {
	defer close(q.stopped)
	defer close(q.out)
	for {
		c, ok := q.next()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		select {
		case q.out <- c:
		case <-q.done:
			return
		}
	}
}

// close stops delivery and closes the output channel.
func (q *changeQueue) close() {
	close(q.done)
	<-q.stopped
}
