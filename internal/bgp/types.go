package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// SessionConfig is one receive-only session (from v1alpha1.WatcherSession,
// with the password already resolved from its Secret).
type SessionConfig struct {
	// Name identifies the session in status, metrics and Path.Session.
	Name string
	// Address is the router to dial. IPv4 or IPv6; either carries both
	// IPv4 and IPv6 unicast.
	Address netip.Addr
	// ASN is the router's AS.
	ASN uint32
	// Port is the router's BGP port; 0 means 179.
	Port uint16
	// LocalAddress optionally pins the source address of the session.
	LocalAddress netip.Addr
	// Multihop is the eBGP TTL; 0 means directly connected (TTL 1).
	Multihop uint8
	// HoldTime, KeepaliveTime and ConnectRetry default to 90 s, HoldTime/3
	// and 5 s. BGP carries the hold time in whole seconds: it is rounded up.
	HoldTime, KeepaliveTime, ConnectRetry time.Duration
	// Password enables TCP MD5 (RFC 2385). Never logged.
	Password string
	// AddPathReceive negotiates ADD-PATH receive (RFC 7911) for IPv4 and
	// IPv6 unicast, so a router that sends all paths can.
	AddPathReceive bool
	// MaxPrefixes, if non-zero, shuts the session when the router sends
	// more prefixes than this in one address family. Prefixes, not paths:
	// with ADD-PATH a prefix sent with many path ids counts once. The
	// session then stays down until its configuration changes.
	MaxPrefixes uint32
}

// Config is one class's watcher: its BGP sessions, its BMP collector, or
// both, feeding one route index.
type Config struct {
	// ASN and RouterID are the watcher's own, which its OPENs carry: needed
	// with Sessions only (a BMP collector speaks no BGP).
	ASN      uint32
	RouterID netip.Addr // IPv4
	// Pools are the prefixes whose routes the watcher keeps (the class's
	// anycast pools); a route is kept if its prefix lies inside a pool,
	// /32 and /128 VIPs included. Everything else is dropped on import.
	Pools    []netip.Prefix
	Sessions []SessionConfig
	// BMP, if set, is the class's BMP collector (bmp.go): routers stream
	// their neighbours' routes to it. Its routers' names share the
	// namespace of the sessions' (both name paths in Path.Session).
	BMP *BMPConfig
}

// BMPConfig is a BMP collector (RFC 7854): a listener that routers connect to
// and stream their Adj-RIB-In per neighbour, read-only: nothing is ever
// written to a router's connection.
type BMPConfig struct {
	// Listen is the TCP address and port to accept routers on ([::] for
	// every address); port 0 picks a free one (BMPState.Address says which).
	Listen netip.AddrPort
	// Routers are the routers allowed to connect, by source address; a
	// connection from any other address is closed at once and recorded
	// (BMPState.Refused).
	Routers []BMPRouterConfig
}

// BMPRouterConfig is one router allowed to stream BMP to the collector.
type BMPRouterConfig struct {
	// Name identifies the router in status, metrics and Path.Session.
	Name string
	// Address is the source address of the router's BMP connection.
	Address netip.Addr
	// MaxPrefixes, if non-zero, bounds the prefixes the router may report
	// for one monitored neighbour, per address family and per table
	// (pre-policy, post-policy, Loc-RIB), counted before the pools filter
	// them, as SessionConfig.MaxPrefixes. Beyond it the collector drops the
	// router's stream and refuses the router until its configuration
	// changes.
	MaxPrefixes uint32
	// MaxPeers bounds the neighbours (and Loc-RIB instances) one router may
	// report; 0 means DefaultBMPMaxPeers. With MaxPrefixes it bounds what
	// the collector keeps per router. Beyond it, as beyond MaxPrefixes.
	MaxPeers uint32
}

// DefaultBMPMaxPeers is BMPRouterConfig.MaxPeers when unset.
const DefaultBMPMaxPeers = 64

func (r BMPRouterConfig) maxPeers() int {
	if r.MaxPeers == 0 {
		return DefaultBMPMaxPeers
	}
	return int(r.MaxPeers)
}

// RIB names the router's table a path reported over BMP comes from.
type RIB string

// The tables a router reports over BMP.
const (
	// RIBPrePolicy is a neighbour's Adj-RIB-In as received, before the
	// router's import policy (RFC 7854).
	RIBPrePolicy RIB = "PrePolicy"
	// RIBPostPolicy is a neighbour's Adj-RIB-In after the import policy.
	RIBPostPolicy RIB = "PostPolicy"
	// RIBLoc is the router's own selected routes (Loc-RIB, RFC 9069).
	RIBLoc RIB = "LocRIB"
)

// Path is one route the watcher holds for a prefix.
type Path struct {
	// Session is where the watcher saw the path: the SessionConfig.Name it
	// was received on, or the BMPRouterConfig.Name of the router that
	// reported it over BMP.
	Session string
	// Peer and PeerAS are, for a path reported over BMP, the router's
	// neighbour it received the path from (the monitored peer; Peer is
	// invalid for RIBLoc), and RIB the router's table it is from. All three
	// are zero for a path received on a BGP session.
	Peer    netip.Addr
	PeerAS  uint32
	RIB     RIB
	Prefix  netip.Prefix // the VIP (or any prefix inside a pool)
	NextHop netip.Addr
	// ASPath is the AS path as received, first AS (the router's) first.
	ASPath []uint32
	// OriginAS is the last AS of the path: the cluster that originates it.
	// 0 when the path ends in an AS_SET (aggregate) or is empty (iBGP
	// route originated by the router itself).
	OriginAS uint32
	// Communities are "65535:100" for standard and "large:a:b:c" for large
	// communities, in the order received.
	Communities []string
	// PathID is the ADD-PATH path identifier (0 without ADD-PATH).
	PathID uint32
	// Since is when the watcher received this path in its current form.
	Since time.Time
}

// SessionState is one session's status.
type SessionState struct {
	Name string
	// State is the BGP FSM state: Idle, Connect, Active, OpenSent,
	// OpenConfirm or Established.
	State string
	// Since is when the session entered State.
	Since time.Time
	// Received counts the prefixes the router currently announces (all
	// families, before import filtering); Accepted those kept (inside the
	// pools). ReceivedPaths and AcceptedPaths count paths: with ADD-PATH a
	// router can send one prefix with several path ids (a core sending every
	// cluster's path), which counts once as a prefix and once per path.
	Received, Accepted           uint64
	ReceivedPaths, AcceptedPaths uint64
	// Message says why the session is not Established (empty when it is).
	Message string
	// Synced is true once an Established session has received the router's table: an
	// End-of-RIB marker for every family of the class pools, or, from routers that send
	// none, no UPDATE for SyncQuiet after SyncMin (SyncMax at the latest). Before, a
	// path missing from the session is not evidence of a withdrawal.
	Synced bool
	// SyncIn is, for an Established session not yet Synced (or still Relearning), how
	// long until it may be.
	SyncIn time.Duration
	// Relearning lists pools added since the session was synced whose routes the router
	// is still resending (a route refresh, see Config.Pools): for a prefix inside one of
	// them, as before Synced, a missing path is not yet evidence.
	Relearning []netip.Prefix
	// Retained counts the paths kept, stale, from a router that went down announcing
	// graceful restart (RFC 4724: it keeps forwarding while it restarts), and
	// RetainedUntil is when they go if it is not back by then (zero once it is back:
	// they go at its End-of-RIB, or when it resends them). Meanwhile the session's last
	// table stands for the routers' view.
	Retained      int
	RetainedUntil time.Time
}

// Change tells reconcilers that something changed for a class: which
// prefixes' paths changed, whether session states changed, and whether only
// the sessions' prefix counters moved (Counters: published at most every
// CountersEvery per class, since each rewrites the class status). ReceivedAt is
// when the earliest BGP update, withdrawal or state change it covers reached
// the watcher (read off the session's socket), the start
// of the update-to-status delay (see ObserveStatusDelay).
type Change struct {
	Class      string
	Prefixes   []netip.Prefix
	Sessions   bool
	Counters   bool
	ReceivedAt time.Time
}

// Session timer defaults (RFC 4271's hold time; connect retry shorter than
// the RFC's 120 s, which would leave a session down for two minutes after
// every failed attempt).
const (
	DefaultHoldTime     = 90 * time.Second
	DefaultConnectRetry = 5 * time.Second
)

func (c Config) validate() error {
	var errs []error
	if len(c.Sessions) > 0 && c.ASN == 0 {
		errs = append(errs, errors.New("watcher ASN must be set"))
	}
	if len(c.Sessions) > 0 && !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router ID %q must be an IPv4 address", c.RouterID))
	}
	for _, p := range c.Pools {
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() {
			errs = append(errs, fmt.Errorf("pool %q must be a valid prefix with no host bits set (IPv4 pools in IPv4 form)", p))
		}
	}
	// Routers key neighbors by address: two sessions would be one.
	sessions := newDistinct("session", "session", nil)
	for _, s := range c.Sessions {
		errs = append(errs, sessions.check(s.Name, s.Address)...)
		if s.ASN == 0 {
			errs = append(errs, fmt.Errorf("session %q has no ASN", s.Name))
		}
		if len(s.Password) > maxPasswordLen {
			errs = append(errs, fmt.Errorf("session %q: the TCP MD5 password is longer than %d bytes", s.Name, maxPasswordLen))
		}
		if s.HoldTime != 0 && s.HoldTime < 3*time.Second {
			errs = append(errs, fmt.Errorf("session %q: hold time %s is below the BGP minimum of 3s", s.Name, s.HoldTime))
		}
	}
	if c.BMP != nil {
		errs = append(errs, c.BMP.validate(sessions.names)...)
	}
	return errors.Join(errs...)
}

// distinct checks the entries of a list keyed by name and by address (the
// sessions, the BMP routers): each has both, and neither is used twice, nor the
// name one of taken (another list sharing the names).
type distinct struct {
	kind, other string
	names       map[string]bool
	addrs       map[netip.Addr]bool
	taken       map[string]bool
}

func newDistinct(kind, other string, taken map[string]bool) *distinct {
	return &distinct{kind: kind, other: other, names: map[string]bool{}, addrs: map[netip.Addr]bool{}, taken: taken}
}

func (d *distinct) check(name string, addr netip.Addr) []error {
	var errs []error
	switch {
	case name == "":
		errs = append(errs, fmt.Errorf("%s to %s has no name", d.kind, addr))
	case d.taken[name]:
		errs = append(errs, fmt.Errorf("%s name %q is also a session's: paths name one or the other", d.kind, name))
	case d.names[name]:
		errs = append(errs, fmt.Errorf("%s name %q is used twice", d.kind, name))
	}
	d.names[name] = true
	if !addr.IsValid() {
		errs = append(errs, fmt.Errorf("%s %q has no address", d.kind, name))
	} else if d.addrs[addr.Unmap()] {
		errs = append(errs, fmt.Errorf("%s %q: address %s is used by another %s", d.kind, name, addr, d.other))
	}
	d.addrs[addr.Unmap()] = true
	return errs
}

// validate checks the collector; sessions are the BGP sessions' names, which
// the routers' must not repeat (both name paths).
func (b BMPConfig) validate(sessions map[string]bool) []error {
	var errs []error
	if !b.Listen.Addr().IsValid() {
		errs = append(errs, fmt.Errorf("BMP listen address %q has no IP address", b.Listen))
	}
	// A connection is matched to its router by source address alone.
	routers := newDistinct("BMP router", "router", sessions)
	for _, r := range b.Routers {
		errs = append(errs, routers.check(r.Name, r.Address)...)
	}
	return errs
}

// equal compares two collector configurations (nil is no collector).
func (b *BMPConfig) equal(o *BMPConfig) bool {
	if b == nil || o == nil {
		return b == o
	}
	return b.Listen == o.Listen && slices.Equal(b.Routers, o.Routers)
}

func (s SessionConfig) port() uint16 {
	if s.Port == 0 {
		return 179
	}
	return s.Port
}

func (s SessionConfig) holdTime() time.Duration {
	if s.HoldTime == 0 {
		return DefaultHoldTime
	}
	return s.HoldTime
}

func (s SessionConfig) connectRetry() time.Duration {
	if s.ConnectRetry == 0 {
		return DefaultConnectRetry
	}
	return s.ConnectRetry
}

// dialTimeout bounds one TCP connect: long enough for SYN retransmits, short
// enough that an unanswered peer is reported as such within seconds.
func (s SessionConfig) dialTimeout() time.Duration {
	return max(s.connectRetry(), 3*time.Second)
}
