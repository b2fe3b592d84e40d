package fabric

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Speaker is a Debian gobgpd in its own namespace, standing in for one
// cluster's MetalLB speaker (or, with Options.Rogue, for a misbehaving peer).
// It is a test fixture driven through the gobgp CLI inside its namespace; the
// watcher under test is never a child process.
type Speaker struct {
	Name string
	NS   string
	ASN  uint32
	// Addr and Addr6 are the speaker's addresses on its link to its router.
	Addr, Addr6 netip.Addr

	tb        testing.TB
	dir       string
	neighbors []speakerNeighbor

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	announced map[netip.Prefix][]string // re-announced by Start after Stop
	order     []netip.Prefix
}

type speakerNeighbor struct {
	addr    netip.Addr
	asn     uint32
	family  string // ipv4-unicast or ipv6-unicast: one family per session keeps next hops native
	passive bool
}

// speakerConfig renders gobgpd's TOML. connect-retry 1 s because gobgpd's
// default (120 s) would stall a test whenever the router starts later.
func (s *Speaker) config() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("[global.config]")
	w("  as = %d", s.ASN)
	w("  router-id = %q", s.Addr)
	for _, n := range s.neighbors {
		w("[[neighbors]]")
		w("  [neighbors.config]")
		w("    neighbor-address = %q", n.addr)
		w("    peer-as = %d", n.asn)
		w("  [neighbors.timers.config]")
		w("    connect-retry = 1")
		w("    hold-time = 9")
		w("    keepalive-interval = 3")
		w("  [neighbors.transport.config]")
		w("    passive-mode = %t", n.passive)
		w("  [[neighbors.afi-safis]]")
		w("    [neighbors.afi-safis.config]")
		w("      afi-safi-name = %q", n.family)
	}
	return b.String()
}

// Start runs gobgpd and re-announces everything announced before a Stop.
func (s *Speaker) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("speaker %s: %v", s.Name, err)
	}
}

func (s *Speaker) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	conf := filepath.Join(s.dir, "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(s.config()), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "gobgpd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", s.NS, "gobgpd", "-f", conf, "-t", "toml",
		"--pprof-disable", "-p", "--api-hosts", "127.0.0.1:50051")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies, gobgpd dies with it (ip netns exec
	// execs gobgpd in the same process, so the setting survives).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	if err := waitFor(15*time.Second, func() error {
		select {
		case <-exited:
			return fmt.Errorf("gobgpd exited; see %s", filepath.Join(s.dir, "gobgpd.log"))
		default:
		}
		_, err := s.gobgp("global")
		return err
	}); err != nil {
		return err
	}
	for _, p := range s.order {
		if err := s.add(p, s.announced[p]); err != nil {
			return err
		}
	}
	return nil
}

// Stop terminates gobgpd; its router sees the session close and withdraws
// everything the speaker announced, as when a cluster's speaker dies.
func (s *Speaker) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Speaker) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Announce originates p with optional communities ("65535:100" or
// "large:1:2:3"). IPv6 prefixes go out on the speaker's IPv6 session.
func (s *Speaker) Announce(p netip.Prefix, communities ...string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.add(p, communities); err != nil {
		s.tb.Fatalf("speaker %s: announce %s: %v", s.Name, p, err)
	}
	if _, ok := s.announced[p]; !ok {
		s.order = append(s.order, p)
	}
	s.announced[p] = slices.Clone(communities)
}

// AnnounceMany originates many prefixes without communities.
func (s *Speaker) AnnounceMany(ps []netip.Prefix) {
	s.tb.Helper()
	for _, p := range ps {
		s.Announce(p)
	}
}

// Withdraw stops originating p.
func (s *Speaker) Withdraw(p netip.Prefix) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		if _, err := s.gobgp("global", "rib", "-a", family(p), "del", p.String()); err != nil {
			s.tb.Fatalf("speaker %s: withdraw %s: %v", s.Name, p, err)
		}
	}
	delete(s.announced, p)
	s.order = slices.DeleteFunc(s.order, func(q netip.Prefix) bool { return q == p })
}

func (s *Speaker) add(p netip.Prefix, communities []string) error {
	if s.cmd == nil {
		return nil // remembered; Start announces it
	}
	args := []string{"global", "rib", "-a", family(p), "add", p.String()}
	var std, large []string
	for _, c := range communities {
		if l, ok := strings.CutPrefix(c, "large:"); ok {
			large = append(large, l)
		} else {
			std = append(std, c)
		}
	}
	if len(std) > 0 {
		args = append(args, "community", strings.Join(std, ","))
	}
	if len(large) > 0 {
		args = append(args, "large-community", strings.Join(large, ","))
	}
	_, err := s.gobgp(args...)
	return err
}

func (s *Speaker) gobgp(args ...string) (string, error) {
	return inNS(s.NS, "gobgp", append([]string{"-u", "127.0.0.1", "-p", "50051"}, args...)...)
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "ipv4"
	}
	return "ipv6"
}
