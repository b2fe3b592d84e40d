package fabric

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startIPMonitor starts `ip monitor <object>` in namespace ns, killed with this process,
// and returns its output: one line per event (-o), so a line is a whole event the moment
// it is read.
func startIPMonitor(ns, object string) (*exec.Cmd, io.ReadCloser, error) {
	cmd := exec.Command("ip", "-o", "-n", ns, "monitor", object)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("ip monitor %s in %s: %w", object, ns, err)
	}
	return cmd, out, nil
}

// RouteChange is one change of the next hops of a kernel route, as the kernel announced
// it (rtnetlink, through `ip monitor route`), stamped when it was read: within a
// millisecond or so of the kernel's change on an idle machine.
type RouteChange struct {
	At time.Time
	// From and To are the next hops before and after ("198.18.1.2", or
	// "fe80::1%to-torw" for a link-local IPv6 next hop); none means no route.
	From, To []string
}

// RouteMonitor follows the kernel route for one prefix in one namespace and records every
// change of its next hops: the instants a router really moved traffic, which BGP tables
// and `show ip route` polls only bound.
type RouteMonitor struct {
	prefix netip.Prefix
	cmd    *exec.Cmd
	done   chan struct{}

	mu      sync.Mutex
	current []string
	changes []RouteChange
}

// MonitorRoute starts following p's kernel route inside namespace ns. The monitor is
// started before the current route is read, so no change is missed between the two.
// Close stops it.
func MonitorRoute(ns string, p netip.Prefix) (*RouteMonitor, error) {
	m := &RouteMonitor{prefix: p, done: make(chan struct{})}
	cmd, out, err := startIPMonitor(ns, "route")
	if err != nil {
		return nil, err
	}
	m.cmd = cmd
	family := "-4"
	if p.Addr().Is6() {
		family = "-6"
	}
	now, err := run("ip", "-o", "-n", ns, family, "route", "show", p.String())
	if err != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		return nil, err
	}
	for _, line := range strings.Split(now, "\n") {
		if hops, ok := m.parse(line); ok && strings.TrimSpace(line) != "" {
			m.current = hops
		}
	}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			at := time.Now()
			hops, ok := m.parse(sc.Text())
			if !ok {
				continue
			}
			m.mu.Lock()
			if !slices.Equal(hops, m.current) {
				m.changes = append(m.changes, RouteChange{At: at, From: m.current, To: hops})
				m.current = hops
			}
			m.mu.Unlock()
		}
		_ = m.cmd.Wait()
	}()
	return m, nil
}

// parse reads one `ip -o monitor route` line ("[Deleted ]<dst> ... nexthop via <gw> dev
// <if> ..." or "<dst> via <gw> dev <if> ...") and returns the route's next hops, sorted,
// when the line is about the monitored prefix in the main table.
func (m *RouteMonitor) parse(line string) ([]string, bool) {
	f := strings.Fields(strings.ReplaceAll(line, `\`, " "))
	deleted := false
	if len(f) > 0 && f[0] == "Deleted" {
		deleted, f = true, f[1:]
	}
	if len(f) == 0 || slices.Contains(f, "table") {
		return nil, false // not a route line, or a local/other table's route
	}
	dst := f[0]
	if dst != m.prefix.String() && !(m.prefix.IsSingleIP() && dst == m.prefix.Addr().String()) {
		return nil, false
	}
	if deleted {
		return nil, true
	}
	var hops []string
	for i := 0; i+1 < len(f); i++ {
		if f[i] != "via" {
			continue
		}
		gw := f[i+1]
		if (gw == "inet" || gw == "inet6") && i+2 < len(f) {
			gw = f[i+2]
		}
		if a, err := netip.ParseAddr(gw); err == nil && a.IsLinkLocalUnicast() {
			for j := i + 1; j+1 < len(f); j++ {
				if f[j] == "dev" {
					gw += "%" + f[j+1]
					break
				}
			}
		}
		hops = append(hops, gw)
	}
	slices.Sort(hops)
	return hops, true
}

// Current is the route's next hops now.
func (m *RouteMonitor) Current() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.current)
}

// Changes lists every change so far, oldest first.
func (m *RouteMonitor) Changes() []RouteChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.changes)
}

// Close stops the monitor.
func (m *RouteMonitor) Close() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
	<-m.done
}

// NeighEvent is one event of a namespace's neighbour tables (ARP and NDP), as the kernel
// announced it, stamped when it was read.
type NeighEvent struct {
	At time.Time
	// Line is the event as `ip -o monitor neigh` prints it, e.g.
	// "fe80::1 dev to-torw lladdr 02:00:00:00:00:01 router STALE", or "Deleted ...".
	Line string
}

// neighEventsKept bounds what a NeighMonitor keeps: entries turn STALE and back every
// half minute or so, and a long lab run must not grow without end.
const neighEventsKept = 5000

// NeighMonitor records the neighbour events of one namespace. Diagnostics only: a next
// hop the kernel cannot resolve blackholes its traffic while every route stays as it was,
// and shows here and nowhere else.
type NeighMonitor struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu      sync.Mutex
	events  []NeighEvent
	dropped int
}

// MonitorNeigh starts recording the neighbour events of namespace ns. Close stops it.
func MonitorNeigh(ns string) (*NeighMonitor, error) {
	m := &NeighMonitor{done: make(chan struct{})}
	cmd, out, err := startIPMonitor(ns, "neigh")
	if err != nil {
		return nil, err
	}
	m.cmd = cmd
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			e := NeighEvent{At: time.Now(), Line: strings.TrimSpace(strings.ReplaceAll(sc.Text(), `\`, " "))}
			if e.Line == "" {
				continue
			}
			m.mu.Lock()
			if len(m.events) == neighEventsKept {
				m.events = m.events[1:]
				m.dropped++
			}
			m.events = append(m.events, e)
			m.mu.Unlock()
		}
		_ = m.cmd.Wait()
	}()
	return m, nil
}

// Events lists the events kept so far, oldest first, and how many older ones were let go.
func (m *NeighMonitor) Events() ([]NeighEvent, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events), m.dropped
}

// Close stops the monitor.
func (m *NeighMonitor) Close() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
	<-m.done
}
