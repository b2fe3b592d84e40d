// Package fabric is the testing face of test/lab/fabric, the reference BGP
// topology of docs/lab.md in Linux network namespaces (real FRR core and TORs, a
// gobgpd per cluster standing in for its MetalLB speaker, veth links from the
// root namespace for the watcher). The topology itself, its address plan and
// its leftover cleanup live in test/lab/fabric, which `make lab` uses too;
// this package ties a fabric's lifetime to a test and turns errors into test
// failures:
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
// Everything is removed by t.Cleanup (the routers' state is logged first when
// the test failed).
//
// StartTable builds the ingest benchmark's fixture instead: a Feeder that
// streams one pre-encoded full table to the watcher and to an FRR bgpd.
package fabric

import (
	"net/netip"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// Reference topology ASNs (docs/lab.md, "What runs").
const (
	CoreASN           = labfabric.CoreASN
	TORWestASN        = labfabric.TORWestASN
	TOREastASN        = labfabric.TOREastASN
	WestASN           = labfabric.WestASN
	EastASN           = labfabric.EastASN
	DefaultWatcherASN = labfabric.DefaultWatcherASN
	DefaultRogueASN   = labfabric.DefaultRogueASN
)

// Types shared with test/lab/fabric.
type (
	// Options shape a fabric. The zero value builds the reference topology.
	Options = labfabric.Options
	// RogueOptions configure the rogue peer.
	RogueOptions = labfabric.RogueOptions
	// Link is a point-to-point link between the watcher and one router.
	Link = labfabric.Link
	// Router is one FRR instance.
	Router = labfabric.Router
	// NeighborState is FRR's view of one BGP neighbor.
	NeighborState = labfabric.NeighborState
	// RouteEntry is zebra's view of one route.
	RouteEntry = labfabric.RouteEntry
	// BGPPath is one path in a router's BGP table.
	BGPPath = labfabric.BGPPath
	// Attributes are what a speaker attaches to a route it originates.
	Attributes = labfabric.Attributes
	// Table is the ingest fixture.
	Table = labfabric.Table
	// TableOptions shape a Table.
	TableOptions = labfabric.TableOptions
	// Feeder streams one fixed table to every peer.
	Feeder = labfabric.Feeder
	// Stream describes one completed table transfer.
	Stream = labfabric.Stream
)

// Fabric is the running reference topology (see test/lab/fabric.Fabric);
// its speakers fail the test on errors.
type Fabric struct {
	*labfabric.Fabric
	West, East *Speaker
	Rogue      *Speaker // nil unless Options.Rogue
}

// Speaker is a gobgpd standing in for one cluster's MetalLB speaker; its
// methods fail the test on errors.
type Speaker struct {
	*labfabric.Speaker
	tb testing.TB
}

// Start builds the fabric and waits until every router-to-router and
// speaker-to-router session is Established. Everything is torn down by
// tb.Cleanup; leftovers of crashed earlier runs are removed first.
func Start(tb testing.TB, opts Options) *Fabric {
	tb.Helper()
	Require(tb)
	f, err := labfabric.New(opts)
	if err != nil {
		tb.Fatalf("building the BGP fabric: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("routers at teardown:\n%s", f.Diagnostics())
		}
		f.Close()
	})
	out := &Fabric{Fabric: f, West: &Speaker{f.West, tb}, East: &Speaker{f.East, tb}}
	if f.Rogue != nil {
		out.Rogue = &Speaker{f.Rogue, tb}
	}
	return out
}

// Start runs gobgpd and re-announces everything announced before a Stop.
func (s *Speaker) Start() {
	s.tb.Helper()
	if err := s.Speaker.Start(); err != nil {
		s.tb.Fatal(err)
	}
}

// Stop terminates gobgpd; its router withdraws everything the speaker announced.
func (s *Speaker) Stop() { s.Speaker.Stop() }

// Announce originates p with optional communities ("65535:100" or "large:1:2:3").
func (s *Speaker) Announce(p netip.Prefix, communities ...string) {
	s.tb.Helper()
	if err := s.Speaker.Announce(p, communities...); err != nil {
		s.tb.Fatal(err)
	}
}

// AnnounceWith originates p with attrs (communities, local preference, prepends).
func (s *Speaker) AnnounceWith(p netip.Prefix, attrs Attributes) {
	s.tb.Helper()
	if err := s.Speaker.AnnounceWith(p, attrs); err != nil {
		s.tb.Fatal(err)
	}
}

// AnnounceMany originates many prefixes without communities.
func (s *Speaker) AnnounceMany(ps []netip.Prefix) {
	s.tb.Helper()
	if err := s.Speaker.AnnounceMany(ps); err != nil {
		s.tb.Fatal(err)
	}
}

// Withdraw stops originating p.
func (s *Speaker) Withdraw(p netip.Prefix) {
	s.tb.Helper()
	if err := s.Speaker.Withdraw(p); err != nil {
		s.tb.Fatal(err)
	}
}

// StartTable builds the ingest fixture, removed by tb.Cleanup.
func StartTable(tb testing.TB, opts TableOptions) *Table {
	tb.Helper()
	Require(tb)
	t, err := labfabric.NewTable(opts)
	if err != nil {
		tb.Fatalf("building the table fixture: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("at teardown:\n%s", t.Diagnostics())
		}
		t.Close()
	})
	return t
}

// InCI reports whether the CI environment variable asks for strict mode.
func InCI() bool { return labfabric.InCI() }

// Require skips (outside CI) or fails (in CI) tb when this machine cannot
// build a fabric: not root, or FRR / gobgpd / iproute2 missing.
func Require(tb testing.TB) {
	tb.Helper()
	if err := labfabric.Available(); err != nil {
		if InCI() {
			tb.Fatalf("CI is set, so this is a failure, not a skip: %v", err)
		}
		tb.Skip(err)
	}
}

// Eventually polls cond every 100 ms until it returns nil, failing tb with
// cond's last error after the deadline.
func Eventually(tb testing.TB, deadline time.Duration, cond func() error) {
	tb.Helper()
	if err := labfabric.WaitFor(deadline, cond); err != nil {
		tb.Fatalf("%v", err)
	}
}

// ProcStatusBytes reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status in
// bytes; pid 0 means this process.
func ProcStatusBytes(pid int, field string) (uint64, error) {
	return labfabric.ProcStatusBytes(pid, field)
}

// ProcCPUTime is the user+system CPU time a process has used; pid 0 means
// this process.
func ProcCPUTime(pid int) (time.Duration, error) { return labfabric.ProcCPUTime(pid) }

// ResetPeakRSS resets this process's VmHWM to its current RSS.
func ResetPeakRSS() error { return labfabric.ResetPeakRSS() }
