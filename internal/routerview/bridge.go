package routerview

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/notify"
)

// Holders says which ingresses of a class hold an address.
type Holders interface {
	Holders(class string, addr netip.Addr) []types.NamespacedName
}

// Bridge carries the watcher's changes to the reconcilers, as notifications: session
// changes to the class (and its ingresses, whose verification depends on them), prefix
// counter changes to the class, path changes to the ingresses of the VIPs concerned and
// to the class (which reports the paths no ingress explains), at once for the first and
// then at most every OriginsEvery. It also remembers when each change reached the
// watcher, so the status write can report the delay.
type Bridge struct {
	Changes <-chan bgp.Change
	// Addresses says which ingresses hold a VIP (the allocator's index, the one index
	// of addresses the operator keeps).
	Addresses Holders
	Classes   *notify.Notifier[notify.ClassEvent]
	Ingresses *notify.Notifier[notify.IngressEvent]
	Delays    *DelayTracker

	pathsMoved throttle
}

// OriginsEvery is how often, at most, path changes alone bring a class back: each class
// reconcile may rewrite its status (the sessions' counters with it), so a router sending
// its table must not cost a class status write per UPDATE, while a path no ingress
// explains still reaches the class within a second (the first change of a quiet class
// goes at once).
const OriginsEvery = 500 * time.Millisecond

// NeedLeaderElection: only the leader runs the watcher, so only it bridges.
func (b *Bridge) NeedLeaderElection() bool { return true }

// Start forwards changes until ctx ends.
func (b *Bridge) Start(ctx context.Context) error {
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

func (b *Bridge) forward(ctx context.Context, c bgp.Change) {
	switch {
	case c.Sessions || c.Counters:
		// The class status shows the sessions and their prefix counters; the
		// watcher publishes counter moves at most every bgp.CountersEvery.
		b.Classes.Notify(notify.ClassEvent(c.Class))
	case len(c.Prefixes) > 0:
		b.pathsMoved.hit(c.Class, time.Now(), OriginsEvery, func() { b.Classes.Notify(notify.ClassEvent(c.Class)) })
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

// throttle runs a key's action at once when it last ran more than an interval ago, and
// otherwise once at the end of that interval, for every hit meanwhile.
type throttle struct {
	mu   sync.Mutex
	last map[string]time.Time
	due  map[string]bool
}

func (t *throttle) hit(key string, now time.Time, every time.Duration, action func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last, t.due = map[string]time.Time{}, map[string]bool{}
	}
	if t.due[key] {
		return
	}
	wait := every - now.Sub(t.last[key])
	if wait <= 0 {
		t.last[key] = now
		action()
		return
	}
	t.due[key] = true
	time.AfterFunc(wait, func() {
		t.mu.Lock()
		t.due[key] = false
		t.last[key] = time.Now()
		t.mu.Unlock()
		action()
	})
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
