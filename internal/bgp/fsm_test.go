package bgp_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	wbgp "github.com/anycast-operator/anycast-operator/internal/bgp"
)

// The tests in this file drive the watcher's session against a scripted BGP
// peer on loopback: a test fixture that speaks the wire protocol (GoBGP's
// packet library) message by message, for what real routers will not send on
// demand: a wrong AS, a malformed attribute, silence until the hold timer
// expires, a 2-octet-AS router. What real routers do send is covered on the
// FRR fabric (origins_test.go, guard_test.go, receiveonly_test.go...).

// scriptedPeer accepts one connection at a time on 127.0.0.1.
type scriptedPeer struct {
	t  *testing.T
	ln net.Listener
}

func newScriptedPeer(t *testing.T) *scriptedPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &scriptedPeer{t: t, ln: ln}
}

func (p *scriptedPeer) port() uint16 { return uint16(p.ln.Addr().(*net.TCPAddr).Port) }

// session is a watcher session to the peer.
func (p *scriptedPeer) session(asn uint32) wbgp.SessionConfig {
	return wbgp.SessionConfig{Name: "scripted", Address: netip.MustParseAddr("127.0.0.1"), Port: p.port(), ASN: asn,
		HoldTime: 9 * time.Second, ConnectRetry: time.Second}
}

// peerConn is one accepted connection.
type peerConn struct {
	t  *testing.T
	c  net.Conn
	mu sync.Mutex // writes
}

func (p *scriptedPeer) accept() *peerConn {
	p.t.Helper()
	_ = p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(converge))
	c, err := p.ln.Accept()
	if err != nil {
		p.t.Fatalf("no connection from the watcher: %v", err)
	}
	p.t.Cleanup(func() { _ = c.Close() })
	return &peerConn{t: p.t, c: c}
}

func (c *peerConn) send(m *bgp.BGPMessage) {
	c.t.Helper()
	b, err := m.Serialize()
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *peerConn) sendRaw(b []byte) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("writing to the watcher: %v", err)
	}
}

// keepAlive sends a KEEPALIVE every second until the connection closes, so
// a slow test run never meets the hold timer.
func (c *peerConn) keepAlive() {
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	go func() {
		for range time.Tick(time.Second) {
			c.mu.Lock()
			_, err := c.c.Write(ka)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

// recv reads the next message the watcher sends.
func (c *peerConn) recv() (*bgp.BGPMessage, error) { return c.recvUntil(time.Now().Add(converge)) }

// recvUntil reads the next message, waiting until deadline at most.
func (c *peerConn) recvUntil(deadline time.Time) (*bgp.BGPMessage, error) {
	_ = c.c.SetReadDeadline(deadline)
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(c.c, hdr); err != nil {
		return nil, err
	}
	n := int(hdr[16])<<8 | int(hdr[17])
	body := make([]byte, n-bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(c.c, body); err != nil {
		return nil, err
	}
	return bgp.ParseBGPMessage(append(hdr, body...))
}

// recvType reads until a message of type typ, skipping keepalives and the
// End-of-RIB markers the watcher sends a graceful-restart router; any other
// UPDATE fails the test (the watcher never advertises).
func (c *peerConn) recvType(typ uint8) *bgp.BGPMessage {
	c.t.Helper()
	for {
		m, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for message type %d: %v", typ, err)
		}
		if m.Header.Type == typ {
			return m
		}
		if m.Header.Type == bgp.BGP_MSG_UPDATE {
			if eor, _ := m.Body.(*bgp.BGPUpdate).IsEndOfRib(); eor {
				continue
			}
		}
		if m.Header.Type != bgp.BGP_MSG_KEEPALIVE {
			c.t.Fatalf("got message type %d (%+v), want %d", m.Header.Type, m.Body, typ)
		}
	}
}

// open receives the watcher's OPEN and answers with the peer's.
func (c *peerConn) open(asn uint32, hold uint16, caps ...bgp.ParameterCapabilityInterface) *bgp.BGPOpen {
	c.t.Helper()
	o := c.recvType(bgp.BGP_MSG_OPEN).Body.(*bgp.BGPOpen)
	myAS := uint16(bgp.AS_TRANS)
	if asn <= 0xffff {
		myAS = uint16(asn)
	}
	c.send(bgp.NewBGPOpenMessage(myAS, hold, "10.0.0.1", []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}))
	return o
}

// establish completes the handshake as a 4-octet, dual-stack router.
func (c *peerConn) establish(asn uint32, hold uint16) {
	c.t.Helper()
	c.open(asn, hold, bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(asn))
	c.recvType(bgp.BGP_MSG_KEEPALIVE)
	c.send(bgp.NewBGPKeepAliveMessage())
}

func announce(prefix netip.Prefix, nextHop string, attrs ...bgp.PathAttributeInterface) *bgp.BGPMessage {
	all := append([]bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeNextHop(nextHop)}, attrs...)
	return bgp.NewBGPUpdateMessage(nil, all, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())})
}

func asPath(as ...uint32) bgp.PathAttributeInterface {
	return bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)})
}

// startScripted starts a watcher whose one session (AS 64666, made by session, tuned
// by tune) dials a new scripted peer, and returns the peer's side of the connection.
func startScripted(t *testing.T, watcherASN uint32, tune func(*wbgp.SessionConfig)) (*wbgp.Manager, *peerConn) {
	t.Helper()
	p := newScriptedPeer(t)
	m, _ := newManager(t)
	s := p.session(64666)
	if tune != nil {
		tune(&s)
	}
	apply(t, m, wbgp.Config{ASN: watcherASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []wbgp.SessionConfig{s}})
	return m, p.accept()
}

func stateOf(m *wbgp.Manager, name string) (wbgp.SessionState, bool) {
	for _, s := range m.Sessions(class) {
		if s.Name == name {
			return s, true
		}
	}
	return wbgp.SessionState{}, false
}

// TestWrongPeerAS: a router whose OPEN carries another AS than the session
// expects is refused with OPEN error / Bad Peer AS, and the session's
// message names both ASes.
func TestWrongPeerAS(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.open(64667, 9, bgp.NewCapFourOctetASNumber(64667))
	n := c.recvType(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	if n.ErrorCode != bgp.BGP_ERROR_OPEN_MESSAGE_ERROR || n.ErrorSubcode != bgp.BGP_ERROR_SUB_BAD_PEER_AS {
		t.Errorf("NOTIFICATION %d/%d, want OPEN error / Bad Peer AS", n.ErrorCode, n.ErrorSubcode)
	}
	st := waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if !strings.Contains(s.Message, "the router's OPEN says AS 64667, the session expects AS 64666") {
			return fmt.Errorf("state %s, message %q", s.State, s.Message)
		}
		return nil
	})
	if st.State == wbgp.StateEstablished {
		t.Errorf("established with the wrong AS")
	}
}

// TestRouterRefusesOpen: a NOTIFICATION in answer to the watcher's OPEN
// (here: the router expects another AS from the watcher) is reported as the
// router's reason.
func TestRouterRefusesOpen(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.recvType(bgp.BGP_MSG_OPEN)
	c.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, nil))
	_ = c.c.Close()
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if !strings.Contains(s.Message, "the router sent NOTIFICATION") || !strings.Contains(s.Message, "bad peer as") {
			return fmt.Errorf("state %s, message %q", s.State, s.Message)
		}
		return nil
	})
}

// TestUpdateHandling: paths are counted exactly (a re-announcement replaces,
// a withdrawal removes), a changed path replaces the indexed one, a
// malformed attribute is treated as a withdrawal (RFC 7606) without
// resetting the session, and End-of-RIB makes the session synced.
func TestUpdateHandling(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.establish(64666, 9)
	c.keepAlive()
	waitSession(t, m, "scripted", established)

	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001))) // the same again
	c.send(announce(outer, "10.0.0.1", asPath(64666, 65009)))
	c.send(bgp.NewEndOfRib(bgp.RF_IPv4_UC))
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.Received != 2 || s.Accepted != 1 || !s.Synced {
			return fmt.Errorf("received %d accepted %d synced %v, want 2, 1, true", s.Received, s.Accepted, s.Synced)
		}
		return nil
	})
	waitPaths(t, m, vip, origins(65001))

	// The path changes: the index follows.
	c.send(announce(vip, "10.0.0.2", asPath(64666, 65002)))
	waitPaths(t, m, vip, func(ps []wbgp.Path) error {
		if len(ps) != 1 || ps[0].OriginAS != 65002 || ps[0].NextHop != netip.MustParseAddr("10.0.0.2") {
			return fmt.Errorf("paths %s, want one from 65002 via 10.0.0.2", describePaths(ps))
		}
		return nil
	})

	// An invalid ORIGIN (value 7): treat-as-withdraw.
	bad, err := announce(vip, "10.0.0.2", asPath(64666, 65002)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// Body: withdrawn-routes length (2, zero), attributes length (2), then
	// ORIGIN first: flags, type, length, value.
	at := bgp.BGP_HEADER_LENGTH + 4
	if bad[at+1] != byte(bgp.BGP_ATTR_TYPE_ORIGIN) {
		t.Fatalf("ORIGIN is not the first attribute: % x", bad)
	}
	bad[at+3] = 7
	c.sendRaw(bad)
	waitPaths(t, m, vip, func(ps []wbgp.Path) error {
		if len(ps) != 0 {
			return fmt.Errorf("paths %s after a malformed UPDATE, want none", describePaths(ps))
		}
		return nil
	})
	st, _ := stateOf(m, "scripted")
	if st.State != wbgp.StateEstablished || st.Received != 1 {
		t.Errorf("after treat-as-withdraw: %+v, want Established with 1 path received", st)
	}

	// Withdrawal of the rest.
	c.send(bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(outer.Bits()), outer.Addr().String())}, nil, nil))
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.Received != 0 {
			return fmt.Errorf("received %d after withdrawing everything", s.Received)
		}
		return nil
	})
}

// TestHoldTimerExpires: a router that goes silent is declared down after the
// negotiated hold time (3 s here, the peer's offer), with Hold Timer Expired
// sent and its paths dropped.
func TestHoldTimerExpires(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.establish(64666, 3)
	c.send(announce(vip, "10.0.0.1", asPath(64666, 65001)))
	waitPaths(t, m, vip, origins(65001))
	n := c.recvType(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	if n.ErrorCode != bgp.BGP_ERROR_HOLD_TIMER_EXPIRED {
		t.Errorf("NOTIFICATION %d/%d, want Hold Timer Expired", n.ErrorCode, n.ErrorSubcode)
	}
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State == wbgp.StateEstablished || !strings.Contains(s.Message, "hold timer expired") {
			return fmt.Errorf("state %s, message %q", s.State, s.Message)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Errorf("paths kept after the session went down: %s", describePaths(ps))
	}
}

// TestTwoOctetRouter: a router without 4-octet ASNs sends AS_TRANS in
// AS_PATH and the real ASNs in AS4_PATH; the origin is the real one.
func TestTwoOctetRouter(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.open(64666, 9) // no capabilities at all: IPv4 unicast, 2-octet ASNs
	c.recvType(bgp.BGP_MSG_KEEPALIVE)
	c.send(bgp.NewBGPKeepAliveMessage())
	c.keepAlive()
	as2 := bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAsPathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint16{64666, bgp.AS_TRANS})})
	as4 := bgp.NewPathAttributeAs4Path([]*bgp.As4PathParam{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{4200000001})})
	c.send(announce(vip, "10.0.0.1", as2, as4))
	waitPaths(t, m, vip, func(ps []wbgp.Path) error {
		if len(ps) != 1 || !slices.Equal(ps[0].ASPath, []uint32{64666, 4200000001}) || ps[0].OriginAS != 4200000001 {
			return fmt.Errorf("paths %s, want AS path [64666 4200000001]", describePaths(ps))
		}
		return nil
	})
}

// TestOpenIsReceiveOnly: the watcher's OPEN offers IPv4 and IPv6 unicast,
// 4-octet ASNs and route refresh, ADD-PATH receive (never send) when asked,
// and graceful restart with no address family and restart time 0 (End-of-RIB
// support only: nothing of the watcher's is to be retained).
func TestOpenIsReceiveOnly(t *testing.T) {
	_, c := startScripted(t, 4200000099, func(s *wbgp.SessionConfig) { s.AddPathReceive = true })
	o := c.recvType(bgp.BGP_MSG_OPEN).Body.(*bgp.BGPOpen)
	if o.MyAS != bgp.AS_TRANS || o.HoldTime != 9 || o.ID.String() != rID.String() {
		t.Errorf("OPEN my AS %d hold %d id %s, want AS_TRANS, 9, %s", o.MyAS, o.HoldTime, o.ID, rID)
	}
	var mp []bgp.RouteFamily
	var as4 uint32
	addPath, gr := false, false
	for _, cp := range capabilities(o) {
		switch cp := cp.(type) {
		case *bgp.CapMultiProtocol:
			mp = append(mp, cp.CapValue)
		case *bgp.CapFourOctetASNumber:
			as4 = cp.CapValue
		case *bgp.CapAddPath:
			addPath = true
			for _, tu := range cp.Tuples {
				if tu.Mode != bgp.BGP_ADD_PATH_RECEIVE {
					t.Errorf("ADD-PATH mode %d for %s, want receive only", tu.Mode, tu.RouteFamily)
				}
			}
		case *bgp.CapGracefulRestart:
			gr = true
			if len(cp.Tuples) != 0 || cp.Time != 0 || cp.Flags != 0 {
				t.Errorf("graceful restart %+v, want no families, time 0, no flags", cp)
			}
		}
	}
	if !slices.Equal(mp, []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC}) || as4 != 4200000099 || !addPath || hasAddPathSend(o) || !gr {
		t.Errorf("capabilities: families %v, 4-octet AS %d, ADD-PATH %v (send %v), graceful restart %v", mp, as4, addPath, hasAddPathSend(o), gr)
	}
}

func capabilities(o *bgp.BGPOpen) []bgp.ParameterCapabilityInterface {
	var out []bgp.ParameterCapabilityInterface
	for _, p := range o.OptParams {
		if pc, ok := p.(*bgp.OptionParameterCapability); ok {
			out = append(out, pc.Capability...)
		}
	}
	return out
}

func hasAddPathSend(o *bgp.BGPOpen) bool {
	for _, c := range capabilities(o) {
		if ap, ok := c.(*bgp.CapAddPath); ok {
			for _, t := range ap.Tuples {
				if t.Mode&bgp.BGP_ADD_PATH_SEND != 0 {
					return true
				}
			}
		}
	}
	return false
}
