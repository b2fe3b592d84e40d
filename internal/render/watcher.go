package render

import (
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
)

// Watcher is the configuration of a class's embedded watcher, as the operator starts
// it: the goldens and the render command show it. Passwords are named, never included:
// the controller reads them from the operator's namespace when it starts the sessions.
type Watcher struct {
	// ASN and RouterID are the watcher's in its sessions' OPEN (none without sessions).
	ASN      uint32         `json:"asn,omitempty"`
	RouterID netip.Addr     `json:"routerID,omitzero"`
	Pools    []netip.Prefix `json:"pools"`
	// Sessions are the receive-only sessions to start.
	Sessions []WatcherSession `json:"sessions,omitempty"`
	// BMP is the BMP collector to start, if any.
	BMP *WatcherBMP `json:"bmp,omitempty"`
}

// WatcherBMP is the watcher's BMP collector, with its defaults applied.
type WatcherBMP struct {
	// Listen is the address and port it listens on.
	Listen netip.AddrPort `json:"listen"`
	// Routers are the routers allowed to stream, by source address.
	Routers []WatcherBMPRouter `json:"routers"`
}

// WatcherBMPRouter is one router allowed to stream BMP, with its limits.
type WatcherBMPRouter struct {
	Name        string     `json:"name"`
	Address     netip.Addr `json:"address"`
	MaxPrefixes uint32     `json:"maxPrefixes"`
	MaxPeers    uint32     `json:"maxPeers"`
}

// WatcherSession is one receive-only session, with the watcher's defaults applied.
type WatcherSession struct {
	Name           string     `json:"name"`
	Address        netip.Addr `json:"address"`
	Port           uint16     `json:"port"`
	ASN            uint32     `json:"asn"`
	LocalAddress   string     `json:"localAddress,omitempty"`
	Multihop       uint8      `json:"multihop,omitempty"`
	HoldTime       string     `json:"holdTime"`
	KeepaliveTime  string     `json:"keepaliveTime"`
	ConnectRetry   string     `json:"connectRetry"`
	AddPathReceive bool       `json:"addPathReceive"`
	MaxPrefixes    uint32     `json:"maxPrefixes"`
	// PasswordSecret is the password's "<secret>/<key>" in the operator's namespace (the
	// key of Observed.Secrets), empty for none.
	PasswordSecret string `json:"passwordSecret,omitempty"`
}

// Watcher defaults, applied here so that what is shown is what runs.
const (
	DefaultWatcherPort         = 179
	DefaultWatcherHoldTime     = 90 * time.Second
	DefaultWatcherConnectRetry = 5 * time.Second
	DefaultWatcherMaxPrefixes  = 10000
	// BMP has no well-known port; 11019 is GoBGP's and common collectors' default.
	DefaultBMPPort     = 11019
	DefaultBMPMaxPeers = 64
)

// RenderWatcher computes a class's watcher configuration, or nil without spec.watcher.
// A field the schema would have refused (a file that never went through an API server) is
// a problem; so is a session password the Secrets do not hold, when secrets were read
// (nil secrets: the password is not checked).
func RenderWatcher(c *v1alpha1.AnycastClass, secrets map[string]string) (*Watcher, []Problem) {
	w := c.Spec.Watcher
	if w == nil {
		return nil, nil
	}
	var problems []Problem
	invalid := func(field, msg string) {
		problems = append(problems, Problem{Reason: ReasonInvalidSpec, Field: field, Message: msg})
	}
	pools, err := ipam.ParsePools(c.Spec.Pools)
	if err != nil {
		invalid("spec.pools", err.Error())
	}
	out := &Watcher{ASN: uint32(w.ASN), Pools: pools}
	if len(w.Sessions) > 0 || w.RouterID != "" {
		if out.RouterID, err = netip.ParseAddr(w.RouterID); err != nil || !out.RouterID.Is4() {
			invalid("spec.watcher.routerID", fmt.Sprintf("spec.watcher.routerID %q is not an IPv4 address", w.RouterID))
		}
	}
	if w.BMP != nil {
		out.BMP = renderBMP(w.BMP, invalid)
	}
	for _, s := range w.Sessions {
		field := fmt.Sprintf("spec.watcher.sessions[%s]", s.Name)
		ws := WatcherSession{
			Name: s.Name, Port: DefaultWatcherPort, ASN: uint32(s.ASN),
			HoldTime:       orDuration(s.HoldTime, DefaultWatcherHoldTime),
			ConnectRetry:   orDuration(s.ConnectRetry, DefaultWatcherConnectRetry),
			AddPathReceive: s.AddPathReceive == nil || *s.AddPathReceive,
			MaxPrefixes:    DefaultWatcherMaxPrefixes,
		}
		hold := DefaultWatcherHoldTime
		if s.HoldTime != nil {
			hold = s.HoldTime.Duration
		}
		ws.KeepaliveTime = orDuration(s.KeepaliveTime, hold/3)
		if ws.Address, err = netip.ParseAddr(s.Address); err != nil {
			invalid(field+".address", fmt.Sprintf("session %s: %q is not an IP address", s.Name, s.Address))
		}
		if s.LocalAddress != "" {
			if a, err := netip.ParseAddr(s.LocalAddress); err != nil {
				invalid(field+".localAddress", fmt.Sprintf("session %s: %q is not an IP address", s.Name, s.LocalAddress))
			} else {
				ws.LocalAddress = a.String()
			}
		}
		if s.Port != nil {
			ws.Port = uint16(*s.Port)
		}
		if s.Multihop != nil {
			ws.Multihop = uint8(*s.Multihop)
		}
		if s.MaxPrefixes != nil {
			ws.MaxPrefixes = uint32(*s.MaxPrefixes)
		}
		if ref := s.PasswordSecretRef; ref != nil {
			ws.PasswordSecret = SecretKey(ref, "password")
			if _, ok := secrets[ws.PasswordSecret]; secrets != nil && !ok {
				problems = append(problems, Problem{Reason: ReasonPasswordSecretNotFound, Field: field + ".passwordSecretRef",
					Message: fmt.Sprintf("session %s: Secret %s key %q", s.Name, ref.Name, keyOr(ref.Key, "password"))})
			}
		}
		out.Sessions = append(out.Sessions, ws)
	}
	return out, problems
}

// renderBMP applies the collector's defaults: every address on port 11019,
// 10000 prefixes and 64 neighbours per router.
func renderBMP(b *v1alpha1.BMPCollector, invalid func(field, msg string)) *WatcherBMP {
	addr, port := netip.IPv6Unspecified(), uint16(DefaultBMPPort)
	if b.ListenAddress != "" {
		a, err := netip.ParseAddr(b.ListenAddress)
		if err != nil {
			invalid("spec.watcher.bmp.listenAddress", fmt.Sprintf("spec.watcher.bmp.listenAddress %q is not an IP address", b.ListenAddress))
		}
		addr = a.Unmap()
	}
	if b.Port != nil {
		port = uint16(*b.Port)
	}
	out := &WatcherBMP{Listen: netip.AddrPortFrom(addr, port)}
	for _, r := range b.Routers {
		wr := WatcherBMPRouter{Name: r.Name, MaxPrefixes: DefaultWatcherMaxPrefixes, MaxPeers: DefaultBMPMaxPeers}
		a, err := netip.ParseAddr(r.Address)
		if err != nil {
			invalid(fmt.Sprintf("spec.watcher.bmp.routers[%s].address", r.Name), fmt.Sprintf("BMP router %s: %q is not an IP address", r.Name, r.Address))
		}
		wr.Address = a.Unmap()
		if r.MaxPrefixes != nil {
			wr.MaxPrefixes = uint32(*r.MaxPrefixes)
		}
		if r.MaxPeers != nil {
			wr.MaxPeers = uint32(*r.MaxPeers)
		}
		out.Routers = append(out.Routers, wr)
	}
	return out
}

func orDuration(d *metav1.Duration, def time.Duration) string {
	if d != nil {
		return d.Duration.String()
	}
	return def.String()
}
