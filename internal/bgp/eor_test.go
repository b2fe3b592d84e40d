package bgp_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// updatesWithin reads what the watcher sends for d and returns its UPDATEs;
// anything but KEEPALIVE and UPDATE fails the test.
func (c *peerConn) updatesWithin(d time.Duration) []*bgp.BGPMessage {
	c.t.Helper()
	var out []*bgp.BGPMessage
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		m, err := c.recvUntil(end)
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			break
		}
		if err != nil {
			c.t.Fatalf("reading from the watcher: %v", err)
		}
		switch m.Header.Type {
		case bgp.BGP_MSG_KEEPALIVE:
		case bgp.BGP_MSG_UPDATE:
			out = append(out, m)
		default:
			c.t.Fatalf("the watcher sent message type %d (%+v)", m.Header.Type, m.Body)
		}
	}
	return out
}

// TestEndOfRIBSent: RFC 4724 asks every speaker to mark the end of its initial
// table for each family, even an empty one, and a restarting router (BIRD with
// -R, FRR, GoBGP) holds its own table back until every graceful-restart peer
// has. To a router that announced graceful restart the watcher sends exactly
// that, once per negotiated family, right after Established: an empty UPDATE
// for IPv4 unicast and an MP_UNREACH_NLRI with no NLRI for IPv6 unicast, and
// no other UPDATE. A router without the capability is sent none.
func TestEndOfRIBSent(t *testing.T) {
	t.Run("graceful-restart router, both families", func(t *testing.T) {
		_, c := startScripted(t, wASN, nil)
		c.open(64666, 9, bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
			bgp.NewCapFourOctetASNumber(64666), bgp.NewCapGracefulRestart(false, false, 120, nil))
		c.recvType(bgp.BGP_MSG_KEEPALIVE)
		c.send(bgp.NewBGPKeepAliveMessage())
		c.keepAlive()
		ups := c.updatesWithin(4 * time.Second) // past a keepalive (3 s): nothing more follows
		var got []bgp.RouteFamily
		for _, m := range ups {
			u := m.Body.(*bgp.BGPUpdate)
			eor, f := u.IsEndOfRib()
			if !eor {
				t.Fatalf("the watcher sent an UPDATE that is not an End-of-RIB: %+v", u)
			}
			// Nothing but the marker: no NLRI, no withdrawals, no attribute but
			// IPv6's empty MP_UNREACH_NLRI.
			if len(u.NLRI) != 0 || len(u.WithdrawnRoutes) != 0 {
				t.Errorf("End-of-RIB for %s carries routes: %+v", f, u)
			}
			switch f {
			case bgp.RF_IPv4_UC:
				if len(u.PathAttributes) != 0 || m.Header.Len != bgp.BGP_HEADER_LENGTH+4 {
					t.Errorf("IPv4 End-of-RIB is not the empty UPDATE (23 bytes): %d bytes, %+v", m.Header.Len, u.PathAttributes)
				}
			case bgp.RF_IPv6_UC:
				mp, ok := u.PathAttributes[0].(*bgp.PathAttributeMpUnreachNLRI)
				if len(u.PathAttributes) != 1 || !ok || len(mp.Value) != 0 {
					t.Errorf("IPv6 End-of-RIB is not one empty MP_UNREACH_NLRI: %+v", u.PathAttributes)
				}
			}
			got = append(got, f)
		}
		if len(got) != 2 || got[0] != bgp.RF_IPv4_UC || got[1] != bgp.RF_IPv6_UC {
			t.Fatalf("End-of-RIB sent for %v, want once for IPv4 unicast, then once for IPv6 unicast", got)
		}
	})
	t.Run("graceful-restart router, IPv4 only", func(t *testing.T) {
		_, c := startScripted(t, wASN, nil)
		c.open(64666, 9, bgp.NewCapFourOctetASNumber(64666), bgp.NewCapGracefulRestart(false, false, 120, nil))
		c.recvType(bgp.BGP_MSG_KEEPALIVE)
		c.send(bgp.NewBGPKeepAliveMessage())
		c.keepAlive()
		ups := c.updatesWithin(2 * time.Second)
		if len(ups) != 1 {
			t.Fatalf("%d UPDATEs to an IPv4-only router, want its one End-of-RIB", len(ups))
		}
		if eor, f := ups[0].Body.(*bgp.BGPUpdate).IsEndOfRib(); !eor || f != bgp.RF_IPv4_UC {
			t.Fatalf("sent %+v, want the IPv4 End-of-RIB", ups[0].Body)
		}
	})
	t.Run("router without graceful restart", func(t *testing.T) {
		_, c := startScripted(t, wASN, nil)
		c.establish(64666, 9)
		c.keepAlive()
		if ups := c.updatesWithin(2 * time.Second); len(ups) != 0 {
			t.Fatalf("the watcher sent %d UPDATEs to a router without graceful restart", len(ups))
		}
	})
}
