// Package fabric builds the reference BGP topology of docs/lab.md in Linux
// network namespaces: real FRR routers (core AS 64666 with multipath-relax,
// maximum-paths 4 and ADD-PATH towards the watcher; TOR west AS 64001; TOR
// east AS 64002), one Debian gobgpd per cluster standing in for its MetalLB
// speaker (AS 65001 west, 65002 east), with Options.Client a client router
// (FRR, AS 64500) that peers with the core only, and veth links from the root
// namespace to the core and to each TOR, so a watcher in the root namespace
// (the operator, a test process) peers with real routers.
//
// It is used by `make lab` (cmd/anycast-lab) and, through the testing facade
// in test/fabric, by the BGP tests:
//
//	f, err := fabric.New(fabric.Options{WatcherPassword: "s3cret"})
//	if err != nil { ... }
//	defer f.Close()
//	vip := netip.MustParsePrefix("192.168.155.151/32")
//	_ = f.West.Announce(vip, "65535:100")
//	_ = f.East.AnnounceWith(vip, fabric.Attributes{Prepend: 2})
//	_ = fabric.WaitFor(time.Minute, func() error {
//		nhs, err := f.Core.FIBNextHops(vip) // zebra's view: ECMP?
//		...
//	})
//	// Peer a watcher from f.CoreLink.WatcherAddr (the root namespace)
//	// to f.CoreLink.RouterAddr, AS CoreASN, expected local AS
//	// f.WatcherASN, password f.WatcherPassword.
//	_ = f.East.Withdraw(vip) // or f.East.Stop() / f.East.Start()
//
// New needs root, FRR (zebra, bgpd, vtysh), gobgpd/gobgp and iproute2;
// Available says what is missing. A fabric that cannot be built (FRR not
// starting, sessions not establishing within a minute) is an error carrying
// FRR's own neighbor states and log.
//
// Addresses: links inside the namespaces use 198.18.0.0/15 and 2001:2::/48
// (RFC 2544/5180 benchmarking ranges); each fabric takes a "block" so links
// in the root namespace (198.19.<block>.0/24) never collide when several
// fabrics run at once. Close removes everything; whatever a crashed process
// left behind (namespaces named acf-<block>-*, the FRR and gobgpd processes
// in them, run directories) is removed by the next New, NewTable or Sweep.
//
// NewTable builds the ingest benchmark's fixture instead: a Feeder that
// streams one pre-encoded full table to the watcher and to an FRR bgpd.
package fabric
