package fabric_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestFabric checks the fixture itself against FRR's own view: both
// speakers' routes reach the core, which installs ECMP (IPv4 and IPv6);
// the BGP table shows both AS paths as multipath; a stopped speaker's route
// disappears and comes back, re-announced, when it starts again.
func TestFabric(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	vip := netip.MustParsePrefix("192.168.155.151/32")
	vip6 := netip.MustParsePrefix("2001:db8:155::151/128")
	for _, s := range []*fabric.Speaker{f.West, f.East} {
		s.Announce(vip, "65535:100")
		s.Announce(vip6)
	}
	both := []netip.Addr{f.TORWestUplink, f.TOREastUplink}
	fib := func(p netip.Prefix, want int) {
		t.Helper()
		fabric.Eventually(t, time.Minute, func() error {
			nhs, err := f.Core.FIBNextHops(p)
			if err != nil {
				return err
			}
			if len(nhs) != want {
				return fmt.Errorf("%s: FIB next hops %v, want %d", p, nhs, want)
			}
			if p == vip && want == 2 && !slices.Equal(nhs, both) {
				return fmt.Errorf("%s: FIB next hops %v, want %v", p, nhs, both)
			}
			return nil
		})
	}
	fib(vip, 2)
	fib(vip6, 2)

	paths, err := f.Core.BGPPaths(vip)
	if err != nil {
		t.Fatal(err)
	}
	var aspaths []string
	for _, p := range paths {
		if !p.Valid || !p.Multipath {
			t.Errorf("path %+v is not a valid multipath", p)
		}
		aspaths = append(aspaths, p.ASPath)
	}
	slices.Sort(aspaths)
	if !slices.Equal(aspaths, []string{"64001 65001", "64002 65002"}) {
		t.Errorf("core AS paths %v", aspaths)
	}
	if n, err := f.Core.ReceivedFrom(f.TORWestUplink); err != nil || n != 2 {
		t.Errorf("core received %d prefixes from tor-west (%v), want 2 (IPv4 and IPv6 VIP)", n, err)
	}

	f.East.Stop()
	fib(vip, 1)
	f.East.Start()
	fib(vip, 2)
	fib(vip6, 2)
}

// TestBMPFromStart: a fabric built with a BMPPort has the core and both TORs, each from
// its end of its link to the watcher, connect to a collector on that port and open with a
// BMP Initiation message (RFC 7854: version 3, type 4), as the lab's BMP watcher expects.
func TestBMPFromStart(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	f := fabric.Start(t, fabric.Options{BMPPort: port})
	want := []netip.Addr{f.CoreLink.RouterAddr, f.TORWestLink.RouterAddr, f.TOREastLink.RouterAddr}
	slices.SortFunc(want, netip.Addr.Compare)
	var got []netip.Addr
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	for len(got) < len(want) {
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("connected so far: %v, want %v: %v", got, want, err)
		}
		defer c.Close()
		from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [6]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatalf("%s: reading the first BMP header: %v", from, err)
		}
		if hdr[0] != 3 || hdr[5] != 4 {
			t.Errorf("%s: first message version %d type %d, want a BMP v3 Initiation (type 4)", from, hdr[0], hdr[5])
		}
		got = append(got, from)
	}
	slices.SortFunc(got, netip.Addr.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("BMP connections from %v, want the routers' link addresses %v", got, want)
	}
}
