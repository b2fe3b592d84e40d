package fabric

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Reference topology ASNs (docs/lab.md, "What runs").
const (
	CoreASN    = 64666
	TORWestASN = 64001
	TOREastASN = 64002
	WestASN    = 65001
	EastASN    = 65002
	// ClientASN is the client router's AS (Options.Client).
	ClientASN = 64500
	// DefaultWatcherASN is what the routers expect from the watcher unless
	// Options.WatcherASN says otherwise.
	DefaultWatcherASN = 64999
	// DefaultRogueASN is the rogue peer's AS unless RogueOptions.ASN is set.
	DefaultRogueASN = 65099
)

// Options shape a fabric. The zero value builds the reference topology.
type Options struct {
	// WatcherASN is the AS the routers expect on their watcher sessions.
	WatcherASN uint32
	// WatcherPassword, if set, is the TCP MD5 password of every router's
	// watcher neighbor (core and both TORs).
	WatcherPassword string
	// Rogue adds a gobgpd that peers directly with the watcher (on its own
	// link from the root namespace) and announces Prefixes: a peer that
	// sends too much, for the max-prefix guard.
	Rogue *RogueOptions
	// Client adds the client router (AS ClientASN, role "client"): an FRR
	// instance in its own namespace like the core and the TORs, peering
	// eBGP with the core only, so it receives what the core's best path
	// for a prefix is, as a network beyond the core would.
	Client bool
	// Nodes makes the two speaker namespaces cluster nodes where the caller
	// runs the real MetalLB speakers (test/realstack): no gobgpd is started
	// there and New does not wait for the TORs' sessions to them. West and
	// East still name the namespaces, their addresses and their TORs.
	Nodes bool
	// DataPlane makes the fabric carry packets, not only routes (forwarding,
	// layer-4 ECMP hashing at the core, static routes between the client's
	// link and the nodes' links: dataplane.go), so a client in the client
	// namespace reaches a VIP served on a node and the nodes reach each other
	// across the core.
	DataPlane bool
	// Mgmt (with DataPlane and Client) gives the nodes what real nodes with a management
	// VLAN have: a second interface, to a namespace of the fabric's own (role mgmt, which
	// forwards nothing), which can hold their IPv4 default route (MgmtDefault; it starts on
	// the TOR). The client router gets a network of its own (ClientNet, ClientHost on its
	// loopback) and announces it: with its default route on the management network, a
	// node answers a client there only through a route it learnt from its TOR (or a
	// static one); otherwise its answers leave through the management interface and are
	// lost, the asymmetric return path.
	Mgmt bool
	// BMPPort, when set, has the core and both TORs run bgpd with FRR's BMP module and
	// stream BMP (RFC 7854, pre- and post-policy Adj-RIB-In) to the watcher's end of their
	// link at this port, as routers stream to a monitoring collector: a watcher can read
	// them without any BGP session (their watcher neighbours stay configured, passive).
	BMPPort uint16
}

// RogueOptions configure the rogue peer.
type RogueOptions struct {
	ASN      uint32
	Prefixes []netip.Prefix
}

// Link is a point-to-point link between the watcher (the test process, in
// the root namespace) and one router. Peer the watcher from WatcherAddr (or
// WatcherAddr6) to RouterAddr (or RouterAddr6), directly connected.
type Link struct {
	Router                    string
	RouterASN                 uint32
	WatcherAddr, RouterAddr   netip.Addr
	WatcherAddr6, RouterAddr6 netip.Addr
}

// Fabric is the running reference topology:
//
//	speaker west (65001) -- TOR west (64001) --\
//	                                            core (64666) -- watcher (root namespace)
//	speaker east (65002) -- TOR east (64002) --/     |
//	                                                 client (64500, with Options.Client)
//
// Both TORs also have a direct link to the watcher, for per-TOR sessions.
type Fabric struct {
	Block                  int
	Core, TORWest, TOREast *Router
	Client                 *Router // nil unless Options.Client
	West, East             *Speaker
	Rogue                  *Speaker // nil unless Options.Rogue

	CoreLink, TORWestLink, TOREastLink Link
	RogueLink                          *Link
	// TORWestUplink and TOREastUplink are the TORs' addresses on their
	// links to the core: the core's next hops towards each cluster.
	TORWestUplink, TOREastUplink netip.Addr
	// ClientUplink and ClientUplink6 are the core's addresses on its link to
	// the client: the next hop of every path the client learns, IPv4 and
	// IPv6 (valid with Options.Client).
	ClientUplink, ClientUplink6 netip.Addr

	WatcherASN      uint32
	WatcherPassword string
	// BMPPort is Options.BMPPort: where the core and the TORs stream BMP, at their link's
	// watcher address (zero without BMP).
	BMPPort uint16
	// Mgmt says the nodes have their management network and the client its network
	// (Options.Mgmt).
	Mgmt bool

	namespaces []string
	closeOnce  sync.Once
}

// New builds the fabric in fresh network namespaces and waits until every
// router-to-router and speaker-to-router session is Established. Leftovers
// of crashed earlier runs are removed first. Speakers start without
// announcements. The caller owns the fabric and must Close it; on error,
// whatever was built is already removed. Available says whether this
// machine can build one.
func New(opts Options) (*Fabric, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	f, err := build(opts)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	return f, nil
}

func build(opts Options) (*Fabric, error) {
	if opts.WatcherASN == 0 {
		opts.WatcherASN = DefaultWatcherASN
	}
	block, err := acquireBlock()
	if err != nil {
		return nil, err
	}
	f := &Fabric{Block: block, WatcherASN: opts.WatcherASN, WatcherPassword: opts.WatcherPassword, BMPPort: opts.BMPPort}

	roles := []string{"core", "torw", "tore", "spw", "spe"}
	if opts.Rogue != nil {
		roles = append(roles, "rogue")
	}
	if opts.Client {
		roles = append(roles, "client")
	}
	mgmt := opts.Mgmt && opts.DataPlane && opts.Client
	if mgmt {
		roles = append(roles, "mgmt")
		f.Mgmt = true
	}
	ns := map[string]string{}
	for _, r := range roles {
		ns[r] = blockNS(block, r)
		if err := createNS(ns[r]); err != nil {
			return f, err
		}
		f.namespaces = append(f.namespaces, ns[r])
	}

	core, torw, tore := rootLink(block, linkCore), rootLink(block, linkTORWest), rootLink(block, linkTOREast)
	links := []struct{ a, b endpoint }{
		{endpoint{ns["core"], "to-torw", coreTORWest.a4, coreTORWest.a6}, endpoint{ns["torw"], "to-core", coreTORWest.b4, coreTORWest.b6}},
		{endpoint{ns["core"], "to-tore", coreTOREast.a4, coreTOREast.a6}, endpoint{ns["tore"], "to-core", coreTOREast.b4, coreTOREast.b6}},
		{endpoint{ns["torw"], "to-speaker", torWestSpeaker.a4, torWestSpeaker.a6}, endpoint{ns["spw"], "to-tor", torWestSpeaker.b4, torWestSpeaker.b6}},
		{endpoint{ns["tore"], "to-speaker", torEastSpeaker.a4, torEastSpeaker.a6}, endpoint{ns["spe"], "to-tor", torEastSpeaker.b4, torEastSpeaker.b6}},
		{endpoint{"", rootIf(block, "core"), core.a4, core.a6}, endpoint{ns["core"], "to-watcher", core.b4, core.b6}},
		{endpoint{"", rootIf(block, "torw"), torw.a4, torw.a6}, endpoint{ns["torw"], "to-watcher", torw.b4, torw.b6}},
		{endpoint{"", rootIf(block, "tore"), tore.a4, tore.a6}, endpoint{ns["tore"], "to-watcher", tore.b4, tore.b6}},
	}
	var rogue p2p
	if opts.Rogue != nil {
		rogue = rootLink(block, linkRogue)
		links = append(links, struct{ a, b endpoint }{
			endpoint{"", rootIf(block, "rogue"), rogue.a4, rogue.a6}, endpoint{ns["rogue"], "to-watcher", rogue.b4, rogue.b6}})
	}
	if opts.Client {
		links = append(links, struct{ a, b endpoint }{
			endpoint{ns["core"], "to-client", coreClient.a4, coreClient.a6}, endpoint{ns["client"], "to-core", coreClient.b4, coreClient.b6}})
	}
	for _, l := range links {
		if err := link(l.a, l.b); err != nil {
			return f, err
		}
	}
	if mgmt {
		for _, l := range []struct{ a, b endpoint }{
			{endpoint{ns["mgmt"], "to-west", westMgmt.a4, westMgmt.a6}, endpoint{ns["spw"], "to-mgmt", westMgmt.b4, westMgmt.b6}},
			{endpoint{ns["mgmt"], "to-east", eastMgmt.a4, eastMgmt.a6}, endpoint{ns["spe"], "to-mgmt", eastMgmt.b4, eastMgmt.b6}},
		} {
			if err := link(l.a, l.b); err != nil {
				return f, err
			}
		}
		if err := clientNet(ns["client"]); err != nil {
			return f, err
		}
	}
	if opts.DataPlane {
		if err := dataPlane(ns, mgmt); err != nil {
			return f, err
		}
	}
	f.CoreLink = newLink("core", CoreASN, core)
	f.TORWestUplink, f.TOREastUplink = coreTORWest.b4.Addr(), coreTOREast.b4.Addr()
	f.TORWestLink = newLink("tor-west", TORWestASN, torw)
	f.TOREastLink = newLink("tor-east", TOREastASN, tore)

	watcherNeighbors := func(l p2p) []frrNeighbor {
		var out []frrNeighbor
		for _, a := range []netip.Addr{l.a4.Addr(), l.a6.Addr()} {
			out = append(out, frrNeighbor{addr: a, asn: opts.WatcherASN, password: opts.WatcherPassword,
				passive: true, addpath: true, v4: true, v6: true})
		}
		return out
	}
	coreNeighbors := append([]frrNeighbor{
		{addr: coreTORWest.b4.Addr(), asn: TORWestASN, v4: true, v6: true},
		{addr: coreTOREast.b4.Addr(), asn: TOREastASN, v4: true, v6: true},
	}, watcherNeighbors(core)...)
	if opts.Client {
		coreNeighbors = append(coreNeighbors, frrNeighbor{addr: coreClient.b4.Addr(), asn: ClientASN, v4: true, v6: true})
		f.ClientUplink, f.ClientUplink6 = coreClient.a4.Addr(), coreClient.a6.Addr()
	}
	torNeighbors := func(up, down, watcher p2p, speakerASN uint32) []frrNeighbor {
		ns := []frrNeighbor{
			{addr: up.a4.Addr(), asn: CoreASN, v4: true, v6: true},
			{addr: down.b4.Addr(), asn: speakerASN, v4: true},
			{addr: down.b6.Addr(), asn: speakerASN, v6: true},
		}
		// A TOR has a single best path per prefix: it sends no ADD-PATH, so
		// per-TOR sessions are what a watcher needs when the core cannot.
		for _, n := range watcherNeighbors(watcher) {
			n.addpath = false
			ns = append(ns, n)
		}
		return ns
	}
	type routerSpec struct {
		dst       **Router
		name, ns  string
		asn       uint32
		id        string
		multipath bool
		neighbors []frrNeighbor
		watcher   p2p // the router's link to the watcher, for BMP
	}
	routers := []routerSpec{
		{&f.Core, "core", ns["core"], CoreASN, "198.18.255.1", true, coreNeighbors, core},
		{&f.TORWest, "tor-west", ns["torw"], TORWestASN, "198.18.255.2", false, torNeighbors(coreTORWest, torWestSpeaker, torw, WestASN), torw},
		{&f.TOREast, "tor-east", ns["tore"], TOREastASN, "198.18.255.3", false, torNeighbors(coreTOREast, torEastSpeaker, tore, EastASN), tore},
	}
	if opts.Client {
		// The client peers with the core alone: no watcher session, no multipath.
		routers = append(routers, routerSpec{&f.Client, "client", ns["client"], ClientASN, "198.18.255.4", false,
			[]frrNeighbor{{addr: coreClient.a4.Addr(), asn: CoreASN, v4: true, v6: true}}, p2p{}})
	}
	for _, r := range routers {
		conf := frrConfig(r.name, r.asn, netip.MustParseAddr(r.id), filepath.Join(frrRunDir, r.ns, "bgpd.log"), r.multipath, r.neighbors)
		var modules []string
		if opts.BMPPort != 0 && r.watcher.a4.IsValid() {
			conf = withRouterLines(conf, BMPTarget(BMPOptions{Collector: netip.AddrPortFrom(r.watcher.a4.Addr(), opts.BMPPort)}))
			modules = append(modules, "bmp")
		}
		rt, err := startRouter(r.name, r.ns, r.asn, conf, true, modules...)
		if err != nil {
			return f, err
		}
		*r.dst = rt
	}

	f.West, err = f.newSpeaker("west", ns["spw"], WestASN, torWestSpeaker, TORWestASN, !opts.Nodes)
	if err != nil {
		return f, err
	}
	f.East, err = f.newSpeaker("east", ns["spe"], EastASN, torEastSpeaker, TOREastASN, !opts.Nodes)
	if err != nil {
		return f, err
	}
	if opts.Rogue != nil {
		asn := opts.Rogue.ASN
		if asn == 0 {
			asn = DefaultRogueASN
		}
		l := newLink("rogue", asn, rogue)
		f.RogueLink = &l
		f.Rogue = &Speaker{Name: "rogue", NS: ns["rogue"], ASN: asn, Addr: rogue.b4.Addr(), Addr6: rogue.b6.Addr(),
			dir: f.runDir("rogue"), announced: map[netip.Prefix]Attributes{},
			neighbors: []speakerNeighbor{{addr: rogue.a4.Addr(), asn: opts.WatcherASN, family: "ipv4-unicast", passive: true}}}
		if err := f.Rogue.start(); err != nil {
			return f, err
		}
		for _, p := range opts.Rogue.Prefixes {
			if err := f.Rogue.Announce(p); err != nil {
				return f, err
			}
		}
	}

	type waitSpec struct {
		r     *Router
		peers []netip.Addr
	}
	waits := []waitSpec{
		{f.Core, []netip.Addr{coreTORWest.b4.Addr(), coreTOREast.b4.Addr()}},
		{f.TORWest, []netip.Addr{coreTORWest.a4.Addr()}},
		{f.TOREast, []netip.Addr{coreTOREast.a4.Addr()}},
	}
	if !opts.Nodes {
		waits[1].peers = append(waits[1].peers, torWestSpeaker.b4.Addr(), torWestSpeaker.b6.Addr())
		waits[2].peers = append(waits[2].peers, torEastSpeaker.b4.Addr(), torEastSpeaker.b6.Addr())
	}
	if opts.Client {
		waits[0].peers = append(waits[0].peers, coreClient.b4.Addr())
		waits = append(waits, waitSpec{f.Client, []netip.Addr{coreClient.a4.Addr()}})
	}
	for _, w := range waits {
		if err := w.r.WaitEstablished(60*time.Second, w.peers...); err != nil {
			return f, err
		}
	}
	if mgmt {
		if err := announceClientNet(f.Client); err != nil {
			return f, err
		}
	}
	return f, nil
}

func newLink(name string, asn uint32, l p2p) Link {
	return Link{Router: name, RouterASN: asn, WatcherAddr: l.a4.Addr(), RouterAddr: l.b4.Addr(),
		WatcherAddr6: l.a6.Addr(), RouterAddr6: l.b6.Addr()}
}

// runDir is a scratch directory for fixture files (gobgpd configs and logs).
func (f *Fabric) runDir(name string) string {
	d := filepath.Join(stateDir, fmt.Sprintf("%d-%s", f.Block, name))
	_ = os.MkdirAll(d, 0o755)
	return d
}

func (f *Fabric) newSpeaker(name, ns string, asn uint32, l p2p, torASN uint32, start bool) (*Speaker, error) {
	s := &Speaker{Name: name, NS: ns, ASN: asn, Addr: l.b4.Addr(), Addr6: l.b6.Addr(),
		TORAddr: l.a4.Addr(), TORAddr6: l.a6.Addr(), TORASN: torASN,
		dir: f.runDir(name), announced: map[netip.Prefix]Attributes{},
		neighbors: []speakerNeighbor{
			{addr: l.a4.Addr(), asn: torASN, family: "ipv4-unicast"},
			{addr: l.a6.Addr(), asn: torASN, family: "ipv6-unicast"},
		}}
	if !start {
		return s, nil
	}
	return s, s.start()
}

// Routers lists the fabric's FRR instances (the client's too, with Options.Client).
func (f *Fabric) Routers() []*Router {
	rs := []*Router{f.Core, f.TORWest, f.TOREast}
	if f.Client != nil {
		rs = append(rs, f.Client)
	}
	return rs
}

// Close stops the speakers and removes the namespaces (killing FRR inside
// them), scratch files and the block. It is safe to call more than once.
func (f *Fabric) Close() {
	f.closeOnce.Do(f.close)
}

func (f *Fabric) close() {
	for _, s := range []*Speaker{f.West, f.East, f.Rogue} {
		if s != nil {
			s.Stop()
		}
	}
	for _, ns := range f.namespaces {
		_ = deleteNS(ns) // a namespace that survives is removed by the next acquireBlock
		_ = os.RemoveAll(filepath.Join(frrRunDir, ns))
	}
	dirs, _ := filepath.Glob(filepath.Join(stateDir, fmt.Sprintf("%d-*", f.Block)))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
	releaseBlock(f.Block)
}

// Diagnostics is every router's `show bgp summary` and the tail of its log,
// for a failed test's output.
func (f *Fabric) Diagnostics() string {
	var b strings.Builder
	for _, r := range f.Routers() {
		if r == nil {
			continue
		}
		out, _ := r.Vtysh("show bgp summary")
		fmt.Fprintf(&b, "%s (%s):\n%s%s\n", r.Name, r.NS, out, r.LogTail())
	}
	return b.String()
}

// String names the fabric for log messages.
func (f *Fabric) String() string {
	return fmt.Sprintf("fabric block %d (%s)", f.Block, strings.Join(f.namespaces, ", "))
}
