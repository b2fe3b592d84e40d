package bgp

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// classWatcher is one class's watcher: its sessions (a class has its own
// ASN and router ID, which every session's OPEN carries), its pools and its
// route index.
type classWatcher struct {
	class    string
	log      logr.Logger
	queue    *changeQueue
	ix       *index
	asn      uint32
	routerID netip.Addr
	// poolsNow is the pools for the session goroutines' first, lock-free
	// filtering of every received path; applyOps checks w.pools again.
	poolsNow atomic.Pointer[pools]

	// mu guards what follows and every session's bookkeeping. Session
	// goroutines take it once per UPDATE or state change, never while
	// blocked on the network.
	mu       sync.Mutex
	stopped  bool
	pools    pools
	sessions map[string]*session
	bmp      *bmpCollector // nil without Config.BMP

	// Counter changes are published at most every CountersEvery (countersMoved):
	// countersAt is when the last one was, countersDue a push already scheduled.
	countersMu  sync.Mutex
	countersAt  time.Time
	countersDue bool
}

// CountersEvery is how often, at most, a class's prefix counters are published
// as a Change when only they moved (a router's UPDATEs outside the pools, or in
// them without a change the ingresses need): each change rewrites the class's
// status, so a router sending a table must not cost a status write per UPDATE,
// while the counters still follow the routers within seconds.
const CountersEvery = 2 * time.Second

// startClass prepares a class; Apply starts its sessions. The watcher never
// listens: it only dials, so nothing can connect to it.
func startClass(class string, cfg Config, queue *changeQueue, log logr.Logger) *classWatcher {
	w := &classWatcher{
		class: class, log: log, queue: queue, ix: newIndex(),
		asn: cfg.ASN, routerID: cfg.RouterID, pools: newPools(cfg.Pools),
		sessions: map[string]*session{},
	}
	w.poolsNow.Store(&w.pools)
	return w
}

// stop closes every session (a Cease NOTIFICATION, then the connection) and
// waits for their goroutines.
func (w *classWatcher) stop() {
	w.mu.Lock()
	w.stopped = true
	var all []*session
	for _, s := range w.sessions {
		s.stop()
		all = append(all, s)
	}
	c := w.bmp
	if c != nil {
		c.shutdown()
	}
	w.mu.Unlock()
	for _, s := range all {
		<-s.done
	}
	if c != nil {
		c.streams.Wait()
	}
}

// apply reconciles sessions and pools with cfg; sessions whose config is
// unchanged keep running. Prefixes whose paths changed and the session
// change are pushed as one Change.
func (w *classWatcher) apply(cfg Config) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	want := map[string]SessionConfig{}
	for _, s := range cfg.Sessions {
		want[s.Name] = s
	}

	var changed []netip.Prefix
	sessionsChanged := false
	// Remove sessions that are gone or changed (changed ones are re-created
	// below: a password, ADD-PATH or timers change needs a new connection).
	for name, s := range w.sessions {
		if c, ok := want[name]; ok && c == s.cfg {
			continue
		}
		changed = append(changed, w.removeSession(s)...)
		sessionsChanged = true
	}

	if ps := newPools(cfg.Pools); !ps.equal(w.pools) {
		changed = append(changed, w.setPools(ps, now)...)
		sessionsChanged = true // sessions may be relearning their tables
	}

	for _, c := range cfg.Sessions {
		if _, ok := w.sessions[c.Name]; ok {
			continue
		}
		w.addSession(c, now)
		sessionsChanged = true
	}
	if bmpChanged, dropped := w.applyBMP(cfg.BMP, now); bmpChanged {
		changed = append(changed, dropped...)
		sessionsChanged = true
	}
	w.queue.push(w.class, changed, sessionsChanged, now)
}

// applyBMP starts, reconfigures or stops the class's BMP collector. It
// reports whether anything changed, and the prefixes that lost paths. The
// caller holds w.mu.
func (w *classWatcher) applyBMP(cfg *BMPConfig, now time.Time) (bool, []netip.Prefix) {
	c := w.bmp
	var dropped []netip.Prefix
	switch {
	case cfg == nil && c == nil:
		return false, nil
	case cfg == nil:
		// Its goroutines end on their own: they find their router removed.
		w.bmp = nil
		for _, r := range c.routers {
			dropped = append(dropped, c.removeRouter(r, now)...)
		}
		c.shutdown()
	case c == nil:
		w.bmp = newBMPCollector(w)
		dropped = w.bmp.apply(*cfg, now)
	case cfg.equal(&c.cfg) && c.ln != nil:
		return false, nil
	default:
		dropped = c.apply(*cfg, now)
	}
	w.refreshOrigins(dropped)
	return true, dropped
}

// addSession starts a session's goroutine. The caller holds w.mu.
func (w *classWatcher) addSession(c SessionConfig, now time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{cfg: c, state: StateIdle, since: now, stop: cancel, done: make(chan struct{}),
		refresh:     make(chan struct{}, 1),
		receivedVec: sessionPrefixes.WithLabelValues(w.class, c.Name, "received")}
	w.sessions[c.Name] = s
	s.receivedVec.Set(0)
	setEstablished(w.class, c.Name, false)
	w.refreshAccepted(map[string]bool{c.Name: true})
	w.log.V(1).Info("session configured", "session", c.Name, "address", c.Address, "asn", c.ASN,
		"addPath", c.AddPathReceive, "maxPrefixes", c.MaxPrefixes, "md5", c.Password != "")
	go w.run(ctx, s)
}

// removeSession stops a session and drops its paths; whatever its goroutine
// still reports is ignored. The caller holds w.mu.
func (w *classWatcher) removeSession(s *session) []netip.Prefix {
	s.removed = true
	s.forgetRetained()
	s.stop()
	delete(w.sessions, s.cfg.Name)
	dropped := w.ix.dropSession(s.cfg.Name)
	forgetSessionMetrics(w.class, s.cfg.Name)
	w.refreshOrigins(dropped)
	return dropped
}

// setPools replaces the import filter. The index drops paths now outside.
// Paths a grown pool now covers were received but not kept, so every
// Established session asks its router for the table again (ROUTE-REFRESH;
// a router without route refresh is reconnected) and reports the new pools
// as Relearning until it has arrived. The caller holds w.mu.
func (w *classWatcher) setPools(ps pools, now time.Time) []netip.Prefix {
	old := w.pools
	w.pools = ps
	w.poolsNow.Store(&ps)
	changed := w.ix.dropOutside(ps)
	for _, s := range w.sessions {
		for k := range s.stale {
			if !ps.contains(k.prefix) {
				delete(s.stale, k)
			}
		}
	}
	all := map[string]bool{}
	for name := range w.sessions {
		all[name] = true
	}
	w.refreshAccepted(all)
	w.refreshOrigins(changed)
	var added []netip.Prefix
	for _, p := range ps {
		if !old.contains(p) {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return changed
	}
	if w.bmp != nil {
		changed = append(changed, w.bmp.relearn(now)...)
	}
	for _, s := range w.sessions {
		if s.state != StateEstablished {
			continue
		}
		// Only prefixes of the new pools are uncertain until the router has resent
		// its table: the rest of the session's view stays valid.
		s.relearn, s.relearnFrom = append(s.relearn, added...), now
		select {
		case s.refresh <- struct{}{}:
		default: // one is already pending
		}
	}
	return changed
}

// settle publishes a session state change and the prefixes that lost paths
// with it: the gauges, then a change for the reconcilers.
func (w *classWatcher) settle(s *session, dropped []netip.Prefix, now time.Time) {
	w.refreshAccepted(map[string]bool{s.cfg.Name: true})
	w.refreshOrigins(dropped)
	w.queue.push(w.class, dropped, true, now)
}

// countersMoved publishes that a session's prefix counters moved, as a Change
// with Counters set: at once if none was published in the last CountersEvery,
// otherwise once that interval is over (one Change for every move meanwhile).
func (w *classWatcher) countersMoved(now time.Time) {
	w.countersMu.Lock()
	defer w.countersMu.Unlock()
	if w.countersDue {
		return
	}
	wait := CountersEvery - now.Sub(w.countersAt)
	if wait <= 0 {
		w.countersAt = now
		w.queue.pushCounters(w.class, now)
		return
	}
	w.countersDue = true
	time.AfterFunc(wait, func() {
		w.mu.Lock()
		stopped := w.stopped
		w.mu.Unlock()
		w.countersMu.Lock()
		defer w.countersMu.Unlock()
		w.countersDue = false
		w.countersAt = time.Now()
		if !stopped {
			w.queue.pushCounters(w.class, now)
		}
	})
}

// refreshAccepted updates the accepted-prefixes gauge of the named sessions.
func (w *classWatcher) refreshAccepted(sessions map[string]bool) {
	for name := range sessions {
		prefixes, _ := w.ix.acceptedBy(name)
		sessionPrefixes.WithLabelValues(w.class, name, "accepted").Set(float64(prefixes))
	}
}

// refreshOrigins updates the per-prefix origin gauge.
func (w *classWatcher) refreshOrigins(prefixes []netip.Prefix) {
	for _, p := range prefixes {
		if n := w.ix.origins(p); n > 0 {
			prefixOrigins.WithLabelValues(w.class, p.String()).Set(float64(n))
		} else {
			prefixOrigins.DeleteLabelValues(w.class, p.String())
		}
	}
}

// states reports every session, sorted by name, from the watcher's own
// bookkeeping: cheap enough for every reconcile.
func (w *classWatcher) states() []SessionState {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	need := w.pools.afis()
	out := make([]SessionState, 0, len(w.sessions))
	for _, s := range w.sessions {
		accepted, acceptedPaths := w.ix.acceptedBy(s.cfg.Name)
		st := SessionState{Name: s.cfg.Name, State: s.state, Since: s.since, Message: describe(s),
			Received: uint64(max(0, s.receivedPrefixes.Load())), ReceivedPaths: uint64(max(0, s.receivedPaths.Load())),
			Accepted: uint64(accepted), AcceptedPaths: uint64(acceptedPaths)}
		st.Synced, st.SyncIn = s.synced(need, now)
		var wait time.Duration
		if st.Relearning, wait = s.relearning(now); wait > st.SyncIn {
			st.SyncIn = wait
		}
		st.Retained, st.RetainedUntil = len(s.stale), s.retainUntil
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SessionState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
