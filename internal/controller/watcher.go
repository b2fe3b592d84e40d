package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"

	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/render"
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

// setAdvertised reports what the routers carry for the ingress's VIP and checks it against
// what each member was asked to do: members that advertise must be seen as origins
// (Advertised), drained members must be gone or prepended as their mode says (Drained),
// members the health gate withdrew must be gone (Advertised, WithdrawalPending). Without a
// watcher the conditions are absent: nothing can be verified.
//
// It returns when to look again: a session that has just come up has not received the
// routers' whole table yet, so a missing path proves nothing until it has (see
// bgp.SessionState.Synced), and nothing may announce that moment.
func setAdvertised(conds conditionSet, ing *v1alpha1.AnycastIngress, class *v1alpha1.AnycastClass, w Watcher, vip netip.Addr, prev map[string]v1alpha1.IngressClusterStatus, now time.Time) time.Duration {
	if class.Spec.Watcher == nil || w == nil || !vip.IsValid() {
		conds.remove(v1alpha1.ConditionAdvertised)
		conds.remove(v1alpha1.ConditionDrained)
		ing.Status.Paths = nil
		for i := range ing.Status.Clusters {
			cs := &ing.Status.Clusters[i]
			cs.Advertised, cs.RouterState, cs.RouterStateSince = nil, "", nil
		}
		return 0
	}
	byASN := map[uint32]string{}
	asnOf := map[string]uint32{}
	for _, m := range class.Spec.Clusters {
		byASN[uint32(m.ASN)] = m.Name
		asnOf[m.Name] = uint32(m.ASN)
	}
	paths := w.Paths(class.Name, netip.PrefixFrom(vip, vip.BitLen()))
	seen := map[string][]string{} // member -> sessions it is seen on
	prepended := map[string]bool{}
	ing.Status.Paths = make([]v1alpha1.PathStatus, 0, len(paths))
	for _, p := range paths {
		ps := v1alpha1.PathStatus{
			Session: p.Session, Peer: peerString(p.Peer), PeerAS: int64(p.PeerAS), RIB: string(p.RIB), NextHop: p.NextHop.String(), ASPath: asPathString(p.ASPath),
			OriginAS: int64(p.OriginAS), Cluster: byASN[p.OriginAS], Communities: p.Communities,
		}
		if !p.Since.IsZero() {
			t := metav1.NewTime(p.Since.Truncate(time.Second))
			ps.Since = &t
		}
		ing.Status.Paths = append(ing.Status.Paths, ps)
		if ps.Cluster != "" {
			seen[ps.Cluster] = append(seen[ps.Cluster], p.Session)
			// A prepend drain repeats the member's ASN: the routers see a longer path.
			n := 0
			for _, as := range p.ASPath {
				if as == p.OriginAS {
					n++
				}
			}
			if n > 1 {
				prepended[ps.Cluster] = true
			}
		}
	}
	established, synced := 0, 0
	var down, syncing []string
	var syncWait time.Duration
	restarting := []string{}
	for _, s := range viewSessions(w, class.Name) {
		switch {
		case s.State != bgp.StateEstablished && s.Retained > 0:
			// A router restarting gracefully keeps forwarding: the table it sent last
			// stands for its view until it is back (bgp.SessionState.Retained).
			established++
			synced++
			restarting = append(restarting, s.Name)
		case s.State != bgp.StateEstablished:
			down = append(down, s.Name)
		case s.Synced && !slices.ContainsFunc(s.Relearning, func(p netip.Prefix) bool { return p.Contains(vip) }):
			established++
			synced++
		default:
			established++
			syncing = append(syncing, s.Name)
			if syncWait == 0 || s.SyncIn < syncWait {
				syncWait = s.SyncIn
			}
		}
	}

	var missing, pendingWithdrawal, drainWrong, drained []string
	serving := 0
	for i := range ing.Status.Clusters {
		cs := &ing.Status.Clusters[i]
		adv := len(seen[cs.Name]) > 0
		cs.Advertised = &adv
		state := RouterWithdrawn
		switch {
		case prepended[cs.Name]:
			state = RouterPrepended
		case adv:
			state = RouterAdvertised
		}
		cs.RouterState = state
		if p, ok := prev[cs.Name]; ok && p.RouterState == state && p.RouterStateSince != nil {
			cs.RouterStateSince = p.RouterStateSince
		} else {
			t := metav1.NewTime(now.Truncate(time.Second))
			cs.RouterStateSince = &t
			if state == RouterWithdrawn && cs.WithdrawnReason == render.ReasonUnhealthy && cs.HealthSince != nil && synced > 0 {
				withdrawalConfirm.WithLabelValues(class.Name).Observe(now.Sub(cs.HealthSince.Time).Seconds())
			}
		}
		on := strings.Join(uniq(seen[cs.Name]), ", ")
		switch {
		case cs.Drained:
			drained = append(drained, cs.Name)
			want := RouterWithdrawn
			if cs.Advertisement == string(render.Prepend) {
				want = RouterPrepended
			}
			if state != want {
				drainWrong = append(drainWrong, fmt.Sprintf("%s is %s at the routers, want %s", cs.Name, strings.ToLower(state), strings.ToLower(want)))
			}
		case cs.Advertisement == string(render.Withdraw):
			if adv {
				pendingWithdrawal = append(pendingWithdrawal, fmt.Sprintf("%s (still seen on %s)", cs.Name, on))
			}
		default:
			serving++
			if !adv {
				missing = append(missing, cs.Name)
			}
		}
	}
	// Absence is evidence only from a session that has the routers' whole table.
	unsynced := established > 0 && synced == 0
	requeue := time.Duration(0)
	switch {
	case established == 0:
		conds.setStatus(v1alpha1.ConditionAdvertised, metav1.ConditionUnknown, ReasonWatcherNotEstablished,
			"no watcher session is established ("+strings.Join(down, ", ")+"); the routers' view is unknown: see the class's sessions")
	case unsynced && len(missing) > 0:
		conds.setStatus(v1alpha1.ConditionAdvertised, metav1.ConditionUnknown, ReasonWatcherSyncing,
			"the watcher's sessions ("+strings.Join(syncing, ", ")+") have just come up and are still receiving the routers' table; not seen yet: "+strings.Join(missing, ", "))
		requeue = syncWait
	case len(pendingWithdrawal) > 0:
		conds.set(v1alpha1.ConditionAdvertised, false, "WithdrawalPending", "withdrawn for its health but the routers still carry its path: "+strings.Join(pendingWithdrawal, "; "))
	case len(missing) == 0:
		msg := fmt.Sprintf("the routers see all %d serving members as origins", serving)
		if len(restarting) > 0 {
			msg += "; as last seen on " + strings.Join(restarting, ", ") + ", whose router is restarting gracefully"
		}
		conds.set(v1alpha1.ConditionAdvertised, true, "Advertised", msg)
	case len(missing) == serving:
		conds.set(v1alpha1.ConditionAdvertised, false, "NotAdvertised", "no serving member is seen as an origin of the VIP: "+strings.Join(missing, ", "))
	default:
		conds.set(v1alpha1.ConditionAdvertised, false, "Degraded", fmt.Sprintf("%d of %d serving members are seen as origins; missing: %s", serving-len(missing), serving, strings.Join(missing, ", ")))
	}
	switch {
	case len(drained) == 0:
		conds.remove(v1alpha1.ConditionDrained)
	case established == 0:
		conds.setStatus(v1alpha1.ConditionDrained, metav1.ConditionUnknown, ReasonWatcherNotEstablished, "whether "+strings.Join(drained, ", ")+" is drained cannot be verified: no watcher session is established")
	case unsynced && len(drainWrong) == 0:
		conds.setStatus(v1alpha1.ConditionDrained, metav1.ConditionUnknown, ReasonWatcherSyncing, "whether "+strings.Join(drained, ", ")+" is drained cannot be verified yet: the watcher's sessions are still receiving the routers' table")
		requeue = syncWait
	case len(drainWrong) > 0:
		conds.set(v1alpha1.ConditionDrained, false, "StillAdvertised", "drained in the spec, but "+strings.Join(drainWrong, "; "))
	default:
		conds.set(v1alpha1.ConditionDrained, true, "Withdrawn", "the routers carry "+strings.Join(drained, ", ")+" as its drain mode asks")
	}
	return requeue
}

func asPathString(as []uint32) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(parts, " ")
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
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
	Classes   *notify.Notifier
	Ingresses *notify.Notifier
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
	classReq := reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Class}}
	if c.Sessions || c.Counters {
		// The class status shows the sessions and their prefix counters; the
		// watcher publishes counter moves at most every bgp.CountersEvery.
		b.Classes.Notify(classReq)
	}
	if c.Sessions {
		b.Ingresses.Notify(classReq) // every ingress of the class
	}
	for _, p := range c.Prefixes {
		for _, key := range b.Addresses.Holders(c.Class, p.Addr()) {
			b.Delays.Mark(key, c.ReceivedAt)
			b.Ingresses.Notify(reconcile.Request{NamespacedName: key})
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
