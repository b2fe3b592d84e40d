package fabric

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Feeder is a passive BGP speaker that streams one fixed IPv4 unicast table to
// every peer that connects to it. It exists for the ingest benchmark: loading
// a million routes into gobgpd or FRR first takes longer than the measurement
// itself, and their own sending speed would become part of what is measured.
// The table is encoded once, up front, with GoBGP's packet library (full
// 4096-byte UPDATEs sharing one attribute set, as a real full-table peer
// sends them), so streaming is limited only by the receiver.
type Feeder struct {
	NS   string
	Addr netip.Addr
	ASN  uint32

	ln      net.Listener
	table   []byte // concatenated UPDATE messages followed by End-of-RIB
	count   int
	streams chan Stream
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

// Stream describes one completed table transfer.
type Stream struct {
	Peer netip.Addr
	// Established is when the peer's KEEPALIVE confirmed our OPEN: the table
	// transfer starts right after.
	Established time.Time
	// Written is when the last byte of the table (End-of-RIB included) was
	// handed to the kernel; the peer may still be processing.
	Written time.Time
	Err     error
}

// feederHoldTime is offered in our OPEN; keepalives go out every second, well
// inside any hold time the peer negotiates down to (3 s minimum).
const feederHoldTime = 90

// startFeeder encodes prefixes and listens on addr:179 inside ns.
func startFeeder(ns string, addr netip.Addr, asn uint32, prefixes []netip.Prefix) (*Feeder, error) {
	table, err := encodeTable(addr, asn, prefixes)
	if err != nil {
		return nil, err
	}
	ln, err := listenInNS(ns, netip.AddrPortFrom(addr, 179).String())
	if err != nil {
		return nil, err
	}
	f := &Feeder{NS: ns, Addr: addr, ASN: asn, ln: ln, table: table, count: len(prefixes),
		streams: make(chan Stream, 16), conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Prefixes is the number of routes in the table.
func (f *Feeder) Prefixes() int { return f.count }

// Streams delivers one Stream per finished transfer.
func (f *Feeder) Streams() <-chan Stream { return f.streams }

func (f *Feeder) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *Feeder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.serve(c)
			f.mu.Lock()
			delete(f.conns, c)
			f.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// serve runs one session: OPEN exchange, the table, then keepalives until
// the peer or the fixture closes the connection.
func (f *Feeder) serve(c net.Conn) {
	peer := netip.MustParseAddrPort(c.RemoteAddr().String()).Addr().Unmap()
	st := Stream{Peer: peer}
	report := func(err error) {
		st.Err = err
		select {
		case f.streams <- st:
		default:
		}
	}
	if _, err := readMessage(c); err != nil { // the peer's OPEN
		report(fmt.Errorf("reading OPEN: %w", err))
		return
	}
	myAS := uint16(f.ASN)
	if f.ASN > 0xffff {
		myAS = bgp.AS_TRANS
	}
	open := bgp.NewBGPOpenMessage(myAS, feederHoldTime, f.Addr.String(), []bgp.OptionParameterInterface{
		bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
			bgp.NewCapRouteRefresh(),
			bgp.NewCapFourOctetASNumber(f.ASN),
		}),
	})
	keepalive, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	ob, err := open.Serialize()
	if err != nil {
		report(err)
		return
	}
	if _, err := c.Write(append(ob, keepalive...)); err != nil {
		report(err)
		return
	}
	for { // wait for the peer's KEEPALIVE: the session is Established
		m, err := readMessage(c)
		if err != nil {
			report(fmt.Errorf("waiting for KEEPALIVE: %w", err))
			return
		}
		if m[18] == bgp.BGP_MSG_KEEPALIVE {
			break
		}
	}
	st.Established = time.Now()
	readErr := make(chan error, 1)
	go func() { // discard whatever the peer sends; notice when it goes away
		for {
			if _, err := readMessage(c); err != nil {
				readErr <- err
				return
			}
		}
	}()
	// Write the table in chunks so keepalives interleave during a long transfer.
	last := time.Now()
	for off := 0; off < len(f.table); {
		end := nextBoundary(f.table, off, 64<<10)
		if _, err := c.Write(f.table[off:end]); err != nil {
			report(err)
			return
		}
		off = end
		if time.Since(last) > time.Second {
			if _, err := c.Write(keepalive); err != nil {
				report(err)
				return
			}
			last = time.Now()
		}
	}
	st.Written = time.Now()
	report(nil)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-readErr:
			return
		case <-tick.C:
			if _, err := c.Write(keepalive); err != nil {
				return
			}
		}
	}
}

// nextBoundary returns the end of the last whole message that fits in max
// bytes from off (at least one message).
func nextBoundary(buf []byte, off, max int) int {
	end := off
	for end < len(buf) {
		l := int(binary.BigEndian.Uint16(buf[end+16 : end+18]))
		if end+l-off > max && end > off {
			break
		}
		end += l
	}
	return end
}

// readMessage reads one raw BGP message (header included).
func readMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	l := int(binary.BigEndian.Uint16(hdr[16:18]))
	if l < bgp.BGP_HEADER_LENGTH || l > bgp.BGP_MAX_MESSAGE_LENGTH {
		return nil, fmt.Errorf("bad message length %d", l)
	}
	msg := make([]byte, l)
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[bgp.BGP_HEADER_LENGTH:]); err != nil {
		return nil, err
	}
	if msg[18] == bgp.BGP_MSG_NOTIFICATION {
		m, err := bgp.ParseBGPMessage(msg)
		if err == nil {
			return nil, fmt.Errorf("peer sent NOTIFICATION %v", m.Body)
		}
		return nil, errors.New("peer sent NOTIFICATION")
	}
	return msg, nil
}

// encodeTable packs IPv4 prefixes into full UPDATE messages with one shared
// attribute set (ORIGIN IGP, AS_PATH <asn>, NEXT_HOP addr), then End-of-RIB.
func encodeTable(nextHop netip.Addr, asn uint32, prefixes []netip.Prefix) ([]byte, error) {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn}),
		}),
		bgp.NewPathAttributeNextHop(nextHop.String()),
	}
	var out []byte
	const perMessage = 790 // 790 * 5 bytes of /32 NLRI + header and attributes < 4096
	for i := 0; i < len(prefixes); i += perMessage {
		chunk := prefixes[i:min(i+perMessage, len(prefixes))]
		nlri := make([]*bgp.IPAddrPrefix, 0, len(chunk))
		for _, p := range chunk {
			if !p.Addr().Is4() {
				return nil, fmt.Errorf("feeder carries IPv4 unicast only, got %s", p)
			}
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
		b, err := bgp.NewBGPUpdateMessage(nil, attrs, nlri).Serialize()
		if err != nil {
			return nil, err
		}
		if len(b) > bgp.BGP_MAX_MESSAGE_LENGTH {
			return nil, fmt.Errorf("UPDATE of %d bytes exceeds the BGP maximum", len(b))
		}
		out = append(out, b...)
	}
	eor, err := bgp.NewEndOfRib(bgp.RF_IPv4_UC).Serialize()
	if err != nil {
		return nil, err
	}
	return append(out, eor...), nil
}
