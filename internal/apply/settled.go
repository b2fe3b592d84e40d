package apply

import (
	"crypto/sha256"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// DefaultSettledTTL is how long a settled owner is trusted without looking at its objects.
const DefaultSettledTTL = 10 * time.Minute

// Settled remembers, on one member, the owners whose objects an ApplyAll found (or made)
// exactly as desired, with nothing surplus and no conflict, and what they were desired to
// be. An ApplyAll that desires the same again, while no change to any of that owner's
// objects on the member has been seen since, has nothing to do: it reads nothing and
// lists nothing. A member's health changing has every ingress of its class reconciled
// (to say so in their status); on the members that did not change, each of those
// reconciles read every object from the cache (a deep copy each), hashed it, compared it
// and listed the owner's objects to prune, for no write at all. With ten members and a
// hundred ingresses that was a thousand applies competing with new work (issue 20).
//
// What is seen: the member's informers report every change of the operator's objects
// (their cache is filtered by its label), and the member watches call Changed for each,
// before a reconcile can be queued for it; an informer that starts replays what it holds
// the same way. Kinds whose changes are not reported (Secrets and ConfigMaps, which are
// not cached) are never settled: an ApplyAll that writes one does all its work. An entry
// is trusted TTL at most, and the memory lives as long as the member's connection: a
// rebuilt cache starts with nothing settled.
type Settled struct {
	// TTL bounds how long an entry is trusted; zero means DefaultSettledTTL.
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// seq counts the changes seen; changedAt holds, per owner, the seq of its last one,
	// so that an ApplyAll during which its owner's objects changed does not settle.
	seq       uint64
	changedAt map[string]uint64
	allAt     uint64
	// running counts the calls between begin and end: the marks matter only to them.
	running  int
	entries  map[string]settledEntry
	observed map[schema.GroupVersionKind]bool
}

type settledEntry struct {
	digest [sha256.Size]byte
	at     time.Time
}

// settling is an ApplyAll that may settle its owner when it succeeds.
type settling struct {
	key    string
	digest [sha256.Size]byte
	since  uint64
}

func (s *Settled) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Settled) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultSettledTTL
}

// Observe says that from now on every change of gvk's objects on the member reaches
// Changed. Until then nothing of that kind settles.
func (s *Settled) Observe(gvk schema.GroupVersionKind) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.observed == nil {
		s.observed = map[schema.GroupVersionKind]bool{}
	}
	s.observed[gvk] = true
}

// Changed is called for every event on an object of the member (an add, an update, a
// delete, whoever made it): when the object is the operator's, its owner is no longer
// settled.
func (s *Settled) Changed(labels map[string]string) {
	if s == nil {
		return
	}
	ref, ok := owner.FromLabels(labels)
	if !ok {
		return
	}
	s.forget(ref.IndexKey())
}

// forget unsettles one owner, and any ApplyAll of it now running.
func (s *Settled) forget(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
	if s.running > 0 {
		s.seq++
		if s.changedAt == nil {
			s.changedAt = map[string]uint64{}
		}
		s.changedAt[key] = s.seq
	}
}

// forgetAll unsettles every owner (a prune by selector, which may span owners).
func (s *Settled) forgetAll() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = nil
	if s.running > 0 {
		s.seq++
		s.allAt = s.seq
	}
}

// begin is called before an ApplyAll reads or writes anything. holds reports that the
// owner is settled with the same desired objects: the call has nothing to do. Otherwise
// st, when not nil, must be passed to end when the call returns. A call with an object of
// a kind whose changes are not observed neither holds nor settles; nor does one that
// prunes such a kind, unless it is one the prune memory stands for (pruneMemory: Secrets
// and ConfigMaps, which are listed live and which only ApplyAll creates).
func (s *Settled) begin(ref owner.Ref, leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string, pruneMemory bool) (holds bool, st *settling) {
	if s == nil {
		return false, nil
	}
	s.mu.Lock()
	for _, group := range [][]*unstructured.Unstructured{leaves, objects} {
		for _, o := range group {
			if !s.observed[o.GroupVersionKind()] {
				s.mu.Unlock()
				return false, nil
			}
		}
	}
	for _, k := range kinds {
		if !s.observed[k] && !(pruneMemory && uncached(k)) {
			s.mu.Unlock()
			return false, nil
		}
	}
	s.mu.Unlock()
	d, ok := desiredDigest(leaves, objects, kinds, secretNamespace)
	if !ok {
		return false, nil
	}
	key := ref.IndexKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.digest == d && s.now().Sub(e.at) < s.ttl() {
		return true, nil
	}
	delete(s.entries, key)
	s.running++
	return false, &settling{key: key, digest: d, since: s.seq}
}

// end closes a call that begin let through. One that succeeded settles its owner, unless
// the owner's objects changed (or were forgotten) since it began: what it read may be
// older than what is there.
func (s *Settled) end(st *settling, succeeded bool) {
	if s == nil || st == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if succeeded && s.changedAt[st.key] <= st.since && s.allAt <= st.since {
		if s.entries == nil {
			s.entries = map[string]settledEntry{}
		}
		s.entries[st.key] = settledEntry{digest: st.digest, at: s.now()}
	}
	if s.running--; s.running == 0 {
		// The marks only tell the calls running now what changed under them; a call
		// that begins later starts from the current seq.
		s.changedAt, s.allAt = nil, 0
	}
}

// desiredDigest digests what an ApplyAll is asked to do: every object in order, and the
// kinds and namespace it prunes in.
func desiredDigest(leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) ([sha256.Size]byte, bool) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, group := range [][]*unstructured.Unstructured{leaves, objects} {
		for _, o := range group {
			if err := enc.Encode(o.Object); err != nil {
				return [sha256.Size]byte{}, false
			}
		}
		h.Write([]byte{0})
	}
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, k.String())
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	h.Write([]byte(secretNamespace))
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d, true
}
