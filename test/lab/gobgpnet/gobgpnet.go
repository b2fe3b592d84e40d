// Package gobgpnet is the lab's fallback fabric: the reference topology of docs/lab.md
// (client AS 64500, core AS 64666, TOR west 64001, TOR east 64002, one speaker per
// cluster: west 65001, east 65002) as GoBGP servers inside the calling process, on
// loopback addresses, for
// machines where the FRR fabric in network namespaces cannot run (not root, FRR not
// installed). It needs no privileges: on a port above 1023 when not root.
//
//	speaker west (65001) -- TOR west (64001) --\
//	                                            core (64666) -- watcher (ADD-PATH)
//	speaker east (65002) -- TOR east (64002) --/     |
//	                                                 client (64500)
//
// The client peers with the core only and receives the core's best path, as a network
// beyond the core would.
//
// Every router is a real BGP implementation on real TCP sessions, so the operator's
// watcher, the TOR peers MetalLB's BGPPeers name and the speakers' announcements behave as
// on the FRR fabric, with these differences: there is no FIB (GoBGP installs nothing in a
// kernel), so "ECMP" is read from the core's BGP table (paths tied with the best one on AS
// path length), and next hops are loopback addresses.
//
// All routers of one network share a random /24 of 127.0.0.0/8 (127.X.Y.0/24), so
// networks of several processes do not collide.
package gobgpnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
)

// Reference topology ASNs.
const (
	CoreASN           = 64666
	TORWestASN        = 64001
	TOREastASN        = 64002
	WestASN           = 65001
	EastASN           = 65002
	ClientASN         = 64500
	DefaultWatcherASN = 64999
)

// Host numbers inside the network's /24.
const (
	hostCore    = 1
	hostTORWest = 2
	hostTOREast = 3
	hostClient  = 4
	hostWest    = 11
	hostEast    = 12
	hostWatcher = 99
)

// Options shape a network.
type Options struct {
	// Base is the network's /24 inside 127.0.0.0/8 (default: a random one).
	Base netip.Prefix
	// WatcherASN is the AS the core expects from the watcher (default 64999).
	WatcherASN uint32
	// Log receives GoBGP's warnings and errors (default: discarded).
	Log io.Writer
}

// Network is the running topology.
type Network struct {
	Core, TORWest, TOREast *Router
	// Client peers with the core only; its paths' next hop is Core.Addr.
	Client     *Router
	West, East *Speaker
	// WatcherAddr is the address the watcher must dial from (its session's
	// localAddress); the core accepts it on Core.Addr, port Core.Port, with
	// ADD-PATH send.
	WatcherAddr netip.Addr
	WatcherASN  uint32

	log gobgplog.Logger
}

// Router is one GoBGP server standing in for an FRR router.
type Router struct {
	Name string
	ASN  uint32
	Addr netip.Addr
	Port uint16
	srv  *server.BgpServer
}

// Speaker is one cluster's speaker: a GoBGP server that originates routes towards its
// TOR. It implements speaker.Announcer; Stop and Start play a speaker that dies and
// comes back (its TOR withdraws what it announced, then learns it again).
type Speaker struct {
	Name string
	ASN  uint32
	Addr netip.Addr
	// TOR is the router the speaker peers with.
	TOR *Router
	// torSide is the TOR's neighbor configuration for this speaker.
	torSide *api.Peer

	log       gobgplog.Logger
	mu        sync.Mutex
	srv       *server.BgpServer
	announced map[netip.Prefix]speaker.Route
}

// New starts the network and waits until every session is Established.
func New(ctx context.Context, opts Options) (*Network, error) {
	base := opts.Base
	if !base.IsValid() {
		var b [2]byte
		_, _ = rand.Read(b[:])
		base = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 100 + b[0]%100, b[1], 0}), 24)
	}
	if !base.Addr().Is4() || base.Addr().As4()[0] != 127 {
		return nil, fmt.Errorf("base %s is not inside 127.0.0.0/8", base)
	}
	host := func(n byte) netip.Addr {
		a := base.Masked().Addr().As4()
		a[3] = n
		return netip.AddrFrom4(a)
	}
	if opts.WatcherASN == 0 {
		opts.WatcherASN = DefaultWatcherASN
	}
	w := opts.Log
	if w == nil {
		w = io.Discard
	}
	n := &Network{WatcherAddr: host(hostWatcher), WatcherASN: opts.WatcherASN, log: &logger{w: w}}
	var err error
	mk := func(name string, asn uint32, h byte) *Router {
		if err != nil {
			return nil
		}
		var r *Router
		r, err = n.startRouter(ctx, name, asn, host(h))
		return r
	}
	n.Core = mk("core", CoreASN, hostCore)
	n.TORWest = mk("tor-west", TORWestASN, hostTORWest)
	n.TOREast = mk("tor-east", TOREastASN, hostTOREast)
	n.Client = mk("client", ClientASN, hostClient)
	if err != nil {
		n.Close()
		return nil, err
	}
	n.West = &Speaker{Name: "west", ASN: WestASN, Addr: host(hostWest), TOR: n.TORWest, log: n.log, announced: map[netip.Prefix]speaker.Route{}}
	n.East = &Speaker{Name: "east", ASN: EastASN, Addr: host(hostEast), TOR: n.TOREast, log: n.log, announced: map[netip.Prefix]speaker.Route{}}
	n.West.torSide = peer(n.West.Addr, WestASN, 0, n.TORWest.Addr, true, false)
	n.East.torSide = peer(n.East.Addr, EastASN, 0, n.TOREast.Addr, true, false)

	// The core accepts the TORs, the client and the watcher; the TORs and the client dial
	// the core, the TORs accept their speaker; the speakers dial their TOR.
	peers := []struct {
		r      *Router
		p      *api.Peer
		remote *Router
	}{
		{n.Core, peer(n.TORWest.Addr, TORWestASN, 0, n.Core.Addr, true, false), nil},
		{n.Core, peer(n.TOREast.Addr, TOREastASN, 0, n.Core.Addr, true, false), nil},
		{n.Core, peer(n.Client.Addr, ClientASN, 0, n.Core.Addr, true, false), nil},
		{n.Core, peer(n.WatcherAddr, opts.WatcherASN, 0, n.Core.Addr, true, true), nil},
		{n.TORWest, peer(n.Core.Addr, CoreASN, n.Core.Port, n.TORWest.Addr, false, false), n.Core},
		{n.TOREast, peer(n.Core.Addr, CoreASN, n.Core.Port, n.TOREast.Addr, false, false), n.Core},
		{n.Client, peer(n.Core.Addr, CoreASN, n.Core.Port, n.Client.Addr, false, false), n.Core},
		{n.TORWest, n.West.torSide, nil},
		{n.TOREast, n.East.torSide, nil},
	}
	for _, p := range peers {
		if err := p.r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: p.p}); err != nil {
			n.Close()
			return nil, fmt.Errorf("%s: adding neighbor %s: %w", p.r.Name, p.p.Conf.NeighborAddress, err)
		}
	}
	for _, s := range []*Speaker{n.West, n.East} {
		if err := s.Start(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	waits := []struct {
		r     *Router
		peers []netip.Addr
	}{
		{n.Core, []netip.Addr{n.TORWest.Addr, n.TOREast.Addr, n.Client.Addr}},
		{n.Client, []netip.Addr{n.Core.Addr}},
		{n.TORWest, []netip.Addr{n.Core.Addr, n.West.Addr}},
		{n.TOREast, []netip.Addr{n.Core.Addr, n.East.Addr}},
	}
	for _, wt := range waits {
		if err := wt.r.WaitEstablished(ctx, time.Minute, wt.peers...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Routers lists the network's routers.
func (n *Network) Routers() []*Router { return []*Router{n.Core, n.TORWest, n.TOREast, n.Client} }

// Close stops every router and speaker.
func (n *Network) Close() {
	for _, s := range []*Speaker{n.West, n.East} {
		if s != nil {
			s.Stop()
		}
	}
	for _, r := range n.Routers() {
		if r != nil && r.srv != nil {
			_ = r.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		}
	}
}

func (n *Network) startRouter(ctx context.Context, name string, asn uint32, addr netip.Addr) (*Router, error) {
	srv := server.NewBgpServer(server.LoggerOption(n.log))
	go srv.Serve()
	// freePort's probe and GoBGP's bind are two steps: another process may take the
	// port in between (make test runs packages in parallel). Then try another port.
	for attempt := 0; ; attempt++ {
		port, err := freePort(addr, attempt > 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		err = srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
			Asn: asn, RouterId: addr.String(), ListenPort: int32(port), ListenAddresses: []string{addr.String()},
		}})
		if err == nil {
			return &Router{Name: name, ASN: asn, Addr: addr, Port: port, srv: srv}, nil
		}
		if attempt >= 4 || !strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("%s: starting GoBGP on %s: %w", name, netip.AddrPortFrom(addr, port), err)
		}
		n.log.Warn("port taken between probe and bind, trying another", gobgplog.Fields{"router": name, "port": port})
	}
}

// freePort is 179 when this process may bind it on addr (and avoid179 is false: a bind
// after the probe failed), else a free port at most 16384:
// MetalLB's BGPPeer accepts no higher peerPort, and the TORs' ports end up in BGPPeers.
func freePort(addr netip.Addr, avoid179 bool) (uint16, error) {
	if !avoid179 {
		if ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 179).String()); err == nil {
			_ = ln.Close()
			return 179, nil
		}
	}
	var b [2]byte
	for attempt := 0; attempt < 500; attempt++ {
		_, _ = rand.Read(b[:])
		port := 1024 + (uint16(b[0])<<8|uint16(b[1]))%(maxPeerPort-1024)
		if ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, port).String()); err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port at most %d on %s", maxPeerPort, addr)
}

// maxPeerPort is the highest peerPort MetalLB's BGPPeer CRD accepts.
const maxPeerPort = 16384

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// peer is a neighbor with the fabric's timers (hold 9 s, keepalive 3 s, connect retry
// 1 s, as FRR's datacenter defaults), IPv4 unicast, and ADD-PATH send when addPath.
func peer(addr netip.Addr, asn uint32, port uint16, local netip.Addr, passive, addPath bool) *api.Peer {
	af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}
	if addPath {
		af.AddPaths = &api.AddPaths{Config: &api.AddPathsConfig{SendMax: 8}}
	}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: addr.String(), PeerAsn: asn},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: 9, KeepaliveInterval: 3, ConnectRetry: 1, IdleHoldTimeAfterReset: 1,
		}},
		Transport: &api.Transport{LocalAddress: local.String(), PassiveMode: passive},
		AfiSafis:  []*api.AfiSafi{af},
	}
	if port != 0 {
		p.Transport.RemotePort = uint32(port)
	}
	return p
}

// WaitEstablished waits until every listed neighbor is Established.
func (r *Router) WaitEstablished(ctx context.Context, deadline time.Duration, peers ...netip.Addr) error {
	end := time.Now().Add(deadline)
	for {
		states, err := r.Neighbors(ctx)
		if err != nil {
			return err
		}
		var bad []string
		for _, p := range peers {
			if st := states[p]; st != "Established" {
				bad = append(bad, fmt.Sprintf("%s is %s", p, st))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: sessions not established after %s: %s", r.Name, deadline, strings.Join(bad, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Neighbors maps each neighbor to its session state (Idle, Active, ..., Established).
func (r *Router) Neighbors(ctx context.Context) (map[netip.Addr]string, error) {
	out := map[netip.Addr]string{}
	err := r.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		st := "Idle"
		if s := p.GetState(); s != nil {
			st = sessionState(s.SessionState)
		}
		out[a.Unmap()] = st
	})
	return out, err
}

func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_ESTABLISHED:
		return "Established"
	case api.PeerState_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_OPENSENT:
		return "OpenSent"
	case api.PeerState_ACTIVE:
		return "Active"
	case api.PeerState_CONNECT:
		return "Connect"
	default:
		return "Idle"
	}
}

// Path is one path a router holds for a prefix.
type Path struct {
	ASPath      string // e.g. "64001 65001"
	NextHop     netip.Addr
	From        netip.Addr // the neighbor that sent it
	Best        bool
	Communities []string
}

// Paths returns every path the router holds for p (IPv4), best first.
func (r *Router) Paths(ctx context.Context, p netip.Prefix) ([]Path, error) {
	var out []Path
	var decodeErr error
	err := r.srv.ListPath(ctx, &api.ListPathRequest{
		TableType: api.TableType_GLOBAL, Family: ipv4Unicast,
		Prefixes: []*api.TableLookupPrefix{{Prefix: p.String(), Type: api.TableLookupPrefix_EXACT}},
	}, func(d *api.Destination) {
		for _, ap := range d.GetPaths() {
			if ap.GetIsWithdraw() {
				continue
			}
			path := Path{Best: ap.GetBest()}
			path.From, _ = netip.ParseAddr(ap.GetNeighborIp())
			for _, a := range ap.GetPattrs() {
				m, err := a.UnmarshalNew()
				if err != nil {
					decodeErr = err
					continue
				}
				switch attr := m.(type) {
				case *api.NextHopAttribute:
					path.NextHop, _ = netip.ParseAddr(attr.NextHop)
				case *api.AsPathAttribute:
					var asns []string
					for _, s := range attr.Segments {
						for _, n := range s.Numbers {
							asns = append(asns, strconv.FormatUint(uint64(n), 10))
						}
					}
					path.ASPath = strings.Join(asns, " ")
				case *api.CommunitiesAttribute:
					for _, c := range attr.Communities {
						path.Communities = append(path.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
					}
				case *api.LargeCommunitiesAttribute:
					for _, c := range attr.Communities {
						path.Communities = append(path.Communities, fmt.Sprintf("large:%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2))
					}
				}
			}
			out = append(out, path)
		}
	})
	if err == nil {
		err = decodeErr
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Best && !out[j].Best })
	return out, err
}

// Sessions lists the speaker's one session: to its TOR.
func (s *Speaker) Sessions() []speaker.Session {
	return []speaker.Session{{LocalASN: s.ASN, PeerAddress: s.TOR.Addr, PeerASN: s.TOR.ASN, PeerPort: s.TOR.Port}}
}

// Running says whether the speaker's BGP server runs (between Start and Stop).
func (s *Speaker) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Start runs the speaker's BGP server and announces what it was asked to. Starting a
// running speaker does nothing.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	srv := server.NewBgpServer(server.LoggerOption(s.log))
	go srv.Serve()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: s.ASN, RouterId: s.Addr.String(), ListenPort: -1,
	}}); err != nil {
		return fmt.Errorf("speaker %s: %w", s.Name, err)
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(s.TOR.Addr, s.TOR.ASN, s.TOR.Port, s.Addr, false, false)}); err != nil {
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		return fmt.Errorf("speaker %s: %w", s.Name, err)
	}
	s.srv = srv
	for _, r := range s.announced {
		if err := s.add(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the speaker's BGP server: its session closes and the TOR withdraws what it
// announced, as when a cluster's speaker dies. The routes are remembered for Start.
//
// GoBGP then holds the TOR's neighbor Idle for 5 s (its fixed holdtimeIdle; its
// IdleHoldTimeAfterReset applies to administrative resets only), refusing the speaker's
// return meanwhile, where FRR accepts it at once. So the TOR's neighbor is configured
// afresh, as FRR would behave.
func (s *Speaker) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	_ = s.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
	s.srv = nil
	ctx := context.Background()
	if s.TOR != nil && s.TOR.srv != nil && s.torSide != nil {
		_ = s.TOR.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: s.Addr.String()})
		_ = s.TOR.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.torSide})
	}
}

// Advertise makes the speaker originate exactly routes (speaker.Announcer).
func (s *Speaker) Advertise(ctx context.Context, routes []speaker.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[netip.Prefix]speaker.Route{}
	for _, r := range routes {
		want[r.Prefix] = r
	}
	for p, r := range s.announced {
		if _, ok := want[p]; ok {
			continue
		}
		if s.srv != nil {
			if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: s.path(r)}); err != nil {
				return fmt.Errorf("speaker %s: withdraw %s: %w", s.Name, p, err)
			}
		}
		delete(s.announced, p)
	}
	for p, r := range want {
		if h, ok := s.announced[p]; ok && h.LocalPref == r.LocalPref && h.Prepend == r.Prepend && slices.Equal(h.Communities, r.Communities) {
			continue
		}
		if !p.Addr().Is4() {
			return fmt.Errorf("speaker %s: %s: the GoBGP fabric carries IPv4 only", s.Name, p)
		}
		if s.srv != nil {
			if err := s.add(ctx, r); err != nil {
				return err
			}
		}
		s.announced[p] = r
	}
	return nil
}

// Announced returns what the speaker originates (or will, once started).
func (s *Speaker) Announced() []speaker.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]speaker.Route, 0, len(s.announced))
	for _, r := range s.announced {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix.Addr().Less(out[j].Prefix.Addr()) })
	return out
}

func (s *Speaker) add(ctx context.Context, r speaker.Route) error {
	if _, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: s.path(r)}); err != nil {
		return fmt.Errorf("speaker %s: announce %s: %w", s.Name, r.Prefix, err)
	}
	return nil
}

// path builds the GoBGP path for r: origin IGP, next hop self, the speaker's ASN
// prepended r.Prepend times (GoBGP adds the one every eBGP speaker adds), communities and
// local preference.
func (s *Speaker) path(r speaker.Route) *api.Path {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop("0.0.0.0"),
	}
	if r.Prepend > 0 {
		nums := make([]uint32, r.Prepend)
		for i := range nums {
			nums[i] = s.ASN
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, nums)}))
	}
	var std []uint32
	var large []*bgp.LargeCommunity
	for _, c := range r.Communities {
		if l, ok := strings.CutPrefix(c, "large:"); ok {
			var g, d1, d2 uint32
			if _, err := fmt.Sscanf(l, "%d:%d:%d", &g, &d1, &d2); err == nil {
				large = append(large, bgp.NewLargeCommunity(g, d1, d2))
			}
			continue
		}
		var hi, lo uint32
		if _, err := fmt.Sscanf(c, "%d:%d", &hi, &lo); err == nil {
			std = append(std, hi<<16|lo)
		}
	}
	if len(std) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(std))
	}
	if len(large) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(large))
	}
	if r.LocalPref > 0 {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(r.LocalPref))
	}
	p, err := apiutil.NewPath(bgp.NewIPAddrPrefix(uint8(r.Prefix.Bits()), r.Prefix.Addr().String()), false, attrs, time.Now())
	if err != nil {
		// Only malformed attributes fail, and every one above is well-formed.
		panic(fmt.Sprintf("building the path of %s: %v", r, err))
	}
	return p
}

// logger writes GoBGP's warnings and errors to w, one line each.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) line(level, msg string, f gobgplog.Fields) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", time.Now().Format("15:04:05.000"), level, msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, f[k])
	}
	fmt.Fprintln(l.w, b.String())
}

func (l *logger) Panic(msg string, f gobgplog.Fields) { l.line("PANIC", msg, f); panic(msg) }
func (l *logger) Fatal(msg string, f gobgplog.Fields) { l.line("FATAL", msg, f); os.Exit(1) }
func (l *logger) Error(msg string, f gobgplog.Fields) { l.line("ERROR", msg, f) }
func (l *logger) Warn(msg string, f gobgplog.Fields)  { l.line("WARN", msg, f) }
func (l *logger) Info(msg string, f gobgplog.Fields)  { l.line("INFO", msg, f) }
func (l *logger) Debug(string, gobgplog.Fields)       {}
func (l *logger) SetLevel(gobgplog.LogLevel)          {}
func (l *logger) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }
