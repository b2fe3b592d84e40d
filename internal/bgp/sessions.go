package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/prometheus/client_golang/prometheus"
)

// BGP FSM state names as they appear in SessionState.State.
const (
	StateIdle        = "Idle"
	StateConnect     = "Connect"
	StateActive      = "Active"
	StateOpenSent    = "OpenSent"
	StateOpenConfirm = "OpenConfirm"
	StateEstablished = "Established"
)

// Address family identifiers (RFC 4760), for End-of-RIB bookkeeping.
const (
	afiIPv4 uint16 = 1
	afiIPv6 uint16 = 2
)

// session is the watcher's bookkeeping for one configured session. The
// fields below run are guarded by classWatcher.mu; the session's own
// goroutine (fsm.go) owns the connection and the received-route set.
type session struct {
	cfg SessionConfig

	state string
	since time.Time
	// removed is set when Apply removed or re-created the session: whatever
	// its goroutine still reports is ignored from then on.
	removed bool
	// syncFrom is when the session started (re)learning the router's table:
	// when it was Established, or when a pool change asked for the table
	// again. lastUpdate is when its last UPDATE reached the watcher, and eor
	// the families whose End-of-RIB marker it has received since syncFrom:
	// together they tell when the router has sent its whole table (synced).
	syncFrom   time.Time
	lastUpdate time.Time
	eor        map[uint16]bool
	// relearn lists pools added while the session was up, whose routes it asked the
	// router for again at relearnFrom (ROUTE-REFRESH); cleared once the time rule of
	// synced says they have arrived, or when the session restarts.
	relearn     []netip.Prefix
	relearnFrom time.Time
	note        peerNote
	// prefixLimited: the router exceeded MaxPrefixes; the session stays down
	// until its configuration changes (Apply re-creates it then).
	prefixLimited bool
	// Graceful restart, receiving side (graceful.go): peerGR is the capability of the
	// router's last OPEN; stale the in-pool paths kept from before it restarted, until
	// it resends them, its End-of-RIB, or retainUntil; retainGen invalidates the timers
	// of an earlier restart.
	peerGR      gracefulRestart
	stale       map[staleKey]struct{}
	retainUntil time.Time
	retainGen   int

	// receivedPrefixes and receivedPaths count what the router currently
	// announces on the session, all families, before filtering (with ADD-PATH
	// a prefix can have several paths); written by the session's goroutine.
	receivedPrefixes atomic.Int64
	receivedPaths    atomic.Int64
	receivedVec      prometheus.Gauge

	stop    context.CancelFunc
	done    chan struct{}
	refresh chan struct{} // asks the goroutine for a ROUTE-REFRESH (cap 1)
}

// setReceived records the router's current counts and reports whether the
// prefix count moved (the status shows prefixes).
func (s *session) setReceived(prefixes, paths int) bool {
	s.receivedPaths.Store(int64(paths))
	s.receivedVec.Set(float64(prefixes))
	return s.receivedPrefixes.Swap(int64(prefixes)) != int64(prefixes)
}

// peerNote is why a session is not Established, as the watcher saw it.
type peerNote struct {
	// attempt is why the latest attempt to establish the session failed, in words:
	// the TCP connect, an OPEN the watcher refused, a NOTIFICATION the router sent
	// while opening, the router closing the connection... Each failure replaces the
	// one before (the newest cause wins); Established clears it, and so does a TCP
	// connect that succeeds after a connect failure (connectFailed).
	attempt       string
	connectFailed bool
	down          string // why the session last went down after being Established
	maxPrefix     string // family whose prefix limit was exceeded
}

// When a session counts as synced, for routers that send no End-of-RIB marker (the
// watcher announces graceful restart, without address families, so that they do; some
// do not, and a table resent by route refresh ends with none):
// Established for SyncMin, and no UPDATE for SyncQuiet; or Established for SyncMax
// whatever arrives (a table that never stops changing).
const (
	SyncMin   = 3 * time.Second
	SyncQuiet = time.Second
	SyncMax   = 30 * time.Second
)

// synced reports whether the router has sent the session its table, as far as the
// watcher can tell, and otherwise how long until the time rule may say so. Until then a
// prefix missing from the session proves nothing: it may still be on its way.
func (s *session) synced(need []uint16, now time.Time) (bool, time.Duration) {
	if s.state != StateEstablished {
		return false, 0
	}
	all := len(need) > 0
	for _, afi := range need {
		all = all && s.eor[afi]
	}
	if all {
		return true, 0
	}
	return s.quietSince(s.syncFrom, now)
}

// quietSince is the time rule: from start, SyncMin, and no UPDATE for SyncQuiet; or
// SyncMax whatever arrives.
func (s *session) quietSince(start, now time.Time) (bool, time.Duration) {
	return quietSince(start, s.lastUpdate, now)
}

// quietSince is the time rule for a view that started at start and last
// changed at last (BGP sessions and BMP routers alike).
func quietSince(start, last, now time.Time) (bool, time.Duration) {
	up := now.Sub(start)
	quiet := now.Sub(last)
	if last.Before(start) {
		quiet = up
	}
	if up >= SyncMax || (up >= SyncMin && quiet >= SyncQuiet) {
		return true, 0
	}
	return false, max(SyncMin-up, SyncQuiet-quiet, 100*time.Millisecond)
}

// relearning returns the pools whose routes are still being resent, clearing them once
// they have arrived, and how long until they may have. The caller holds the class lock.
func (s *session) relearning(now time.Time) ([]netip.Prefix, time.Duration) {
	if len(s.relearn) == 0 {
		return nil, 0
	}
	if done, wait := s.quietSince(s.relearnFrom, now); !done {
		return slices.Clone(s.relearn), wait
	}
	s.relearn = nil
	return nil, 0
}

// describe explains why a session is not Established, from the most
// specific evidence available:
//
//   - a router restarting gracefully, whose routes are kept;
//   - the max-prefix shutdown;
//   - why the latest attempt to establish failed (peerNote.attempt), with why
//     the session last went down after it was up, if it was;
//   - otherwise the reason it last went down.
func describe(s *session) string {
	if s.state == StateEstablished {
		return ""
	}
	if len(s.stale) > 0 && !s.retainUntil.IsZero() {
		return fmt.Sprintf("the router is restarting gracefully (RFC 4724; %s): its last %d routes in the pools are kept, stale, "+
			"until it is back and has resent its table, or until %s (the restart time it announced)",
			s.note.down, len(s.stale), s.retainUntil.UTC().Format(time.RFC3339))
	}
	note := s.note
	if s.prefixLimited {
		family := ""
		if note.maxPrefix != "" {
			family = " (" + note.maxPrefix + ")"
		}
		return fmt.Sprintf("max-prefix limit %d exceeded%s: the router sent more prefixes than the session allows, "+
			"so the watcher closed it (Cease, maximum number of prefixes reached); it stays down until the session's configuration changes",
			s.cfg.MaxPrefixes, family)
	}
	switch {
	case note.attempt != "" && note.down != "":
		return "not established: " + note.attempt + "; it last went down: " + note.down
	case note.attempt != "":
		return "not established: " + note.attempt
	case note.down != "":
		return "session went down (" + note.down + "); reconnecting"
	default:
		return fmt.Sprintf("not established yet (%s)", s.state)
	}
}

// connectFailure words a failed TCP connect. A timeout is all Linux shows for a
// TCP MD5 mismatch: segments whose signature is wrong or missing are dropped
// silently, on both ends, so the watcher can only say "no answer" and name the
// password as the first suspect.
func connectFailure(err error, port uint16) string {
	switch why := dialFailure(err); why {
	case "timeout":
		return "no answer from peer (TCP connect timed out); check the TCP MD5 password on both sides, then reachability " +
			"(Linux silently drops segments with a wrong or missing MD5 signature, so a password mismatch looks exactly like an unreachable peer)"
	case "refused":
		return fmt.Sprintf("the peer refused the TCP connection to port %d (BGP not listening there, or no neighbor configured for the watcher's address)", port)
	case "reset":
		// What the same reset looks like when it comes just after the connect instead.
		return openFailure(&connectionLost{msg: resetByRouter, byRouter: true}, "Connect")
	default:
		return "TCP connect failed: " + why
	}
}

// openFailure words why an attempt that reached the OPEN exchange (state) failed
// before the session was Established.
func openFailure(err error, state string) string {
	var oe *openError
	var nf *errNotification
	var cl *connectionLost
	switch {
	case errors.As(err, &oe):
		return oe.msg + " (sent NOTIFICATION " + bgp.NewNotificationErrorCode(oe.code, oe.subcode).String() + ")"
	case errors.As(err, &nf):
		return nf.Error()
	case errors.As(err, &cl) && cl.byRouter:
		// No NOTIFICATION to say why: routers close a connection they do not want
		// (no neighbor for the watcher's address, the neighbor shut down or
		// disabled, a connection collision) before or instead of answering the OPEN.
		how := ""
		if cl.msg != closedByRouter {
			how = " (" + cl.msg + ")"
		}
		return fmt.Sprintf("the router closed the connection in %s%s, without a NOTIFICATION: check that it has a neighbor "+
			"for the watcher's address and AS and that the neighbor is not shut down (the router's log says why)", state, how)
	default:
		return fmt.Sprintf("the session failed in %s: %s", state, err.Error())
	}
}
