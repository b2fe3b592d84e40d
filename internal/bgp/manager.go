package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Manager runs each class's receive-only BGP sessions and turns what the
// routers send into a route index and a stream of Changes.
type Manager struct {
	log   logr.Logger
	queue *changeQueue

	mu      sync.Mutex // guards classes and closed
	classes map[string]*classWatcher
	closed  bool
}

// NewManager returns an empty manager; Apply starts classes.
func NewManager(log logr.Logger) *Manager {
	return &Manager{log: log, queue: newChangeQueue(), classes: map[string]*classWatcher{}}
}

// Apply makes the class's watcher match cfg: it starts the class if needed,
// adds, removes and re-creates sessions whose configuration changed (others
// keep running), and re-filters the index when pools change. A different
// ASN or router ID restarts the class, since every session's OPEN changes.
// Apply is idempotent. Applies of one class are serialised; other classes
// stay readable meanwhile.
func (m *Manager) Apply(ctx context.Context, class string, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("watcher config of class %s: %w", class, err)
	}
	w, err := m.classFor(class, cfg)
	if err != nil {
		return err
	}
	w.apply(cfg)
	return nil
}

// classFor returns the class's running watcher, starting it, or restarting
// it when its local ASN or router ID changed.
func (m *Manager) classFor(class string, cfg Config) (*classWatcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("bgp manager is closed")
	}
	w := m.classes[class]
	if w != nil && (w.asn != cfg.ASN || w.routerID != cfg.RouterID) {
		m.log.Info("restarting class watcher: local ASN or router ID changed", "class", class,
			"asn", cfg.ASN, "routerID", cfg.RouterID)
		m.removeLocked(class)
		w = nil
	}
	if w == nil {
		w = startClass(class, cfg, m.queue, m.log.WithValues("class", class))
		m.classes[class] = w
	}
	return w, nil
}

// Remove stops the class's watcher, closing its sessions.
func (m *Manager) Remove(ctx context.Context, class string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(class)
	return nil
}

func (m *Manager) removeLocked(class string) {
	w := m.classes[class]
	if w == nil {
		return
	}
	delete(m.classes, class)
	w.stop()
	dropped := w.ix.prefixes()
	forgetClassMetrics(class)
	m.queue.push(class, dropped, true, time.Now())
}

func (m *Manager) class(name string) *classWatcher {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.classes[name]
}

// Paths returns every path held for prefix in the class, across sessions,
// in a deterministic order (session, path id, next hop, AS path).
func (m *Manager) Paths(class string, prefix netip.Prefix) []Path {
	w := m.class(class)
	if w == nil {
		return nil
	}
	return w.ix.paths(netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()).Masked())
}

// ClassPaths returns every path the class's route index holds, sorted by prefix and then
// as Paths sorts one prefix's, with how many it holds: at most limit paths (0: all), whole
// prefixes only. The index keeps only prefixes inside the pools, and each session and BMP
// router's max prefixes bound it; the copy is one pass over it, for a class reconcile
// (what the routers carry that no ingress explains), not for a loop over prefixes.
func (m *Manager) ClassPaths(class string, limit int) ([]Path, int) {
	w := m.class(class)
	if w == nil {
		return nil, 0
	}
	return w.ix.all(limit)
}

// Sessions reports the class's sessions, sorted by name, with their prefix
// counts. It reads the watcher's own bookkeeping: cheap enough for every
// reconcile.
func (m *Manager) Sessions(class string) []SessionState {
	w := m.class(class)
	if w == nil {
		return nil
	}
	return w.states()
}

// Changes delivers what changed, per class. It never blocks the BGP side:
// while the consumer is busy, changes of a class merge (union of prefixes,
// earliest ReceivedAt). The channel is closed by Close.
func (m *Manager) Changes() <-chan Change {
	return m.queue.out
}

// Close stops every class and closes the Changes channel.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for class := range m.classes {
		m.removeLocked(class)
	}
	m.mu.Unlock()
	m.queue.close()
}
