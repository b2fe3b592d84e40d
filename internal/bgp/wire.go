package bgp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// wire is one session's TCP connection, speaking BGP messages. GoBGP's packet
// library encodes and decodes them; reads come from one goroutine, writes
// (KEEPALIVE, ROUTE-REFRESH, NOTIFICATION) from several, serialised.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	hdr  [bgp.BGP_HEADER_LENGTH]byte
	body []byte
}

func newWire(c net.Conn) *wire {
	return &wire{conn: c, r: bufio.NewReaderSize(c, 64<<10), body: make([]byte, bgp.BGP_MAX_MESSAGE_LENGTH)}
}

// read returns the next message's type and body. The body is only valid until
// the next read. A malformed header is a *bgp.MessageError (to be answered
// with a NOTIFICATION).
func (w *wire) read(deadline time.Time) (uint8, []byte, error) {
	_ = w.conn.SetReadDeadline(deadline)
	if _, err := io.ReadFull(w.r, w.hdr[:]); err != nil {
		return 0, nil, err
	}
	for _, b := range w.hdr[:16] {
		if b != 0xff {
			return 0, nil, bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED, nil, "marker is not all ones")
		}
	}
	n := int(binary.BigEndian.Uint16(w.hdr[16:18]))
	if n < bgp.BGP_HEADER_LENGTH || n > bgp.BGP_MAX_MESSAGE_LENGTH {
		return 0, nil, bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH, w.hdr[16:18], fmt.Sprintf("message length %d", n))
	}
	body := w.body[:n-bgp.BGP_HEADER_LENGTH]
	if _, err := io.ReadFull(w.r, body); err != nil {
		return 0, nil, err
	}
	return w.hdr[18], body, nil
}

// write sends one message within a bounded time (a router that stops reading
// must not block the watcher forever).
func (w *wire) write(m *bgp.BGPMessage) error { return w.writeWithin(m, 10*time.Second) }

func (w *wire) writeWithin(m *bgp.BGPMessage, d time.Duration) error {
	b, err := m.Serialize()
	if err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(d))
	_, err = w.conn.Write(b)
	return err
}

// notify sends a NOTIFICATION, best effort and briefly: the session is
// closing anyway.
func (w *wire) notify(code, subcode uint8, data []byte) {
	_ = w.writeWithin(bgp.NewBGPNotificationMessage(code, subcode, data), time.Second)
}

// families the watcher negotiates on every session, whatever the transport
// address family: a router may send IPv6 VIPs over an IPv4 session.
var families = []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC}

// openMessage is the watcher's OPEN: IPv4 and IPv6 unicast, route refresh
// (to relearn the table when the pools grow), 4-octet ASNs, ADD-PATH receive
// when asked, and graceful restart with no address family and a restart time
// of 0 (RFC 4724: it only says the watcher understands End-of-RIB, which
// routers such as FRR then send after the initial table, so the session is
// synced as soon as the table is in, without waiting for the quiet-time rule;
// there is nothing of the watcher's to retain). No capability to send
// anything is offered: ADD-PATH is receive-only.
func openMessage(asn uint32, routerID netip.Addr, s SessionConfig) *bgp.BGPMessage {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(asn),
		bgp.NewCapGracefulRestart(false, false, 0, nil),
	}
	if s.AddPathReceive {
		var tuples []*bgp.CapAddPathTuple
		for _, f := range families {
			tuples = append(tuples, bgp.NewCapAddPathTuple(f, bgp.BGP_ADD_PATH_RECEIVE))
		}
		caps = append(caps, bgp.NewCapAddPath(tuples))
	}
	myAS := uint16(bgp.AS_TRANS)
	if asn <= math.MaxUint16 {
		myAS = uint16(asn)
	}
	return bgp.NewBGPOpenMessage(myAS, holdSeconds(s.holdTime()), routerID.String(),
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

// holdSeconds rounds up to whole seconds, as BGP carries them.
func holdSeconds(d time.Duration) uint16 {
	return uint16(min(math.MaxUint16, math.Ceil(d.Seconds())))
}

// negotiated is what both OPENs agreed.
type negotiated struct {
	hold, keepalive time.Duration // hold 0: no hold timer, no keepalives
	as4             bool
	routeRefresh    bool
	// families the router may send, with ADD-PATH receive where both sides
	// agreed to it; the decoder options say the same to GoBGP's decoder.
	families map[bgp.RouteFamily]bgp.BGPAddPathMode
	decode   *bgp.MarshallingOption
	// gr is the router's Graceful Restart capability (RFC 4724).
	gr gracefulRestart
}

// gracefulRestart is what a router's Graceful Restart capability says: how long to wait
// for it to come back (time), the unicast families it restarts gracefully (afis), and
// those whose forwarding state it kept across this restart (forwarding: the F bit). A
// router only helping others restart lists no family.
type gracefulRestart struct {
	announced  bool // the router's OPEN carried the capability
	time       time.Duration
	afis       map[uint16]bool
	forwarding map[uint16]bool
}

// sendEndOfRIB tells a router that announced graceful restart that the
// watcher's initial table is complete, once per negotiated family: an UPDATE
// with nothing in it for IPv4 unicast, an MP_UNREACH_NLRI without NLRI for
// IPv6 (RFC 4724 2). The watcher has no routes, so its table is complete at
// once. RFC 4724 asks for the marker "including the case when there is no
// update to send", and restarting routers wait for it: BIRD with -R, FRR and
// GoBGP defer their best-path selection, and so the table they send us, until
// every graceful-restart peer has sent it (BIRD waited its full 240 s
// without it). These are the only UPDATEs the watcher ever sends; they carry
// no route. A router without the capability is not sent one: nothing in its
// procedures waits for it.
func sendEndOfRIB(c *wire, neg *negotiated) error {
	if !neg.gr.announced {
		return nil
	}
	for _, f := range families {
		if _, ok := neg.families[f]; !ok {
			continue
		}
		if err := c.write(bgp.NewEndOfRib(f)); err != nil {
			return err
		}
	}
	return nil
}

// openError is a rejected OPEN: the NOTIFICATION to send and what to tell
// the user.
type openError struct {
	code, subcode uint8
	data          []byte
	msg           string
}

func (e *openError) Error() string { return e.msg }

// negotiate checks the router's OPEN against the session and works out the
// session's parameters (RFC 4271 6.2, RFC 6793, RFC 7911).
func negotiate(s SessionConfig, o *bgp.BGPOpen) (*negotiated, error) {
	if o.Version != 4 {
		return nil, &openError{bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_UNSUPPORTED_VERSION_NUMBER, []byte{0, 4},
			fmt.Sprintf("the router speaks BGP version %d, not 4", o.Version)}
	}
	n := &negotiated{families: map[bgp.RouteFamily]bgp.BGPAddPathMode{}, decode: &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{}}}
	peerAS := uint32(o.MyAS)
	var mp []bgp.RouteFamily
	sendsPaths := map[bgp.RouteFamily]bool{}
	for _, p := range o.OptParams {
		pc, ok := p.(*bgp.OptionParameterCapability)
		if !ok {
			continue
		}
		for _, c := range pc.Capability {
			switch c := c.(type) {
			case *bgp.CapFourOctetASNumber:
				n.as4, peerAS = true, c.CapValue
			case *bgp.CapMultiProtocol:
				mp = append(mp, c.CapValue)
			case *bgp.CapRouteRefresh, *bgp.CapRouteRefreshCisco:
				n.routeRefresh = true
			case *bgp.CapAddPath:
				for _, t := range c.Tuples {
					sendsPaths[t.RouteFamily] = t.Mode&bgp.BGP_ADD_PATH_SEND != 0
				}
			case *bgp.CapGracefulRestart:
				n.gr = gracefulRestart{announced: true, time: time.Duration(c.Time&0x0fff) * time.Second, afis: map[uint16]bool{}, forwarding: map[uint16]bool{}}
				for _, t := range c.Tuples {
					if t.SAFI != bgp.SAFI_UNICAST {
						continue
					}
					n.gr.afis[t.AFI] = true
					n.gr.forwarding[t.AFI] = t.Flags&0x80 != 0
				}
			}
		}
	}
	if peerAS != s.ASN {
		data := make([]byte, 2)
		binary.BigEndian.PutUint16(data, o.MyAS)
		return nil, &openError{bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, data,
			fmt.Sprintf("the router's OPEN says AS %d, the session expects AS %d (check the session's asn)", peerAS, s.ASN)}
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return nil, &openError{bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_UNACCEPTABLE_HOLD_TIME, nil,
			fmt.Sprintf("the router offers a hold time of %d s; BGP allows 0 or at least 3", o.HoldTime)}
	}
	if id, ok := netip.AddrFromSlice(o.ID.To4()); !ok || id.IsUnspecified() {
		return nil, &openError{bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_BGP_IDENTIFIER, nil,
			fmt.Sprintf("the router's BGP identifier %s is not valid", o.ID)}
	}
	if len(mp) == 0 {
		mp = []bgp.RouteFamily{bgp.RF_IPv4_UC} // RFC 4760: no capability, IPv4 unicast only
	}
	for _, f := range mp {
		if f != bgp.RF_IPv4_UC && f != bgp.RF_IPv6_UC {
			continue
		}
		mode := bgp.BGPAddPathMode(0)
		if s.AddPathReceive && sendsPaths[f] {
			mode = bgp.BGP_ADD_PATH_RECEIVE
			n.decode.AddPath[f] = mode
		}
		n.families[f] = mode
	}
	hold := s.holdTime()
	if peer := time.Duration(o.HoldTime) * time.Second; peer < hold {
		hold = peer
	}
	n.hold = hold.Round(time.Second)
	if n.hold > 0 {
		n.keepalive = s.KeepaliveTime
		if n.keepalive == 0 || n.keepalive > n.hold/3 {
			n.keepalive = n.hold / 3
		}
	}
	return n, nil
}

// notificationText names a NOTIFICATION for people: "cease/administrative
// reset", with GoBGP's names for codes and subcodes.
func notificationText(n *bgp.BGPNotification) string {
	s := bgp.NewNotificationErrorCode(n.ErrorCode, n.ErrorSubcode).String()
	if n.ErrorCode == bgp.BGP_ERROR_CEASE && (n.ErrorSubcode == bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN ||
		n.ErrorSubcode == bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET) && len(n.Data) > 1 {
		// RFC 9003: a shutdown communication, length-prefixed UTF-8.
		if l := int(n.Data[0]); l > 0 && l < len(n.Data) {
			s += fmt.Sprintf(" %q", string(n.Data[1:1+l]))
		}
	}
	return s
}

// errNotification is a NOTIFICATION received from the router.
type errNotification struct{ text string }

func (e *errNotification) Error() string { return "the router sent NOTIFICATION " + e.text }
