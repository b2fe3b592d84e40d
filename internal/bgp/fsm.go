package bgp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// run is one session's goroutine: connect, open, receive until the session
// ends, wait ConnectRetry, again; until Apply removes the session (ctx).
// After a max-prefix shutdown it parks until then.
//
// It is a receive-only BGP speaker (RFC 4271 FSM, active side only): it
// sends OPEN, KEEPALIVE, ROUTE-REFRESH and NOTIFICATION, and no UPDATE but
// the End-of-RIB marker graceful restart asks for (sendEndOfRIB), which
// carries no route.
func (w *classWatcher) run(ctx context.Context, s *session) {
	defer close(s.done)
	for {
		w.setState(s, StateActive)
		conn, err := dial(ctx, s.cfg, s.cfg.ASN != w.asn)
		if ctx.Err() != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return
		}
		if err != nil {
			w.log.V(1).Info("connect failed", "session", s.cfg.Name, "address", s.cfg.Address, "error", err.Error())
			why := connectFailure(err, s.cfg.port())
			w.setNote(s, func(n *peerNote) { n.attempt, n.connectFailed = why, true })
		} else {
			w.setNote(s, func(n *peerNote) {
				if n.connectFailed { // the connect works now: that cause is over
					n.attempt, n.connectFailed = "", false
				}
			})
			err = w.serve(ctx, s, newWire(conn))
			_ = conn.Close()
			s.setReceived(0, 0)
			if ctx.Err() != nil {
				return
			}
			if w.ended(s, err) {
				<-ctx.Done()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.connectRetry()):
		}
	}
}

// errRelearn ends a session whose router cannot resend its table by route refresh.
var errRelearn = errors.New("the pools grew and the router does not support route refresh: reconnecting to receive its table again")

// prefixLimitError ends a session over its max-prefix limit, naming the family.
type prefixLimitError struct{ family string }

func (e *prefixLimitError) Error() string { return "max-prefix limit exceeded (" + e.family + ")" }

// serve runs one connection through OpenSent and OpenConfirm to Established
// and reads UPDATEs until it ends, returning why.
func (w *classWatcher) serve(ctx context.Context, s *session, c *wire) error {
	// Removal closes the connection, politely.
	stop := context.AfterFunc(ctx, func() {
		c.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_PEER_DECONFIGURED, nil)
		_ = c.conn.Close()
	})
	defer stop()

	if err := c.write(openMessage(w.asn, w.routerID, s.cfg)); err != nil {
		return writeFailure(err)
	}
	w.setState(s, StateOpenSent)
	// RFC 4271 suggests a large hold timer until the OPEN arrives; the
	// configured hold time (90 s by default) is large enough.
	typ, body, err := c.read(time.Now().Add(s.cfg.holdTime()))
	if err != nil {
		return readFailure(c, err, s.cfg.holdTime())
	}
	if typ != bgp.BGP_MSG_OPEN {
		return unexpected(c, typ, body, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENSENT_STATE)
	}
	m, err := bgp.ParseBGPBody(&bgp.BGPHeader{Type: typ, Len: uint16(len(body) + bgp.BGP_HEADER_LENGTH)}, body)
	if err != nil {
		return messageError(c, err)
	}
	neg, err := negotiate(s.cfg, m.Body.(*bgp.BGPOpen))
	if oe, ok := err.(*openError); ok {
		c.notify(oe.code, oe.subcode, oe.data)
		return oe
	}
	if err := c.write(bgp.NewBGPKeepAliveMessage()); err != nil {
		return err
	}
	w.setState(s, StateOpenConfirm)
	typ, body, err = c.read(deadline(neg.hold))
	if err != nil {
		return readFailure(c, err, neg.hold)
	}
	if typ != bgp.BGP_MSG_KEEPALIVE {
		return unexpected(c, typ, body, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENCONFIRM_STATE)
	}
	w.established(s, neg.gr)
	if err := sendEndOfRIB(c, neg); err != nil {
		return &connectionLost{msg: "sending End-of-RIB: " + err.Error()}
	}
	rib := newSessionRIB(neg.families[bgp.RF_IPv4_UC] != 0, neg.families[bgp.RF_IPv6_UC] != 0)

	// Keepalives and route refreshes go out from their own goroutine, so a
	// slow UPDATE never delays them; a failed write closes the connection,
	// which ends the read loop below.
	sendDone := make(chan struct{})
	defer close(sendDone)
	relearn := make(chan struct{}, 1)
	go func() {
		var tick <-chan time.Time
		if neg.keepalive > 0 {
			t := time.NewTicker(neg.keepalive)
			defer t.Stop()
			tick = t.C
		}
		for {
			var err error
			select {
			case <-sendDone:
				return
			case <-tick:
				err = c.write(bgp.NewBGPKeepAliveMessage())
			case <-s.refresh:
				if !neg.routeRefresh {
					relearn <- struct{}{}
					c.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_OTHER_CONFIGURATION_CHANGE, nil)
					_ = c.conn.Close()
					return
				}
				for f := range neg.families {
					afi, safi := bgp.RouteFamilyToAfiSafi(f)
					if err = c.write(bgp.NewBGPRouteRefreshMessage(afi, 0, safi)); err != nil {
						break
					}
				}
			}
			if err != nil {
				_ = c.conn.Close()
				return
			}
		}
	}()

	for {
		typ, body, err := c.read(deadline(neg.hold))
		if err != nil {
			select {
			case <-relearn:
				return errRelearn
			default:
			}
			return readFailure(c, err, neg.hold)
		}
		switch typ {
		case bgp.BGP_MSG_UPDATE:
			if err := w.update(s, c, neg, rib, body, time.Now()); err != nil {
				return err
			}
		case bgp.BGP_MSG_KEEPALIVE, bgp.BGP_MSG_ROUTE_REFRESH:
			// A ROUTE-REFRESH asks for our routes: there are none.
		case bgp.BGP_MSG_NOTIFICATION:
			return notification(body)
		default:
			return unexpected(c, typ, body, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_ESTABLISHED_STATE)
		}
	}
}

func deadline(hold time.Duration) time.Time {
	if hold == 0 {
		return time.Time{}
	}
	return time.Now().Add(hold)
}

// readFailure classifies a failed read: the hold timer expiring (answered
// with its NOTIFICATION), a malformed header, or the connection closing.
func readFailure(c *wire, err error, hold time.Duration) error {
	var me *bgp.MessageError
	switch {
	case errors.As(err, &me):
		return messageError(c, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0, nil)
		return fmt.Errorf("hold timer expired: nothing from the router for %s", hold)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &connectionLost{msg: closedByRouter, byRouter: true}
	case errors.Is(err, syscall.ECONNRESET):
		// What a router closing the connection looks like when our last message
		// was still unread on its side (BIRD refusing a connection in OpenSent).
		return &connectionLost{msg: resetByRouter, byRouter: true}
	case errors.Is(err, net.ErrClosed):
		// Closed here after a write failed (removal and relearning return earlier).
		return &connectionLost{msg: "connection closed"}
	default:
		return &connectionLost{msg: err.Error()}
	}
}

// writeFailure classifies a failed write of our OPEN: a router that accepted the
// connection and closed or reset it before reading anything (as in readFailure, whether
// that shows on our write or on our next read is a matter of timing).
func writeFailure(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return &connectionLost{msg: resetByRouter, byRouter: true}
	case errors.Is(err, syscall.EPIPE):
		return &connectionLost{msg: closedByRouter, byRouter: true}
	}
	return err
}

// connectionLost is a session ended by its TCP connection, without a NOTIFICATION
// either way: the case in which a router that announced graceful restart is expected
// back (RFC 4724 4.2).
type connectionLost struct {
	msg      string
	byRouter bool // the router closed or reset it
}

const closedByRouter = "the router closed the connection"

// resetByRouter is how a connection the router reset (a TCP RST, no NOTIFICATION) ended.
const resetByRouter = "the router reset the connection"

func (e *connectionLost) Error() string { return e.msg }

// notification decodes a NOTIFICATION the router sent.
func notification(body []byte) error {
	m, err := bgp.ParseBGPBody(&bgp.BGPHeader{Type: bgp.BGP_MSG_NOTIFICATION, Len: uint16(len(body) + bgp.BGP_HEADER_LENGTH)}, body)
	if err != nil {
		return &errNotification{text: "(undecodable)"}
	}
	return &errNotification{text: notificationText(m.Body.(*bgp.BGPNotification))}
}

// unexpected answers a message the FSM state does not allow (a NOTIFICATION
// included, which ends the session with the router's reason).
func unexpected(c *wire, typ uint8, body []byte, subcode uint8) error {
	if typ == bgp.BGP_MSG_NOTIFICATION {
		return notification(body)
	}
	c.notify(bgp.BGP_ERROR_FSM_ERROR, subcode, nil)
	return fmt.Errorf("unexpected message type %d (sent NOTIFICATION %s)", typ,
		bgp.NewNotificationErrorCode(bgp.BGP_ERROR_FSM_ERROR, subcode))
}

// messageError answers a malformed message with the NOTIFICATION its error
// names (RFC 4271 6.1-6.3).
func messageError(c *wire, err error) error {
	var me *bgp.MessageError
	if !errors.As(err, &me) {
		return err
	}
	c.notify(me.TypeCode, me.SubTypeCode, me.Data)
	return fmt.Errorf("malformed message from the router: %s (sent NOTIFICATION %s)", me.Message,
		bgp.NewNotificationErrorCode(me.TypeCode, me.SubTypeCode))
}

// setState records a state other than Established (see established and
// ended); a change is pushed as a session change.
func (w *classWatcher) setState(s *session, state string) {
	w.mu.Lock()
	if w.stopped || s.removed || s.state == state {
		w.mu.Unlock()
		return
	}
	s.state, s.since = state, time.Now()
	w.mu.Unlock()
	w.queue.push(w.class, nil, true, time.Now())
}

// setNote updates a session's diagnosis; a change is pushed.
func (w *classWatcher) setNote(s *session, f func(*peerNote)) {
	w.mu.Lock()
	if w.stopped || s.removed {
		w.mu.Unlock()
		return
	}
	old := s.note
	f(&s.note)
	changed := s.note != old
	w.mu.Unlock()
	if changed {
		w.queue.push(w.class, nil, true, time.Now())
	}
}

// established marks the session up: its table starts arriving. Paths kept
// from before the router restarted stay until it resends them or its
// End-of-RIB (graceful.go).
func (w *classWatcher) established(s *session, gr gracefulRestart) {
	now := time.Now()
	w.mu.Lock()
	if w.stopped || s.removed {
		w.mu.Unlock()
		return
	}
	dropped := w.restarted(s, gr)
	s.state, s.since, s.syncFrom = StateEstablished, now, now
	s.lastUpdate, s.eor, s.relearn = time.Time{}, nil, nil
	select {
	case <-s.refresh: // asked for by a pool change before the session went down: moot now
	default:
	}
	s.note.attempt, s.note.connectFailed = "", false
	w.mu.Unlock()
	w.log.Info("session state changed", "session", s.cfg.Name, "address", s.cfg.Address, "state", StateEstablished)
	setEstablished(w.class, s.cfg.Name, true)
	w.settle(s, dropped, now)
}

// ended records why a connection ended and drops the session's paths (a
// router's routes are only valid while its session is up), unless the router
// announced graceful restart and only the connection was lost: then they are
// kept, stale, for its restart time (graceful.go). It reports whether the
// session must stay down (max-prefix).
func (w *classWatcher) ended(s *session, err error) bool {
	now := time.Now()
	var pl *prefixLimitError
	w.mu.Lock()
	if w.stopped || s.removed {
		w.mu.Unlock()
		return false
	}
	wasUp := s.state == StateEstablished
	// Only a whole table is worth keeping: the session had it (synced), or it
	// was still resending one kept over an earlier restart.
	whole, _ := s.synced(w.pools.afis(), now)
	whole = whole || len(s.stale) > 0
	switch {
	case errors.As(err, &pl):
		s.prefixLimited = true
		s.note.maxPrefix = pl.family
	case wasUp:
		s.note.down = err.Error()
	default:
		// The session never came up on this attempt: why is the newest cause, and
		// why it last went down (when it was up before) stays as it was.
		s.note.attempt, s.note.connectFailed = openFailure(err, s.state), false
	}
	state := StateActive
	if s.prefixLimited {
		state = StateIdle
	}
	s.state, s.since = state, now
	s.lastUpdate, s.eor, s.relearn = time.Time{}, nil, nil
	parked := s.prefixLimited
	var prefixes []netip.Prefix
	var cl *connectionLost
	switch {
	case !wasUp:
		// Nothing was received on this attempt; paths kept from a graceful restart
		// stay until their time runs out.
	case errors.As(err, &cl) && whole && !parked && len(s.peerGR.afis) > 0 && s.peerGR.time > 0:
		prefixes = w.retain(s, now)
	default:
		// A router's routes are only valid while its session is up.
		prefixes = w.ix.dropSession(s.cfg.Name)
		s.forgetRetained()
	}
	w.mu.Unlock()

	if wasUp {
		w.log.Info("session state changed", "session", s.cfg.Name, "address", s.cfg.Address, "state", state, "reason", err.Error())
	} else {
		w.log.V(1).Info("session failed to open", "session", s.cfg.Name, "address", s.cfg.Address, "reason", err.Error())
	}
	setEstablished(w.class, s.cfg.Name, false)
	w.settle(s, prefixes, now)
	return parked
}
