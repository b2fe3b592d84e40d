package bgp

import (
	"errors"
	"fmt"
	"net/netip"
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

// Config is one class's watcher.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // IPv4
	// Pools are the prefixes whose routes the watcher keeps (the class's
	// anycast pools); a route is kept if its prefix lies inside a pool,
	// /32 and /128 VIPs included. Everything else is dropped on import.
	Pools    []netip.Prefix
	Sessions []SessionConfig
}

// Path is one route the watcher holds for a prefix.
type Path struct {
	Session string       // SessionConfig.Name it was received on
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
	if c.ASN == 0 {
		errs = append(errs, errors.New("watcher ASN must be set"))
	}
	if !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router ID %q must be an IPv4 address", c.RouterID))
	}
	for _, p := range c.Pools {
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() {
			errs = append(errs, fmt.Errorf("pool %q must be a valid prefix with no host bits set (IPv4 pools in IPv4 form)", p))
		}
	}
	names, addrs := map[string]bool{}, map[netip.Addr]bool{}
	for _, s := range c.Sessions {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("session to %s has no name", s.Address))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("session name %q is used twice", s.Name))
		}
		names[s.Name] = true
		if !s.Address.IsValid() {
			errs = append(errs, fmt.Errorf("session %q has no address", s.Name))
		} else if addrs[s.Address.Unmap()] {
			// Routers key neighbors by address: two sessions would be one.
			errs = append(errs, fmt.Errorf("session %q: address %s is used by another session", s.Name, s.Address))
		}
		addrs[s.Address.Unmap()] = true
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
	return errors.Join(errs...)
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
