// Package interop runs the watcher (internal/bgp) against routers other than
// FRR and GoBGP: BIRD 2 and ExaBGP 4 from Debian (apt-get install -y bird2
// exabgp), each in its own network namespace, joined to the test process (the
// root namespace, where the watcher dials from) by a veth pair:
//
//	n := interop.NewNet(t)
//	l := n.Link("bird") // namespace aci-<block>-bird, addresses l.RouterAddr...
//	b := interop.StartBIRD(t, n, l, interop.BIRDOptions{ASN: 64666, WatcherASN: 64999,
//		Routes: []netip.Prefix{vip}, GracefulRestart: true})
//	// dial l.RouterAddr from l.WatcherAddr
//	b.GracefulRestart() // birdc graceful restart
//	b.Start(true)       // bird -R
//
// BIRD is what the field runs beside FRR, with its own graceful-restart
// recovery (-R) and refusals; ExaBGP sends on demand what no router does by
// configuration: a wrong AS, a peer AS it refuses, a hundred ADD-PATH paths
// for one prefix. Each router records what it received from the watcher
// (BIRD's route counts, ExaBGP's API messages), so the tests also prove the
// watcher sends them nothing but its End-of-RIB markers.
//
// Everything runs as root, in namespaces and addresses of a per-test "block"
// (see netns.go) that never meet the FRR fabric's (test/lab/fabric).
// Without root, BIRD or ExaBGP the tests are skipped, unless CI is set, in
// which case they fail: CI must never silently skip them (.ci/run installs
// bird2 and exabgp).
package interop
