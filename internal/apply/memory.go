package apply

import (
	"crypto/sha256"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// DefaultPruneMemoryTTL is how long a remembered prune stands in for a list.
const DefaultPruneMemoryTTL = 10 * time.Minute

// PruneMemory remembers, for the kinds that are not cached (Secrets and ConfigMaps, which
// a prune must list from the API server), what the last successful prune of an owner
// kept in a namespace. When an ApplyAll keeps exactly that again, nothing of the kind
// can have become surplus since: only ApplyAll creates objects of an owner, and it prunes
// whatever it no longer keeps. The list is skipped then. On a member with 100 ingresses
// the class reconciles once for most ingress changes (its status counts them), and each
// of those listed the member's Secrets and ConfigMaps in MetalLB's namespace.
//
// What the memory does not see, an object of ours made by someone else, or a prune that
// a crash cut short, is found by the next list: the memory lives as long as the member's
// connection and an entry at most TTL.
type PruneMemory struct {
	// TTL bounds how long an entry is trusted; zero means DefaultPruneMemoryTTL.
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	kept map[pruneKey]pruneEntry
}

type pruneKey struct {
	selector  string
	gvk       schema.GroupVersionKind
	namespace string
}

type pruneEntry struct {
	digest [sha256.Size]byte
	at     time.Time
}

// clockNow is now's time, or the wall clock's when now is nil (the memories' clock).
func clockNow(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// fresh reports whether an entry made at is still trusted: younger than ttl, or than def
// when ttl is zero.
func fresh(at time.Time, ttl, def time.Duration, now func() time.Time) bool {
	if ttl <= 0 {
		ttl = def
	}
	return clockNow(now).Sub(at) < ttl
}

// keptDigest is the digest of the names keep holds of one kind in one namespace.
func keptDigest(keep map[ID]bool, gvk schema.GroupVersionKind, namespace string) [sha256.Size]byte {
	var names []string
	for id, ok := range keep {
		if ok && id.GVK == gvk && id.Namespace == namespace {
			names = append(names, id.Name)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d
}

// prunePlan says, for each kind that is not cached, what the prune of this call keeps.
type prunePlan map[schema.GroupVersionKind]pruneStep

type pruneStep struct {
	key    pruneKey
	digest [sha256.Size]byte
	// unchanged: the last successful prune kept the same, recently enough: no list.
	unchanged bool
}

// plan is called before an ApplyAll writes anything. A kind whose kept set differs from
// the last successful prune's is forgotten now, so that if the call stops before its
// prune, the next call lists it. A nil memory, or no namespace to list in, plans nothing.
func (m *PruneMemory) plan(selector string, kinds []schema.GroupVersionKind, keep map[ID]bool, namespace string) prunePlan {
	if m == nil || namespace == "" {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := prunePlan{}
	for _, gvk := range kinds {
		if !uncached(gvk) {
			continue
		}
		step := pruneStep{key: pruneKey{selector: selector, gvk: gvk, namespace: namespace}, digest: keptDigest(keep, gvk, namespace)}
		e, ok := m.kept[step.key]
		step.unchanged = ok && e.digest == step.digest && fresh(e.at, m.TTL, DefaultPruneMemoryTTL, m.Now)
		if !step.unchanged {
			delete(m.kept, step.key)
		}
		out[gvk] = step
	}
	return out
}

// remember records a successful prune of k that kept what d digests.
func (m *PruneMemory) remember(k pruneKey, d [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kept == nil {
		m.kept = map[pruneKey]pruneEntry{}
	}
	m.kept[k] = pruneEntry{digest: d, at: clockNow(m.Now)}
}
