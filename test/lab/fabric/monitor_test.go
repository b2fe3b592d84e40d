package fabric

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRouteMonitor: the monitor records each change of the next hops of its prefix's
// kernel route (added, made multipath, deleted), in order, with the route it had before,
// and nothing of other prefixes or of a re-install with the same next hops.
func TestRouteMonitor(t *testing.T) {
	requireAvailable(t)
	ns := fmt.Sprintf("acfmon-%d", os.Getpid())
	if err := createNS(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNS(ns) })
	for i, a := range []string{"10.9.0.1/24", "10.9.1.1/24"} {
		if _, err := run("ip", "-n", ns, "link", "add", fmt.Sprintf("d%d", i), "type", "veth", "peer", "name", fmt.Sprintf("e%d", i)); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][]string{{"link", "set", fmt.Sprintf("d%d", i), "up"}, {"link", "set", fmt.Sprintf("e%d", i), "up"}, {"addr", "add", a, "dev", fmt.Sprintf("d%d", i)}} {
			if _, err := run("ip", append([]string{"-n", ns}, c...)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	vip := netip.MustParsePrefix("192.0.2.1/32")
	ip := func(args ...string) {
		t.Helper()
		if _, err := run("ip", append([]string{"-n", ns}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ip("route", "add", "192.0.2.1/32", "via", "10.9.0.2")
	m, err := MonitorRoute(ns, vip)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Current(); !slices.Equal(got, []string{"10.9.0.2"}) {
		t.Fatalf("current %v, want the route read at start", got)
	}
	ip("route", "add", "192.0.2.2/32", "via", "10.9.1.2")                                              // another prefix
	ip("route", "replace", "192.0.2.1/32", "via", "10.9.0.2")                                          // same next hops
	ip("route", "replace", "192.0.2.1/32", "nexthop", "via", "10.9.0.2", "nexthop", "via", "10.9.1.2") // ECMP
	ip("route", "del", "192.0.2.1/32")                                                                 // gone
	want := [][2][]string{{{"10.9.0.2"}, {"10.9.0.2", "10.9.1.2"}}, {{"10.9.0.2", "10.9.1.2"}, nil}}
	if err := WaitFor(10*time.Second, func() error {
		if len(m.Changes()) < len(want) {
			return fmt.Errorf("changes %+v", m.Changes())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	got := m.Changes()
	if len(got) != len(want) {
		t.Fatalf("changes %+v, want %v", got, want)
	}
	for i, c := range got {
		if !slices.Equal(c.From, want[i][0]) || !slices.Equal(c.To, want[i][1]) || c.At.IsZero() || (i > 0 && c.At.Before(got[i-1].At)) {
			t.Errorf("change %d: %+v, want %v -> %v", i, c, want[i][0], want[i][1])
		}
	}
}

// TestNeighMonitor: the monitor records the namespace's neighbour events (an entry added,
// changed and deleted), in order, and only that namespace's.
func TestNeighMonitor(t *testing.T) {
	requireAvailable(t)
	ns := fmt.Sprintf("acfneigh-%d", os.Getpid())
	other := ns + "-x"
	for _, n := range []string{ns, other} {
		if err := createNS(n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = deleteNS(n) })
		if _, err := run("ip", "-n", n, "link", "add", "d0", "type", "veth", "peer", "name", "e0"); err != nil {
			t.Fatal(err)
		}
		if _, err := run("ip", "-n", n, "link", "set", "d0", "up"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := MonitorNeigh(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := func(n string, args ...string) {
		t.Helper()
		if _, err := run("ip", append([]string{"-n", n}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	// `ip monitor` subscribes a moment after it starts: change the entry (another
	// address each time: a replace that changes nothing makes no event) until the
	// monitor has seen a change.
	attempt := 0
	if err := WaitFor(10*time.Second, func() error {
		attempt++
		ip(ns, "neigh", "replace", "fe80::1", "lladdr", fmt.Sprintf("02:00:00:00:01:%02x", attempt%256), "dev", "d0", "nud", "stale")
		if ev, _ := m.Events(); len(ev) == 0 {
			return fmt.Errorf("no event yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ip(other, "neigh", "replace", "fe80::9", "lladdr", "02:00:00:00:00:09", "dev", "d0", "nud", "permanent")
	ip(ns, "neigh", "replace", "fe80::1", "lladdr", "02:00:00:00:00:02", "dev", "d0", "nud", "permanent")
	ip(ns, "neigh", "del", "fe80::1", "dev", "d0")
	if err := WaitFor(10*time.Second, func() error {
		ev, _ := m.Events()
		last := ev[len(ev)-1].Line
		if !strings.HasPrefix(last, "Deleted fe80::1 dev d0") {
			return fmt.Errorf("last event %q, want the delete", last)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ev, dropped := m.Events()
	var changed bool
	for i, e := range ev {
		if strings.Contains(e.Line, "fe80::9") {
			t.Errorf("event %q is another namespace's", e.Line)
		}
		if strings.Contains(e.Line, "02:00:00:00:00:02") && strings.Contains(e.Line, "PERMANENT") {
			changed = true
		}
		if i > 0 && e.At.Before(ev[i-1].At) {
			t.Errorf("events out of order: %v", ev)
		}
	}
	if !changed || dropped != 0 {
		t.Errorf("events %+v (dropped %d); want the change to 02:00:00:00:00:02 PERMANENT, none dropped", ev, dropped)
	}
}

// requireAvailable skips (outside CI) or fails (in CI) t when this machine cannot run
// the monitors: not root, or iproute2 missing.
func requireAvailable(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if InCI() {
			t.Fatalf("CI is set, so this is a failure, not a skip: %v", err)
		}
		t.Skip(err)
	}
}
