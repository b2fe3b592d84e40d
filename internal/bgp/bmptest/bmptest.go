// Package bmptest builds BMP (RFC 7854) streams for tests, fuzz seeds and
// benchmarks of the watcher's BMP collector: the messages a router sends, encoded
// with GoBGP's packet library (pkg/packet/bmp, pkg/packet/bgp) as a router's BMP
// implementation lays them out, and a dialer that connects from a chosen source
// address (the collector admits routers by it). Nothing here listens or reads:
// a BMP router only writes.
package bmptest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

// Peer is one neighbour of the router, as its per-peer header says.
type Peer struct {
	Addr  netip.Addr // the neighbour's address (ignored for LocRIB)
	AS    uint32
	BGPID netip.Addr // default 192.0.2.1
	// Post marks post-policy Adj-RIB-In messages; LocRIB the router's
	// Loc-RIB (RFC 9069, peer type 3). Neither: pre-policy Adj-RIB-In.
	Post, LocRIB bool
	// TwoOctetAS sets the A flag: AS_PATH in the 2-octet form.
	TwoOctetAS bool
}

func (p Peer) header() bmp.BMPPeerHeader {
	id := p.BGPID
	if !id.IsValid() {
		id = netip.MustParseAddr("192.0.2.1")
	}
	typ, addr := bmp.BMP_PEER_TYPE_GLOBAL, p.Addr
	var flags uint8
	if p.LocRIB {
		typ, addr = bmp.BMP_PEER_TYPE_LOCAL_RIB, netip.IPv4Unspecified()
	}
	if p.Post {
		flags |= bmp.BMP_PEER_FLAG_POST_POLICY
	}
	if p.TwoOctetAS {
		flags |= bmp.BMP_PEER_FLAG_TWO_AS
	}
	return *bmp.NewBMPPeerHeader(typ, flags, 0, addr.String(), p.AS, id.String(), float64(time.Now().Unix()))
}

func encode(m *bmp.BMPMessage) []byte {
	b, err := m.Serialize()
	if err != nil {
		panic(fmt.Sprintf("bmptest: encoding %T: %v", m.Body, err))
	}
	return b
}

// Initiation is the router's first message, with its sysName and sysDescr.
func Initiation(sysName, sysDescr string) []byte {
	return encode(bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, sysName),
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_DESCR, sysDescr),
	}))
}

// Termination ends the session with a reason code (bmp.BMP_TERM_REASON_*) and
// a text.
func Termination(reason uint16, text string) []byte {
	return encode(bmp.NewBMPTermination([]bmp.BMPTermTLVInterface{
		bmp.NewBMPTermTLVString(bmp.BMP_TERM_TLV_TYPE_STRING, text),
		bmp.NewBMPTermTLV16(bmp.BMP_TERM_TLV_TYPE_REASON, reason),
	}))
}

// PeerUp says the router's session with p is up: the OPENs the router sent
// (AS routerAS) and received, both with 4-octet ASNs and IPv4 and IPv6
// unicast; addPath has the router receive and the neighbour send ADD-PATH
// path ids for both families.
func PeerUp(p Peer, routerAS uint32, addPath bool) []byte {
	open := func(as uint32, id string, mode bgp.BGPAddPathMode) *bgp.BGPMessage {
		caps := []bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
			bgp.NewCapFourOctetASNumber(as),
		}
		if addPath {
			caps = append(caps, bgp.NewCapAddPath([]*bgp.CapAddPathTuple{
				bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, mode), bgp.NewCapAddPathTuple(bgp.RF_IPv6_UC, mode)}))
		}
		myAS := uint16(bgp.AS_TRANS)
		if as <= 0xffff {
			myAS = uint16(as)
		}
		return bgp.NewBGPOpenMessage(myAS, 90, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	}
	local := "198.51.100.254"
	if p.Addr.Is6() {
		local = "2001:db8::fe"
	}
	sent := open(routerAS, "192.0.2.254", bgp.BGP_ADD_PATH_RECEIVE)
	received := open(p.AS, "192.0.2.1", bgp.BGP_ADD_PATH_SEND)
	return encode(bmp.NewBMPPeerUpNotification(p.header(), local, 179, 40000, sent, received))
}

// PeerDown says the router's session with p went down for reason
// (bmp.BMP_PEER_DOWN_REASON_*; with a NOTIFICATION reason, a Cease).
func PeerDown(p Peer, reason uint8) []byte {
	var n *bgp.BGPMessage
	var data []byte
	switch reason {
	case bmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION, bmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION:
		n = bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, nil)
	case bmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION:
		data = []byte{0, 0}
	}
	return encode(bmp.NewBMPPeerDownNotification(p.header(), reason, n, data))
}

// Monitor wraps an UPDATE of p's table in a Route Monitoring message.
func Monitor(p Peer, update *bgp.BGPMessage) []byte {
	return encode(bmp.NewBMPRouteMonitoring(p.header(), update))
}

// Route is what Announce sends for its prefixes.
type Route struct {
	NextHop     netip.Addr
	ASPath      []uint32
	Communities []uint32
	// PathID is the ADD-PATH path id (with a neighbour that negotiated it).
	PathID uint32
}

// Announce is an UPDATE announcing prefixes (all of one family) with r's
// attributes: IPv4 in the NLRI field, IPv6 in MP_REACH_NLRI.
func Announce(r Route, prefixes ...netip.Prefix) *bgp.BGPMessage {
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if len(r.ASPath) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, r.ASPath)}))
	} else {
		attrs = append(attrs, bgp.NewPathAttributeAsPath(nil))
	}
	if len(r.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(r.Communities))
	}
	v4, v6 := split(prefixes, r.PathID)
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(r.NextHop.String(), v6))
		return bgp.NewBGPUpdateMessage(nil, attrs, nil)
	}
	attrs = append(attrs, bgp.NewPathAttributeNextHop(r.NextHop.String()))
	var nlri []*bgp.IPAddrPrefix
	for _, p := range v4 {
		nlri = append(nlri, p.(*bgp.IPAddrPrefix))
	}
	return bgp.NewBGPUpdateMessage(nil, attrs, nlri)
}

// Withdraw is an UPDATE withdrawing prefixes (all of one family), with path id.
func Withdraw(pathID uint32, prefixes ...netip.Prefix) *bgp.BGPMessage {
	v4, v6 := split(prefixes, pathID)
	if len(v6) > 0 {
		return bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeMpUnreachNLRI(v6)}, nil)
	}
	var w []*bgp.IPAddrPrefix
	for _, p := range v4 {
		w = append(w, p.(*bgp.IPAddrPrefix))
	}
	return bgp.NewBGPUpdateMessage(w, nil, nil)
}

func split(prefixes []netip.Prefix, id uint32) (v4, v6 []bgp.AddrPrefixInterface) {
	for _, p := range prefixes {
		if p.Addr().Is4() {
			n := bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
			n.SetPathIdentifier(id)
			n.SetPathLocalIdentifier(id)
			v4 = append(v4, n)
		} else {
			n := bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
			n.SetPathIdentifier(id)
			n.SetPathLocalIdentifier(id)
			v6 = append(v6, n)
		}
	}
	return v4, v6
}

// EndOfRIB marks p's table complete for IPv4 (v6 false) or IPv6 unicast.
func EndOfRIB(p Peer, v6 bool) []byte {
	f := bgp.RF_IPv4_UC
	if v6 {
		f = bgp.RF_IPv6_UC
	}
	return Monitor(p, bgp.NewEndOfRib(f))
}

// Stats is a Statistics Report with the router's count of p's Adj-RIB-In.
func Stats(p Peer, adjRIBIn uint64) []byte {
	return encode(bmp.NewBMPStatisticsReport(p.header(), []bmp.BMPStatsTLVInterface{
		bmp.NewBMPStatsTLV64(bmp.BMP_STAT_TYPE_ADJ_RIB_IN, adjRIBIn),
		bmp.NewBMPStatsTLV32(bmp.BMP_STAT_TYPE_REJECTED, 0),
	}))
}

// Options are the ADD-PATH options an UPDATE of an ADD-PATH neighbour is
// encoded with (Monitor's message then carries path ids).
func Options() *bgp.MarshallingOption {
	return &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{
		bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_SEND, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_SEND}}
}

// MonitorAddPath is Monitor for a neighbour that negotiated ADD-PATH: the
// UPDATE's prefixes carry their path ids.
func MonitorAddPath(p Peer, update *bgp.BGPMessage) []byte {
	m := bmp.NewBMPRouteMonitoring(p.header(), update)
	b, err := m.Serialize(Options())
	if err != nil {
		panic(fmt.Sprintf("bmptest: encoding an ADD-PATH Route Monitoring: %v", err))
	}
	return b
}

// Table encodes prefixes (IPv4 only) as Route Monitoring messages of p's
// table, full 4096-byte UPDATEs sharing one attribute set as a router packs
// a full table, followed by the End-of-RIB: a router's initial dump.
func Table(p Peer, r Route, prefixes []netip.Prefix) []byte {
	// An UPDATE of 4096 bytes: header 19, lengths 4, attributes about 40;
	// a /24 NLRI is 4 bytes, a /32 5: 800 /32s fit.
	const perUpdate = 800
	var out []byte
	for len(prefixes) > 0 {
		n := min(perUpdate, len(prefixes))
		out = append(out, Monitor(p, Announce(r, prefixes[:n]...))...)
		prefixes = prefixes[n:]
	}
	return append(out, EndOfRIB(p, false)...)
}

// Dial connects to the collector from the local address from (a loopback
// address such as 127.0.0.2 needs no setup on Linux), as a router would.
func Dial(ctx context.Context, collector netip.AddrPort, from netip.Addr) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	return d.DialContext(ctx, "tcp", collector.String())
}
