package bgp

import (
	"net/netip"
	"time"
)

// Graceful restart, receiving side (RFC 4724 4.2). A router that announces
// graceful restart for a family keeps forwarding that family while its BGP
// process restarts. When its connection is lost (no NOTIFICATION either way),
// the watcher keeps the router's last in-pool paths, marked stale, instead of
// reporting every VIP gone for the seconds of an upgrade or a crash of bgpd:
//
//   - for the restart time the router announced (MaxRetain at most); if it
//     is not back by then, they go;
//   - when it is back, a path it sends again is fresh; the stale ones of a
//     family go at its End-of-RIB for that family, at once for a family it no
//     longer restarts gracefully or whose forwarding it did not keep (F bit),
//     and after SyncMax at the latest.
//
// A NOTIFICATION (an administrative reset, the hold timer) ends the session
// the ordinary way: its paths go at once. A router that only helps others
// restart lists no family, so nothing is kept for it.

// MaxRetain caps the restart time a router may announce (up to 4095 s): a
// router that never comes back must not keep its last table in the view for an
// hour. 120 s is the usual default (FRR, Cisco, Juniper).
const MaxRetain = 5 * time.Minute

// staleKey is one kept path of a session.
type staleKey struct {
	prefix netip.Prefix
	id     uint32
}

func afiOf(p netip.Prefix) uint16 {
	if p.Addr().Is4() {
		return afiIPv4
	}
	return afiIPv6
}

// retain keeps a session's paths after its connection was lost: those of the
// families the router restarts gracefully, stale, until its restart time has
// passed; the others go now (returned). The caller holds w.mu.
func (w *classWatcher) retain(s *session, now time.Time) []netip.Prefix {
	gr := s.peerGR
	dropped := w.ix.dropWhere(func(k pathKey, p netip.Prefix) bool { return k.session == s.cfg.Name && !gr.afis[afiOf(p)] })
	if s.stale == nil {
		s.stale = map[staleKey]struct{}{}
	}
	for _, k := range w.ix.keysOf(s.cfg.Name) {
		s.stale[k] = struct{}{}
	}
	keep := min(gr.time, MaxRetain)
	s.retainUntil = now.Add(keep)
	s.retainGen++
	w.expireAfter(s, keep, "the router did not come back within the restart time it announced")
	w.log.Info("keeping a restarting router's routes (graceful restart)", "session", s.cfg.Name,
		"paths", len(s.stale), "until", s.retainUntil.UTC().Format(time.RFC3339))
	return dropped
}

// restarted handles the kept paths when the session is Established again:
// those of families the router no longer restarts gracefully, or whose
// forwarding it did not keep, go now (returned); the rest wait for the
// router's table, SyncMax at the latest. The caller holds w.mu.
func (w *classWatcher) restarted(s *session, gr gracefulRestart) []netip.Prefix {
	s.peerGR = gr
	s.retainUntil = time.Time{}
	s.retainGen++
	if len(s.stale) == 0 {
		s.stale = nil
		return nil
	}
	n := len(s.stale)
	dropped := w.dropStale(s, func(afi uint16) bool { return !gr.forwarding[afi] })
	if gone := n - len(s.stale); gone > 0 {
		w.log.Info("dropping a restarting router's kept routes", "session", s.cfg.Name, "paths", gone,
			"reason", "the router came back without its forwarding state (graceful restart F bit clear, or the family no longer restarted gracefully): it no longer forwards on them")
	}
	if len(s.stale) > 0 {
		w.expireAfter(s, SyncMax, "the router sent no End-of-RIB after it came back")
	}
	return dropped
}

// forgetRetained drops the session's record of kept paths (they left the
// index with the rest of its paths) and voids the timers about them. The
// caller holds w.mu.
func (s *session) forgetRetained() {
	s.stale, s.retainUntil = nil, time.Time{}
	s.retainGen++
}

// freshen unmarks a path the router sent again (announced or withdrawn).
// The caller holds w.mu.
func (s *session) freshen(prefix netip.Prefix, id uint32) {
	if s.stale != nil {
		delete(s.stale, staleKey{prefix, id})
	}
}

// dropStale removes the stale paths of the families match selects and
// returns their prefixes. The caller holds w.mu.
func (w *classWatcher) dropStale(s *session, match func(afi uint16) bool) []netip.Prefix {
	var dropped []netip.Prefix
	for k := range s.stale {
		if !match(afiOf(k.prefix)) {
			continue
		}
		delete(s.stale, k)
		if w.ix.remove(pathKey{session: s.cfg.Name, id: k.id}, k.prefix) {
			dropped = append(dropped, k.prefix)
		}
	}
	if len(s.stale) == 0 {
		s.stale, s.retainUntil = nil, time.Time{}
	}
	return dropped
}

// expireAfter drops whatever is still stale after d, unless the session has
// moved on (restarted, ended again, removed) meanwhile. The caller holds w.mu.
func (w *classWatcher) expireAfter(s *session, d time.Duration, why string) {
	gen := s.retainGen
	time.AfterFunc(d, func() {
		w.mu.Lock()
		if w.stopped || s.removed || s.retainGen != gen || len(s.stale) == 0 {
			w.mu.Unlock()
			return
		}
		n := len(s.stale)
		dropped := w.dropStale(s, func(uint16) bool { return true })
		w.mu.Unlock()
		w.log.Info("dropping a restarting router's kept routes", "session", s.cfg.Name, "paths", n, "reason", why)
		w.settle(s, dropped, time.Now())
	})
}
