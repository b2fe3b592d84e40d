package gobgpnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
)

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetwork: both speakers' routes reach the core with the reference AS paths and the
// client learns one of them from the core; a prepend lengthens east's path; a stopped
// speaker's route disappears and returns, re-announced, when it starts again, the client
// keeping west's path meanwhile; a withdrawal removes it.
func TestNetwork(t *testing.T) {
	ctx := context.Background()
	n, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	vip := netip.MustParsePrefix("192.168.155.151/32")
	core := func(want ...string) func() error {
		return func() error {
			paths, err := n.Core.Paths(ctx, vip)
			if err != nil {
				return err
			}
			var got []string
			for _, p := range paths {
				got = append(got, p.ASPath)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("core paths %v, want %v", got, want)
			}
			return nil
		}
	}
	// client checks that the client holds exactly one path, from the core, with next hop
	// the core, and that its AS path is one of want.
	client := func(want ...string) func() error {
		return func() error {
			paths, err := n.Client.Paths(ctx, vip)
			if err != nil {
				return err
			}
			if len(paths) != 1 {
				return fmt.Errorf("client paths %+v, want one", paths)
			}
			p := paths[0]
			if p.From != n.Core.Addr || p.NextHop != n.Core.Addr || !p.Best {
				return fmt.Errorf("client path %+v is not the core's (%s)", p, n.Core.Addr)
			}
			if !slices.Contains(want, p.ASPath) {
				return fmt.Errorf("client path %s, want one of %v", p.ASPath, want)
			}
			return nil
		}
	}
	route := speaker.Route{Prefix: vip, Communities: []string{"64512:100", "large:1:2:3"}}
	for _, s := range []*Speaker{n.West, n.East} {
		if err := s.Advertise(ctx, []speaker.Route{route}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both paths", core("64001 65001", "64002 65002"))
	eventually(t, "the client's path", client("64666 64001 65001", "64666 64002 65002"))
	paths, _ := n.Core.Paths(ctx, vip)
	if !slices.Contains(paths[0].Communities, "64512:100") || !slices.Contains(paths[0].Communities, "large:1:2:3") {
		t.Errorf("communities %v", paths[0].Communities)
	}
	for _, p := range paths {
		if p.NextHop != n.TORWest.Addr && p.NextHop != n.TOREast.Addr {
			t.Errorf("next hop %s is not a TOR", p.NextHop)
		}
	}

	prepended := route
	prepended.Prepend = 1 // 2 would tie at tor-east with the path via the core (64666 64001 65001), 3 would lose to it
	if err := n.East.Advertise(ctx, []speaker.Route{prepended}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "east prepended", core("64001 65001", "64002 65002 65002"))
	best, _ := n.Core.Paths(ctx, vip)
	if !best[0].Best || best[0].ASPath != "64001 65001" {
		t.Errorf("the shorter path should be best: %+v", best)
	}

	n.East.Stop()
	eventually(t, "east gone with its speaker", core("64001 65001"))
	eventually(t, "the client via west", client("64666 64001 65001"))
	if err := n.East.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "east back", core("64001 65001", "64002 65002 65002"))
	if err := n.East.Advertise(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "east withdrawn", core("64001 65001"))
	eventually(t, "the client via west after the withdrawal", client("64666 64001 65001"))
	if err := n.West.Advertise(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the client without a path", func() error {
		paths, err := n.Client.Paths(ctx, vip)
		if err != nil || len(paths) != 0 {
			return fmt.Errorf("client paths %+v (%v), want none", paths, err)
		}
		return nil
	})
}

// TestPortWhen179IsTaken: without port 179 (not root, or taken) routers listen on a port
// MetalLB's BGPPeer accepts (at most 16384), since the TORs' ports end up in BGPPeers.
func TestPortWhen179IsTaken(t *testing.T) {
	addr := netip.MustParseAddr("127.77.0.1")
	if ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 179).String()); err == nil {
		defer ln.Close() // root: hold 179 so freePort must look elsewhere
	}
	for i := 0; i < 50; i++ {
		p, err := freePort(addr, false)
		if err != nil {
			t.Fatal(err)
		}
		if p == 179 || p > maxPeerPort || p < 1024 {
			t.Fatalf("port %d", p)
		}
	}
}
