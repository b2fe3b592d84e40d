package fabric

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Table is the ingest fixture: a Feeder in its own namespace serving one full
// table on two links, one to the watcher (the test process) and one to an
// FRR bgpd, so both ingest the same bytes from the same kind of peer.
//
//	watcher (root namespace) --- feeder --- FRR bgpd -Z (AS FRRASN)
type Table struct {
	Block int
	// Watcher is the watcher's link; dial Watcher.RouterAddr (AS FeederASN).
	Watcher Link
	Feeder  *Feeder
	// FRR is a bgpd without zebra (no FIB: the watcher has none either)
	// whose session to FRRFeeder starts administratively down; StartFRR
	// opens it.
	FRR       *Router
	FRRFeeder *Feeder

	frrNeighbor netip.Addr
	namespaces  []string
}

// TableOptions shape a Table.
type TableOptions struct {
	Prefixes  []netip.Prefix // IPv4 only
	FeederASN uint32         // default 65100
	FRRASN    uint32         // default 64998
}

// NewTable builds the ingest fixture. Encoding a million prefixes takes a
// couple of seconds; that happens here, before any measurement. The caller
// must Close it; on error, whatever was built is already removed.
func NewTable(opts TableOptions) (*Table, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	t, err := buildTable(opts)
	if err != nil {
		if t != nil {
			t.Close()
		}
		return nil, err
	}
	return t, nil
}

func buildTable(opts TableOptions) (*Table, error) {
	if opts.FeederASN == 0 {
		opts.FeederASN = 65100
	}
	if opts.FRRASN == 0 {
		opts.FRRASN = 64998
	}
	block, err := acquireBlock()
	if err != nil {
		return nil, err
	}
	t := &Table{Block: block}
	feedNS, frrNS := blockNS(block, "feed"), blockNS(block, "bfrr")
	for _, ns := range []string{feedNS, frrNS} {
		if err := createNS(ns); err != nil {
			return t, err
		}
		t.namespaces = append(t.namespaces, ns)
	}
	w := rootLink(block, linkFeed)
	if err := link(endpoint{"", rootIf(block, "feed"), w.a4, w.a6}, endpoint{feedNS, "to-watcher", w.b4, w.b6}); err != nil {
		return t, err
	}
	if err := link(endpoint{feedNS, "to-frr", feedRouter.a4, feedRouter.a6}, endpoint{frrNS, "to-feeder", feedRouter.b4, feedRouter.b6}); err != nil {
		return t, err
	}
	t.Watcher = newLink("feeder", opts.FeederASN, w)
	if t.Feeder, err = startFeeder(feedNS, w.b4.Addr(), opts.FeederASN, opts.Prefixes); err != nil {
		return t, err
	}
	if t.FRRFeeder, err = startFeeder(feedNS, feedRouter.a4.Addr(), opts.FeederASN, opts.Prefixes); err != nil {
		return t, err
	}
	t.frrNeighbor = feedRouter.a4.Addr()
	conf := frrConfig("bench", opts.FRRASN, feedRouter.b4.Addr(), filepath.Join(frrRunDir, frrNS, "bgpd.log"), false,
		[]frrNeighbor{{addr: t.frrNeighbor, asn: opts.FeederASN, v4: true}})
	// Start with the session shut so FRR ingests only when asked, never
	// competing with the watcher for the CPU.
	conf = strings.Replace(conf, fmt.Sprintf(" neighbor %s timers connect 2\n", t.frrNeighbor),
		fmt.Sprintf(" neighbor %s timers connect 2\n neighbor %s shutdown\n", t.frrNeighbor, t.frrNeighbor), 1)
	if t.FRR, err = startRouter("bench", frrNS, opts.FRRASN, conf, false); err != nil {
		return t, err
	}
	return t, nil
}

// StartFRR opens FRR's session to its feeder; the transfer starts at once.
// It can be used once: KillFRR ends that bgpd.
func (t *Table) StartFRR() error {
	_, err := run("vtysh", "-N", t.FRR.NS, "-c", "configure terminal", "-c",
		fmt.Sprintf("router bgp %d", t.FRR.ASN), "-c", fmt.Sprintf("no neighbor %s shutdown", t.frrNeighbor))
	return err
}

// KillFRR ends FRR's bgpd (SIGKILL) and waits for it to exit. A bgpd told
// to drop a million routes keeps a core busy for seconds, which would
// distort whatever is measured next.
func (t *Table) KillFRR() error {
	pid, err := t.FRR.BGPDPid()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	return waitFor(30*time.Second, func() error {
		if processAlive(pid) {
			return fmt.Errorf("bgpd %d still running", pid)
		}
		return nil
	})
}

// FRRReceived is how many prefixes FRR holds from its feeder.
func (t *Table) FRRReceived() (int, error) {
	return t.FRR.ReceivedFrom(t.frrNeighbor)
}

// FRRPeakRSS is bgpd's peak resident set (VmHWM) in bytes.
func (t *Table) FRRPeakRSS() (uint64, error) {
	pid, err := t.FRR.BGPDPid()
	if err != nil {
		return 0, err
	}
	return ProcStatusBytes(pid, "VmHWM")
}

// ProcStatusBytes reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status in
// bytes; pid 0 means this process.
func ProcStatusBytes(pid int, field string) (uint64, error) {
	p := "/proc/self/status"
	if pid != 0 {
		p = filepath.Join("/proc", strconv.Itoa(pid), "status")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("%s has no %s", p, field)
}

// ProcCPUTime is the user+system CPU time a process has used (all its
// threads), from /proc/<pid>/stat; pid 0 means this process. Unlike wall
// time it does not grow when other work competes for the cores.
func ProcCPUTime(pid int) (time.Duration, error) {
	p := "/proc/self/stat"
	if pid != 0 {
		p = filepath.Join("/proc", strconv.Itoa(pid), "stat")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start at
	// field 3; utime and stime are fields 14 and 15, in clock ticks.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: short stat line", p)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime", p)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// FRRCPUTime is the CPU time bgpd has used so far.
func (t *Table) FRRCPUTime() (time.Duration, error) {
	pid, err := t.FRR.BGPDPid()
	if err != nil {
		return 0, err
	}
	return ProcCPUTime(pid)
}

// ResetPeakRSS resets this process's VmHWM to its current RSS (Linux
// clear_refs value 5), so a later VmHWM read covers only what follows.
func ResetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200)
}

// Close removes the fixture: feeders, namespaces, FRR and the block.
func (t *Table) Close() {
	for _, f := range []*Feeder{t.Feeder, t.FRRFeeder} {
		if f != nil {
			f.close()
		}
	}
	for _, ns := range t.namespaces {
		_ = deleteNS(ns)
		_ = os.RemoveAll(filepath.Join(frrRunDir, ns))
	}
	releaseBlock(t.Block)
}

// Diagnostics is the FRR side's `show bgp summary` and log tail.
func (t *Table) Diagnostics() string {
	if t.FRR == nil {
		return ""
	}
	out, _ := t.FRR.Vtysh("show bgp summary")
	return "bench FRR:\n" + out + t.FRR.LogTail()
}

// WaitFRRReceived polls FRR until it holds n prefixes from its feeder.
func (t *Table) WaitFRRReceived(n int, deadline time.Duration) (time.Time, error) {
	var done time.Time
	err := waitFor(deadline, func() error {
		got, err := t.FRRReceived()
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("FRR holds %d of %d prefixes", got, n)
		}
		done = time.Now()
		return nil
	})
	return done, err
}
