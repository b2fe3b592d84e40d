package apply

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"io"
	"maps"
	"math"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
// (their cache is filtered by its label), and the member watches call Changed or Deleted
// for each, before a reconcile can be queued for it; an informer that starts replays what
// it holds the same way. Not a change: the applier's own writes coming back (see wrote)
// and updates of the status alone. Kinds whose changes are not reported (Secrets and
// ConfigMaps, which are not cached) are never settled: an ApplyAll that writes one does
// all its work. An entry is trusted TTL at most, and the memory lives as long as the
// member's connection: a rebuilt cache starts with nothing settled.
type Settled struct {
	// TTL bounds how long an entry is trusted; zero means DefaultSettledTTL.
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	entries  map[string]settledEntry
	observed map[schema.GroupVersionKind]bool
	// unserved are kinds the member does not serve: nothing of them exists to prune.
	unserved map[schema.GroupVersionKind]bool
	// running counts, per owner, the calls between begin and end. What happens to an
	// owner's objects while one runs decides whether it may settle: dirty says a change
	// was seen; unexplained holds the events seen that may yet turn out to be the call's
	// own writes (an event can arrive before its write's answer).
	running     map[string]int
	dirty       map[string]bool
	unexplained map[string]map[string]string
	// written holds, per object, the version the applier's last write of it returned.
	written map[string]string
	// epoch moves on with every forgetAll: a call begun before one does not settle.
	epoch uint64
}

type settledEntry struct {
	digest [sha256.Size]byte
	at     time.Time
}

// settling is an ApplyAll that may settle its owner when it succeeds.
type settling struct {
	key    string
	digest [sha256.Size]byte
	epoch  uint64
}

// Observe says that from now on every change of gvk's objects on the member reaches
// Changed. Until then nothing of that kind settles.
func (s *Settled) Observe(gvk schema.GroupVersionKind) {
	if s != nil {
		s.addKind(&s.observed, gvk)
	}
}

// Unserved says the member does not serve gvk: a call may prune it and still settle,
// since nothing of it can exist there. An object of it still keeps a call from settling
// (its apply fails anyway).
func (s *Settled) Unserved(gvk schema.GroupVersionKind) {
	if s != nil {
		s.addKind(&s.unserved, gvk)
	}
}

func (s *Settled) addKind(set *map[schema.GroupVersionKind]bool, gvk schema.GroupVersionKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *set == nil {
		*set = map[schema.GroupVersionKind]bool{}
	}
	(*set)[gvk] = true
}

// Changed is called for every add and update (with its old version) of an object on the
// member, whoever made it, before a reconcile is queued for it (Deleted for a delete). When
// the object is the operator's, its owner is no longer settled, unless the event is the
// applier's own write coming back (the version that write returned; see wrote) or an
// update of the status alone (the generation, labels and annotations unchanged: the
// desired fields are the spec's and those).
func (s *Settled) Changed(old, obj client.Object) {
	if s == nil {
		return
	}
	ref, ok := owner.FromLabels(obj.GetLabels())
	if !ok || (old != nil && statusOnly(old, obj)) {
		return
	}
	s.changed(ref.IndexKey(), writeKey(obj), obj.GetResourceVersion(), false)
}

// Deleted is Changed for a deletion, which is never taken for an own write: whoever
// deleted the object, an owner that still desires it must have it back.
func (s *Settled) Deleted(obj client.Object) {
	if s == nil {
		return
	}
	if ref, ok := owner.FromLabels(obj.GetLabels()); ok {
		s.changed(ref.IndexKey(), writeKey(obj), obj.GetResourceVersion(), true)
	}
}

func (s *Settled) changed(key, k, rv string, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Kept, not consumed: every watch of the kind (each controller has its own) brings
	// the same event.
	if s.written[k] == rv && rv != "" && !deleted {
		return
	}
	if deleted {
		delete(s.written, k)
		rv = "deleted"
	}
	if s.running[key] > 0 {
		if s.unexplained == nil {
			s.unexplained = map[string]map[string]string{}
		}
		if s.unexplained[key] == nil {
			s.unexplained[key] = map[string]string{}
		}
		s.unexplained[key][k] = rv
		return
	}
	delete(s.entries, key)
}

// statusOnly reports whether an update changed neither the spec (the generation of a
// kind that counts it) nor the labels, annotations or deletion of the object.
func statusOnly(old, obj client.Object) bool {
	return old.GetGeneration() > 0 && old.GetGeneration() == obj.GetGeneration() &&
		(old.GetDeletionTimestamp() == nil) == (obj.GetDeletionTimestamp() == nil) &&
		maps.Equal(old.GetLabels(), obj.GetLabels()) && maps.Equal(old.GetAnnotations(), obj.GetAnnotations())
}

// wrote records the version of an object a write of the applier returned (its last
// write of that object is kept until the next one or the object's deletion): its event is
// the applier's own doing, not news. Without it, every ingress written once would be
// unsettled by its own creation, and settle only on a later reconcile that changes
// nothing; a member's health changing has them all reconciled for the first time since.
func (s *Settled) wrote(obj client.Object) {
	if s == nil || obj.GetResourceVersion() == "" {
		return
	}
	ref, ok := owner.FromLabels(obj.GetLabels())
	if !ok {
		return
	}
	key, k, rv := ref.IndexKey(), writeKey(obj), obj.GetResourceVersion()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.unexplained[key]; m != nil && m[k] == rv {
		delete(m, k) // its event came first
	}
	if s.written == nil || len(s.written) >= maxWritten {
		// Past the bound (objects deleted by others, whose entries stay): dropping
		// them all only makes the next event of each count as a change.
		s.written = map[string]string{}
	}
	s.written[k] = rv
}

// maxWritten bounds the last written versions kept, one per object: far above the
// operator's objects on one member (a thousand ingresses make five thousand).
const maxWritten = 1 << 16

func writeKey(obj client.Object) string {
	return obj.GetObjectKind().GroupVersionKind().String() + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// forget unsettles one owner, and keeps a call of it now running from settling.
func (s *Settled) forget(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
	if s.running[key] > 0 {
		if s.dirty == nil {
			s.dirty = map[string]bool{}
		}
		s.dirty[key] = true
	}
}

// forgetAll unsettles every owner (a prune by selector, which may span owners), and keeps
// every call now running from settling.
func (s *Settled) forgetAll() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = nil
	s.epoch++
}

// begin is called before an ApplyAll reads or writes anything. holds reports that the
// owner is settled with the same desired objects: the call has nothing to do. Otherwise
// st, when not nil, must be passed to end when the call returns. A call with an object of
// a kind whose changes are not observed neither holds nor settles; nor does one that
// prunes such a kind, unless the member does not serve it or it is one the prune memory
// stands for (pruneMemory: Secrets and ConfigMaps, which are listed live and which only
// ApplyAll creates).
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
		if !s.observed[k] && !s.unserved[k] && !(pruneMemory && uncached(k)) {
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
	if e, ok := s.entries[key]; ok && e.digest == d && fresh(e.at, s.TTL, DefaultSettledTTL, s.Now) {
		return true, nil
	}
	delete(s.entries, key)
	if s.running == nil {
		s.running = map[string]int{}
	}
	s.running[key]++
	return false, &settling{key: key, digest: d, epoch: s.epoch}
}

// end closes a call that begin let through. One that succeeded settles its owner, unless
// something changed the owner's objects while it ran (what it read may be older than what
// is there), or an event it saw was not (yet) explained by one of its own writes.
func (s *Settled) end(st *settling, succeeded bool) {
	if s == nil || st == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if succeeded && !s.dirty[st.key] && len(s.unexplained[st.key]) == 0 && s.epoch == st.epoch {
		if s.entries == nil {
			s.entries = map[string]settledEntry{}
		}
		s.entries[st.key] = settledEntry{digest: st.digest, at: clockNow(s.Now)}
	}
	if s.running[st.key]--; s.running[st.key] <= 0 {
		delete(s.running, st.key)
		delete(s.dirty, st.key)
		delete(s.unexplained, st.key)
	}
}

// desiredDigest digests what an ApplyAll is asked to do: every object in order, and the
// kinds and namespace it prunes in. It walks the objects itself: encoding/json sorts
// every map through reflection, and this runs for every member of every reconcile.
func desiredDigest(leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) ([sha256.Size]byte, bool) {
	h := sha256.New()
	w := digestWriter{h: h}
	for _, group := range [][]*unstructured.Unstructured{leaves, objects} {
		for _, o := range group {
			if !w.value(o.Object) {
				return [sha256.Size]byte{}, false
			}
		}
		w.tag('|')
	}
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, k.String())
	}
	sort.Strings(names)
	for _, n := range names {
		w.str(n)
	}
	w.str(secretNamespace)
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d, true
}

// digestWriter writes a JSON-like value to a hash without ambiguity: every value is
// tagged with its type, strings and collections with their length.
type digestWriter struct {
	h   hash.Hash
	buf [16]byte
}

func (w *digestWriter) tag(t byte) { w.buf[0] = t; w.h.Write(w.buf[:1]) }

func (w *digestWriter) num(t byte, n uint64) {
	w.buf[0] = t
	binary.BigEndian.PutUint64(w.buf[1:9], n)
	w.h.Write(w.buf[:9])
}

func (w *digestWriter) str(s string) {
	w.num('s', uint64(len(s)))
	io.WriteString(w.h, s)
}

// value reports false for a value that cannot be encoded.
func (w *digestWriter) value(v interface{}) bool {
	switch x := v.(type) {
	case nil:
		w.tag('n')
	case bool:
		if x {
			w.tag('t')
		} else {
			w.tag('f')
		}
	case string:
		w.str(x)
	case int64:
		w.num('i', uint64(x))
	case int:
		w.num('i', uint64(int64(x)))
	case int32:
		w.num('i', uint64(int64(x)))
	case float64:
		w.num('d', math.Float64bits(x))
	case map[string]interface{}:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.num('m', uint64(len(keys)))
		for _, k := range keys {
			w.str(k)
			if !w.value(x[k]) {
				return false
			}
		}
	case []interface{}:
		w.num('a', uint64(len(x)))
		for _, e := range x {
			if !w.value(e) {
				return false
			}
		}
	default:
		// Not what unstructured content holds; digested as JSON, to be safe.
		b, err := json.Marshal(x)
		if err != nil {
			return false
		}
		w.tag('j')
		w.str(string(b))
	}
	return true
}
