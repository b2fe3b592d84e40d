package bgp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/anycast-operator/anycast-operator/internal/bgp/bmptest"
)

// Fuzz input modes (the first byte).
const (
	fuzzBGP = 0 // the rest: a flags byte, then BGP messages as a session reads them
	fuzzBMP = 1 // the rest: a BMP stream as a router's connection carries it
)

// Flags of the BGP mode.
const (
	fuzzAddPath  = 1 // ADD-PATH receive negotiated for both families
	fuzzTwoOctet = 2 // the router has no 4-octet ASN capability
)

var fuzzPools = []netip.Prefix{netip.MustParsePrefix("192.168.155.0/24"), netip.MustParsePrefix("2001:db8:155::/64")}

// FuzzIngest drives what a router sends through the watcher's receiving path, decode,
// filter and index, as the network would: a BGP session's UPDATEs (classWatcher.update,
// RFC 7606 handling, the max-prefix guard), or a router's whole BMP stream (framing, every
// message type, the limits, the end of the stream). Its seeds are streams captured from
// FRR (BMP and BGP), BIRD and ExaBGP (testdata/fuzz/FuzzIngest, written by the capture
// tests of test/interop and test/bmp) and streams built with bmptest. Nothing may panic,
// and the index must stay what the status reads: only prefixes inside the pools, counters
// that match what is held, and nothing left of a BMP router once its stream ended.
func FuzzIngest(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		q := newChangeQueue()
		defer q.close()
		w := startClass("fuzz", Config{Pools: fuzzPools}, q, logr.Discard())
		defer forgetClassMetrics("fuzz")
		if data[0]%2 == fuzzBGP {
			fuzzSession(t, w, data[1], data[2:])
		} else {
			fuzzStream(t, w, data[1:])
		}
	})
}

func fuzzSession(t *testing.T, w *classWatcher, flags byte, msgs []byte) {
	addPath := flags&fuzzAddPath != 0
	mode := bgp.BGPAddPathMode(0)
	decode := &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{}}
	if addPath {
		mode = bgp.BGP_ADD_PATH_RECEIVE
		decode.AddPath[bgp.RF_IPv4_UC], decode.AddPath[bgp.RF_IPv6_UC] = mode, mode
	}
	neg := &negotiated{families: map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: mode, bgp.RF_IPv6_UC: mode},
		decode: decode, as4: flags&fuzzTwoOctet == 0}
	s := &session{cfg: SessionConfig{Name: "router", ASN: 64666, MaxPrefixes: 50}, state: StateEstablished, since: time.Now(),
		refresh: make(chan struct{}, 1), receivedVec: sessionPrefixes.WithLabelValues("fuzz", "router", "received")}
	w.sessions["router"] = s
	local, remote := net.Pipe()
	defer local.Close()
	go func() { _, _ = io.Copy(io.Discard, remote) }() // NOTIFICATIONs the watcher sends
	c := newWire(local)
	rib := newSessionRIB(addPath, addPath)
	ended := false
	for !ended && len(msgs) >= bgp.BGP_HEADER_LENGTH {
		n := int(binary.BigEndian.Uint16(msgs[16:18]))
		if n < bgp.BGP_HEADER_LENGTH || n > len(msgs) || n > bgp.BGP_MAX_MESSAGE_LENGTH {
			break
		}
		typ, body := msgs[18], msgs[bgp.BGP_HEADER_LENGTH:n]
		msgs = msgs[n:]
		if typ != bgp.BGP_MSG_UPDATE {
			continue
		}
		ended = w.update(s, c, neg, rib, body, time.Now()) != nil
	}
	checkIndex(t, w, "router")
	if got, want := s.receivedPrefixes.Load(), int64(rib.prefixes()); got != want {
		t.Fatalf("the session reports %d prefixes received, its RIB holds %d", got, want)
	}
	if got, want := s.receivedPaths.Load(), int64(rib.paths()); got != want {
		t.Fatalf("the session reports %d paths received, its RIB holds %d", got, want)
	}
	if (rib.v4.prefixes() > 50 || rib.v6.prefixes() > 50) && !ended {
		t.Fatalf("the session goes on past the max-prefix limit: %d IPv4, %d IPv6", rib.v4.prefixes(), rib.v6.prefixes())
	}
}

func fuzzStream(t *testing.T, w *classWatcher, stream []byte) {
	c := newBMPCollector(w)
	w.bmp = c
	r := &bmpRouter{cfg: BMPRouterConfig{Name: "router", Address: netip.MustParseAddr("192.0.2.1"), MaxPrefixes: 50, MaxPeers: 4},
		receivedVec: sessionPrefixes.WithLabelValues("fuzz", "router", "received"), peers: map[netip.Addr]*bmpPeer{}, gen: 1}
	c.routers["router"] = r
	local, remote := net.Pipe()
	defer remote.Close()
	r.conn = local
	st := newBMPStream(c, r, 1, local)
	st.in = bufio.NewReader(bytes.NewReader(stream))
	end := st.read()
	if end == nil {
		t.Fatal("a stream ended without a reason")
	}
	checkIndex(t, w, "router")
	w.mu.Lock()
	if len(r.peers) > r.cfg.maxPeers() {
		t.Fatalf("%d neighbours kept, over MaxPeers %d", len(r.peers), r.cfg.maxPeers())
	}
	for k, rib := range st.ribs {
		if (rib.v4.prefixes() > 50 || rib.v6.prefixes() > 50) && !end.limited {
			t.Fatalf("neighbour %s %s is past the max-prefix limit, and the stream was not dropped for it (%s)", k.peer, k.rib, end.msg)
		}
		if p := r.peers[k.peer]; p != nil && !end.limited && p.received[k.rib] != rib.prefixes() {
			t.Fatalf("neighbour %s %s: %d prefixes reported, %d held", k.peer, k.rib, p.received[k.rib], rib.prefixes())
		}
	}
	w.mu.Unlock()
	st.ended(end, time.Now())
	if n, _ := w.ix.acceptedBy("router"); n != 0 || len(w.ix.prefixes()) != 0 {
		t.Fatalf("the router's view outlived its stream: %d prefixes", len(w.ix.prefixes()))
	}
	if r.conn != nil || (end.limited != r.limited) {
		t.Fatalf("after the stream: connected %v, limited %v (end %+v)", r.conn != nil, r.limited, end)
	}
}

// checkIndex requires that the index holds only prefixes inside the pools, all from
// source, with the per-source counters matching what is held.
func checkIndex(t *testing.T, w *classWatcher, source string) {
	t.Helper()
	ps := pools(fuzzPools)
	paths := 0
	for _, p := range w.ix.prefixes() {
		if !ps.contains(p) {
			t.Fatalf("the index holds %s, outside the pools", p)
		}
		held := w.ix.paths(p)
		if len(held) == 0 {
			t.Fatalf("the index lists %s with no path", p)
		}
		for _, h := range held {
			if h.Session != source || h.Prefix != p {
				t.Fatalf("path %+v under %s", h, p)
			}
		}
		paths += len(held)
	}
	prefixes, n := w.ix.acceptedBy(source)
	if prefixes != len(w.ix.prefixes()) || n != paths {
		t.Fatalf("counters say %d prefixes and %d paths, the index holds %d and %d", prefixes, n, len(w.ix.prefixes()), paths)
	}
}

// fuzzSeeds are streams built with bmptest and GoBGP's encoder: every BMP message type a
// router sends, ADD-PATH, Loc-RIB, a 2-octet AS router, treat-as-withdraw, over the limit;
// and a BGP session's UPDATEs. Captured streams are in testdata/fuzz/FuzzIngest.
func fuzzSeeds() [][]byte {
	vip := netip.MustParsePrefix("192.168.155.151/32")
	vip6 := netip.MustParsePrefix("2001:db8:155::151/128")
	outer := netip.MustParsePrefix("10.99.0.0/24")
	west := bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.1"), AS: 65001}
	post := west
	post.Post = true
	loc := bmptest.Peer{LocRIB: true, AS: 64001}
	two := bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.2"), AS: 65002, TwoOctetAS: true}
	route := bmptest.Route{NextHop: west.Addr, ASPath: []uint32{65001}, Communities: []uint32{65535<<16 | 100}, PathID: 1}
	bmpSeed := func(msgs ...[]byte) []byte { return append([]byte{fuzzBMP}, bytes.Join(msgs, nil)...) }
	var many []netip.Prefix
	for i := range 60 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 98, byte(i), 0}), 24))
	}
	withdrawn := bmptest.Monitor(west, bmptest.Withdraw(0, vip))
	seeds := [][]byte{
		bmpSeed(bmptest.Initiation("tor", "FRRouting"), bmptest.PeerUp(west, 64001, false),
			bmptest.Monitor(west, bmptest.Announce(route, vip, outer)), bmptest.Monitor(post, bmptest.Announce(route, vip)),
			bmptest.Monitor(west, bmptest.Announce(route, vip6)), bmptest.EndOfRIB(west, false), bmptest.EndOfRIB(west, true),
			bmptest.Stats(west, 2), withdrawn, bmptest.PeerDown(west, bmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION),
			bmptest.Termination(bmp.BMP_TERM_REASON_ADMIN, "bye")),
		bmpSeed(bmptest.Initiation("core", ""), bmptest.PeerUp(west, 64001, true), bmptest.MonitorAddPath(west, bmptest.Announce(route, vip)),
			bmptest.PeerUp(loc, 64001, false), bmptest.Monitor(loc, bmptest.Announce(route, vip)),
			bmptest.PeerUp(two, 64001, false), bmptest.Monitor(two, bmptest.Announce(route, vip))),
		bmpSeed(bmptest.Initiation("flood", ""), bmptest.PeerUp(west, 64001, false), bmptest.Monitor(west, bmptest.Announce(route, many...))),
		bmpSeed(bmptest.Initiation("cut", ""), withdrawn[:len(withdrawn)-3]),
	}
	// A BGP session: an announcement with and without ADD-PATH, a withdrawal, End-of-RIB.
	bgpSeed := func(flags byte, opt *bgp.MarshallingOption, msgs ...*bgp.BGPMessage) []byte {
		out := []byte{fuzzBGP, flags}
		for _, m := range msgs {
			var b []byte
			var err error
			if opt != nil {
				b, err = m.Serialize(opt)
			} else {
				b, err = m.Serialize()
			}
			if err != nil {
				panic(err)
			}
			out = append(out, b...)
		}
		return out
	}
	seeds = append(seeds,
		bgpSeed(0, nil, bmptest.Announce(route, vip, outer), bmptest.Announce(route, vip6), bmptest.Withdraw(0, vip), bgp.NewEndOfRib(bgp.RF_IPv4_UC)),
		bgpSeed(fuzzAddPath, bmptest.Options(), bmptest.Announce(route, vip), bmptest.Withdraw(1, vip)),
		bgpSeed(fuzzTwoOctet, nil, bmptest.Announce(route, many...)))
	return seeds
}
