package bgp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	wbgp "github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// The receiving side of graceful restart (RFC 4724), against the scripted
// peer: what a restarting router does (its connection drops with no
// NOTIFICATION, it comes back, resends its table, ends it with End-of-RIB)
// cannot be ordered from FRR on demand, and FRR's default is helper mode
// (it announces no family for itself).

var vipB = netip.MustParsePrefix("192.168.155.152/32")

// startGraceful starts a watcher session to a new scripted peer and returns
// the peer, so a test can accept the watcher's next connection too.
func startGraceful(t *testing.T) (*wbgp.Manager, *scriptedPeer, *logBuffer) {
	t.Helper()
	p := newScriptedPeer(t)
	m, logs := newManager(t)
	apply(t, m, wbgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []wbgp.SessionConfig{p.session(64666)}})
	return m, p, logs
}

// establishGR completes the handshake as a router announcing graceful
// restart for IPv4 unicast with the given restart time and F bit.
func (c *peerConn) establishGR(restart uint16, forwarding bool) {
	c.t.Helper()
	c.open(64666, 9, bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(64666),
		bgp.NewCapGracefulRestart(false, false, restart, []*bgp.CapGracefulRestartTuple{bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, forwarding)}))
	c.recvType(bgp.BGP_MSG_KEEPALIVE)
	c.send(bgp.NewBGPKeepAliveMessage())
	c.keepAlive()
}

func endOfRIB() *bgp.BGPMessage { return bgp.NewEndOfRib(bgp.RF_IPv4_UC) }

// upWithVIP starts a watcher session to a router announcing graceful restart
// (restart time, F bit set) that sends vip and its End-of-RIB, and waits until
// the session is synced.
func upWithVIP(t *testing.T, restart uint16) (*wbgp.Manager, *scriptedPeer, *peerConn, *logBuffer) {
	t.Helper()
	m, p, logs := startGraceful(t)
	c := p.accept()
	c.establishGR(restart, true)
	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
	c.send(endOfRIB())
	waitSession(t, m, "scripted", synced)
	return m, p, c, logs
}

func synced(s wbgp.SessionState) error {
	if !s.Synced {
		return fmt.Errorf("state %s, not synced yet", s.State)
	}
	return nil
}

// goneSoon waits until prefix has no path, for less than SyncMax and the 60 s
// restart time the tests announce: a kept path dropped by those fallbacks
// instead of by the step under test would fail it.
func goneSoon(t *testing.T, m *wbgp.Manager, prefix netip.Prefix, after string) {
	t.Helper()
	fabric.Eventually(t, wbgp.SyncMax/2, func() error {
		if ps := m.Paths(class, prefix); len(ps) != 0 {
			return fmt.Errorf("%s still held %s: %s", prefix, after, describePaths(ps))
		}
		return nil
	})
}

// retained waits for n kept paths on a session that is down.
func retained(n int) func(wbgp.SessionState) error {
	return func(s wbgp.SessionState) error {
		if s.State == wbgp.StateEstablished || s.Retained != n {
			return fmt.Errorf("state %s, %d retained, want %d while down", s.State, s.Retained, n)
		}
		return nil
	}
}

// TestGracefulRestartKeepsRoutes: a router that announced graceful restart
// and loses its connection keeps its paths in the watcher's view, stale and
// said so, until it is back: a path it sends again stays, one it does not
// goes at its End-of-RIB.
func TestGracefulRestartKeepsRoutes(t *testing.T) {
	m, p, _ := startGraceful(t)
	c := p.accept()
	c.establishGR(60, true)
	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
	c.send(announce(vipB, "10.0.0.1", asPath(64666, 65002)))
	c.send(endOfRIB())
	waitPaths(t, m, vipB, origins(65002))
	waitSession(t, m, "scripted", synced)

	_ = c.c.Close() // bgpd crashed: no NOTIFICATION
	st := waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State == wbgp.StateEstablished || s.Retained != 2 {
			return fmt.Errorf("state %s, %d retained", s.State, s.Retained)
		}
		return nil
	})
	if until := time.Until(st.RetainedUntil); until < 50*time.Second || until > 61*time.Second {
		t.Errorf("retained until %s from now, want the announced 60 s", until)
	}
	if !strings.Contains(st.Message, "restarting gracefully") || !strings.Contains(st.Message, "2 routes") {
		t.Errorf("message %q does not say the router is restarting and what is kept", st.Message)
	}
	for _, prefix := range []netip.Prefix{vip, vipB} {
		if ps := m.Paths(class, prefix); len(ps) != 1 {
			t.Errorf("%s: %d paths while the router restarts, want its kept one", prefix, len(ps))
		}
	}

	// Back: it resends vip only, then its End-of-RIB.
	c = p.accept()
	c.establishGR(60, true)
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State != wbgp.StateEstablished || !s.RetainedUntil.IsZero() || s.Retained != 2 {
			return fmt.Errorf("state %s, %d retained until %s", s.State, s.Retained, s.RetainedUntil)
		}
		return nil
	})
	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.Retained != 1 {
			return fmt.Errorf("%d retained, want 1 (vip was sent again)", s.Retained)
		}
		return nil
	})
	if ps := m.Paths(class, vipB); len(ps) != 1 {
		t.Errorf("vipB gone before the End-of-RIB: %s", describePaths(ps))
	}
	c.send(endOfRIB())
	goneSoon(t, m, vipB, "after the End-of-RIB")
	waitPaths(t, m, vip, origins(65001))
	if st, _ := stateOf(m, "scripted"); st.Retained != 0 || !st.Synced {
		t.Errorf("after End-of-RIB: %d retained, synced %v", st.Retained, st.Synced)
	}
}

// TestGracefulRestartTimesOut: a router not back within its restart time
// loses its kept paths.
func TestGracefulRestartTimesOut(t *testing.T) {
	m, p, c, _ := upWithVIP(t, 2)
	_ = p.ln.Close() // it does not come back
	_ = c.c.Close()
	waitSession(t, m, "scripted", retained(1))
	waitPaths(t, m, vip, origins())
	if st, _ := stateOf(m, "scripted"); st.Retained != 0 || strings.Contains(st.Message, "restarting gracefully") {
		t.Errorf("after the restart time: %d retained, message %q", st.Retained, st.Message)
	}
}

// TestGracefulRestartNotForNotifications: a session the router ends with a
// NOTIFICATION (an administrative reset), a router back without its
// forwarding state (F bit clear), and a helper-only router (no family) all
// lose their paths at once.
func TestGracefulRestartNotForNotifications(t *testing.T) {
	t.Run("notification", func(t *testing.T) {
		m, _, c, _ := upWithVIP(t, 60)
		c.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET, nil))
		_ = c.c.Close()
		goneSoon(t, m, vip, "after a NOTIFICATION")
		if st, _ := stateOf(m, "scripted"); st.Retained != 0 {
			t.Errorf("%d retained after a NOTIFICATION", st.Retained)
		}
	})
	t.Run("forwarding not kept", func(t *testing.T) {
		m, p, c, logs := upWithVIP(t, 60)
		_ = c.c.Close()
		waitSession(t, m, "scripted", retained(1))
		c = p.accept()
		c.establishGR(60, false)
		goneSoon(t, m, vip, "after the router came back without its forwarding state")
		// Said in the log, like every other way kept routes go (the line follows the
		// paths' removal, which goneSoon may see first).
		fabric.Eventually(t, time.Second, func() error {
			if out := logs.String(); !strings.Contains(out, `"msg"="dropping a restarting router's kept routes"`) ||
				!strings.Contains(out, `"paths"=1 "reason"="the router came back without its forwarding state`) {
				return fmt.Errorf("dropping the kept routes for the clear F bit is not logged")
			}
			return nil
		})
	})
	t.Run("helper only", func(t *testing.T) {
		m, p, _ := startGraceful(t)
		c := p.accept()
		c.open(64666, 9, bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(64666),
			bgp.NewCapGracefulRestart(false, false, 120, nil))
		c.recvType(bgp.BGP_MSG_KEEPALIVE)
		c.send(bgp.NewBGPKeepAliveMessage())
		c.keepAlive()
		c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
		c.send(endOfRIB())
		waitPaths(t, m, vip, origins(65001))
		_ = c.c.Close()
		goneSoon(t, m, vip, "after a helper-only router's connection dropped")
	})
}
