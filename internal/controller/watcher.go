package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"

	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// Watcher is what the reconcilers use of the embedded BGP watcher (internal/bgp.Manager).
type Watcher interface {
	Apply(ctx context.Context, class string, cfg bgp.Config) error
	Remove(ctx context.Context, class string) error
	Paths(class string, prefix netip.Prefix) []bgp.Path
	// Sessions is the watcher's own bookkeeping: cheap enough for every reconcile.
	Sessions(class string) []bgp.SessionState
	// BMP is the class's BMP collector and its routers (bmp_status.go), as cheap.
	BMP(class string) bgp.BMPState
}

// ReasonWatcherSyncing: the watcher's sessions are up but have not received the whole
// table yet, so a missing path is not evidence (Advertised and Drained are Unknown).
const ReasonWatcherSyncing = "WatcherSyncing"

// watcherConfig is the class's rendered watcher (render.RenderWatcher) with the session
// passwords read from the operator's namespace. A session whose password is missing is
// reported rather than started without authentication.
func watcherConfig(class *v1alpha1.AnycastClass, secrets map[string]string) (bgp.Config, []string, error) {
	w, problems := render.RenderWatcher(class, secrets)
	var missing, invalid []string
	lacking := map[string]bool{}
	for _, p := range problems {
		if p.Reason == render.ReasonPasswordSecretNotFound {
			missing = append(missing, p.Message)
			lacking[p.Field] = true
			continue
		}
		invalid = append(invalid, p.Message)
	}
	if len(invalid) > 0 {
		return bgp.Config{}, nil, errors.New(strings.Join(invalid, "; "))
	}
	cfg := bgp.Config{ASN: w.ASN, RouterID: w.RouterID, Pools: w.Pools}
	for _, s := range w.Sessions {
		if lacking[fmt.Sprintf("spec.watcher.sessions[%s].passwordSecretRef", s.Name)] {
			continue
		}
		sc := bgp.SessionConfig{
			Name: s.Name, Address: s.Address, Port: s.Port, ASN: s.ASN, Multihop: s.Multihop,
			HoldTime: mustDuration(s.HoldTime), KeepaliveTime: mustDuration(s.KeepaliveTime), ConnectRetry: mustDuration(s.ConnectRetry),
			AddPathReceive: s.AddPathReceive, MaxPrefixes: s.MaxPrefixes,
		}
		if s.LocalAddress != "" {
			sc.LocalAddress = netip.MustParseAddr(s.LocalAddress) // render parsed it
		}
		if s.PasswordSecret != "" {
			sc.Password = secrets[s.PasswordSecret]
		}
		cfg.Sessions = append(cfg.Sessions, sc)
	}
	cfg.BMP = bmpConfig(w.BMP)
	return cfg, missing, nil
}

// mustDuration parses a duration render wrote with time.Duration.String.
func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic("render wrote an unparsable duration " + s)
	}
	return d
}

// sessionStatuses converts the watcher's session states for the class status, keeping
// the order of the spec.
func sessionStatuses(class *v1alpha1.AnycastClass, states []bgp.SessionState) []v1alpha1.SessionStatus {
	byName := map[string]bgp.SessionState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	out := make([]v1alpha1.SessionStatus, 0, len(class.Spec.Watcher.Sessions))
	for _, s := range class.Spec.Watcher.Sessions {
		st, ok := byName[s.Name]
		if !ok {
			out = append(out, v1alpha1.SessionStatus{Name: s.Name, State: "Idle", Message: "not started"})
			continue
		}
		ss := v1alpha1.SessionStatus{Name: s.Name, State: st.State, ReceivedPrefixes: int64(st.Received), AcceptedPrefixes: int64(st.Accepted), Message: st.Message}
		if !st.Since.IsZero() {
			t := metav1.NewTime(st.Since.Truncate(time.Second))
			ss.Since = &t
		}
		out = append(out, ss)
	}
	return out
}

// watcherObservation is the routers' part of what the status is computed from: the
// paths the watcher holds for the VIP and its sessions' states; nil without a watcher.
func watcherObservation(class *v1alpha1.AnycastClass, w Watcher, vip netip.Addr) *status.Watcher {
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

// BGPBridge carries the watcher's changes to the reconcilers, as notifications: session
// changes to the class (and its ingresses, whose verification depends on them), prefix
// counter changes to the class, path changes to the ingresses of the VIPs concerned. It
// also remembers when each change reached the watcher, so the status write can report
// the delay.
type BGPBridge struct {
	Changes <-chan bgp.Change
	// Addresses says which ingresses hold a VIP: the allocator's own index, the one
	// index of addresses the operator keeps.
	Addresses *Allocator
	Classes   *notify.Notifier[notify.ClassEvent]
	Ingresses *notify.Notifier[notify.IngressEvent]
	Delays    *DelayTracker
}

// NeedLeaderElection: only the leader runs the watcher, so only it bridges.
func (b *BGPBridge) NeedLeaderElection() bool { return true }

// Start forwards changes until ctx ends.
func (b *BGPBridge) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-b.Changes:
			if !ok {
				return nil
			}
			b.forward(ctx, c)
		}
	}
}

func (b *BGPBridge) forward(ctx context.Context, c bgp.Change) {
	if c.Sessions || c.Counters {
		// The class status shows the sessions and their prefix counters; the
		// watcher publishes counter moves at most every bgp.CountersEvery.
		b.Classes.Notify(notify.ClassEvent(c.Class))
	}
	if c.Sessions {
		b.Ingresses.Notify(notify.ClassIngresses(c.Class))
	}
	for _, p := range c.Prefixes {
		for _, key := range b.Addresses.Holders(c.Class, p.Addr()) {
			b.Delays.Mark(key, c.ReceivedAt)
			b.Ingresses.Notify(notify.Ingress(key))
		}
	}
}

// DelayTracker remembers, per ingress, when the earliest BGP change not yet reflected in
// its status reached the watcher.
type DelayTracker struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]time.Time
	// Observe receives the delay when the status that reflects the change is written.
	Observe func(time.Duration)
}

// Mark records a change for an ingress; the earliest pending one is kept.
func (d *DelayTracker) Mark(key types.NamespacedName, at time.Time) {
	if d == nil || at.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = map[types.NamespacedName]time.Time{}
	}
	if prev, ok := d.pending[key]; !ok || at.Before(prev) {
		d.pending[key] = at
	}
}

// Take returns and forgets the earliest pending change of an ingress, at the start of a
// reconcile that reads the paths; changes marked later wait for the next reconcile.
func (d *DelayTracker) Take(key types.NamespacedName) (time.Time, bool) {
	if d == nil {
		return time.Time{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.pending[key]
	delete(d.pending, key)
	return at, ok
}

// Written observes the delay from a change reaching the watcher to the status write that
// reflects it.
func (d *DelayTracker) Written(at time.Time, now time.Time) {
	if d != nil && d.Observe != nil && !at.IsZero() {
		d.Observe(now.Sub(at))
	}
}
