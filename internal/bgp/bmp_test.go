package bgp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/bgp/bmptest"
)

// The BMP collector against scripted routers on loopback: each dials from its
// own 127.0.0.x address (the collector admits routers by source address) and
// writes BMP messages encoded with GoBGP's packet library. The FRR fabric
// tests (test/bmp) do the same with real routers.

var (
	speakerWest = bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.1"), AS: 65001}
	speakerEast = bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.5"), AS: 65002}
	westRoute   = bmptest.Route{NextHop: speakerWest.Addr, ASPath: []uint32{65001}, Communities: []uint32{65535<<16 | 100}}
	routerA     = netip.MustParseAddr("127.0.0.11")
	routerB     = netip.MustParseAddr("127.0.0.12")
	stranger    = netip.MustParseAddr("127.0.0.13")
)

// bmpConfig is a collector on a free loopback port for routers a (127.0.0.11)
// and b (127.0.0.12), with tune applied to each router.
func bmpConfig(tune func(*bgp.BMPRouterConfig)) bgp.Config {
	routers := []bgp.BMPRouterConfig{{Name: "a", Address: routerA}, {Name: "b", Address: routerB}}
	for i := range routers {
		if tune != nil {
			tune(&routers[i])
		}
	}
	return bgp.Config{Pools: []netip.Prefix{pool, pool6},
		BMP: &bgp.BMPConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Routers: routers}}
}

// collector starts a Manager with cfg and returns it and the address it listens on.
func collector(t *testing.T, cfg bgp.Config) (*bgp.Manager, *logBuffer, netip.AddrPort) {
	t.Helper()
	m, logs := newManager(t)
	apply(t, m, cfg)
	st := m.BMP(class)
	if !st.Listening {
		t.Fatalf("collector not listening: %s", st.Message)
	}
	return m, logs, st.Address
}

// scriptedRouter is one BMP connection of a test. It never expects to read
// anything: read checks that the collector sent nothing.
type scriptedRouter struct {
	t    *testing.T
	conn net.Conn
}

func dialRouter(t *testing.T, at netip.AddrPort, from netip.Addr) *scriptedRouter {
	t.Helper()
	c, err := bmptest.Dial(context.Background(), at, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &scriptedRouter{t: t, conn: c}
}

func (r *scriptedRouter) send(msgs ...[]byte) {
	r.t.Helper()
	for _, m := range msgs {
		if _, err := r.conn.Write(m); err != nil {
			r.t.Fatalf("writing to the collector: %v", err)
		}
	}
}

// closedWithNothing waits until the collector closes the connection and
// checks that it sent nothing before.
func (r *scriptedRouter) closedWithNothing() {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(converge))
	b, err := io.ReadAll(r.conn)
	if len(b) > 0 {
		r.t.Fatalf("the collector sent %d bytes to a router: %x", len(b), b)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		r.t.Fatalf("waiting for the collector to close: %v", err)
	}
}

// quiet checks that the collector has sent nothing for a moment, without closing.
func (r *scriptedRouter) quiet() {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	n, err := r.conn.Read(b[:])
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		r.t.Fatalf("the collector sent %d bytes or closed the connection: %v", n, err)
	}
}

func routerState(m *bgp.Manager, name string) (bgp.BMPRouterState, bool) {
	for _, r := range m.BMP(class).Routers {
		if r.Name == name {
			return r, true
		}
	}
	return bgp.BMPRouterState{}, false
}

// waitRouter waits until the named router's state satisfies cond.
func waitRouter(t *testing.T, m *bgp.Manager, name string, cond func(bgp.BMPRouterState) error) bgp.BMPRouterState {
	t.Helper()
	var got bgp.BMPRouterState
	deadline := time.Now().Add(converge)
	for {
		var ok bool
		got, ok = routerState(m, name)
		err := fmt.Errorf("no router %q", name)
		if ok {
			err = cond(got)
		}
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("router %s: %v (state %+v)", name, err, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func connected(r bgp.BMPRouterState) error {
	if !r.Connected {
		return fmt.Errorf("not connected: %s", r.Message)
	}
	return nil
}

// bmpPaths describes paths with their BMP source.
func bmpPaths(ps []bgp.Path) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s/%s/%s as=%v", p.Session, p.Peer, p.RIB, p.ASPath))
	}
	return out
}

// TestBMPRouterView walks one router's session: Initiation, a neighbour up
// with its pre- and post-policy tables, End-of-RIB (synced), statistics, the
// neighbour down (its paths go, the router stays), a Termination (the view
// goes, the message says why); and the collector never writes a byte.
func TestBMPRouterView(t *testing.T) {
	m, _, at := collector(t, bmpConfig(nil))
	r := dialRouter(t, at, routerA)
	post := speakerWest
	post.Post = true
	r.send(bmptest.Initiation("tor-a", "FRRouting 8.4.4"),
		bmptest.PeerUp(speakerWest, 64001, false),
		bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip, outer)),
		bmptest.Monitor(post, bmptest.Announce(westRoute, vip)))
	st := waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Connected || s.Received != 2 || s.Accepted != 1 || len(s.Peers) != 1 {
			return fmt.Errorf("connected %v, received %d, accepted %d, %d peers", s.Connected, s.Received, s.Accepted, len(s.Peers))
		}
		return nil
	})
	if st.SysName != "tor-a" || st.SysDescr != "FRRouting 8.4.4" {
		t.Errorf("Initiation not recorded: %q %q", st.SysName, st.SysDescr)
	}
	if st.Synced || st.SyncIn <= 0 {
		t.Errorf("synced before End-of-RIB and within SyncMin: %v (in %s)", st.Synced, st.SyncIn)
	}
	ps := waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 2 {
			return fmt.Errorf("%d paths", len(ps))
		}
		return nil
	})
	for i, rib := range []bgp.RIB{bgp.RIBPostPolicy, bgp.RIBPrePolicy} {
		p := ps[i]
		if p.Session != "a" || p.Peer != speakerWest.Addr || p.PeerAS != 65001 || p.RIB != rib || p.OriginAS != 65001 ||
			p.NextHop != speakerWest.Addr || !slices.Equal(p.Communities, []string{"65535:100"}) {
			t.Errorf("path %d: %+v", i, p)
		}
	}
	if n := len(m.Paths(class, outer)); n != 0 {
		t.Errorf("%d paths kept outside the pools", n)
	}

	// End-of-RIB for both families of the pools: synced at once.
	r.send(bmptest.EndOfRIB(speakerWest, false), bmptest.EndOfRIB(speakerWest, true), bmptest.Stats(speakerWest, 2))
	st = waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Synced || len(s.Peers) != 1 || !s.Peers[0].Synced || s.Peers[0].ReportedRoutes != 2 {
			return fmt.Errorf("synced %v, peers %+v", s.Synced, s.Peers)
		}
		return nil
	})
	if st.SyncIn != 0 || !slices.Equal(st.Peers[0].Tables, []bgp.RIB{bgp.RIBPostPolicy, bgp.RIBPrePolicy}) || st.Peers[0].Accepted != 1 {
		t.Errorf("peer %+v", st.Peers[0])
	}
	if sessions := m.BMP(class).Sessions(); len(sessions) != 2 || sessions[0].State != bgp.StateEstablished || !sessions[0].Synced {
		t.Errorf("as sessions: %+v", sessions)
	}

	// A second neighbour, then the first goes down: only its paths go.
	r.send(bmptest.PeerUp(speakerEast, 64001, false),
		bmptest.Monitor(speakerEast, bmptest.Announce(bmptest.Route{NextHop: speakerEast.Addr, ASPath: []uint32{64666, 64002, 65002}}, vip)),
		bmptest.PeerDown(speakerWest, bmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION))
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 1 || ps[0].Peer != speakerEast.Addr || ps[0].OriginAS != 65002 {
			return fmt.Errorf("paths %v", bmpPaths(ps))
		}
		return nil
	})
	st = waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if len(s.Peers) != 2 || s.Peers[0].Up || !s.Peers[1].Up ||
			s.Peers[0].Message != "the neighbour closed the session with a NOTIFICATION (code 6(cease) subcode 2(administrative shutdown))" {
			return fmt.Errorf("peers %+v", s.Peers)
		}
		return nil
	})
	if !st.Connected || !st.Synced {
		t.Errorf("a neighbour down must not touch the router's session: %+v", st)
	}
	r.quiet()

	// Termination: the router's whole view goes.
	r.send(bmptest.Termination(bmp.BMP_TERM_REASON_ADMIN, "maintenance"))
	r.closedWithNothing()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, `Termination: "maintenance", administratively closed`) {
			return fmt.Errorf("connected %v, message %q", s.Connected, s.Message)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Errorf("paths after the router left: %v", bmpPaths(ps))
	}
}

// TestBMPRefusesStrangers: a connection from an address no router has is
// closed before anything is read, and listed with its attempts; the allowed
// router streaming meanwhile is untouched.
func TestBMPRefusesStrangers(t *testing.T) {
	m, logs, at := collector(t, bmpConfig(nil))
	a := dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), bmptest.PeerUp(speakerWest, 64001, false), bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip)))
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 1 {
			return fmt.Errorf("%d paths", len(ps))
		}
		return nil
	})
	for range 3 {
		s := dialRouter(t, at, stranger)
		// What it writes is never read: the connection is closed on accept.
		_, _ = s.conn.Write(bmptest.Initiation("stranger", ""))
		s.closedWithNothing()
	}
	st := m.BMP(class)
	if len(st.Refused) != 1 || st.Refused[0].Address != stranger || st.Refused[0].Attempts != 3 || st.Refused[0].Last.Before(st.Refused[0].First) {
		t.Fatalf("refused: %+v", st.Refused)
	}
	if l := logs.String(); !strings.Contains(l, `"msg"="BMP connection refused: no router of the class has this address"`) || !strings.Contains(l, `"address"="127.0.0.13"`) {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	if r, _ := routerState(m, "a"); !r.Connected || len(m.Paths(class, vip)) != 1 {
		t.Errorf("the allowed router was disturbed: %+v", r)
	}
	a.quiet()
}

// TestBMPCutAndFlood: router b's stream cut in the middle of a message, and
// then flooded past its limit, is dropped with b's view, and b is refused
// until its configuration changes; router a, streaming throughout, keeps its
// connection and its paths.
func TestBMPCutAndFlood(t *testing.T) {
	cfg := bmpConfig(func(r *bgp.BMPRouterConfig) { r.MaxPrefixes = 10 })
	m, _, at := collector(t, cfg)
	a := dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), bmptest.PeerUp(speakerWest, 64001, false), bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip)))

	b := dialRouter(t, at, routerB)
	eastRoute := bmptest.Route{NextHop: speakerEast.Addr, ASPath: []uint32{65002}}
	b.send(bmptest.Initiation("b", ""), bmptest.PeerUp(speakerEast, 64002, false), bmptest.Monitor(speakerEast, bmptest.Announce(eastRoute, vip)))
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 2 {
			return fmt.Errorf("paths %v", bmpPaths(ps))
		}
		return nil
	})
	// Half a message, then the connection ends.
	msg := bmptest.Monitor(speakerEast, bmptest.Announce(eastRoute, outer))
	b.send(msg[:len(msg)/2])
	_ = b.conn.Close()
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, fmt.Sprintf("cut in the middle of a message (%d of %d bytes)", len(msg)/2, len(msg))) {
			return fmt.Errorf("connected %v, message %q", s.Connected, s.Message)
		}
		return nil
	})
	unharmed := func() {
		t.Helper()
		ps := m.Paths(class, vip)
		if len(ps) != 1 || ps[0].Session != "a" {
			t.Fatalf("paths %v, want router a's alone", bmpPaths(ps))
		}
		if st, _ := routerState(m, "a"); !st.Connected || st.Message != "" {
			t.Fatalf("router a was disturbed: %+v", st)
		}
	}
	unharmed()

	// Back, then 11 prefixes from one neighbour: over MaxPrefixes 10.
	b = dialRouter(t, at, routerB)
	b.send(bmptest.Initiation("b", ""), bmptest.PeerUp(speakerEast, 64002, false), bmptest.Monitor(speakerEast, bmptest.Announce(eastRoute, vip)))
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if !s.Connected || s.Accepted != 1 {
			return fmt.Errorf("connected %v, accepted %d", s.Connected, s.Accepted)
		}
		return nil
	})
	var flood []netip.Prefix
	for i := range 11 {
		flood = append(flood, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 98, byte(i), 0}), 24))
	}
	b.send(bmptest.Monitor(speakerEast, bmptest.Announce(eastRoute, flood...)))
	b.closedWithNothing()
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, "max-prefix limit 10 exceeded by neighbour 198.51.100.5 (ipv4-unicast, PrePolicy)") ||
			!strings.Contains(s.Message, "refuses it until its configuration changes") {
			return fmt.Errorf("connected %v, message %q", s.Connected, s.Message)
		}
		return nil
	})
	unharmed()
	// Refused while over its limit, and says so.
	b = dialRouter(t, at, routerB)
	b.closedWithNothing()
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if !strings.HasSuffix(s.Message, "; 1 reconnections refused since") {
			return fmt.Errorf("message %q", s.Message)
		}
		return nil
	})
	unharmed()

	// A configuration change for b lets it in again; a's connection survives it.
	for i := range cfg.BMP.Routers {
		if cfg.BMP.Routers[i].Name == "b" {
			cfg.BMP.Routers[i].MaxPrefixes = 100
		}
	}
	apply(t, m, cfg)
	b = dialRouter(t, at, routerB)
	b.send(bmptest.Initiation("b", ""), bmptest.PeerUp(speakerEast, 64002, false), bmptest.Monitor(speakerEast, bmptest.Announce(eastRoute, flood...)))
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if !s.Connected || s.Received != 11 {
			return fmt.Errorf("connected %v, received %d: %s", s.Connected, s.Received, s.Message)
		}
		return nil
	})
	if st, _ := routerState(m, "a"); !st.Connected {
		t.Errorf("router a lost its connection to b's configuration change: %+v", st)
	}
	a.quiet()
}

// TestBMPOversizedMessage: a length beyond the collector's bound is not
// buffered: the stream is dropped at its header.
func TestBMPOversizedMessage(t *testing.T) {
	m, _, at := collector(t, bmpConfig(nil))
	a := dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), []byte{3, 0x10, 0, 0, 0, bmp.BMP_MSG_ROUTE_MONITORING})
	a.closedWithNothing()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, "a BMP message of 268435456 bytes, over the collector's limit of 262144") {
			return fmt.Errorf("message %q", s.Message)
		}
		return nil
	})
}

// TestBMPNotAStream: a connection whose first message is not an Initiation
// (here: a BGP OPEN's marker) is dropped.
func TestBMPNotAStream(t *testing.T) {
	m, _, at := collector(t, bmpConfig(nil))
	a := dialRouter(t, at, routerA)
	a.send(bmptest.PeerUp(speakerWest, 64001, false))
	a.closedWithNothing()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, "first BMP message is of type 3, not an Initiation") {
			return fmt.Errorf("message %q", s.Message)
		}
		return nil
	})
	b := dialRouter(t, at, routerB)
	b.send(make([]byte, 19))
	b.closedWithNothing()
	waitRouter(t, m, "b", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, "BMP version 0") {
			return fmt.Errorf("message %q", s.Message)
		}
		return nil
	})
}

// TestBMPReconnectResends: a router that reconnects replaces its view: the
// old one goes with the old connection, the new one is syncing until its
// End-of-RIB. A second connection while the first is open replaces it too.
func TestBMPReconnectResends(t *testing.T) {
	m, _, at := collector(t, bmpConfig(nil))
	a := dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), bmptest.PeerUp(speakerWest, 64001, false),
		bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip)),
		bmptest.EndOfRIB(speakerWest, false), bmptest.EndOfRIB(speakerWest, true))
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Synced {
			return fmt.Errorf("not synced")
		}
		return nil
	})
	_ = a.conn.Close()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Connected || s.Synced || !strings.Contains(s.Message, "the router closed its BMP session; waiting for the router to reconnect") {
			return fmt.Errorf("connected %v synced %v message %q", s.Connected, s.Synced, s.Message)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Fatalf("paths of a closed connection kept: %v", bmpPaths(ps))
	}

	a = dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), bmptest.PeerUp(speakerWest, 64001, false), bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip)))
	st := waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Connected || s.Accepted != 1 {
			return fmt.Errorf("connected %v accepted %d", s.Connected, s.Accepted)
		}
		return nil
	})
	if st.Synced {
		t.Errorf("a new connection is synced before its End-of-RIB")
	}
	// A new connection while this one is open: the router restarted. Its
	// view is the new connection's alone.
	a2 := dialRouter(t, at, routerA)
	a2.send(bmptest.Initiation("a", "restarted"))
	a.closedWithNothing()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Connected || s.SysDescr != "restarted" || s.Accepted != 0 {
			return fmt.Errorf("connected %v descr %q accepted %d", s.Connected, s.SysDescr, s.Accepted)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Fatalf("the replaced connection's paths kept: %v", bmpPaths(ps))
	}
	// Without End-of-RIB, the time rule syncs it.
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if !s.Synced {
			return fmt.Errorf("not synced after %s", bgp.SyncMin)
		}
		return nil
	})
}

// TestBMPLocRIBAndAddPath: Loc-RIB routes (RFC 9069) are kept as the router's
// own; a neighbour whose Peer Up OPENs negotiated ADD-PATH has its path ids
// decoded, each path apart.
func TestBMPLocRIBAndAddPath(t *testing.T) {
	m, _, at := collector(t, bmpConfig(nil))
	a := dialRouter(t, at, routerA)
	loc := bmptest.Peer{LocRIB: true, AS: 64666}
	core := bmptest.Peer{Addr: netip.MustParseAddr("2001:db8::1"), AS: 64666}
	w := bmptest.Route{NextHop: netip.MustParseAddr("2001:db8::1"), ASPath: []uint32{64666, 64001, 65001}, PathID: 1}
	e := bmptest.Route{NextHop: netip.MustParseAddr("2001:db8::1"), ASPath: []uint32{64666, 64002, 65002}, PathID: 2}
	a.send(bmptest.Initiation("a", ""),
		bmptest.PeerUp(loc, 64666, false),
		bmptest.Monitor(loc, bmptest.Announce(bmptest.Route{NextHop: netip.MustParseAddr("198.18.1.2"), ASPath: []uint32{64001, 65001}}, vip)),
		bmptest.PeerUp(core, 64001, true),
		bmptest.MonitorAddPath(core, bmptest.Announce(w, vip6)),
		bmptest.MonitorAddPath(core, bmptest.Announce(e, vip6)))
	waitPaths(t, m, vip, func(ps []bgp.Path) error {
		if len(ps) != 1 || ps[0].RIB != bgp.RIBLoc || ps[0].Peer.IsValid() || ps[0].OriginAS != 65001 {
			return fmt.Errorf("paths %v", bmpPaths(ps))
		}
		return nil
	})
	waitPaths(t, m, vip6, func(ps []bgp.Path) error {
		if len(ps) != 2 || ps[0].PathID != 1 || ps[1].PathID != 2 || ps[0].OriginAS != 65001 || ps[1].OriginAS != 65002 {
			return fmt.Errorf("paths %v", bmpPaths(ps))
		}
		return nil
	})
	a.send(bmptest.MonitorAddPath(core, bmptest.Withdraw(1, vip6)))
	waitPaths(t, m, vip6, func(ps []bgp.Path) error {
		if len(ps) != 1 || ps[0].PathID != 2 {
			return fmt.Errorf("paths %v", bmpPaths(ps))
		}
		return nil
	})
	st, _ := routerState(m, "a")
	if len(st.Peers) != 2 || !st.Peers[0].LocRIB || st.Peers[1].Address != core.Addr || st.Peers[1].Received != 1 {
		t.Errorf("peers %+v", st.Peers)
	}
}

// TestBMPPoolGrowthReconnects: BMP cannot ask for a table again, so when the
// pools grow the collector closes the routers' connections (and says why):
// the router resends everything when it reconnects.
func TestBMPPoolGrowthReconnects(t *testing.T) {
	cfg := bmpConfig(nil)
	m, _, at := collector(t, cfg)
	a := dialRouter(t, at, routerA)
	a.send(bmptest.Initiation("a", ""), bmptest.PeerUp(speakerWest, 64001, false), bmptest.Monitor(speakerWest, bmptest.Announce(westRoute, vip, outer)))
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Received != 2 {
			return fmt.Errorf("received %d", s.Received)
		}
		return nil
	})
	cfg.Pools = append(cfg.Pools, outer)
	apply(t, m, cfg)
	a.closedWithNothing()
	waitRouter(t, m, "a", func(s bgp.BMPRouterState) error {
		if s.Connected || !strings.Contains(s.Message, "the class's pools grew") {
			return fmt.Errorf("message %q", s.Message)
		}
		return nil
	})
}

// TestBMPConfigValidation: router names may not repeat a session's (both
// name paths), nor addresses another router's; a BMP-only class needs no ASN.
func TestBMPConfigValidation(t *testing.T) {
	m, _ := newManager(t)
	cfg := bmpConfig(nil)
	if err := m.Apply(context.Background(), class, cfg); err != nil {
		t.Fatalf("a BMP-only watcher needs no ASN or router ID: %v", err)
	}
	bad := bmpConfig(nil)
	bad.ASN, bad.RouterID = wASN, rID
	bad.Sessions = []bgp.SessionConfig{{Name: "a", Address: netip.MustParseAddr("192.0.2.1"), ASN: 64666}}
	bad.BMP.Routers = append(bad.BMP.Routers, bgp.BMPRouterConfig{Name: "c", Address: routerA})
	err := m.Apply(context.Background(), class, bad)
	for _, want := range []string{`BMP router name "a" is also a session's`, `BMP router "c": address 127.0.0.11 is used by another router`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
