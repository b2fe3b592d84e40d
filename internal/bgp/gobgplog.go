package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gobgpLogger routes GoBGP's log calls to logr, and is also where the
// watcher learns *why* a session is not up: GoBGP reports connect errors,
// NOTIFICATIONs and prefix-limit shutdowns only through its logger (its
// event API carries states, not reasons).
//
// It must stay cheap and must never take the class lock: GoBGP calls it from
// its main goroutine, including while Apply waits on that goroutine.
type gobgpLogger struct {
	log logr.Logger
	// debug makes GetLevel report Debug, because GoBGP only emits
	// "failed to connect" at that level. It is on only while some session
	// of the class is down: at Debug GoBGP also logs per received UPDATE.
	debug   atomic.Bool
	secrets atomic.Pointer[[]string]
	// onNote is called (without locks held) when a note changes.
	onNote func()

	mu    sync.Mutex
	notes map[netip.Addr]*peerNote
}

// peerNote is what GoBGP's logs said about one neighbor since it last came up.
type peerNote struct {
	connectErr   string // last TCP connect failure
	notification string // last NOTIFICATION received while opening
	down         string // why the session last went down
	maxPrefix    string // family whose prefix limit was exceeded
}

func newGobgpLogger(l logr.Logger) *gobgpLogger {
	return &gobgpLogger{log: l, notes: map[netip.Addr]*peerNote{}}
}

// setSecrets lists strings (session passwords) to redact from every log line.
func (g *gobgpLogger) setSecrets(s []string) {
	s = slices.DeleteFunc(slices.Clone(s), func(x string) bool { return x == "" })
	g.secrets.Store(&s)
}

// note returns a copy of what is known about addr.
func (g *gobgpLogger) note(addr netip.Addr) peerNote {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.notes[addr]; n != nil {
		return *n
	}
	return peerNote{}
}

// forget clears addr's notes: the session came up, or was (re)configured.
func (g *gobgpLogger) forget(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.notes, addr)
}

// clearOpenErrors forgets connect errors and NOTIFICATIONs: the session
// has opened since.
func (g *gobgpLogger) clearOpenErrors(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.notes[addr]; n != nil {
		n.connectErr, n.notification = "", ""
	}
}

func (g *gobgpLogger) record(fields log.Fields, update func(*peerNote)) {
	key, _ := fields["Key"].(string)
	addr, err := netip.ParseAddr(key)
	if err != nil {
		return
	}
	addr = addr.Unmap()
	g.mu.Lock()
	n := g.notes[addr]
	if n == nil {
		n = &peerNote{}
		g.notes[addr] = n
	}
	before := *n
	update(n)
	changed := *n != before
	g.mu.Unlock()
	if changed && g.onNote != nil {
		g.onNote()
	}
}

// observe extracts session diagnostics from the messages that carry them.
func (g *gobgpLogger) observe(msg string, fields log.Fields) {
	switch msg {
	case "failed to connect":
		if e, ok := fields["Error"].(error); ok {
			g.record(fields, func(n *peerNote) { n.connectErr = connectError(e) })
		}
	case "received notification":
		code, _ := fields["Code"].(uint8)
		sub, _ := fields["Subcode"].(uint8)
		desc := bgp.NewNotificationErrorCode(code, sub).String()
		g.record(fields, func(n *peerNote) { n.notification = desc })
	case "Peer Down":
		reason, _ := fields["Reason"].(string)
		g.record(fields, func(n *peerNote) { n.down = reason })
	case "prefix limit reached":
		if _, ok := fields["Pct"]; ok {
			return // the early warning, not the shutdown
		}
		family := fmt.Sprint(fields["Family"])
		g.record(fields, func(n *peerNote) { n.maxPrefix = family })
	}
}

// connectError keeps what distinguishes the failure modes; the dial error
// string also carries addresses, which the message already names.
func connectError(err error) string {
	var te interface{ Timeout() bool }
	switch s := err.Error(); {
	case errors.As(err, &te) && te.Timeout(), strings.Contains(s, "timeout"):
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "refused"
	default:
		return s
	}
}

func (g *gobgpLogger) kv(fields log.Fields) []any {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var secrets []string
	if p := g.secrets.Load(); p != nil {
		secrets = *p
	}
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		v := fmt.Sprint(fields[k])
		for _, s := range secrets {
			v = strings.ReplaceAll(v, s, "[redacted]")
		}
		out = append(out, strings.ToLower(k), v)
	}
	return out
}

func (g *gobgpLogger) Panic(msg string, fields log.Fields) { g.Error(msg, fields) }
func (g *gobgpLogger) Fatal(msg string, fields log.Fields) { g.Error(msg, fields) } // never exit the operator

func (g *gobgpLogger) Error(msg string, fields log.Fields) {
	g.observe(msg, fields)
	g.log.Error(nil, msg, g.kv(fields)...)
}

func (g *gobgpLogger) Warn(msg string, fields log.Fields) {
	g.observe(msg, fields)
	g.log.Info(msg, g.kv(fields)...)
}

func (g *gobgpLogger) Info(msg string, fields log.Fields) {
	g.observe(msg, fields)
	if l := g.log.V(1); l.Enabled() {
		l.Info(msg, g.kv(fields)...)
	}
}

func (g *gobgpLogger) Debug(msg string, fields log.Fields) {
	g.observe(msg, fields)
	if l := g.log.V(2); l.Enabled() {
		l.Info(msg, g.kv(fields)...)
	}
}

func (g *gobgpLogger) SetLevel(log.LogLevel) {}

func (g *gobgpLogger) GetLevel() log.LogLevel {
	if g.debug.Load() {
		return log.DebugLevel
	}
	return log.InfoLevel
}
