package bgp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	wbgp "github.com/anycast-operator/anycast-operator/internal/bgp"
)

// addPathSend encodes UPDATEs as a router sending ADD-PATH paths for IPv4.
var addPathSend = &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_SEND}}

// establishAddPath completes the handshake as a router that sends every path
// (ADD-PATH send, IPv4 unicast).
func (c *peerConn) establishAddPath() {
	c.t.Helper()
	c.open(64666, 9, bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(64666),
		bgp.NewCapAddPath([]*bgp.CapAddPathTuple{bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, bgp.BGP_ADD_PATH_SEND)}))
	c.recvType(bgp.BGP_MSG_KEEPALIVE)
	c.send(bgp.NewBGPKeepAliveMessage())
	c.keepAlive()
}

// sendPath announces one ADD-PATH path of prefix, from origin.
func (c *peerConn) sendPath(prefix netip.Prefix, id, origin uint32) {
	c.t.Helper()
	n := bgp.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
	n.SetPathLocalIdentifier(id)
	m := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeNextHop("10.0.0.1"), asPath(64666, origin)}, []*bgp.IPAddrPrefix{n})
	b, err := m.Serialize(addPathSend)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

// TestMaxPrefixesCountsPrefixes: MaxPrefixes is a number of prefixes per
// family, as its documentation says ("above the number of VIPs"): a core
// sending one VIP with 60 ADD-PATH paths (as ExaBGP and BIRD did with 100) is
// one prefix under a limit of 50, and the counters say 1 prefix, 60 paths.
// The 51st distinct prefix is over the limit.
func TestMaxPrefixesCountsPrefixes(t *testing.T) {
	m, c := startScripted(t, wASN, func(s *wbgp.SessionConfig) { s.AddPathReceive, s.MaxPrefixes = true, 50 })
	c.establishAddPath()
	for id := uint32(1); id <= 60; id++ {
		c.sendPath(vip, id, 65000+id)
	}
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State != wbgp.StateEstablished || s.Received != 1 || s.ReceivedPaths != 60 || s.Accepted != 1 || s.AcceptedPaths != 60 {
			return fmt.Errorf("%s: received %d prefixes (%d paths), accepted %d (%d paths), want 1 (60) and 1 (60); %s",
				s.State, s.Received, s.ReceivedPaths, s.Accepted, s.AcceptedPaths, s.Message)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 60 {
		t.Fatalf("%d paths held for %s, want 60", len(ps), vip)
	}
	// A path withdrawn: one path less, still one prefix.
	w := bgp.NewIPAddrPrefix(uint8(vip.Bits()), vip.Addr().String())
	w.SetPathLocalIdentifier(60)
	b, err := bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{w}, nil, nil).Serialize(addPathSend)
	if err != nil {
		t.Fatal(err)
	}
	c.sendRaw(b)
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.Received != 1 || s.ReceivedPaths != 59 || s.Accepted != 1 || s.AcceptedPaths != 59 {
			return fmt.Errorf("received %d (%d paths), accepted %d (%d paths), want 1 (59) twice", s.Received, s.ReceivedPaths, s.Accepted, s.AcceptedPaths)
		}
		return nil
	})

	// 49 more prefixes, each with two paths: 50 prefixes, at the limit.
	for i := range 49 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 1, byte(i)}), 32)
		c.sendPath(p, 1, 65001)
		c.sendPath(p, 2, 65002)
	}
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State != wbgp.StateEstablished || s.Received != 50 || s.ReceivedPaths != 59+98 {
			return fmt.Errorf("%s: received %d (%d paths), want 50 (157); %s", s.State, s.Received, s.ReceivedPaths, s.Message)
		}
		return nil
	})
	// The 51st prefix is one too many.
	c.sendPath(netip.MustParsePrefix("10.99.2.1/32"), 1, 65001)
	n := c.recvType(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	if n.ErrorCode != bgp.BGP_ERROR_CEASE || n.ErrorSubcode != bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED {
		t.Errorf("NOTIFICATION %d/%d, want Cease / Maximum Number of Prefixes Reached", n.ErrorCode, n.ErrorSubcode)
	}
	waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if !strings.Contains(s.Message, "max-prefix limit 50 exceeded (ipv4-unicast)") {
			return fmt.Errorf("state %s, message %q", s.State, s.Message)
		}
		return nil
	})
}

// TestCountersPublished: prefix counters that move without any change an
// ingress needs (routes outside the pools) reach the reconcilers as
// Change.Counters, so the class status follows within seconds, and no more
// often than CountersEvery however fast the router sends: here 40 UPDATEs in
// a burst give one change at once and one that covers the rest.
func TestCountersPublished(t *testing.T) {
	m, c := startScripted(t, wASN, nil)
	c.establish(64666, 9)
	c.keepAlive()
	waitSession(t, m, "scripted", established)
	drainChanges(m)

	start := time.Now()
	for i := range 40 {
		c.send(announce(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 3, byte(i)}), 32), "10.0.0.1", asPath(64666, 65009)))
	}
	sent := time.Now()
	var at []time.Duration
	window := time.After(2*wbgp.CountersEvery + time.Second)
collect:
	for {
		select {
		case ch := <-m.Changes():
			if ch.Counters {
				at = append(at, time.Since(start))
				if ch.Sessions || len(ch.Prefixes) > 0 {
					t.Errorf("routes outside the pools gave a change with sessions %v, prefixes %v", ch.Sessions, ch.Prefixes)
				}
			}
		case <-window:
			break collect
		}
	}
	if st, _ := stateOf(m, "scripted"); st.Received != 40 {
		t.Fatalf("received %d, want 40", st.Received)
	}
	if len(at) == 0 {
		t.Fatal("no Change for the counters: the class status would wait for its next periodic reconcile")
	}
	if len(at) > 2 {
		t.Errorf("%d counter changes for one burst (at %v), want at most one per %s", len(at), at, wbgp.CountersEvery)
	}
	for i := 1; i < len(at); i++ {
		if at[i]-at[i-1] < wbgp.CountersEvery-100*time.Millisecond {
			t.Errorf("counter changes %s apart (at %v), want at least %s", at[i]-at[i-1], at, wbgp.CountersEvery)
		}
	}
	// The last one came after the last UPDATE of the burst: a reader then sees 40.
	if last := at[len(at)-1]; last < sent.Sub(start) {
		t.Errorf("the last counter change (at %s) precedes the end of the burst (%s): the final counts were never published", last, sent.Sub(start))
	}
	t.Logf("burst of 40 UPDATEs over %s; counter changes at %v", sent.Sub(start), at)
}
