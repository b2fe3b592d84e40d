package bmp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/bgp/bmptest"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// watcherLog collects a Manager's log for a failed test.
type watcherLog struct {
	mu    sync.Mutex
	lines []string
}

func newCollector(t *testing.T, cfg bgp.Config) *bgp.Manager {
	t.Helper()
	l := &watcherLog{}
	m := bgp.NewManager(funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, time.Now().Format("15:04:05.000")+" "+prefix+" "+args)
	}, funcr.Options{Verbosity: 1}))
	t.Cleanup(func() {
		m.Close()
		if t.Failed() || os.Getenv("BGP_TEST_LOG") == "1" {
			l.mu.Lock()
			t.Logf("watcher log:\n%s", strings.Join(l.lines, "\n"))
			l.mu.Unlock()
		}
	})
	if err := m.Apply(context.Background(), "streams", cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

func router(m *bgp.Manager, name string) bgp.BMPRouterState {
	for _, r := range m.BMP("streams").Routers {
		if r.Name == name {
			return r
		}
	}
	return bgp.BMPRouterState{}
}

func waitRouter(t *testing.T, m *bgp.Manager, name string, cond func(bgp.BMPRouterState) error) bgp.BMPRouterState {
	t.Helper()
	var r bgp.BMPRouterState
	fabric.Eventually(t, converge, func() error {
		r = router(m, name)
		if err := cond(r); err != nil {
			return fmt.Errorf("router %s: %w (message %q)", name, err, r.Message)
		}
		return nil
	})
	return r
}

// TestBMPStreamsDroppedAlone (issue 19 acceptance): with both TORs streaming real FRR BMP,
// a third router's stream cut in the middle of a message, and then tor-east's stream
// flooded past its limit (its speaker announces more prefixes than maxPrefixes), are each
// dropped with that router's view alone: tor-west keeps its connection (same since) and
// its paths throughout; tor-east is refused until its limit changes, then reconnects and
// resends its whole table.
func TestBMPStreamsDroppedAlone(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	port := freePort(t)
	for _, r := range []struct {
		router *fabric.Router
		link   fabric.Link
	}{{f.TORWest, f.TORWestLink}, {f.TOREast, f.TOREastLink}} {
		fabric.EnableBMP(t, r.router, fabric.BMPOptions{Collector: netip.AddrPortFrom(r.link.WatcherAddr, port), Tables: []string{"post-policy"}})
	}
	vip := netip.MustParsePrefix("192.168.155.151/32")
	replay := netip.MustParseAddr("127.0.0.31")
	cfg := bgp.Config{Pools: []netip.Prefix{netip.MustParsePrefix("192.168.155.0/24")}, BMP: &bgp.BMPConfig{
		Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
		Routers: []bgp.BMPRouterConfig{
			// tor-west hears east's flood too (from the core): its limit leaves room.
			{Name: "tor-west", Address: f.TORWestLink.RouterAddr, MaxPrefixes: 100},
			{Name: "tor-east", Address: f.TOREastLink.RouterAddr, MaxPrefixes: 5},
			{Name: "replay", Address: replay, MaxPrefixes: 5},
		},
	}}
	m := newCollector(t, cfg)
	f.West.Announce(vip)
	f.East.Announce(vip)
	ready := func(r bgp.BMPRouterState) error {
		if !r.Connected || !r.Synced || r.Accepted != 1 {
			return fmt.Errorf("connected %v, synced %v, accepted %d", r.Connected, r.Synced, r.Accepted)
		}
		return nil
	}
	westSince := waitRouter(t, m, "tor-west", ready).Since
	waitRouter(t, m, "tor-east", ready)
	westUnharmed := func() {
		t.Helper()
		r := router(m, "tor-west")
		if !r.Connected || !r.Since.Equal(westSince) || r.Accepted != 1 {
			t.Fatalf("tor-west was disturbed: connected %v since %s (was %s), accepted %d: %s", r.Connected, r.Since, westSince, r.Accepted, r.Message)
		}
		for _, p := range m.Paths("streams", vip) {
			if p.Session == "tor-west" && p.Peer == f.West.Addr && p.OriginAS == fabric.WestASN {
				return
			}
		}
		t.Fatalf("tor-west's path from west is gone: %+v", m.Paths("streams", vip))
	}

	t.Run("a stream cut mid-message", func(t *testing.T) {
		c, err := bmptest.Dial(context.Background(), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), replay)
		if err != nil {
			t.Fatal(err)
		}
		peer := bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.9"), AS: 65009, Post: true}
		route := bmptest.Route{NextHop: peer.Addr, ASPath: []uint32{65009}}
		msg := bmptest.Monitor(peer, bmptest.Announce(route, netip.MustParsePrefix("10.99.0.0/24")))
		for _, b := range [][]byte{bmptest.Initiation("replay", "a router cut off"), bmptest.PeerUp(peer, 64003, false),
			bmptest.Monitor(peer, bmptest.Announce(route, vip)), msg[:len(msg)-7]} {
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		waitRouter(t, m, "replay", func(r bgp.BMPRouterState) error {
			if r.Accepted != 1 {
				return fmt.Errorf("accepted %d", r.Accepted)
			}
			return nil
		})
		_ = c.Close()
		waitRouter(t, m, "replay", func(r bgp.BMPRouterState) error {
			if r.Connected || !strings.Contains(r.Message, fmt.Sprintf("cut in the middle of a message (%d of %d bytes)", len(msg)-7, len(msg))) {
				return fmt.Errorf("connected %v", r.Connected)
			}
			return nil
		})
		for _, p := range m.Paths("streams", vip) {
			if p.Session == "replay" {
				t.Errorf("the cut stream's path is kept: %+v", p)
			}
		}
		westUnharmed()
		if r := router(m, "tor-east"); !r.Connected || r.Accepted != 1 {
			t.Errorf("tor-east was disturbed: %+v", r)
		}
	})

	t.Run("a stream flooded past its limit", func(t *testing.T) {
		var flood []netip.Prefix
		for i := range 6 {
			flood = append(flood, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 97, byte(i), 0}), 24))
		}
		f.East.AnnounceMany(flood)
		r := waitRouter(t, m, "tor-east", func(r bgp.BMPRouterState) error {
			if r.Connected || !strings.Contains(r.Message, fmt.Sprintf("max-prefix limit 5 exceeded by neighbour %s (ipv4-unicast, PostPolicy)", f.East.Addr)) ||
				!strings.Contains(r.Message, "reconnections refused since") {
				return fmt.Errorf("connected %v", r.Connected)
			}
			return nil
		})
		t.Logf("tor-east: %s", r.Message)
		for _, p := range m.Paths("streams", vip) {
			if p.Session == "tor-east" {
				t.Errorf("the dropped stream's path is kept: %+v", p)
			}
		}
		westUnharmed()

		// A new limit lets tor-east in again: FRR reconnects and resends its table.
		cfg.BMP.Routers[1].MaxPrefixes = 100
		if err := m.Apply(context.Background(), "streams", cfg); err != nil {
			t.Fatal(err)
		}
		waitRouter(t, m, "tor-east", func(r bgp.BMPRouterState) error {
			if !r.Connected || r.Received < 7 || r.Accepted != 1 {
				return fmt.Errorf("connected %v, received %d, accepted %d", r.Connected, r.Received, r.Accepted)
			}
			return nil
		})
		westUnharmed()
	})
}
