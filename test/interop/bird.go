package interop

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// BIRDOptions shape a BIRD 2 router that peers with the watcher: it
// originates Routes (static blackholes) and exports them to the watcher,
// which it expects to dial in (passive).
type BIRDOptions struct {
	ASN        uint32
	WatcherASN uint32
	Routes     []netip.Prefix
	// GracefulRestart turns on BIRD's full graceful restart ("graceful restart
	// on": it announces IPv4 and IPv6 unicast with the restart time, default
	// 120 s); otherwise BIRD is graceful-restart aware only (its default).
	GracefulRestart bool
	// RestartWait is "graceful restart wait": how long BIRD started with -R waits
	// for every graceful-restart peer's End-of-RIB before it gives up; 240 s,
	// BIRD's default, when zero.
	RestartWait time.Duration
	// Extra is appended to the configuration.
	Extra string
}

// BIRD is one BIRD 2 process in a namespace.
type BIRD struct {
	tb   testing.TB
	proc proc
	dir  string
	conf string
}

// StartBIRD writes the router's configuration and starts it; tb.Cleanup stops it.
func StartBIRD(tb testing.TB, n *Net, l Link, opts BIRDOptions) *BIRD {
	tb.Helper()
	dir := n.routerDir(l)
	b := &BIRD{tb: tb, proc: proc{ns: l.NS, name: "BIRD"}, dir: dir, conf: filepath.Join(dir, "bird.conf")}
	if err := os.WriteFile(b.conf, []byte(birdConfig(l, dir, opts)), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("BIRD in %s at teardown:\n%s\nits log:\n%s\nits output:\n%s", l.NS, b.show(), b.LogTail(60), b.proc.output())
		}
		b.Stop()
	})
	b.Start(false)
	return b
}

func birdConfig(l Link, dir string, o BIRDOptions) string {
	var c strings.Builder
	fmt.Fprintf(&c, "log %q all;\nrouter id %s;\n", filepath.Join(dir, "bird.log"), l.RouterAddr)
	wait := o.RestartWait
	if wait == 0 {
		wait = 240 * time.Second
	}
	fmt.Fprintf(&c, "graceful restart wait %d;\n", int(wait.Seconds()))
	c.WriteString("protocol device {}\n")
	for _, v6 := range []bool{false, true} {
		var routes []string
		for _, p := range o.Routes {
			if p.Addr().Is6() == v6 {
				routes = append(routes, fmt.Sprintf("  route %s blackhole;\n", p))
			}
		}
		if len(routes) == 0 {
			continue
		}
		fam := "ipv4"
		if v6 {
			fam = "ipv6"
		}
		fmt.Fprintf(&c, "protocol static static_%s {\n  %s;\n%s}\n", fam, fam, strings.Join(routes, ""))
	}
	gr := "aware"
	if o.GracefulRestart {
		gr = "on"
	}
	// import all: a route from the watcher would be counted as imported, which
	// the tests check never happens. add paths tx: every path, as a core sends
	// the watcher. The IPv6 channel carries IPv6 routes over the IPv4 session,
	// with BIRD's IPv6 address on the link as next hop.
	fmt.Fprintf(&c, `protocol bgp watcher {
  local %s as %d;
  neighbor %s as %d;
  passive on;
  hold time 9;
  keepalive time 3;
  graceful restart %s;
  ipv4 { import all; export all; add paths tx; };
  ipv6 { import all; export all; add paths tx; next hop address %s; };
}
`, l.RouterAddr, o.ASN, l.WatcherAddr, o.WatcherASN, gr, l.RouterAddr6)
	c.WriteString(o.Extra)
	return c.String()
}

// Start runs BIRD; recovery adds -R (graceful restart recovery: BIRD waits for
// its graceful-restart peers' End-of-RIB, RestartWait at most, before it
// sends them its table).
func (b *BIRD) Start(recovery bool) {
	b.tb.Helper()
	args := []string{"bird", "-f", "-c", b.conf, "-s", b.socket(), "-P", filepath.Join(b.dir, "bird.pid")}
	if recovery {
		args = append(args, "-R")
	}
	if err := b.proc.start(nil, args...); err != nil {
		b.tb.Fatal(err)
	}
	// Ready once birdc answers.
	if err := labfabric.WaitFor(10*time.Second, func() error { _, err := b.Birdc("show status"); return err }); err != nil {
		b.tb.Fatalf("BIRD did not come up: %v; its output: %s", err, b.proc.output())
	}
}

func (b *BIRD) socket() string { return filepath.Join(b.dir, "bird.ctl") }

// Birdc runs one birdc command.
func (b *BIRD) Birdc(command ...string) (string, error) {
	return run("birdc", append([]string{"-s", b.socket()}, command...)...)
}

// GracefulRestart shuts BIRD down for a graceful restart (birdc graceful
// restart: its sessions close without a NOTIFICATION, the routes it installed
// stay) and waits until it has exited.
func (b *BIRD) GracefulRestart() {
	b.tb.Helper()
	if out, err := b.Birdc("graceful", "restart"); err != nil || !strings.Contains(out, "Graceful restart requested") {
		b.tb.Fatalf("birdc graceful restart: %v %s", err, out)
	}
	if err := b.proc.waitExit(10 * time.Second); err != nil {
		b.tb.Fatal(err)
	}
}

// Stop ends BIRD (SIGTERM: it closes its sessions with a Cease).
func (b *BIRD) Stop() { b.proc.stop(5 * time.Second) }

// ImportedFromWatcher is how many routes BIRD holds from the watcher (its
// "Routes: N imported" for the protocol, summed over both channels).
func (b *BIRD) ImportedFromWatcher() (int, error) {
	out, err := b.Birdc("show", "protocols", "all", "watcher")
	if err != nil {
		return 0, err
	}
	total, seen := 0, 0
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "Routes:") {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(line, "Routes: %d imported", &n); err != nil {
			return 0, fmt.Errorf("parsing %q: %w", line, err)
		}
		total += n
		seen++
	}
	if seen == 0 {
		return 0, fmt.Errorf("no route counts in:\n%s", out)
	}
	return total, nil
}

// LogLine waits until BIRD's log has a line containing substr after since,
// and returns the time BIRD stamped on it.
func (b *BIRD) LogLine(substr string, since time.Time, deadline time.Duration) (time.Time, error) {
	var at time.Time
	err := labfabric.WaitFor(deadline, func() error {
		data, _ := os.ReadFile(filepath.Join(b.dir, "bird.log"))
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, substr) || len(line) < 23 {
				continue
			}
			// "2006-01-02 15:04:05.000 <INFO> ..." in local time.
			t, err := time.ParseInLocation("2006-01-02 15:04:05.000", line[:23], time.Local)
			if err == nil && !t.Before(since.Truncate(time.Millisecond)) {
				at = t
				return nil
			}
		}
		return fmt.Errorf("BIRD has not logged %q since %s", substr, since.Format("15:04:05.000"))
	})
	return at, err
}

// LogTail is the end of BIRD's log.
func (b *BIRD) LogTail(lines int) string { return tail(filepath.Join(b.dir, "bird.log"), lines) }

func (b *BIRD) show() string {
	out, err := b.Birdc("show", "protocols", "all", "watcher")
	if err != nil {
		return err.Error()
	}
	return out
}
