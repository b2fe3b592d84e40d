package bgp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// converge bounds every wait for the fabric to settle. Generous on purpose:
// tests wait for convergence, they never assert on speed.
const converge = 60 * time.Second

var (
	vip    = netip.MustParsePrefix("192.168.155.151/32")
	pool   = netip.MustParsePrefix("192.168.155.0/24")
	vip6   = netip.MustParsePrefix("2001:db8:155::151/128")
	pool6  = netip.MustParsePrefix("2001:db8:155::/64")
	outer  = netip.MustParsePrefix("10.99.0.0/24") // announced, outside every pool
	class  = "datacenter"
	wASN   = uint32(fabric.DefaultWatcherASN)
	rID    = netip.MustParseAddr("192.168.8.99")
	pathAS = map[uint32][]uint32{ // expected AS paths through the core, by origin
		fabric.WestASN: {fabric.CoreASN, fabric.TORWestASN, fabric.WestASN},
		fabric.EastASN: {fabric.CoreASN, fabric.TOREastASN, fabric.EastASN},
	}
)

// logBuffer collects every log line of a Manager, so tests can show them on
// failure and check that secrets never appear.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newManager starts a Manager whose logs (all verbosity levels) go to a
// buffer that is printed if the test fails, or always with BGP_TEST_LOG=1.
func newManager(t *testing.T) (*bgp.Manager, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	log := funcr.New(func(prefix, args string) {
		lb.mu.Lock()
		defer lb.mu.Unlock()
		fmt.Fprintf(&lb.buf, "%s %s %s\n", time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{Verbosity: 2})
	m := bgp.NewManager(log)
	t.Cleanup(func() {
		m.Close()
		if t.Failed() || os.Getenv("BGP_TEST_LOG") == "1" {
			t.Logf("watcher log:\n%s", lb.String())
		}
	})
	return m, lb
}

// session builds a watcher session to one of the fabric's routers, with
// short timers so tests converge quickly.
func session(name string, l fabric.Link, password string) bgp.SessionConfig {
	return bgp.SessionConfig{
		Name: name, Address: l.RouterAddr, ASN: l.RouterASN,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectRetry: time.Second,
		Password: password,
	}
}

func coreSession(f *fabric.Fabric) bgp.SessionConfig {
	s := session("core", f.CoreLink, f.WatcherPassword)
	s.AddPathReceive = true
	return s
}

func apply(t *testing.T, m *bgp.Manager, cfg bgp.Config) {
	t.Helper()
	if err := m.Apply(context.Background(), class, cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// waitSession waits until the named session satisfies cond.
func waitSession(t *testing.T, m *bgp.Manager, name string, cond func(bgp.SessionState) error) bgp.SessionState {
	t.Helper()
	var got bgp.SessionState
	fabric.Eventually(t, converge, func() error {
		for _, s := range m.Sessions(class) {
			if s.Name == name {
				got = s
				return cond(s)
			}
		}
		return fmt.Errorf("no session %q in %+v", name, m.Sessions(class))
	})
	return got
}

func established(s bgp.SessionState) error {
	if s.State != bgp.StateEstablished {
		return fmt.Errorf("session %s is %s: %s", s.Name, s.State, s.Message)
	}
	return nil
}

// waitPaths waits until the paths of prefix satisfy cond, and returns them.
func waitPaths(t *testing.T, m *bgp.Manager, prefix netip.Prefix, cond func([]bgp.Path) error) []bgp.Path {
	t.Helper()
	var got []bgp.Path
	fabric.Eventually(t, converge, func() error {
		got = m.Paths(class, prefix)
		if err := cond(got); err != nil {
			return fmt.Errorf("%s: %w; paths: %s", prefix, err, describePaths(got))
		}
		return nil
	})
	return got
}

// origins requires exactly these origin ASes among the paths.
func origins(want ...uint32) func([]bgp.Path) error {
	return func(ps []bgp.Path) error {
		var got []uint32
		for _, p := range ps {
			if !slices.Contains(got, p.OriginAS) {
				got = append(got, p.OriginAS)
			}
		}
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			return fmt.Errorf("origins %v, want %v", got, w)
		}
		return nil
	}
}

func describePaths(ps []bgp.Path) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n  %s id=%d nh=%s as=%v origin=%d comm=%v", p.Session, p.PathID, p.NextHop, p.ASPath, p.OriginAS, p.Communities)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// drainChanges discards Changes already delivered or pending.
func drainChanges(m *bgp.Manager) {
	for {
		select {
		case <-m.Changes():
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// waitChange waits for a Change of the class that names prefix.
func waitChange(t *testing.T, m *bgp.Manager, prefix netip.Prefix) bgp.Change {
	t.Helper()
	deadline := time.After(converge)
	for {
		select {
		case c := <-m.Changes():
			if c.Class == class && slices.Contains(c.Prefixes, prefix) {
				return c
			}
		case <-deadline:
			t.Fatalf("no Change for %s within %s", prefix, converge)
		}
	}
}

// fibNextHops waits until the core installs want next hops for p.
func waitFIB(t *testing.T, f *fabric.Fabric, p netip.Prefix, want int) []netip.Addr {
	t.Helper()
	var got []netip.Addr
	fabric.Eventually(t, converge, func() error {
		var err error
		got, err = f.Core.FIBNextHops(p)
		if err != nil {
			return err
		}
		if len(got) != want {
			return fmt.Errorf("core installed %s with next hops %v, want %d", p, got, want)
		}
		return nil
	})
	return got
}
