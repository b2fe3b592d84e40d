package clusters

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// DefaultCacheSyncTimeout is how long a member's cache may take to read the member's
// objects before the member is used anyway (see cacheSync). Reading them takes well under
// a second on a healthy member; twenty members connecting at once to API servers that share
// a core took over 20 s here, the time one member's work in a reconcile may take
// (MemberTimeout), so the wait must not be a reconcile's.
const DefaultCacheSyncTimeout = 2 * time.Minute

// cacheSync follows the first read of a member cache's informers of the kinds every class
// and ingress reconcile reads there. A reconcile waits for it (Member.AwaitCache) within
// the member's MemberTimeout, on one channel, as it used to wait on each informer by
// polling; when it has not finished by then, the member is not programmed and says so
// (Connecting), and the reconcile ends without an error: before, it failed when the
// member's API server was slow to list, was retried with a logged error, and the class
// called the member reachable meanwhile. When the sync finishes, or after the sync
// timeout, every class using the member and its ingresses are told to look again.
type cacheSync struct {
	mu    sync.Mutex
	kinds []syncKind
	// ready is closed when the sync finishes (see finish).
	ready chan struct{}
	once  sync.Once
	// errs is the last list or watch error of each informer, by its reflector's type
	// description (an unstructured kind's GVK), so that a member that cannot sync says why.
	errs map[string]string
}

// syncKind is one informer the member must have synced before it is programmed.
type syncKind struct {
	gvk    schema.GroupVersionKind
	synced func() bool
}

func newCacheSync() *cacheSync {
	return &cacheSync{errs: map[string]string{}, ready: make(chan struct{})}
}

// watchError is the member cache's DefaultWatchErrorHandler: it remembers the error, then
// does what client-go does by default (log it, with the kind, and back off). The watches
// that end with the cache (a member dropped, rebuilt, or the operator stopping) are not
// news.
func (s *cacheSync) watchError(ctx context.Context, r *toolscache.Reflector, err error) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	s.errs[r.TypeDescription()] = shortErr(err)
	s.mu.Unlock()
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
}

// start starts (without waiting) the unstructured informers of gvks on ca, skipping the
// kinds the member does not serve, and records them as the kinds to wait for.
func (s *cacheSync) start(ctx context.Context, ca cache.Cache, gvks []schema.GroupVersionKind) {
	var kinds []syncKind
	for _, gvk := range gvks {
		inf, err := ca.GetInformer(ctx, newUnstructured(gvk), cache.BlockUntilSynced(false))
		if err != nil {
			continue // not served (or not mappable): no reconcile can read it either
		}
		kinds = append(kinds, syncKind{gvk: gvk, synced: inf.HasSynced})
	}
	s.mu.Lock()
	s.kinds = kinds
	s.mu.Unlock()
}

// wait polls the informers until they have all synced or ctx ends, and reports whether
// they did. It does not mark the sync finished (see finish). changed is called when the
// list errors of the kinds not synced change (at most every problemNotice), so that the
// statuses say why the member waits: they are not reconciled again otherwise until it ends.
func (s *cacheSync) wait(ctx context.Context, changed func()) bool {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	told, toldAt := "", time.Time{}
	for {
		if len(s.unsynced()) == 0 {
			return true
		}
		if p := strings.Join(s.problems(), "\n"); p != told && time.Since(toldAt) >= problemNotice {
			told, toldAt = p, time.Now()
			changed()
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// problemNotice is how often at most a member's changing list errors are told to its
// classes.
const problemNotice = 5 * time.Second

func (s *cacheSync) finish() { s.once.Do(func() { close(s.ready) }) }

func (s *cacheSync) finished() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// unsynced lists the kinds whose informers have not synced.
func (s *cacheSync) unsynced() []syncKind {
	s.mu.Lock()
	kinds := append([]syncKind(nil), s.kinds...)
	s.mu.Unlock()
	var out []syncKind
	for _, k := range kinds {
		if !k.synced() {
			out = append(out, k)
		}
	}
	return out
}

// pending names the kinds not synced, sorted.
func (s *cacheSync) pending() []string {
	var out []string
	for _, k := range s.unsynced() {
		out = append(out, k.gvk.Kind)
	}
	sort.Strings(out)
	return out
}

// problems lists the last error of each kind not synced, "Kind: error", sorted.
func (s *cacheSync) problems() []string {
	kinds := s.unsynced()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range kinds {
		if e, ok := s.errs[k.gvk.String()]; ok {
			out = append(out, k.gvk.Kind+": "+e)
		}
	}
	sort.Strings(out)
	return out
}

// syncingMessage is what a member's status says while its cache reads the member's
// objects. It names no kind while nothing failed (the message stays the same however far
// the reading got, so the statuses are not rewritten for its progress), and the errors
// when a list failed: an RBAC rule the spoke lacks, say.
func syncingMessage(problems []string) string {
	msg := "the operator is reading the member's objects into its cache; the member is programmed when it has"
	if len(problems) > 0 {
		msg += "; listing failed: " + strings.Join(problems, "; ")
	}
	return msg
}

// error is the member's CacheError while the sync runs, nil once it has finished.
func (s *cacheSync) error(member string) error {
	if s == nil || s.finished() {
		return nil
	}
	return &UnavailableError{Member: member, Reason: ReasonConnecting, Message: syncingMessage(s.problems())}
}

// await waits until the sync finishes or ctx ends, and returns error's answer then.
func (s *cacheSync) await(ctx context.Context, member string) error {
	if s == nil {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
	}
	return s.error(member)
}

// syncedKinds are the kinds every reconcile reads from a member's cache: what the
// operator writes there (indexed, see IndexOwners) and MetalLB's state (see
// ObservedByObject), each once; the readers ask for them unstructured. The Nodes and
// Gateway Services only the health gate reads start when it first reads them.
func syncedKinds(indexed map[schema.GroupVersionKind]bool, metallbNamespaces []string) []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(indexed))
	for gvk := range indexed {
		out = append(out, gvk)
	}
	for o := range ObservedByObject(metallbNamespaces) {
		if u, ok := o.(*unstructured.Unstructured); ok && !indexed[u.GroupVersionKind()] {
			out = append(out, u.GroupVersionKind())
		}
	}
	return out
}

// awaitSync waits for the member cache's first sync (bounded by the registry's sync
// timeout), marks it finished, and tells the classes using the member. ctx ends with the
// cache: a cache replaced meanwhile is not reported on.
func (r *Remote) awaitSync(ctx context.Context, c *conn, s *cacheSync) {
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, r.cacheSyncTimeout())
	synced := s.wait(tctx, func() { r.notifyClasses(c.classes()) })
	cancel()
	if ctx.Err() != nil {
		return
	}
	s.finish()
	if synced {
		r.Log.Info("member cache synced", "secret", c.ref, "took", time.Since(start).Round(time.Millisecond))
	} else {
		// Reads of the kinds not synced wait for them, as they would have without this
		// gate; the log says which and why, for whoever wonders why a member is slow.
		r.Log.Error(fmt.Errorf("not synced after %s", r.cacheSyncTimeout()), "member cache has not read every kind in time: using the member anyway",
			"secret", c.ref, "waitingFor", s.pending(), "errors", s.problems())
	}
	r.notifyClasses(c.classes())
}

func (r *Remote) cacheSyncTimeout() time.Duration {
	if r.CacheSyncTimeout > 0 {
		return r.CacheSyncTimeout
	}
	return DefaultCacheSyncTimeout
}
