package traffic

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
)

// backends serves on loopback, answering as west or east by turns, and failing the
// requests numbered failFrom to failTo (by arrival); it records each connection's source
// port and when the failing requests arrived.
type backends struct {
	n                   atomic.Int64
	failFrom, failTo    int64
	mu                  sync.Mutex
	ports               map[string]bool
	firstFail, lastFail time.Time
}

func (b *backends) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.n.Add(1)
	b.mu.Lock()
	b.ports[r.RemoteAddr] = true
	if n >= b.failFrom && n <= b.failTo {
		now := time.Now()
		if b.firstFail.IsZero() {
			b.firstFail = now
		}
		b.lastFail = now
		b.mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	b.mu.Unlock()
	name := "west"
	if n%2 == 0 {
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
	b.failFrom, b.failTo = 21, 30
	start := time.Now()
	g, err := Start(Config{Target: target, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rate: 200, MaxRequests: 60, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the generator did not stop at its count")
	}
	all := g.Window(start, time.Time{})
	if all.Sent != 60 || all.OK != 50 || all.Failed != 10 {
		t.Fatalf("stats %v, want 60 sent, 50 ok, 10 failed", all)
	}
	if all.ByCluster["west"] != 25 || all.ByCluster["east"] != 25 {
		t.Fatalf("shares %v", all.ByCluster)
	}
	b.mu.Lock()
	ports, first, last := len(b.ports), b.firstFail, b.lastFail
	b.mu.Unlock()
	// The client's failure window holds the server's: requests start before they arrive
	// and end after they are answered.
	if all.FirstFailure.After(first) || all.LastFailure.Before(last) {
		t.Errorf("client failures %s..%s do not hold the server's %s..%s", all.FirstFailure, all.LastFailure, first, last)
	}
	if ports != 60 {
		t.Errorf("%d source ports for 60 requests: connections were reused", ports)
	}
	if before := g.Window(start, all.FirstFailure); before.Failed != 0 || before.OK == 0 {
		t.Errorf("window before the first failure: %v", before)
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

// TestHTTPSChecksTheCertificate: HTTPS requests record the leaf's fingerprint, and fail
// when Accept refuses it or the certificate is not for the server name.
func TestHTTPSChecksTheCertificate(t *testing.T) {
	pair := certs.Valid(t, "hello.apps.example.com", time.Hour)
	other := certs.Valid(t, "other.example.com", time.Hour)
	var current atomic.Pointer[certs.Pair]
	current.Store(&pair)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set(ClusterHeader, "west") }),
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			p := current.Load()
			c, err := tls.X509KeyPair(p.Cert, p.Key)
			return &c, err
		}},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	target := netip.MustParseAddrPort(ln.Addr().String())

	send := func(accept func(string) error) Result {
		t.Helper()
		g, err := Start(Config{Target: target, Host: "hello.apps.example.com", Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Rate: 100, MaxRequests: 1, MaxDuration: time.Minute,
			TLS: &TLSCheck{ServerName: "hello.apps.example.com", Accept: accept}})
		if err != nil {
			t.Fatal(err)
		}
		<-g.Done()
		rs := g.Results()
		if len(rs) != 1 {
			t.Fatalf("%d results", len(rs))
		}
		return rs[0]
	}
	if r := send(nil); !r.OK() || r.Fingerprint != pair.Fingerprint || r.Cluster != "west" {
		t.Errorf("accepted: %+v; want answered with fingerprint %s", r, pair.Fingerprint)
	}
	r := send(func(fp string) error { return fmt.Errorf("certificate %s is not the hub's", fp[:12]) })
	if r.OK() || !strings.Contains(r.Err, "is not the hub's") || r.Fingerprint != pair.Fingerprint {
		t.Errorf("refused: %+v; want a failure naming the refusal", r)
	}
	current.Store(&other)
	if r := send(nil); r.OK() || !strings.Contains(r.Err, "hello.apps.example.com") {
		t.Errorf("a certificate for another name: %+v; want a failure", r)
	}
}

// TestFailureSaysWhereItStalled: a request that times out records how far it got: a
// server that accepts and never answers leaves "request sent"; an answered one got its
// first byte.
func TestFailureSaysWhereItStalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answers
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	}()
	g, err := Start(Config{Target: netip.MustParseAddrPort(ln.Addr().String()), Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rate: 10, MaxRequests: 2, MaxDuration: time.Minute, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-g.Done()
	for _, r := range g.Results() {
		if r.OK() || r.Reached != "request sent" || !r.Local.IsValid() {
			t.Errorf("stalled request: %+v, want failed after the request was sent, with its source port", r)
		}
	}

	_, target := serve(t)
	g, err = Start(Config{Target: target, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rate: 10, MaxRequests: 1, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	<-g.Done()
	if rs := g.Results(); len(rs) != 1 || !rs[0].OK() || rs[0].Reached != "first byte" {
		t.Errorf("answered request: %+v", rs)
	}
}
