// Package fabric builds the reference BGP topology of DESIGN.md in Linux
// network namespaces, for tests in any package: real FRR routers (core AS
// 64666 with multipath-relax, maximum-paths 4 and ADD-PATH towards the
// watcher; TOR west AS 64001; TOR east AS 64002), one Debian gobgpd per
// cluster standing in for its MetalLB speaker (AS 65001 west, 65002 east),
// and veth links from the root namespace to the core and to each TOR, so
// the watcher, which runs inside the test process, peers with real routers.
//
//	func TestSomething(t *testing.T) {
//		f := fabric.Start(t, fabric.Options{WatcherPassword: "s3cret"})
//		vip := netip.MustParsePrefix("192.168.155.151/32")
//		f.West.Announce(vip, "65535:100")
//		f.East.Announce(vip)
//		fabric.Eventually(t, time.Minute, func() error {
//			nhs, err := f.Core.FIBNextHops(vip) // zebra's view: ECMP?
//			...
//		})
//		// Peer a watcher from f.CoreLink.WatcherAddr (the root namespace)
//		// to f.CoreLink.RouterAddr, AS fabric.CoreASN, expected local AS
//		// f.WatcherASN, password f.WatcherPassword.
//		f.East.Withdraw(vip) // or f.East.Stop() / f.East.Start()
//	}
//
// Start needs root, FRR (zebra, bgpd, vtysh), gobgpd/gobgp and iproute2. When
// they are missing the test is skipped, unless CI is set ("true"), in which
// case it fails: CI must never silently skip the BGP tests. A fabric that
// cannot be built (FRR not starting, sessions not establishing within a
// minute) always fails the test, with FRR's own neighbor states and log.
//
// Addresses: links inside the namespaces use 198.18.0.0/15 and 2001:2::/48
// (RFC 2544/5180 benchmarking ranges); each fabric takes a "block" so links
// in the root namespace (198.19.<block>.0/24) never collide when test
// binaries run in parallel. Everything is removed by t.Cleanup, and whatever
// a crashed run left behind (namespaces named acf-<block>-*, the FRR and
// gobgpd processes in them, run directories) is removed by the next Start.
//
// StartTable builds the ingest benchmark's fixture instead: a Feeder that
// streams one pre-encoded full table to the watcher and to an FRR bgpd.
package fabric
