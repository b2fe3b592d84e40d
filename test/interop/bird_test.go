package interop_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/interop"
)

// birdWithVIP starts BIRD (AS 64666, full graceful restart) originating the
// VIP and a prefix outside the pools, and a watcher session to it, and waits
// until the watcher has BIRD's table.
func birdWithVIP(t *testing.T, extra string) (*interop.BIRD, *bgp.Manager, *logBuffer) {
	t.Helper()
	n := interop.NewNet(t)
	l := n.Link("bird")
	b := interop.StartBIRD(t, n, l, interop.BIRDOptions{ASN: routerASN, WatcherASN: watcherASN,
		Routes: []netip.Prefix{vip, outer}, GracefulRestart: true, Extra: extra})
	m, logs := watcher(t, l, nil)
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || !s.Synced || s.Received != 2 || s.Accepted != 1 {
			return fmt.Errorf("received %d, accepted %d, synced %v", s.Received, s.Accepted, s.Synced)
		}
		return nil
	})
	return b, m, logs
}

// noRoutesFromWatcher checks that BIRD holds no route from the watcher.
func noRoutesFromWatcher(t *testing.T, b *interop.BIRD) {
	t.Helper()
	n, err := b.ImportedFromWatcher()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("BIRD imported %d routes from the watcher, want 0", n)
	}
}

// TestBIRDGracefulRestart (issue 14, point 20): BIRD restarted gracefully
// (birdc graceful restart, then bird -R) waits, before it sends its table,
// for the End-of-RIB of every peer that announced graceful restart, as the
// watcher does (for End-of-RIB support), for up to its "graceful restart
// wait" (240 s by default). The watcher sends its End-of-RIB at once, so
// BIRD ends its recovery and sends its table within seconds, and the
// watcher's view of the VIP, kept while BIRD was away, never lapses. Without
// the watcher's End-of-RIB, BIRD waited the full 240 s, and the watcher
// dropped the kept path 30 s after the session was back (SyncMax) and
// reported the VIP gone for about 3.5 minutes.
func TestBIRDGracefulRestart(t *testing.T) {
	b, m, _ := birdWithVIP(t, "")
	noRoutesFromWatcher(t, b)

	gaps := watchGaps(m, vip)
	b.GracefulRestart()
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State == bgp.StateEstablished || s.Retained != 1 {
			return fmt.Errorf("%d paths retained", s.Retained)
		}
		return nil
	})
	start := time.Now()
	b.Start(true)
	// BIRD's table (the VIP and the outer prefix) must arrive well before its
	// 240 s wait, and before the watcher's own SyncMax could have played a part.
	table := waitState(t, m, bgp.SyncMax-5*time.Second, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || s.Received != 2 {
			return fmt.Errorf("BIRD has sent %d of its 2 routes since its restart", s.Received)
		}
		return nil
	})
	sent := time.Since(start)
	began, err := b.LogLine("Graceful restart started", start, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.LogLine("Graceful restart done", start, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if !s.Synced || s.Retained != 0 || s.Accepted != 1 {
			return fmt.Errorf("synced %v, %d retained, %d accepted", s.Synced, s.Retained, s.Accepted)
		}
		return nil
	})
	gap, from := gaps.missing()
	if gap > 0 {
		t.Errorf("the watcher held no path for %s for %s (from %s) while BIRD restarted gracefully", vip, gap, from.Format("15:04:05.000"))
	}
	if ps := m.Paths(class, vip); len(ps) != 1 || ps[0].OriginAS != routerASN {
		t.Errorf("after the restart: paths %+v", ps)
	}
	noRoutesFromWatcher(t, b)
	t.Logf("BIRD restarted with -R: recovery %s (its log), its table at the watcher %s after its start (received %d prefixes); "+
		"the VIP was missing for %s", done.Sub(began).Round(time.Millisecond), sent.Round(time.Millisecond), table.Received, gap)
}

// TestBIRDBackWithoutForwarding (point 23): BIRD back from a graceful
// shutdown without -R announces no preserved family (F bit clear): it did not
// keep forwarding, so the watcher drops the kept path at once, and says so in
// its log, as for every other way kept routes go; BIRD's table then brings the
// VIP back.
func TestBIRDBackWithoutForwarding(t *testing.T) {
	b, m, logs := birdWithVIP(t, "")
	b.GracefulRestart()
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State == bgp.StateEstablished || s.Retained != 1 {
			return fmt.Errorf("%d paths retained", s.Retained)
		}
		return nil
	})
	b.Start(false)
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || s.Retained != 0 {
			return fmt.Errorf("%d retained", s.Retained)
		}
		return nil
	})
	out := logs.String()
	if !strings.Contains(out, `"msg"="dropping a restarting router's kept routes"`) ||
		!strings.Contains(out, `"reason"="the router came back without its forwarding state`) {
		t.Errorf("the watcher did not log why it dropped the kept routes of a router back without its forwarding state")
	}
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.Received != 2 || s.Accepted != 1 {
			return fmt.Errorf("received %d, accepted %d", s.Received, s.Accepted)
		}
		return nil
	})
}

// TestBIRDDisabled (point 23): an operator disables the watcher's neighbor on
// BIRD with a shutdown message. BIRD sends Cease / Administrative Shutdown
// with it, then, while the neighbor is disabled and BIRD still listens for its
// other neighbors, accepts every connection the watcher opens and closes it
// without a word ("Unexpected connect from unknown address"). The session
// never came up again, so the status must say that the attempts fail (the
// router closes the connection while opening) and keep the real reason it
// went down, not replace it with "session went down (the router closed the
// connection)".
func TestBIRDDisabled(t *testing.T) {
	// Another neighbor (a dynamic range nobody is in) keeps BIRD listening: with
	// no enabled neighbor it closes its socket, and the watcher's connection is
	// refused instead.
	b, m, _ := birdWithVIP(t, "protocol bgp elsewhere {\n  local as 64666;\n  neighbor range 198.51.100.0/24 as 65100;\n  ipv4 { import none; export none; };\n}\n")
	if out, err := b.Birdc("disable", "watcher", `"maintenance window 42"`); err != nil {
		t.Fatalf("birdc disable: %v %s", err, out)
	}
	down := `(administrative shutdown) "maintenance window 42"`
	waitState(t, m, converge, says([]string{"session went down (the router sent NOTIFICATION", down}))
	st := waitState(t, m, converge, says([]string{"not established: the router closed the connection in OpenSent",
		"it last went down: the router sent NOTIFICATION", down}, "session went down (the router closed the connection)"))
	t.Logf("while disabled: %s", st.Message)
	if ps := m.Paths(class, vip); len(ps) != 0 {
		t.Errorf("paths kept after an administrative shutdown: %+v", ps)
	}
	if out, err := b.Birdc("enable", "watcher"); err != nil {
		t.Fatalf("birdc enable: %v %s", err, out)
	}
	st = waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || s.Accepted != 1 {
			return fmt.Errorf("accepted %d", s.Accepted)
		}
		return nil
	})
	if st.Message != "" {
		t.Errorf("established with message %q", st.Message)
	}
}
