package bmp_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/interop"
)

// TestCaptureFRRSeeds records what FRR sends the watcher, as seeds of its fuzz target
// (internal/bgp FuzzIngest): the BMP streams of a TOR and of the core (mode byte 1, then the
// stream as read off the socket: Initiation, Peer Up and Down, pre- and post-policy Route
// Monitoring, End-of-RIB, statistics) and the core's ADD-PATH BGP session (mode byte 0, the
// ADD-PATH flag, then its UPDATEs), through announcements with communities, an IPv6 VIP, a
// withdrawal and a speaker stopping. It runs only when FUZZ_CAPTURE names the corpus
// directory (internal/bgp/testdata/fuzz/FuzzIngest): the seeds are committed, this
// regenerates them.
func TestCaptureFRRSeeds(t *testing.T) {
	dir := os.Getenv("FUZZ_CAPTURE")
	if dir == "" {
		t.Skip("FUZZ_CAPTURE is not set: the committed seeds are used")
	}
	f := fabric.Start(t, fabric.Options{})
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	streams := map[netip.Addr]*bytes.Buffer{}
	var conns []net.Conn
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			mu.Lock()
			b := &bytes.Buffer{}
			streams[from] = b // a reconnection's stream replaces the first
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					mu.Lock()
					b.Write(buf[:n])
					mu.Unlock()
					if err != nil { // io.EOF, or closed below
						return
					}
				}
			}()
		}
	}()
	vip := netip.MustParsePrefix("192.168.155.151/32")
	vip6 := netip.MustParsePrefix("2001:db8:155::151/128")
	f.West.Announce(vip, "65535:100", "large:65001:1:2")
	f.East.Announce(vip)
	f.West.Announce(vip6)
	// BMP first: it restarts bgpd, which would end the captured session.
	fabric.EnableBMP(t, f.TORWest, fabric.BMPOptions{Collector: netip.AddrPortFrom(f.TORWestLink.WatcherAddr, port), StatsInterval: time.Second})
	fabric.EnableBMP(t, f.Core, fabric.BMPOptions{Collector: netip.AddrPortFrom(f.CoreLink.WatcherAddr, port)})
	var core *interop.Capture
	fabric.Eventually(t, time.Minute, func() error {
		var err error
		core, err = interop.StartCapture(netip.AddrPortFrom(f.CoreLink.RouterAddr, 179), f.CoreLink.WatcherAddr, f.WatcherASN, fabric.CoreASN, true)
		return err
	})
	time.Sleep(5 * time.Second)
	f.East.Withdraw(vip)
	time.Sleep(2 * time.Second)
	f.East.Announce(vip)
	time.Sleep(2 * time.Second)
	f.East.Stop()
	time.Sleep(3 * time.Second)
	updates := core.Stop()
	mu.Lock()
	for _, c := range conns {
		_ = c.Close()
	}
	mu.Unlock()
	wg.Wait()

	write := func(name string, data []byte) {
		t.Helper()
		if err := interop.WriteSeed(dir, name, data); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", name, len(data))
	}
	for name, addr := range map[string]netip.Addr{"frr-bmp-tor": f.TORWestLink.RouterAddr, "frr-bmp-core": f.CoreLink.RouterAddr} {
		b := streams[addr]
		if b == nil || b.Len() == 0 {
			t.Fatalf("no BMP stream from %s (%s)", name, addr)
		}
		write(name, append([]byte{1}, b.Bytes()...))
	}
	if len(updates) < 4 {
		t.Fatalf("%d UPDATEs from the core", len(updates))
	}
	write("frr-bgp-core", append([]byte{0, 1}, bytes.Join(updates, nil)...))
}
