// Package routerview is the routers' view as the reconcilers see it: the class's watcher
// configuration for the embedded BGP watcher (internal/bgp), what the watcher holds turned
// into the status's inputs and the class's session status, and the bridge that carries the
// watcher's changes to the reconcilers as notifications. It makes no API calls.
package routerview

import (
	"context"
	"net/netip"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// Watcher is what the reconcilers use of the embedded BGP watcher (internal/bgp.Manager).
type Watcher interface {
	Apply(ctx context.Context, class string, cfg bgp.Config) error
	Remove(ctx context.Context, class string) error
	Paths(class string, prefix netip.Prefix) []bgp.Path
	// ClassPaths is every path the class holds inside its pools, at most limit (whole
	// prefixes), and how many it holds: what no ingress may explain (internal/origins).
	ClassPaths(class string, limit int) ([]bgp.Path, int)
	// Sessions is the watcher's own bookkeeping: cheap enough for every reconcile.
	Sessions(class string) []bgp.SessionState
	// BMP is the class's BMP collector and its routers (see BMPStatus), as cheap.
	BMP(class string) bgp.BMPState
}

// Observation is the routers' part of what the status is computed from: the
// paths the watcher holds for the VIP and its sessions' states; nil without a watcher.
func Observation(class *v1alpha1.AnycastClass, w Watcher, vip netip.Addr) *status.Watcher {
	if class.Spec.Watcher == nil || w == nil || !vip.IsValid() {
		return nil
	}
	out := &status.Watcher{MemberASNs: map[string]uint32{}}
	for _, m := range class.Spec.Clusters {
		out.MemberASNs[m.Name] = uint32(m.ASN)
	}
	for _, p := range w.Paths(class.Name, netip.PrefixFrom(vip, vip.BitLen())) {
		out.Paths = append(out.Paths, status.Path{Session: p.Session, Peer: p.Peer, PeerAS: p.PeerAS, RIB: string(p.RIB),
			NextHop: p.NextHop, ASPath: p.ASPath, OriginAS: p.OriginAS, Communities: p.Communities, Since: p.Since})
	}
	for _, s := range viewSessions(w, class.Name) {
		relearning := slices.ContainsFunc(s.Relearning, func(p netip.Prefix) bool { return p.Contains(vip) })
		out.Sessions = append(out.Sessions, status.Session{
			Name: s.Name, Established: s.State == bgp.StateEstablished, Synced: s.Synced && !relearning,
			SyncIn: metav1.Duration{Duration: s.SyncIn}, Retained: s.Retained > 0,
		})
	}
	return out
}

// viewSessions is every source of the routers' view: the BGP sessions, and each BMP
// router as a session that is Established while it streams.
func viewSessions(w Watcher, class string) []bgp.SessionState {
	return append(w.Sessions(class), w.BMP(class).Sessions()...)
}
