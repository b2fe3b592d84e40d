package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/interop"
)

const (
	class      = "interop"
	watcherASN = 64999
	routerASN  = 64666
	// converge bounds waits that do not measure anything.
	converge = 60 * time.Second
)

var (
	vip   = netip.MustParsePrefix("192.168.155.151/32")
	pool  = netip.MustParsePrefix("192.168.155.0/24")
	outer = netip.MustParsePrefix("10.99.0.0/24") // announced, outside every pool
)

// logBuffer collects the watcher's log lines, printed when a test fails (or
// always with BGP_TEST_LOG=1) and searched by tests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// watcher starts a watcher with one session to the link's router, pools
// {pool}, and tune applied to the session.
func watcher(t *testing.T, l interop.Link, tune func(*bgp.SessionConfig)) (*bgp.Manager, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	m := bgp.NewManager(funcr.New(func(prefix, args string) {
		lb.mu.Lock()
		defer lb.mu.Unlock()
		fmt.Fprintf(&lb.buf, "%s %s %s\n", time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{Verbosity: 2}))
	t.Cleanup(func() {
		m.Close()
		if t.Failed() || os.Getenv("BGP_TEST_LOG") == "1" {
			t.Logf("watcher log:\n%s", lb.String())
		}
	})
	if err := m.Apply(context.Background(), class, watcherConfig(l, tune, pool)); err != nil {
		t.Fatal(err)
	}
	return m, lb
}

// watcherConfig is the watcher's configuration: one session to the link's router with
// tune applied, and pools.
func watcherConfig(l interop.Link, tune func(*bgp.SessionConfig), pools ...netip.Prefix) bgp.Config {
	s := bgp.SessionConfig{Name: "router", Address: l.RouterAddr, ASN: routerASN, LocalAddress: l.WatcherAddr,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectRetry: time.Second, AddPathReceive: true}
	if tune != nil {
		tune(&s)
	}
	return bgp.Config{ASN: watcherASN, RouterID: netip.MustParseAddr("198.18.255.99"), Pools: pools, Sessions: []bgp.SessionConfig{s}}
}

func state(m *bgp.Manager) bgp.SessionState {
	for _, s := range m.Sessions(class) {
		return s
	}
	return bgp.SessionState{}
}

// waitState waits until the session satisfies cond, within d.
func waitState(t *testing.T, m *bgp.Manager, d time.Duration, cond func(bgp.SessionState) error) bgp.SessionState {
	t.Helper()
	var st bgp.SessionState
	end := time.Now().Add(d)
	for {
		st = state(m)
		err := cond(st)
		if err == nil {
			return st
		}
		if time.Now().After(end) {
			t.Fatalf("after %s: %v (state %s, message %q)", d, err, st.State, st.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func established(s bgp.SessionState) error {
	if s.State != bgp.StateEstablished {
		return fmt.Errorf("not established")
	}
	return nil
}

// says waits until the session is down with a message that contains every
// want and none of the unwanted.
func says(want []string, unwanted ...string) func(bgp.SessionState) error {
	return func(s bgp.SessionState) error {
		if s.State == bgp.StateEstablished {
			return fmt.Errorf("established")
		}
		for _, w := range want {
			if !strings.Contains(s.Message, w) {
				return fmt.Errorf("the message does not say %q", w)
			}
		}
		for _, u := range unwanted {
			if strings.Contains(s.Message, u) {
				return fmt.Errorf("the message still says %q", u)
			}
		}
		return nil
	}
}

// gapWatch samples whether the watcher holds a path for prefix, every 20 ms,
// until stopped, and reports how long it held none.
type gapWatch struct {
	stop chan struct{}
	done chan struct{}
	gap  time.Duration
	from time.Time // start of the first gap
}

func watchGaps(m *bgp.Manager, prefix netip.Prefix) *gapWatch {
	g := &gapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		var since time.Time
		for {
			now := time.Now()
			if len(m.Paths(class, prefix)) == 0 {
				if since.IsZero() {
					since = now
					if g.from.IsZero() {
						g.from = now
					}
				}
			} else if !since.IsZero() {
				g.gap += now.Sub(since)
				since = time.Time{}
			}
			select {
			case <-g.stop:
				if !since.IsZero() {
					g.gap += now.Sub(since)
				}
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return g
}

// missing stops the watch and returns how long the prefix had no path.
func (g *gapWatch) missing() (time.Duration, time.Time) {
	close(g.stop)
	<-g.done
	return g.gap, g.from
}
