// Package traffic is the lab's HTTP load generator: real clients sending requests to the
// anycast VIP, each on a new TCP connection (so that a core router's layer-4 multipath
// hash sees a new source port, and ECMP really splits the flows), and recording who
// answered. It is bounded by construction: it sends only to the one target it is given,
// which must lie inside the prefixes the caller allows (the VIP, inside the lab's own
// namespaces), at a bounded rate, for a bounded count and time, and stops by itself.
//
// The answering cluster is read from the response header X-Anycast-Cluster, which the
// lab's backends set to their cluster's name.
package traffic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
)

// ClusterHeader is the response header naming the cluster that answered.
const ClusterHeader = "X-Anycast-Cluster"

// stopped marks a request cut by the generator's own end.
const stopped = "stopped"

// Hard bounds, whatever the caller asks for: the generator is a test tool on a shared
// machine, not a load test.
const (
	MaxRate     = 500.0 // requests per second
	MaxRequests = 1_000_000
	MaxDuration = 2 * time.Hour
)

// Config is one generator.
type Config struct {
	// Target is the address and port requests go to (the VIP).
	Target netip.AddrPort
	// Host and Path of the requests ("/" when empty).
	Host, Path string
	// Allowed are the prefixes Target must lie in; Run refuses anything else.
	Allowed []netip.Prefix
	// Rate is requests per second (at most MaxRate).
	Rate float64
	// MaxRequests and MaxDuration stop the generator (each at most the package bound).
	MaxRequests int
	MaxDuration time.Duration
	// Timeout bounds one request, connection included (default 2s).
	Timeout time.Duration
	// Dial makes the TCP connection (for example inside the client's network
	// namespace); nil uses the process's own network.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS, if set, makes the requests HTTPS.
	TLS *TLSCheck
}

// TLSCheck is what an HTTPS request checks of the server's certificate.
type TLSCheck struct {
	// ServerName is sent as SNI; the leaf certificate must be valid for it.
	ServerName string
	// Accept is given the SHA-256 fingerprint (hex) of every leaf certificate a server
	// shows, in the handshake; an error fails the request with it (a certificate that is
	// not the one expected).
	Accept func(fingerprint string) error
}

// Result is one request.
type Result struct {
	Start, End time.Time
	// Cluster that answered (empty when the request failed).
	Cluster string
	// Err says why it failed; empty when it was answered with a 2xx.
	Err string
	// Local is the connection's source address and port, once it was dialled: which path
	// a layer-4 multipath hash sent the flow down depends on it.
	Local netip.AddrPort
	// Fingerprint is the SHA-256 of the server's leaf certificate (HTTPS only).
	Fingerprint string
	// Reached is the last stage the request got to ("dialing", "connected", "handshake
	// done", "request sent", "first byte"): a failure's stage says which side stalled (a
	// SYN not answered, a TLS handshake, a response never sent).
	Reached string
}

// OK reports whether the request was answered.
func (r Result) OK() bool { return r.Err == "" }

// Cut reports whether the request was cut by the generator's own end (Stop or its time
// bound): neither answered nor a failure of the service.
func (r Result) Cut() bool { return r.Err == stopped }

// Generator runs until its bounds or Stop.
type Generator struct {
	cfg    Config
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	results []Result
}

// Start validates cfg and starts sending. The generator stops by itself at its bounds;
// Stop ends it earlier (and is safe to call more than once, from any exit path).
func Start(cfg Config) (*Generator, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxDuration)
	g := &Generator{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go g.run(ctx)
	return g, nil
}

func (c Config) check() error {
	switch {
	case !c.Target.IsValid():
		return errors.New("traffic: no target")
	case len(c.Allowed) == 0:
		return errors.New("traffic: no allowed destination prefixes: refusing to send anywhere")
	case c.Rate <= 0 || c.Rate > MaxRate:
		return fmt.Errorf("traffic: rate %.1f/s outside (0, %.0f]", c.Rate, MaxRate)
	case c.MaxRequests <= 0 || c.MaxRequests > MaxRequests:
		return fmt.Errorf("traffic: max requests %d outside (0, %d]", c.MaxRequests, MaxRequests)
	case c.MaxDuration <= 0 || c.MaxDuration > MaxDuration:
		return fmt.Errorf("traffic: max duration %s outside (0, %s]", c.MaxDuration, MaxDuration)
	}
	for _, p := range c.Allowed {
		if p.Contains(c.Target.Addr()) {
			return nil
		}
	}
	return fmt.Errorf("traffic: target %s is outside the allowed prefixes %v", c.Target, c.Allowed)
}

// Stop ends the generator and waits for the requests in flight.
func (g *Generator) Stop() {
	g.cancel()
	<-g.done
}

// Done is closed when the generator has stopped.
func (g *Generator) Done() <-chan struct{} { return g.done }

func (g *Generator) run(ctx context.Context) {
	defer close(g.done)
	interval := time.Duration(float64(time.Second) / g.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for sent := 0; sent < g.cfg.MaxRequests; sent++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.one(ctx)
			g.mu.Lock()
			g.results = append(g.results, r)
			g.mu.Unlock()
		}()
	}
}

// one sends one request on a connection of its own. A request cut because the generator
// stopped (Stop, or its time bound) says so, and is not counted as a failure.
func (g *Generator) one(run context.Context) (r Result) {
	r.Start = time.Now()
	defer func() { r.End = time.Now() }()
	ctx, cancel := context.WithTimeout(run, g.cfg.Timeout)
	defer cancel()
	dial := g.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	target := g.cfg.Target.String()
	// The dial may finish after the request gave up: the source address is read under a
	// lock when the request ends.
	var localMu sync.Mutex
	var local netip.AddrPort
	var seen string // the leaf's fingerprint, HTTPS
	reached := "dialing"
	stage := func(s string) {
		localMu.Lock()
		reached = s
		localMu.Unlock()
	}
	defer func() {
		localMu.Lock()
		r.Local, r.Fingerprint, r.Reached = local, seen, reached
		localMu.Unlock()
	}()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				stage("handshake done")
			}
		},
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				stage("request sent")
			}
		},
		GotFirstResponseByte: func() { stage("first byte") },
	})
	tr := &http.Transport{
		// Every request its own connection, so every request its own source port.
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := dial(ctx, network, target)
			if err == nil {
				if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
					localMu.Lock()
					local, reached = a.AddrPort(), "connected"
					localMu.Unlock()
				}
			}
			return c, err
		},
		Proxy: nil,
	}
	defer tr.CloseIdleConnections()
	scheme := "http"
	if c := g.cfg.TLS; c != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{
			ServerName: c.ServerName, MinVersion: tls.VersionTLS12,
			// The chain is not checked against roots (the certificates are made for the
			// test): the leaf's fingerprint is, by Accept, and its host name here.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the server showed no certificate")
				}
				leaf := cs.PeerCertificates[0]
				fp := certs.Fingerprint(leaf.Raw)
				localMu.Lock()
				seen = fp
				localMu.Unlock()
				if err := leaf.VerifyHostname(c.ServerName); err != nil {
					return err
				}
				if c.Accept != nil {
					return c.Accept(fp)
				}
				return nil
			},
		}
	}
	host := g.cfg.Host
	if host == "" {
		host = target
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+g.cfg.Path, nil)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		if run.Err() != nil {
			r.Err = stopped
			return r
		}
		r.Err = err.Error()
		return r
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		r.Err = resp.Status
		return r
	}
	r.Cluster = resp.Header.Get(ClusterHeader)
	return r
}

// Results returns a copy of the results so far, in start order.
func (g *Generator) Results() []Result {
	g.mu.Lock()
	out := append([]Result(nil), g.results...)
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Stats are the requests started within a time window.
type Stats struct {
	Sent, OK, Failed int
	// ByCluster counts the answered requests per cluster.
	ByCluster map[string]int
	// FirstFailure and LastFailure bound the failures (zero when none).
	FirstFailure, LastFailure time.Time
}

// Window summarises the requests started in [from, to) (a zero to means up to now).
func (g *Generator) Window(from, to time.Time) Stats {
	st := Stats{ByCluster: map[string]int{}}
	for _, r := range g.Results() {
		if r.Start.Before(from) || (!to.IsZero() && !r.Start.Before(to)) || r.Cut() {
			continue
		}
		st.Sent++
		if r.OK() {
			st.OK++
			st.ByCluster[r.Cluster]++
			continue
		}
		st.Failed++
		if st.FirstFailure.IsZero() || r.Start.Before(st.FirstFailure) {
			st.FirstFailure = r.Start
		}
		if r.End.After(st.LastFailure) {
			st.LastFailure = r.End
		}
	}
	return st
}

// Share returns each cluster's share of the answered requests, as "west 52% east 48%".
func (s Stats) Share() string {
	if s.OK == 0 {
		return "-"
	}
	names := make([]string, 0, len(s.ByCluster))
	for n := range s.ByCluster {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d%%", n, (100*s.ByCluster[n]+s.OK/2)/s.OK))
	}
	return strings.Join(parts, " ")
}

// String is "sent 200, ok 200, failed 0, west 51% east 49%".
func (s Stats) String() string {
	return fmt.Sprintf("sent %d, ok %d, failed %d, %s", s.Sent, s.OK, s.Failed, s.Share())
}
