package bgp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

// bmpMaxMessage bounds one BMP message. The largest a router sends is a Peer Up
// with two OPENs, or a Route Monitoring with an extended (RFC 8654) UPDATE of
// 64 KiB; a length beyond this is a broken or hostile stream, which is dropped
// rather than buffered.
const bmpMaxMessage = 256 << 10

// bmpFirstMessage bounds the wait for a new connection's Initiation.
const bmpFirstMessage = time.Minute

// bmpStream reads one router connection: it frames and decodes BMP messages
// (GoBGP's pkg/packet/bmp) and applies them to the router's view. It owns the
// received-route sets (one per neighbour and table); the rest of the router's
// bookkeeping is under the class watcher's mu, checked against gen.
type bmpStream struct {
	c    *bmpCollector
	r    *bmpRouter
	gen  int
	conn net.Conn
	in   *bufio.Reader
	buf  []byte
	// ribs are the keys of everything each neighbour's table holds; decode the
	// ADD-PATH options each neighbour's session negotiated (from its Peer Up).
	ribs   map[ribKey]*sessionRIB
	decode map[netip.Addr]*bgp.MarshallingOption
	// skipped names message kinds ignored on this stream, logged once each.
	skipped map[string]bool
}

// ribKey is one table of one neighbour.
type ribKey struct {
	peer netip.Addr
	rib  RIB
}

func newBMPStream(c *bmpCollector, r *bmpRouter, gen int, conn net.Conn) *bmpStream {
	return &bmpStream{c: c, r: r, gen: gen, conn: conn, in: bufio.NewReaderSize(conn, 64<<10), buf: make([]byte, 4096),
		ribs: map[ribKey]*sessionRIB{}, decode: map[netip.Addr]*bgp.MarshallingOption{}, skipped: map[string]bool{}}
}

// bmpEnd is why a stream ended, for the router's status, and whether the
// router broke a limit (it is then refused until its configuration changes).
type bmpEnd struct {
	msg     string
	limited bool
	reason  string // metric label: closed, terminated, cut, malformed, limit
}

func (e *bmpEnd) Error() string { return e.msg }

// run reads until the connection ends, then records why. It never writes.
func (st *bmpStream) run() {
	err := st.read()
	_ = st.conn.Close()
	st.ended(err, time.Now())
}

func (st *bmpStream) read() *bmpEnd {
	_ = st.conn.SetReadDeadline(time.Now().Add(bmpFirstMessage))
	first := true
	for {
		msg, err := st.next()
		if err != nil {
			return err
		}
		if first {
			// RFC 7854 4.3: the Initiation message comes first.
			if msg[5] != bmp.BMP_MSG_INITIATION {
				return &bmpEnd{msg: fmt.Sprintf("the router's first BMP message is of type %d, not an Initiation (RFC 7854 4.3): not a BMP stream", msg[5]), reason: "malformed"}
			}
			_ = st.conn.SetReadDeadline(time.Time{})
			first = false
		}
		if end := st.handle(msg, time.Now()); end != nil {
			return end
		}
	}
}

// next reads one whole BMP message (common header included), bounded by
// bmpMaxMessage. The bytes are valid until the next call.
func (st *bmpStream) next() ([]byte, *bmpEnd) {
	hdr := st.buf[:bmp.BMP_HEADER_SIZE]
	if n, err := io.ReadFull(st.in, hdr); err != nil {
		return nil, readEnd(err, n, bmp.BMP_HEADER_SIZE)
	}
	if hdr[0] != bmp.BMP_VERSION {
		return nil, &bmpEnd{msg: fmt.Sprintf("the router sent BMP version %d; the collector speaks version 3 (RFC 7854)", hdr[0]), reason: "malformed"}
	}
	n := int(binary.BigEndian.Uint32(hdr[1:5]))
	switch {
	case n < bmp.BMP_HEADER_SIZE:
		return nil, &bmpEnd{msg: fmt.Sprintf("the router sent a BMP message of length %d, shorter than its header", n), reason: "malformed"}
	case n > bmpMaxMessage:
		return nil, &bmpEnd{msg: fmt.Sprintf("the router sent a BMP message of %d bytes, over the collector's limit of %d", n, bmpMaxMessage), reason: "limit"}
	}
	if n > len(st.buf) {
		grown := make([]byte, n)
		copy(grown, hdr)
		st.buf = grown
	}
	msg := st.buf[:n]
	if got, err := io.ReadFull(st.in, msg[bmp.BMP_HEADER_SIZE:]); err != nil {
		return nil, readEnd(err, bmp.BMP_HEADER_SIZE+got, n)
	}
	return msg, nil
}

// readEnd words a failed read of a message that had got bytes of want.
func readEnd(err error, got, want int) *bmpEnd {
	switch {
	case got == 0 && errors.Is(err, io.EOF):
		return &bmpEnd{msg: "the router closed its BMP session", reason: "closed"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &bmpEnd{msg: fmt.Sprintf("the router's BMP stream was cut in the middle of a message (%d of %d bytes)", got, want), reason: "cut"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &bmpEnd{msg: fmt.Sprintf("the router sent no Initiation message within %s of connecting", bmpFirstMessage), reason: "malformed"}
	case errors.Is(err, net.ErrClosed):
		return &bmpEnd{msg: "connection closed by the collector", reason: "closed"}
	default:
		return &bmpEnd{msg: "the router's BMP connection failed: " + err.Error(), reason: "closed"}
	}
}

// handle decodes one message and applies it. A message the collector cannot
// use (a type it does not know, a table it does not keep, an UPDATE it cannot
// decode) is skipped: the stream stays in step, as every message carries its
// length. It returns why the stream must end, if it must.
func (st *bmpStream) handle(raw []byte, now time.Time) *bmpEnd {
	m, err := bmp.ParseBMPMessageWithOptions(raw, st.options)
	typ := raw[5]
	if err != nil && (m == nil || typ != bmp.BMP_MSG_ROUTE_MONITORING) {
		switch typ {
		case bmp.BMP_MSG_INITIATION, bmp.BMP_MSG_TERMINATION:
			return &bmpEnd{msg: fmt.Sprintf("the router sent a malformed BMP message (type %d): %v", typ, err), reason: "malformed"}
		case bmp.BMP_MSG_PEER_UP_NOTIFICATION, bmp.BMP_MSG_PEER_DOWN_NOTIFICATION:
			// The neighbour's state matters more than the body's details: take
			// them from the per-peer header alone.
			return st.peerEventRaw(raw, typ, err, now)
		}
		st.skip(fmt.Sprintf("undecodable BMP message of type %d", typ), err)
		return nil
	}
	switch body := m.Body.(type) {
	case *bmp.BMPInitiation:
		st.initiation(body, now)
	case *bmp.BMPTermination:
		return &bmpEnd{msg: "the router ended its BMP session (Termination: " + terminationText(body) + ")", reason: "terminated"}
	case *bmp.BMPPeerUpNotification:
		return st.peerUp(m.PeerHeader, body, now)
	case *bmp.BMPPeerDownNotification:
		st.peerDown(m.PeerHeader, peerDownText(body), now)
	case *bmp.BMPRouteMonitoring:
		return st.routeMonitoring(m.PeerHeader, body, err, now)
	case *bmp.BMPStatisticsReport:
		st.stats(m.PeerHeader, body)
	default:
		st.skip(fmt.Sprintf("BMP message of type %d", typ), nil)
	}
	return nil
}

// skip logs a kind of ignored message, once per stream.
func (st *bmpStream) skip(what string, err error) {
	if st.skipped[what] {
		return
	}
	st.skipped[what] = true
	kv := []any{"router", st.r.cfg.Name, "what", what}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	st.c.w.log.V(1).Info("ignoring BMP messages", kv...)
}

// options gives GoBGP's decoder the ADD-PATH mode of the neighbour a message is about.
func (st *bmpStream) options(h bmp.BMPPeerHeader) []*bgp.MarshallingOption {
	if o := st.decode[peerAddr(h)]; o != nil {
		return []*bgp.MarshallingOption{o}
	}
	return nil
}

func peerAddr(h bmp.BMPPeerHeader) netip.Addr {
	if h.PeerType == bmp.BMP_PEER_TYPE_LOCAL_RIB {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(h.PeerAddress)
	return a.Unmap()
}

// table says which of the router's tables a per-peer header is about, and
// whether the collector keeps it: Adj-RIB-In pre- or post-policy of a global
// instance neighbour, or the global Loc-RIB (RFC 9069). Neighbours in other
// routing instances (route distinguisher peers: VRFs) and Adj-RIB-Out (RFC
// 8671: what the router sends, not what it sees) are not kept.
func table(h bmp.BMPPeerHeader) (RIB, bool) {
	switch {
	case h.PeerType == bmp.BMP_PEER_TYPE_LOCAL_RIB && h.PeerDistinguisher == 0:
		return RIBLoc, true
	case h.PeerType != bmp.BMP_PEER_TYPE_GLOBAL && h.PeerType != bmp.BMP_PEER_TYPE_LOCAL, h.PeerDistinguisher != 0, h.IsAdjRIBOut():
		return "", false
	case h.IsPostPolicy():
		return RIBPostPolicy, true
	default:
		return RIBPrePolicy, true
	}
}

func (st *bmpStream) initiation(b *bmp.BMPInitiation, now time.Time) {
	var name, descr string
	for _, tlv := range b.Info {
		if s, ok := tlv.(*bmp.BMPInfoTLVString); ok {
			switch s.Type {
			case bmp.BMP_INIT_TLV_TYPE_SYS_NAME:
				name = printable(s.Value)
			case bmp.BMP_INIT_TLV_TYPE_SYS_DESCR:
				descr = printable(s.Value)
			}
		}
	}
	w := st.c.w
	w.mu.Lock()
	if !st.current() {
		w.mu.Unlock()
		return
	}
	st.r.initiated, st.r.sysName, st.r.sysDescr = true, name, descr
	w.mu.Unlock()
	w.log.V(1).Info("BMP Initiation", "router", st.r.cfg.Name, "sysName", name, "sysDescr", descr)
	w.queue.push(w.class, nil, true, now)
}

// printable bounds and cleans a router-supplied string for status and logs.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.TrimSpace(s)
}

// current reports whether the stream is still its router's connection. The
// caller holds w.mu.
func (st *bmpStream) current() bool {
	return !st.c.w.stopped && !st.r.removed && st.r.gen == st.gen
}

// peer returns the router's record of a neighbour, adding it within
// MaxPeers (room is made by forgetting a neighbour that is down); nil when
// the router has more neighbours up than allowed. The caller holds w.mu.
func (st *bmpStream) peer(addr netip.Addr, h bmp.BMPPeerHeader) *bmpPeer {
	r := st.r
	if p := r.peers[addr]; p != nil {
		return p
	}
	if len(r.peers) >= r.cfg.maxPeers() {
		var oldest *bmpPeer
		for _, p := range r.peers {
			if !p.up && (oldest == nil || p.since.Before(oldest.since)) {
				oldest = p
			}
		}
		if oldest == nil {
			return nil
		}
		delete(r.peers, oldest.addr)
	}
	p := &bmpPeer{addr: addr, asn: h.PeerAS, locRIB: h.PeerType == bmp.BMP_PEER_TYPE_LOCAL_RIB, reported: -1, received: map[RIB]int{}}
	r.peers[addr] = p
	return p
}

// lockPeer takes the class watcher's mu and returns the router's record of a
// neighbour, the lock held. Without one, the lock is released and end says
// whether the stream must end (more neighbours than MaxPeers) or nothing is to
// be done (the stream is no longer its router's connection).
func (st *bmpStream) lockPeer(addr netip.Addr, h bmp.BMPPeerHeader) (p *bmpPeer, end *bmpEnd) {
	st.c.w.mu.Lock()
	if !st.current() {
		st.c.w.mu.Unlock()
		return nil, nil
	}
	if p = st.peer(addr, h); p == nil {
		st.c.w.mu.Unlock()
		return nil, st.tooManyPeers()
	}
	return p, nil
}

func (st *bmpStream) tooManyPeers() *bmpEnd {
	return &bmpEnd{msg: fmt.Sprintf("the router reported more than %d neighbours (maxPeers) at once", st.r.cfg.maxPeers()), limited: true, reason: "limit"}
}

// peerUp starts a neighbour's view afresh: a Peer Up means a new BGP session,
// whose routes follow. Its OPENs say whether its UPDATEs carry ADD-PATH ids.
func (st *bmpStream) peerUp(h bmp.BMPPeerHeader, b *bmp.BMPPeerUpNotification, now time.Time) *bmpEnd {
	if _, keep := table(h); !keep {
		return nil
	}
	addr := peerAddr(h)
	st.decode[addr] = addPathOptions(b)
	return st.peerState(addr, h, true, "", now)
}

// peerEventRaw handles a Peer Up or Down whose body GoBGP could not decode,
// from its per-peer header alone.
func (st *bmpStream) peerEventRaw(raw []byte, typ uint8, err error, now time.Time) *bmpEnd {
	if len(raw) < bmp.BMP_HEADER_SIZE+bmp.BMP_PEER_HEADER_SIZE {
		return &bmpEnd{msg: fmt.Sprintf("the router sent a BMP message of type %d too short for its per-peer header", typ), reason: "malformed"}
	}
	var h bmp.BMPPeerHeader
	_ = h.DecodeFromBytes(raw[bmp.BMP_HEADER_SIZE:])
	if _, keep := table(h); !keep {
		return nil
	}
	addr := peerAddr(h)
	if typ == bmp.BMP_MSG_PEER_DOWN_NOTIFICATION {
		st.peerDown(h, "Peer Down (undecodable: "+err.Error()+")", now)
		return nil
	}
	st.skip("undecodable Peer Up body (the neighbour's ADD-PATH capabilities are unknown)", err)
	delete(st.decode, addr)
	return st.peerState(addr, h, true, "", now)
}

func (st *bmpStream) peerDown(h bmp.BMPPeerHeader, why string, now time.Time) {
	if _, keep := table(h); !keep {
		return
	}
	addr := peerAddr(h)
	delete(st.decode, addr)
	_ = st.peerState(addr, h, false, why, now)
}

// peerState records a neighbour up or down, dropping what the router had
// reported of it: routes of an earlier session are gone either way.
func (st *bmpStream) peerState(addr netip.Addr, h bmp.BMPPeerHeader, up bool, why string, now time.Time) *bmpEnd {
	for k := range st.ribs {
		if k.peer == addr {
			delete(st.ribs, k)
		}
	}
	w := st.c.w
	p, end := st.lockPeer(addr, h)
	if p == nil {
		return end
	}
	p.up, p.since, p.down, p.asn = up, now, why, h.PeerAS
	p.eor, p.received, p.reported = nil, map[RIB]int{}, -1
	dropped := w.ix.dropWhere(func(k pathKey, _ netip.Prefix) bool { return k.session == st.r.cfg.Name && k.peer == addr })
	st.r.receivedVec.Set(float64(st.r.receivedPrefixes()))
	w.mu.Unlock()
	state := "up"
	if !up {
		state = "down"
	}
	w.log.Info("BMP neighbour "+state, "router", st.r.cfg.Name, "peer", addr.String(), "peerAS", h.PeerAS, "reason", why)
	w.refreshAccepted(map[string]bool{st.r.cfg.Name: true})
	w.refreshOrigins(dropped)
	w.queue.push(w.class, dropped, true, now)
	return nil
}

// receivedPrefixes sums the neighbours' prefix counts. The caller holds w.mu.
func (r *bmpRouter) receivedPrefixes() int {
	n := 0
	for _, p := range r.peers {
		n += p.receivedPrefixes()
	}
	return n
}

// addPathOptions is how a neighbour's UPDATEs are decoded: with ADD-PATH path
// ids for the families where the router offered to receive them (its sent
// OPEN) and the neighbour to send them (its OPEN). FRR never includes the ids
// in BMP (its documentation says so) and warns against monitoring ADD-PATH
// neighbours; RFC 7854 leaves the OPENs to tell.
func addPathOptions(b *bmp.BMPPeerUpNotification) *bgp.MarshallingOption {
	modes := func(m *bgp.BGPMessage) map[bgp.RouteFamily]bgp.BGPAddPathMode {
		out := map[bgp.RouteFamily]bgp.BGPAddPathMode{}
		o, ok := m.Body.(*bgp.BGPOpen)
		if !ok {
			return out
		}
		for _, p := range o.OptParams {
			pc, ok := p.(*bgp.OptionParameterCapability)
			if !ok {
				continue
			}
			for _, c := range pc.Capability {
				if ap, ok := c.(*bgp.CapAddPath); ok {
					for _, t := range ap.Tuples {
						out[t.RouteFamily] = t.Mode
					}
				}
			}
		}
		return out
	}
	if b.SentOpenMsg == nil || b.ReceivedOpenMsg == nil {
		return nil
	}
	sent, received := modes(b.SentOpenMsg), modes(b.ReceivedOpenMsg)
	var opt *bgp.MarshallingOption
	for _, f := range families {
		if sent[f]&bgp.BGP_ADD_PATH_RECEIVE != 0 && received[f]&bgp.BGP_ADD_PATH_SEND != 0 {
			if opt == nil {
				opt = &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{}}
			}
			opt.AddPath[f] = bgp.BGP_ADD_PATH_RECEIVE
		}
	}
	return opt
}

// routeMonitoring applies one UPDATE of a neighbour's table: an End-of-RIB
// marks the table's family complete; routes are counted (MaxPrefixes per
// table and family) and those inside the pools indexed. An UPDATE RFC 7606
// treats as withdraw withdraws its routes; one beyond repair is skipped (the
// router's own session to the neighbour handles it: a Peer Down follows).
func (st *bmpStream) routeMonitoring(h bmp.BMPPeerHeader, b *bmp.BMPRouteMonitoring, perr error, now time.Time) *bmpEnd {
	rib, keep := table(h)
	if !keep {
		st.skip("routes of other routing instances or Adj-RIB-Out", nil)
		return nil
	}
	var u *bgp.BGPUpdate
	if b.BGPUpdate != nil {
		u, _ = b.BGPUpdate.Body.(*bgp.BGPUpdate)
	}
	if u == nil {
		st.skip("Route Monitoring without a decodable UPDATE", perr)
		return nil
	}
	withdrawAll := false
	if perr != nil {
		var me *bgp.MessageError
		switch {
		case errors.As(perr, &me) && me.ErrorHandling == bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
			withdrawAll = true
		case errors.As(perr, &me) && me.ErrorHandling == bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		default:
			st.skip("malformed UPDATE in Route Monitoring", perr)
			return nil
		}
	}
	addr := peerAddr(h)
	if eor, f := u.IsEndOfRib(); eor && !withdrawAll {
		afi, _ := bgp.RouteFamilyToAfiSafi(f)
		return st.endOfRIB(addr, h, afi, now)
	}
	key := ribKey{addr, rib}
	sr := st.ribs[key]
	if sr == nil {
		if o := st.decode[addr]; o != nil {
			sr = newSessionRIB(o.AddPath[bgp.RF_IPv4_UC] != 0, o.AddPath[bgp.RF_IPv6_UC] != 0)
		} else {
			sr = newSessionRIB(false, false)
		}
		st.ribs[key] = sr
	}
	from := Path{Session: st.r.cfg.Name, Peer: addr, PeerAS: h.PeerAS, RIB: rib}
	ops := updateOps(u, withdrawAll, h.Flags&bmp.BMP_PEER_FLAG_TWO_AS == 0, sr, *st.c.w.poolsNow.Load(), from, now)
	if _, family, over := sr.overLimit(st.r.cfg.MaxPrefixes); over {
		return &bmpEnd{msg: fmt.Sprintf("max-prefix limit %d exceeded by neighbour %s (%s, %s)", st.r.cfg.MaxPrefixes, describePeer(addr, rib), family, rib),
			limited: true, reason: "limit"}
	}
	return st.apply(addr, h, key, sr.prefixes(), ops, now)
}

func describePeer(addr netip.Addr, rib RIB) string {
	if rib == RIBLoc {
		return "Loc-RIB"
	}
	return addr.String()
}

// apply records a neighbour table's new count and applies its index
// operations, publishing what changed.
func (st *bmpStream) apply(addr netip.Addr, h bmp.BMPPeerHeader, key ribKey, received int, ops []indexOp, now time.Time) *bmpEnd {
	w := st.c.w
	p, end := st.lockPeer(addr, h)
	if p == nil {
		return end
	}
	if !p.up && p.since.IsZero() {
		// Routes before any Peer Up (the router did not send one): the
		// neighbour is evidently up.
		p.up, p.since = true, now
	}
	st.r.lastUpdate = now
	moved := p.received[key.rib] != received
	p.received[key.rib] = received
	name := st.r.cfg.Name
	before, _ := w.ix.acceptedBy(name)
	changed := w.indexOps(ops)
	after, _ := w.ix.acceptedBy(name)
	total := st.r.receivedPrefixes()
	w.mu.Unlock()
	if moved {
		st.r.receivedVec.Set(float64(total))
	}
	w.published(name, changed, now)
	if moved || after != before {
		w.countersMoved(now)
	}
	return nil
}

// endOfRIB records that a neighbour's table is complete for a family; the
// router's view may be synced now.
func (st *bmpStream) endOfRIB(addr netip.Addr, h bmp.BMPPeerHeader, afi uint16, now time.Time) *bmpEnd {
	w := st.c.w
	p, end := st.lockPeer(addr, h)
	if p == nil {
		return end
	}
	if p.eor == nil {
		p.eor = map[uint16]bool{}
	}
	p.eor[afi] = true
	need := w.pools.afis()
	was := st.r.synced
	is, _ := st.r.isSynced(need, now)
	w.mu.Unlock()
	w.log.V(1).Info("BMP End-of-RIB", "router", st.r.cfg.Name, "peer", addr.String(), "afi", afi, "synced", is)
	if is && !was {
		w.queue.push(w.class, nil, true, now)
	}
	return nil
}

// stats keeps the router's own count of a neighbour's Adj-RIB-In (statistics
// type 7, or the sum of type 9 per family), shown beside the collector's.
func (st *bmpStream) stats(h bmp.BMPPeerHeader, b *bmp.BMPStatisticsReport) {
	if rib, keep := table(h); !keep || rib == RIBLoc {
		return
	}
	total, perAFI, seen := int64(-1), int64(0), false
	for _, s := range b.Stats {
		switch s := s.(type) {
		case *bmp.BMPStatsTLV64:
			if s.Type == bmp.BMP_STAT_TYPE_ADJ_RIB_IN {
				total = int64(min(s.Value, 1<<62))
			}
		case *bmp.BMPStatsTLVPerAfiSafi64:
			if s.Type == bmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_IN {
				perAFI += int64(min(s.Value, 1<<40))
				seen = true
			}
		}
	}
	if total < 0 && seen {
		total = perAFI
	}
	if total < 0 {
		return
	}
	addr := peerAddr(h)
	w := st.c.w
	w.mu.Lock()
	if p := st.r.peers[addr]; p != nil && st.current() {
		p.reported = total
	}
	w.mu.Unlock()
}

// ended records why the stream ended and drops the router's view, unless a
// newer connection or a configuration change has replaced it already.
func (st *bmpStream) ended(end *bmpEnd, now time.Time) {
	w := st.c.w
	w.mu.Lock()
	if !st.current() {
		w.mu.Unlock()
		return
	}
	why := end.msg
	if end.limited {
		st.r.limited, st.r.refusedSince = true, 0
		why += ": the collector dropped the router's stream and refuses it until its configuration changes"
	}
	dropped := st.c.disconnect(st.r, why, now)
	w.mu.Unlock()
	bmpDropped.WithLabelValues(w.class, st.r.cfg.Name, end.reason).Inc()
	w.log.Info("BMP router disconnected", "router", st.r.cfg.Name, "reason", why)
	w.refreshOrigins(dropped)
	w.queue.push(w.class, dropped, true, now)
}

// terminationText words a Termination's reason and string TLVs.
func terminationText(b *bmp.BMPTermination) string {
	reasons := map[uint16]string{
		bmp.BMP_TERM_REASON_ADMIN: "administratively closed", bmp.BMP_TERM_REASON_UNSPEC: "unspecified reason",
		bmp.BMP_TERM_REASON_OUT_OF_RESOURCES: "out of resources", bmp.BMP_TERM_REASON_REDUNDANT_CONNECTION: "redundant connection",
		bmp.BMP_TERM_REASON_PERMANENTLY_ADMIN: "permanently administratively closed",
	}
	var parts []string
	for _, tlv := range b.Info {
		switch t := tlv.(type) {
		case *bmp.BMPTermTLV16:
			if s, ok := reasons[t.Value]; ok {
				parts = append(parts, s)
			} else {
				parts = append(parts, fmt.Sprintf("reason %d", t.Value))
			}
		case *bmp.BMPTermTLVString:
			parts = append(parts, fmt.Sprintf("%q", printable(t.Value)))
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, ", ")
}

// peerDownText words a Peer Down's reason (RFC 7854 4.9).
func peerDownText(b *bmp.BMPPeerDownNotification) string {
	notif := ""
	if b.BGPNotification != nil {
		if n, ok := b.BGPNotification.Body.(*bgp.BGPNotification); ok {
			notif = " (" + notificationText(n) + ")"
		}
	}
	switch b.Reason {
	case bmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION:
		return "the router closed the session with a NOTIFICATION" + notif
	case bmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION:
		return "the router closed the session without a NOTIFICATION"
	case bmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION:
		return "the neighbour closed the session with a NOTIFICATION" + notif
	case bmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION:
		return "the neighbour's connection closed without a NOTIFICATION"
	case bmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED:
		return "the neighbour was deconfigured on the router"
	default:
		return fmt.Sprintf("Peer Down reason %d", b.Reason)
	}
}
