package bgp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The BMP collector (RFC 7854): routers that already stream their view to
// monitoring stations connect to the watcher and send, per neighbour, the
// routes they receive (Adj-RIB-In, pre- and post-policy) or select (Loc-RIB,
// RFC 9069). The collector keeps what a BGP session keeps: the keys of every
// route, for counting and the max-prefix guard, and the attributes of routes
// inside the pools, in the same route index, so a VIP's paths say which
// router saw which cluster's path, from which neighbour.
//
// BMP is one-way: the collector only reads. It never writes a byte to a
// router's connection (there is nothing in BMP for a collector to send), so
// it cannot disturb a router's BGP. Trust is by source address: a connection
// from an address that is no configured router's is closed at once and
// recorded (BMPState.Refused); an allowed router is bounded by MaxPrefixes
// per neighbour and table, MaxPeers and bmpMaxMessage, and a stream that
// breaks them, is malformed or is cut mid-message is dropped, with that
// router's view, without touching the other routers'.

// bmpCollector is one class's collector. Its fields are guarded by the class
// watcher's mu, but for the accept loop's listener.
type bmpCollector struct {
	w         *classWatcher
	cfg       BMPConfig
	ln        net.Listener
	listenErr string
	routers   map[string]*bmpRouter
	byAddr    map[netip.Addr]*bmpRouter
	refused   []BMPRefusal // newest first, at most bmpRefusedKept
	// streams counts the accept loop and the connections' goroutines, for stop.
	streams sync.WaitGroup
}

// bmpRefusedKept bounds the refused addresses the status lists: anyone who can
// reach the port can add one.
const bmpRefusedKept = 8

// bmpRouter is the collector's bookkeeping of one allowed router, guarded by
// the class watcher's mu. Its current connection's goroutine (bmpStream)
// owns the received-route sets.
type bmpRouter struct {
	cfg     BMPRouterConfig
	removed bool

	// conn is the current connection (nil when the router is not connected);
	// gen numbers connections, so a replaced one's late reports are ignored.
	conn   net.Conn
	gen    int
	since  time.Time // when it connected, or last disconnected
	remote netip.AddrPort
	// sysName and sysDescr come from the router's Initiation message.
	sysName, sysDescr string
	initiated         bool
	// note says why the router is not connected (or its last stream ended).
	note string
	// limited is set when the router broke its limits: it is refused until its
	// configuration changes (a new bmpRouter). refusedSince counts refusals.
	limited      bool
	refusedSince int
	// syncFrom is when the connection started, lastUpdate its last route
	// monitoring message, synced once the view was complete (sticky for the
	// connection): the same rule as a BGP session's (see synced).
	syncFrom, lastUpdate time.Time
	synced               bool
	peers                map[netip.Addr]*bmpPeer
	receivedVec          prometheus.Gauge
}

// bmpPeer is one neighbour (or the Loc-RIB) a router reports.
type bmpPeer struct {
	addr   netip.Addr // invalid for the Loc-RIB
	asn    uint32
	locRIB bool
	up     bool
	since  time.Time
	down   string // why it went down, from the router's Peer Down
	// eor holds the families whose End-of-RIB arrived, in any table.
	eor map[uint16]bool
	// received counts the prefixes per table (the stream's RIBs); reported is
	// the router's own count of the neighbour's Adj-RIB-In routes (statistics
	// types 7 and 9), -1 before any.
	received map[RIB]int
	reported int64
}

// receivedPrefixes is the peer's count for status: its largest table (a
// pre-policy table holds what post-policy keeps, and more).
func (p *bmpPeer) receivedPrefixes() int {
	n := 0
	for _, c := range p.received {
		n = max(n, c)
	}
	return n
}

// newBMPCollector starts a collector; apply configures it. The caller holds w.mu.
func newBMPCollector(w *classWatcher) *bmpCollector {
	return &bmpCollector{w: w, routers: map[string]*bmpRouter{}, byAddr: map[netip.Addr]*bmpRouter{}}
}

// apply reconciles the collector with cfg: a new listen address closes every
// connection and listens again; removed or changed routers lose their
// connection and view (a changed router is also no longer held back by a
// broken limit); unchanged ones keep streaming. A listener that could not be
// opened is tried again. It returns the prefixes that lost paths. The caller
// holds w.mu.
func (c *bmpCollector) apply(cfg BMPConfig, now time.Time) []netip.Prefix {
	var dropped []netip.Prefix
	if cfg.Listen != c.cfg.Listen && c.ln != nil {
		_ = c.ln.Close()
		c.ln = nil
		for _, r := range c.routers {
			dropped = append(dropped, c.disconnect(r, "the collector's listen address changed", now)...)
		}
	}
	want := map[string]BMPRouterConfig{}
	for _, r := range cfg.Routers {
		want[r.Name] = r
	}
	for name, r := range c.routers {
		if rc, ok := want[name]; ok && rc == r.cfg {
			continue
		}
		dropped = append(dropped, c.removeRouter(r, now)...)
	}
	for _, rc := range cfg.Routers {
		if _, ok := c.routers[rc.Name]; ok {
			continue
		}
		r := &bmpRouter{cfg: rc, since: now, receivedVec: sessionPrefixes.WithLabelValues(c.w.class, rc.Name, "received")}
		c.routers[rc.Name] = r
		c.byAddr[rc.Address.Unmap()] = r
		r.receivedVec.Set(0)
		setEstablished(c.w.class, rc.Name, false)
		c.w.refreshAccepted(map[string]bool{rc.Name: true})
	}
	c.cfg = cfg
	c.cfg.Routers = slices.Clone(cfg.Routers) // the caller's slice may change under us
	if c.ln == nil {
		c.listen()
	}
	return dropped
}

// listen opens the listener and starts accepting. A failure is kept for the
// status (and the next apply tries again). The caller holds w.mu.
func (c *bmpCollector) listen() {
	lc := net.ListenConfig{KeepAliveConfig: bmpKeepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", c.cfg.Listen.String())
	if err != nil {
		c.listenErr = "cannot listen on " + c.cfg.Listen.String() + ": " + err.Error()
		c.w.log.Info("BMP collector cannot listen", "address", c.cfg.Listen.String(), "error", err.Error())
		return
	}
	c.ln, c.listenErr = ln, ""
	c.w.log.Info("BMP collector listening", "address", ln.Addr().String())
	c.streams.Add(1)
	go c.accept(ln)
}

// bmpKeepAlive detects a router that vanished without closing its connection
// (BMP has no keepalive message; routers may send nothing for hours): the
// kernel probes an idle connection, which the collector never writes to.
var bmpKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

// accept admits connections until the listener closes.
func (c *bmpCollector) accept(ln net.Listener) {
	defer c.streams.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.w.log.V(1).Info("BMP accept failed", "error", err.Error())
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c.admit(conn, time.Now())
	}
}

// admit starts reading a connection from a configured router, replacing its
// current connection, if any, and the view that came with it. Anything else is
// closed before a byte is read: an address no router is configured with
// (recorded in Refused) or a router held back by a broken limit.
func (c *bmpCollector) admit(conn net.Conn, now time.Time) {
	from := netip.Addr{}
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		from = ta.AddrPort().Addr().Unmap()
	}
	w := c.w
	w.mu.Lock()
	r := c.byAddr[from]
	switch {
	case w.stopped || c.ln == nil:
		w.mu.Unlock()
		_ = conn.Close()
		return
	case r == nil:
		first := c.refuse(from, now)
		w.mu.Unlock()
		_ = conn.Close()
		bmpRefused.WithLabelValues(w.class).Inc()
		log := w.log.V(1)
		if first {
			log = w.log
		}
		log.Info("BMP connection refused: no router of the class has this address", "address", from.String())
		w.countersMoved(now) // the status lists refusals; at most every CountersEvery
		return
	case r.limited:
		r.refusedSince++
		w.mu.Unlock()
		_ = conn.Close()
		w.log.V(1).Info("BMP connection refused: the router broke its limits and stays refused until its configuration changes",
			"router", r.cfg.Name, "address", from.String())
		return
	}
	dropped := []netip.Prefix(nil)
	if r.conn != nil {
		// A router opens a new connection when it lost the old one (it may not
		// know yet): the new one resends its whole view.
		dropped = c.disconnect(r, "replaced by a new connection from the router", now)
	}
	r.gen++
	r.conn, r.since, r.note = conn, now, ""
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		r.remote = ta.AddrPort()
	}
	r.syncFrom, r.lastUpdate, r.synced, r.initiated = now, time.Time{}, false, false
	r.sysName, r.sysDescr = "", ""
	r.peers = map[netip.Addr]*bmpPeer{}
	st := newBMPStream(c, r, r.gen, conn)
	c.streams.Add(1)
	w.mu.Unlock()
	w.log.Info("BMP router connected", "router", r.cfg.Name, "address", from.String())
	setEstablished(w.class, r.cfg.Name, true)
	w.refreshOrigins(dropped)
	w.queue.push(w.class, dropped, true, now)
	go func() {
		defer c.streams.Done()
		st.run()
	}()
}

// refuse records a connection from an unknown address and reports whether it
// is the first from that address the status lists. The caller holds w.mu.
func (c *bmpCollector) refuse(from netip.Addr, now time.Time) bool {
	for i, f := range c.refused {
		if f.Address == from {
			f.Attempts++
			f.Last = now
			c.refused = slices.Insert(slices.Delete(c.refused, i, i+1), 0, f)
			return false
		}
	}
	c.refused = slices.Insert(c.refused, 0, BMPRefusal{Address: from, Attempts: 1, First: now, Last: now})
	if len(c.refused) > bmpRefusedKept {
		c.refused = c.refused[:bmpRefusedKept]
	}
	return true
}

// disconnect closes a router's connection and drops its view: a router's
// routes are only valid while it streams them, and a new connection resends
// them all. It returns the prefixes that lost paths. The caller holds w.mu.
func (c *bmpCollector) disconnect(r *bmpRouter, why string, now time.Time) []netip.Prefix {
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn, r.since = nil, now
		setEstablished(c.w.class, r.cfg.Name, false)
	}
	r.gen++ // whatever the old stream still reports is ignored
	r.note = why
	r.peers, r.synced = nil, false
	r.receivedVec.Set(0)
	dropped := c.w.ix.dropSession(r.cfg.Name)
	c.w.refreshAccepted(map[string]bool{r.cfg.Name: true})
	return dropped
}

// relearn closes every router's connection after the pools grew: routes
// inside the new pools were counted but not kept, and BMP has no way to ask a
// router for its table again (nothing is ever sent), but a router resends it
// all when it reconnects (within its own retry time: FRR's bmp connect
// min-retry). The caller holds w.mu.
func (c *bmpCollector) relearn(now time.Time) []netip.Prefix {
	var dropped []netip.Prefix
	for _, r := range c.routers {
		if r.conn != nil {
			dropped = append(dropped, c.disconnect(r, "the class's pools grew: the collector closed the connection so that the router resends its whole view", now)...)
		}
	}
	return dropped
}

// removeRouter forgets a router that left the configuration, or changed. The
// caller holds w.mu.
func (c *bmpCollector) removeRouter(r *bmpRouter, now time.Time) []netip.Prefix {
	dropped := c.disconnect(r, "removed", now)
	r.removed = true
	delete(c.routers, r.cfg.Name)
	delete(c.byAddr, r.cfg.Address.Unmap())
	forgetSessionMetrics(c.w.class, r.cfg.Name)
	return dropped
}

// shutdown closes the listener and every connection; their goroutines end on
// their own (streams counts them). The caller holds w.mu.
func (c *bmpCollector) shutdown() {
	if c.ln != nil {
		_ = c.ln.Close()
		c.ln = nil
	}
	for _, r := range c.routers {
		if r.conn != nil {
			_ = r.conn.Close()
		}
	}
}

// synced applies the rule a BGP session follows to a router's view: complete
// once every neighbour that is up has sent an End-of-RIB for every family of
// the pools (in any of its tables), or, from routers that send none, by the
// time rule from the connection (SyncMin, SyncQuiet, SyncMax). A router with
// no neighbour up yet waits for the time rule: its Peer Up messages may still
// be on the way. Once complete, the view stays so for the connection: a
// neighbour that comes up later adds its routes as they come, as a new
// cluster's routes reach a BGP session. The caller holds w.mu.
func (r *bmpRouter) isSynced(need []uint16, now time.Time) (bool, time.Duration) {
	if r.conn == nil {
		return false, 0
	}
	if r.synced {
		return true, 0
	}
	up, complete := 0, len(need) > 0
	for _, p := range r.peers {
		if !p.up {
			continue
		}
		up++
		for _, afi := range need {
			complete = complete && p.eor[afi]
		}
	}
	if up > 0 && complete {
		r.synced = true
		return true, 0
	}
	ok, wait := quietSince(r.syncFrom, r.lastUpdate, now)
	r.synced = ok
	return ok, wait
}
