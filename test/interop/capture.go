package interop

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Capture records what a router sends a BGP peer, for the watcher's fuzz corpus
// (internal/bgp FuzzIngest): it opens a session as the watcher does (IPv4 and IPv6
// unicast, route refresh, 4-octet ASNs, graceful restart without families, ADD-PATH
// receive when asked) and keeps every UPDATE, whole, until Stop. It sends nothing but its
// OPEN and KEEPALIVEs (every 2 s: within any hold time a router may set).
type Capture struct {
	conn net.Conn
	mu   sync.Mutex
	msgs [][]byte
	done chan error
}

// StartCapture dials the router at remote from local and opens the session.
func StartCapture(remote netip.AddrPort, local netip.Addr, asn, routerASN uint32, addPath bool) (*Capture, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local.AsSlice()}}
	conn, err := d.Dial("tcp", remote.String())
	if err != nil {
		return nil, err
	}
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(asn), bgp.NewCapGracefulRestart(false, false, 0, nil),
	}
	if addPath {
		caps = append(caps, bgp.NewCapAddPath([]*bgp.CapAddPathTuple{
			bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, bgp.BGP_ADD_PATH_RECEIVE), bgp.NewCapAddPathTuple(bgp.RF_IPv6_UC, bgp.BGP_ADD_PATH_RECEIVE)}))
	}
	myAS := uint16(bgp.AS_TRANS)
	if asn <= math.MaxUint16 {
		myAS = uint16(asn)
	}
	open, _ := bgp.NewBGPOpenMessage(myAS, 90, "198.18.255.98", []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}).Serialize()
	keepalive, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	if _, err := conn.Write(open); err != nil {
		conn.Close()
		return nil, err
	}
	c := &Capture{conn: conn, done: make(chan error, 1)}
	go func() {
		for range time.Tick(2 * time.Second) {
			if _, err := conn.Write(keepalive); err != nil {
				return // closed: Stop, or the router ended the session
			}
		}
	}()
	go func() {
		for {
			var hdr [bgp.BGP_HEADER_LENGTH]byte
			if _, err := io.ReadFull(conn, hdr[:]); err != nil {
				c.done <- err
				return
			}
			n := int(binary.BigEndian.Uint16(hdr[16:18]))
			if n < bgp.BGP_HEADER_LENGTH {
				c.done <- fmt.Errorf("bad message length %d", n)
				return
			}
			msg := make([]byte, n)
			copy(msg, hdr[:])
			if _, err := io.ReadFull(conn, msg[bgp.BGP_HEADER_LENGTH:]); err != nil {
				c.done <- err
				return
			}
			switch hdr[18] {
			case bgp.BGP_MSG_OPEN:
				if _, err := conn.Write(keepalive); err != nil {
					c.done <- err
					return
				}
			case bgp.BGP_MSG_UPDATE:
				c.mu.Lock()
				c.msgs = append(c.msgs, msg)
				c.mu.Unlock()
			case bgp.BGP_MSG_NOTIFICATION:
				c.done <- fmt.Errorf("the router sent a NOTIFICATION: % x", msg[bgp.BGP_HEADER_LENGTH:])
				return
			}
		}
	}()
	return c, nil
}

// Stop closes the session and returns the UPDATEs received, oldest first.
func (c *Capture) Stop() [][]byte {
	_ = c.conn.Close()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs
}

// Updates returns how many UPDATEs have arrived so far.
func (c *Capture) Updates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// WriteSeed writes one input of a fuzz target with a single []byte argument in Go's
// corpus format (testdata/fuzz/<target>/<name>).
func WriteSeed(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)), 0o644)
}
