package bgp_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/bgp/bmptest"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// BenchmarkBMPIngest1M is BenchmarkIngest1M over BMP: one router streams the same
// 1,000,000-prefix IPv4 table (1,000 /32s in the pool, the last route among them) as
// one neighbour's Adj-RIB-In, after its Initiation and Peer Up, packed as a router packs
// a full table (4096-byte UPDATEs in Route Monitoring messages, then End-of-RIB), from a
// pre-encoded stream over loopback, so the collector is what is measured. Beside it, in
// the same run, FRR bgpd ingests the table over BGP from the table fixture's feeder.
//
// Reported: bmp-s, from the router's connection to the Change for the table's last route
// (a stream's messages are handled in order); bmp-cpu-s, this process's CPU time
// meanwhile; bmp-peak-rss-MiB (VmHWM, reset just before), bmp-rss-growth-MiB over the RSS
// before, bmp-live-heap-MiB once ingested; and FRR's frr-s, frr-cpu-s, frr-peak-rss-MiB.
// As BenchmarkIngest1M, the figures are these metrics, and it runs once.
func BenchmarkBMPIngest1M(b *testing.B) {
	const total, inPools = 1_000_000, 1_000
	watcherPool := netip.MustParsePrefix("10.255.0.0/16")
	table := benchTable(total)
	last := table[len(table)-1]
	tf := fabric.StartTable(b, fabric.TableOptions{Prefixes: table})
	frr := frrIngest(b, tf, total)

	peer := bmptest.Peer{Addr: netip.MustParseAddr("198.51.100.1"), AS: 65100}
	stream := append(bmptest.Initiation("feeder", "benchmark"), bmptest.PeerUp(peer, 64998, false)...)
	stream = append(stream, bmptest.Table(peer, bmptest.Route{NextHop: peer.Addr, ASPath: []uint32{65100}}, table)...)
	table = nil
	router := netip.MustParseAddr("127.0.0.41")

	meter := startMeter(b)
	m := bgp.NewManager(discardLog())
	b.Cleanup(m.Close)
	cfg := bgp.Config{Pools: []netip.Prefix{watcherPool}, BMP: &bgp.BMPConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Routers: []bgp.BMPRouterConfig{{Name: "full-table", Address: router, MaxPrefixes: 2 * total}}}}
	if err := m.Apply(context.Background(), class, cfg); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	conn, err := bmptest.Dial(context.Background(), m.BMP(class).Address, router)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = conn.Write(stream) }()
	_, done := nextChangeUntil(b, m, func() bool { return len(m.Paths(class, last)) == 1 })
	meter.report(b, "bmp", done.Sub(start))

	st := m.BMP(class)
	if len(st.Routers) != 1 || st.Routers[0].Received != total || st.Routers[0].Accepted != inPools {
		b.Fatalf("after ingest: %+v, want %d received and %d accepted", st.Routers, total, inPools)
	}
	frr.report(b)
}
