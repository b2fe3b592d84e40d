package interop_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/interop"
)

// TestCaptureSeeds records what BIRD and ExaBGP send the watcher and writes it as seeds
// of the watcher's fuzz target (internal/bgp FuzzIngest, BGP mode: a 0, the flags byte,
// then the UPDATEs): BIRD's table with ADD-PATH, and ExaBGP's unknown and malformed
// attributes, communities of three kinds, a 900-AS path, withdrawals of unknown paths, in
// both families. It runs only when FUZZ_CAPTURE names the corpus directory
// (internal/bgp/testdata/fuzz/FuzzIngest): the seeds are committed, this regenerates them.
func TestCaptureSeeds(t *testing.T) {
	dir := os.Getenv("FUZZ_CAPTURE")
	if dir == "" {
		t.Skip("FUZZ_CAPTURE is not set: the committed seeds are used")
	}
	const addPath = 1 // FuzzIngest's flag: ADD-PATH receive negotiated
	seed := func(name string, msgs [][]byte) {
		t.Helper()
		if len(msgs) == 0 {
			t.Fatalf("%s: nothing captured", name)
		}
		data := append([]byte{0, addPath}, bytes.Join(msgs, nil)...)
		if err := interop.WriteSeed(dir, name, data); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d UPDATEs, %d bytes", filepath.Join(dir, name), len(msgs), len(data))
	}

	t.Run("bird", func(t *testing.T) {
		n := interop.NewNet(t)
		l := n.Link("bird")
		interop.StartBIRD(t, n, l, interop.BIRDOptions{ASN: routerASN, WatcherASN: watcherASN,
			Routes: []netip.Prefix{vip, outer, netip.MustParsePrefix("2001:db8:155::151/128")}, GracefulRestart: true})
		c := capture(t, l)
		waitUpdates(t, c, 4) // two End-of-RIB, the IPv4 routes (one UPDATE), the IPv6 route
		seed("bird-table", c.Stop())
	})

	t.Run("exabgp", func(t *testing.T) {
		n := interop.NewNet(t)
		l := n.Link("exa")
		e := interop.StartExaBGP(t, n, l, interop.ExaBGPOptions{ASN: routerASN, WatcherASN: watcherASN, AddPathSend: true, GracefulRestart: 120 * time.Second})
		c := capture(t, l)
		long := []string{fmt.Sprint(routerASN)}
		for i := range 898 {
			long = append(long, fmt.Sprint(4200000000+i))
		}
		long = append(long, "65001")
		cmds := []string{
			fmt.Sprintf("announce route 192.168.155.151/32 next-hop %s path-information 0.0.0.1 as-path [ %d 65001 ] community [ 65535:100 ] extended-community [ target:65001:100 ] large-community [ 65001:1:2 ] attribute [ 0x63 0xc0 0x0102030405060708 ]", l.RouterAddr, routerASN),
			fmt.Sprintf("announce route 192.168.155.152/32 next-hop %s path-information 0.0.0.1 as-path [ %s ]", l.RouterAddr, strings.Join(long, " ")),
			fmt.Sprintf("announce route 192.168.155.151/32 next-hop %s path-information 0.0.0.2 as-path [ %d 65002 ] attribute [ 0x08 0xc0 0x010203 ]", l.RouterAddr, routerASN),
			fmt.Sprintf("announce route 192.168.155.151/32 next-hop %s path-information 0.0.0.3 as-path [ %d 65003 ] attribute [ 0x01 0x40 0x07 ]", l.RouterAddr, routerASN),
			fmt.Sprintf("announce route 2001:db8:155::151/128 next-hop %s path-information 0.0.0.1 as-path [ %d 65001 ]", l.RouterAddr6, routerASN),
			"withdraw route 192.168.155.151/32 path-information 0.0.0.9",
			"withdraw route 2001:db8:155::99/128 path-information 0.0.0.1",
			"withdraw route 192.168.155.152/32 path-information 0.0.0.1",
		}
		for i, cmd := range cmds {
			e.Send(cmd)
			waitUpdates(t, c, 3+i) // after the two End-of-RIB
		}
		seed("exabgp-attributes", c.Stop())
	})
}

func capture(t *testing.T, l interop.Link) *interop.Capture {
	t.Helper()
	var c *interop.Capture
	deadline := time.Now().Add(converge)
	for {
		var err error
		if c, err = interop.StartCapture(netip.AddrPortFrom(l.RouterAddr, 179), l.WatcherAddr, watcherASN, routerASN, true); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("capturing from %s: %v", l.RouterAddr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitUpdates(t *testing.T, c *interop.Capture, n int) {
	t.Helper()
	for end := time.Now().Add(converge); c.Updates() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d UPDATEs captured, want %d", c.Updates(), n)
		}
	}
}
