package fabric

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
)

// Speaker is a Debian gobgpd in its own namespace, standing in for one
// cluster's MetalLB speaker (or, with Options.Rogue, for a misbehaving peer),
// driven through the gobgp CLI inside its namespace. The watcher under test
// is never a child process.
type Speaker struct {
	Name string
	NS   string
	ASN  uint32
	// Addr and Addr6 are the speaker's addresses on its link to its router.
	Addr, Addr6 netip.Addr
	// TORAddr and TORAddr6 are its router's addresses on that link, TORASN
	// the router's AS: what a speaker in this namespace peers with.
	TORAddr, TORAddr6 netip.Addr
	TORASN            uint32

	dir       string
	neighbors []speakerNeighbor

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	announced map[netip.Prefix]Attributes // re-announced by Start after Stop
	order     []netip.Prefix
}

// Attributes are what a speaker attaches to a route it originates.
type Attributes struct {
	// Communities are standard ("65535:100") or large ("large:1:2:3").
	Communities []string
	// LocalPref is sent on iBGP sessions only (as BGP itself does); 0 means unset.
	LocalPref uint32
	// Prepend is how many times the speaker's own ASN is prepended to the AS
	// path, on top of the one every eBGP speaker adds.
	Prepend int
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
// Starting a running speaker does nothing.
func (s *Speaker) Start() error {
	if err := s.start(); err != nil {
		return fmt.Errorf("speaker %s: %w", s.Name, err)
	}
	return nil
}

// Running says whether gobgpd runs (between Start and Stop).
func (s *Speaker) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
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
func (s *Speaker) Announce(p netip.Prefix, communities ...string) error {
	return s.AnnounceWith(p, Attributes{Communities: communities})
}

// AnnounceWith originates p with attrs, replacing what p was announced with
// before. A stopped speaker remembers it and announces it when started.
func (s *Speaker) AnnounceWith(p netip.Prefix, attrs Attributes) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.add(p, attrs); err != nil {
		return fmt.Errorf("speaker %s: announce %s: %w", s.Name, p, err)
	}
	if _, ok := s.announced[p]; !ok {
		s.order = append(s.order, p)
	}
	attrs.Communities = slices.Clone(attrs.Communities)
	s.announced[p] = attrs
	return nil
}

// AnnounceMany originates many prefixes without communities.
func (s *Speaker) AnnounceMany(ps []netip.Prefix) error {
	for _, p := range ps {
		if err := s.Announce(p); err != nil {
			return err
		}
	}
	return nil
}

// Withdraw stops originating p.
func (s *Speaker) Withdraw(p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		if _, err := s.gobgp("global", "rib", "-a", family(p), "del", p.String()); err != nil {
			return fmt.Errorf("speaker %s: withdraw %s: %w", s.Name, p, err)
		}
	}
	delete(s.announced, p)
	s.order = slices.DeleteFunc(s.order, func(q netip.Prefix) bool { return q == p })
	return nil
}

// Announced returns what the speaker originates (or will, once started),
// in announcement order.
func (s *Speaker) Announced() map[netip.Prefix]Attributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[netip.Prefix]Attributes, len(s.announced))
	for p, a := range s.announced {
		out[p] = a
	}
	return out
}

func (s *Speaker) add(p netip.Prefix, attrs Attributes) error {
	if s.cmd == nil {
		return nil // remembered; Start announces it
	}
	// Origin IGP, as MetalLB's speakers announce (the gobgp CLI defaults to incomplete).
	args := []string{"global", "rib", "-a", family(p), "add", p.String(), "origin", "igp"}
	if attrs.Prepend > 0 {
		asns := make([]string, attrs.Prepend)
		for i := range asns {
			asns[i] = fmt.Sprint(s.ASN)
		}
		args = append(args, "aspath", strings.Join(asns, ","))
	}
	if attrs.LocalPref > 0 {
		args = append(args, "local-pref", fmt.Sprint(attrs.LocalPref))
	}
	var std, large []string
	for _, c := range attrs.Communities {
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

// Sessions lists the speaker's BGP sessions: its router's addresses (IPv4 and
// IPv6) on port 179, with the speaker's AS.
func (s *Speaker) Sessions() []speaker.Session {
	out := make([]speaker.Session, 0, len(s.neighbors))
	for _, n := range s.neighbors {
		out = append(out, speaker.Session{LocalASN: s.ASN, PeerAddress: n.addr, PeerASN: n.asn, PeerPort: 179})
	}
	return out
}

// Advertise makes the speaker originate exactly routes: what it announced before and is
// not listed is withdrawn, what changed is announced again. It implements
// speaker.Announcer, so the MetalLB stand-in (test/lab/speaker) drives it.
func (s *Speaker) Advertise(_ context.Context, routes []speaker.Route) error {
	want := make(map[netip.Prefix]Attributes, len(routes))
	for _, r := range routes {
		want[r.Prefix] = Attributes{Communities: r.Communities, LocalPref: r.LocalPref, Prepend: r.Prepend}
	}
	have := s.Announced()
	for p := range have {
		if _, ok := want[p]; !ok {
			if err := s.Withdraw(p); err != nil {
				return err
			}
		}
	}
	for _, r := range routes {
		a := want[r.Prefix]
		if h, ok := have[r.Prefix]; ok && h.LocalPref == a.LocalPref && h.Prepend == a.Prepend && slices.Equal(h.Communities, a.Communities) {
			continue
		}
		if err := s.AnnounceWith(r.Prefix, a); err != nil {
			return err
		}
	}
	return nil
}
