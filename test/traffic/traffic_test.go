package traffic

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backends serves on loopback, answering as west or east by turns, and failing while
// down is set; it records each connection's source port.
type backends struct {
	n     atomic.Int64
	down  atomic.Bool
	mu    sync.Mutex
	ports map[string]bool
}

func (b *backends) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.ports[r.RemoteAddr] = true
	b.mu.Unlock()
	if b.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	name := "west"
	if b.n.Add(1)%2 == 0 {
		name = "east"
	}
	w.Header().Set(ClusterHeader, name)
	_, _ = w.Write([]byte(name))
}

func serve(t *testing.T) (*backends, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backends{ports: map[string]bool{}}
	srv := &http.Server{Handler: b}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b, netip.MustParseAddrPort(ln.Addr().String())
}

// TestCountsAndShares: every request is its own connection (its own source port), the
// answers are counted per cluster, failures are counted and bounded in time, and the
// generator stops by itself at its count.
func TestCountsAndShares(t *testing.T) {
	b, target := serve(t)
	g, err := Start(Config{Target: target, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rate: 200, MaxRequests: 60, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(100 * time.Millisecond)
	b.down.Store(true)
	time.Sleep(60 * time.Millisecond)
	b.down.Store(false)
	downAt := start.Add(100 * time.Millisecond)
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the generator did not stop at its count")
	}
	all := g.Window(start.Add(-time.Second), time.Time{})
	if all.Sent != 60 || all.OK+all.Failed != 60 {
		t.Fatalf("stats %v", all)
	}
	if all.Failed == 0 || all.ByCluster["west"] == 0 || all.ByCluster["east"] == 0 {
		t.Fatalf("want failures and both clusters: %v", all)
	}
	if all.FirstFailure.Before(downAt.Add(-50*time.Millisecond)) || all.LastFailure.After(downAt.Add(500*time.Millisecond)) {
		t.Errorf("failures %s..%s outside the outage at %s", all.FirstFailure, all.LastFailure, downAt)
	}
	b.mu.Lock()
	ports := len(b.ports)
	b.mu.Unlock()
	if ports != 60 {
		t.Errorf("%d source ports for 60 requests: connections were reused", ports)
	}
}

// TestRefusesOutsideAllowed: the generator sends nowhere but the allowed prefixes, and
// refuses unbounded settings.
func TestRefusesOutsideAllowed(t *testing.T) {
	ok := Config{Target: netip.MustParseAddrPort("198.18.155.151:80"), Allowed: []netip.Prefix{netip.MustParsePrefix("198.18.155.151/32")},
		Rate: 10, MaxRequests: 10, MaxDuration: time.Second}
	bad := map[string]func(*Config){
		"outside":    func(c *Config) { c.Target = netip.MustParseAddrPort("8.8.8.8:80") },
		"no allowed": func(c *Config) { c.Allowed = nil },
		"rate":       func(c *Config) { c.Rate = 10_000 },
		"count":      func(c *Config) { c.MaxRequests = 0 },
		"duration":   func(c *Config) { c.MaxDuration = 24 * time.Hour },
	}
	for name, mutate := range bad {
		c := ok
		mutate(&c)
		if g, err := Start(c); err == nil {
			g.Stop()
			t.Errorf("%s: started", name)
		}
	}
}

// TestStopEndsInFlight: Stop returns promptly even with requests hanging, and those are
// not counted as failures of the service.
func TestStopEndsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never answers
		}
	}()
	target := netip.MustParseAddrPort(ln.Addr().String())
	g, err := Start(Config{Target: target, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rate: 50, MaxRequests: 1000, MaxDuration: time.Minute, Timeout: 30 * time.Second,
		Dial: (&net.Dialer{}).DialContext})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if st := g.Window(time.Time{}, time.Time{}); st.Failed != 0 {
		t.Errorf("requests cut by Stop counted as failures: %v", st)
	}
	_ = context.Background()
}
