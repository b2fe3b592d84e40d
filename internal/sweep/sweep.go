// Package sweep removes what the operator left on a member whose owner is gone: an object
// of an ingress or class deleted while the member could not be reached. It runs on the
// leader, every few minutes and whenever a member comes back.
package sweep

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Sweeper removes, from every reachable member, objects this operator wrote whose owner
// is gone: an ingress or class deleted while the member was down, a member that left a
// class while unreachable. Owner references cannot cross clusters, so this is what the
// garbage collector does for single-cluster operators.
//
// It only deletes what it is sure of: the owner's absence is confirmed against the hub's
// API server (not a cache that may still be filling), and the delete is preconditioned on
// the object's UID.
type Sweeper struct {
	// Hub reads owners from the cache; HubLive confirms an absence.
	Hub, HubLive client.Reader
	// Targets lists the clusters to sweep.
	Targets func(context.Context) []clusters.SweepTarget
	// Interval between sweeps; a member that recovers is swept at once via Trigger.
	Interval time.Duration
	// SecretsInterval paces the full search for orphaned certificate copies on a member
	// (DefaultSecretsInterval when zero); see sweepMember.
	SecretsInterval time.Duration
	Log             logr.Logger

	trigger chan struct{}

	mu sync.Mutex
	// secretsSearched is when each member's certificate copies were last searched in
	// every namespace that holds objects of ingresses (by SweepTarget.Ref).
	secretsSearched map[string]time.Time
	// secretsPending are, per member, the namespaces where an unfinished sweep found
	// orphans of ingresses: the next sweep searches them for copies even if it finds
	// no other orphan there (the first one deleted them).
	secretsPending map[string]map[string]bool
}

// DefaultSecretsInterval is how often a member's Secrets are searched everywhere they may
// be, beside the namespaces where a sweep finds other orphans of ingresses.
const DefaultSecretsInterval = time.Hour

// New returns a sweeper; add it to the manager (it runs on the leader only).
func New(hub, hubLive client.Reader, targets func(context.Context) []clusters.SweepTarget, interval time.Duration, log logr.Logger) *Sweeper {
	return &Sweeper{Hub: hub, HubLive: hubLive, Targets: targets, Interval: interval, Log: log, trigger: make(chan struct{}, 1),
		secretsSearched: map[string]time.Time{}, secretsPending: map[string]map[string]bool{}}
}

// Trigger asks for a sweep now (a member became reachable again).
func (s *Sweeper) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// NeedLeaderElection makes only the leader sweep.
func (s *Sweeper) NeedLeaderElection() bool { return true }

// Start runs sweeps until ctx ends.
func (s *Sweeper) Start(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.trigger:
		}
		n, err := s.SweepOnce(ctx)
		if err != nil {
			s.Log.Info("sweep incomplete; retrying at the next one", "error", err.Error())
		}
		if n > 0 {
			s.Log.Info("removed orphaned objects from members", "deleted", n)
		}
	}
}

// SweepOnce sweeps every reachable member once and returns how many objects it deleted.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	deleted := 0
	var firstErr error
	// One look at each owner in the hub's cache for the whole sweep: every member holds
	// objects of the same ingresses, four or more each.
	cached := newOwners(s.Hub)
	targets := s.Targets(ctx)
	for _, t := range targets {
		mctx, cancel := context.WithTimeout(ctx, 2*clusters.MemberTimeout)
		n, err := s.sweepMember(mctx, t, cached)
		cancel()
		deleted += n
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("member %s: %w", t.Ref, err)
		}
	}
	s.forgetSearches(targets)
	return deleted, firstErr
}

// secretNamespaces says where this sweep of member ref looks for certificate copies:
// every namespace that holds objects of ingresses on the member's first sweep since the
// start and then every SecretsInterval (all is true); otherwise those where this sweep or
// an unfinished one found orphans of ingresses.
func (s *Sweeper) secretNamespaces(ref string, now time.Time, ingressNamespaces, orphanNamespaces map[string]bool) (namespaces []string, all bool) {
	every := s.SecretsInterval
	if every <= 0 {
		every = DefaultSecretsInterval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.secretsSearched[ref]
	search := orphanNamespaces
	if all = !ok || now.Sub(last) >= every; all {
		search = ingressNamespaces
	}
	set := maps.Clone(search)
	for ns := range s.secretsPending[ref] {
		set[ns] = true
	}
	return slices.Sorted(maps.Keys(set)), all
}

// secretsDone records the end of a member's search for copies: when it covered every
// namespace (all), and the namespaces still to search if it did not finish (err).
func (s *Sweeper) secretsDone(ref string, at time.Time, all bool, orphanNamespaces map[string]bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secretsSearched == nil { // a Sweeper not made by New
		s.secretsSearched, s.secretsPending = map[string]time.Time{}, map[string]map[string]bool{}
	}
	if err == nil {
		delete(s.secretsPending, ref)
		if all {
			s.secretsSearched[ref] = at
		}
		return
	}
	if len(orphanNamespaces) == 0 {
		return
	}
	if s.secretsPending[ref] == nil {
		s.secretsPending[ref] = map[string]bool{}
	}
	maps.Copy(s.secretsPending[ref], orphanNamespaces)
}

// forgetSearches drops what is remembered of the members no longer swept, so that one
// that comes back is searched in full again.
func (s *Sweeper) forgetSearches(targets []clusters.SweepTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	swept := func(ref string) bool {
		return slices.ContainsFunc(targets, func(t clusters.SweepTarget) bool { return t.Ref == ref })
	}
	maps.DeleteFunc(s.secretsSearched, func(ref string, _ time.Time) bool { return !swept(ref) })
	maps.DeleteFunc(s.secretsPending, func(ref string, _ map[string]bool) bool { return !swept(ref) })
}

// memberSweep is the state of one member's sweep: the verdict on each owner found
// there, so that an owner's objects (a Gateway, a route, a pool, an advertisement...)
// are judged once.
type memberSweep struct {
	t clusters.SweepTarget
	// cached reads the hub's cache (for the whole sweep); live its API server, for this
	// member's suspects only, so that a "gone" confirmed live is never older than this
	// member's sweep.
	cached, live *owners
	orphaned     map[owner.Ref]bool
	// orphanNamespaces are the namespaces where objects of a gone ingress were found: its
	// certificate copies are most likely there too.
	orphanNamespaces map[string]bool
}

func (s *Sweeper) sweepMember(ctx context.Context, t clusters.SweepTarget, cached *owners) (deleted int, err error) {
	m := &memberSweep{t: t, cached: cached, live: newOwners(s.HubLive), orphaned: map[owner.Ref]bool{}, orphanNamespaces: map[string]bool{}}
	started := time.Now()
	all := false
	defer func() { s.secretsDone(t.Ref, started, all, m.orphanNamespaces, err) }()
	// Namespaces holding objects of ingresses: where certificate copies may be too.
	ingressNamespaces := map[string]bool{}
	for _, gvk := range render.AllKinds {
		if render.LiveOnly(gvk) {
			continue // only in MetalLB namespaces, handled with the class below
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		// Read only, without copies: the items are the cache's own (labels and names are
		// all the sweep reads); sweepOrphans copies the one it deletes. A member holds
		// four or more objects per ingress, and the sweep runs every few minutes.
		if err := t.Member.Reader.List(ctx, list, client.MatchingLabelsSelector{Selector: owner.Managed()}, client.UnsafeDisableDeepCopy); err != nil {
			if isNoMatch(err) {
				continue
			}
			return deleted, err
		}
		for i := range list.Items {
			if ref, ok := owner.OfUnstructured(&list.Items[i]); ok && ref.Kind == owner.KindIngress {
				ingressNamespaces[list.Items[i].GetNamespace()] = true
			}
		}
		n, err := s.sweepOrphans(ctx, m, gvk, list.Items)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	// Certificate copies (Secrets) are never cached and may be listed only where the spoke
	// grants it (spoke.certificateNamespaces): they are looked for, live, on members
	// reached by kubeconfig; where Secrets may not be listed, none can have been written.
	// A copy is orphaned with the rest of its ingress's objects (the ingress was deleted,
	// or left the member, while the member was down), so it is looked for where this
	// sweep found other orphans of ingresses. Every namespace that holds objects of
	// ingresses is searched only on a member's first sweep and then every SecretsInterval,
	// for a copy left alone (its other objects deleted before it): listing every
	// namespace of every member on each sweep would cost a hub of 160 members and 100
	// namespaces 16,000 live lists every few minutes.
	if len(t.Refs) == 0 || slices.Contains(t.Refs, "") {
		return deleted, nil // the hub's own cluster gets no copies
	}
	var search []string
	search, all = s.secretNamespaces(t.Ref, started, ingressNamespaces, m.orphanNamespaces)
	for _, ns := range search {
		// Metadata only: the sweep needs names, owners and UIDs, never the keys.
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(render.GVKSecret.GroupVersion().WithKind("SecretList"))
		if err := t.Member.LiveReader.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: owner.Managed()}); err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				continue
			}
			return deleted, err
		}
		items := make([]unstructured.Unstructured, len(list.Items))
		for i, m := range list.Items {
			items[i].SetNamespace(m.Namespace)
			items[i].SetName(m.Name)
			items[i].SetUID(m.UID)
			items[i].SetLabels(m.Labels)
			if m.DeletionTimestamp != nil {
				items[i].SetDeletionTimestamp(m.DeletionTimestamp)
			}
		}
		n, err := s.sweepOrphans(ctx, m, render.GVKSecret, items)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// sweepOrphans deletes the items whose owner is gone. The items are not modified (they
// may be the cache's own): what is deleted is a copy.
func (s *Sweeper) sweepOrphans(ctx context.Context, m *memberSweep, gvk schema.GroupVersionKind, items []unstructured.Unstructured) (int, error) {
	deleted := 0
	for i := range items {
		if items[i].GetDeletionTimestamp() != nil {
			continue
		}
		orphan, err := s.isOrphan(ctx, m, &items[i])
		if err != nil {
			return deleted, err
		}
		if !orphan {
			continue
		}
		if ref, _ := owner.OfUnstructured(&items[i]); ref.Kind == owner.KindIngress {
			m.orphanNamespaces[items[i].GetNamespace()] = true
		}
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(gvk)
		obj.SetNamespace(items[i].GetNamespace())
		obj.SetName(items[i].GetName())
		uid := items[i].GetUID()
		if err := m.t.Member.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return deleted, err
		}
		s.Log.Info("deleted an orphaned object", "member", m.t.Ref, "kind", gvk.Kind, "namespace", obj.GetNamespace(), "name", obj.GetName())
		deleted++
	}
	return deleted, nil
}

// isOrphan decides whether the owner of obj on the member is gone. The cache says
// "maybe"; the live hub API server decides. The verdict holds for the owner's other
// objects on the member in this sweep.
func (s *Sweeper) isOrphan(ctx context.Context, m *memberSweep, obj *unstructured.Unstructured) (bool, error) {
	ref, ok := owner.OfUnstructured(obj)
	if !ok {
		return false, nil
	}
	if orphan, ok := m.orphaned[ref]; ok {
		return orphan, nil
	}
	for _, o := range []*owners{m.cached, m.live} {
		alive, err := o.alive(ctx, m.t, ref)
		if err != nil {
			return false, err // no verdict: the next sweep asks again
		}
		if alive {
			m.orphaned[ref] = false
			return false, nil
		}
	}
	m.orphaned[ref] = true
	return true, nil
}

// owners reads the owners of swept objects (classes, ingresses) from one reader, each
// once: a sweep of N members would otherwise copy every ingress (whose status lists
// every member) and its class out of the cache for each of its objects on each member,
// work that grows with the square of N.
type owners struct {
	r         client.Reader
	classes   map[types.NamespacedName]*v1alpha1.AnycastClass // nil: not found
	ingresses map[types.NamespacedName]*v1alpha1.AnycastIngress
	skupper   map[types.NamespacedName]bool // {namespace, class}: an ingress there needs Skupper
}

func newOwners(r client.Reader) *owners {
	return &owners{r: r, classes: map[types.NamespacedName]*v1alpha1.AnycastClass{}, ingresses: map[types.NamespacedName]*v1alpha1.AnycastIngress{}, skupper: map[types.NamespacedName]bool{}}
}

func (o *owners) class(ctx context.Context, name string) (*v1alpha1.AnycastClass, error) {
	return getOnce(ctx, o.r, o.classes, types.NamespacedName{Name: name}, &v1alpha1.AnycastClass{})
}

func (o *owners) ingress(ctx context.Context, key types.NamespacedName) (*v1alpha1.AnycastIngress, error) {
	return getOnce(ctx, o.r, o.ingresses, key, &v1alpha1.AnycastIngress{})
}

// getOnce reads key into obj the first time and remembers the answer in memo: the object,
// or nil when it does not exist. Other errors are not remembered.
func getOnce[T client.Object](ctx context.Context, r client.Reader, memo map[types.NamespacedName]T, key types.NamespacedName, obj T) (T, error) {
	if o, ok := memo[key]; ok {
		return o, nil
	}
	var none T
	if err := r.Get(ctx, key, obj); err != nil {
		if !apierrors.IsNotFound(err) {
			return none, err
		}
		obj = none
	}
	memo[key] = obj
	return obj, nil
}

// needsSkupper reports whether an ingress of class in namespace ns needs Skupper.
func (o *owners) needsSkupper(ctx context.Context, ns, class string) (bool, error) {
	key := types.NamespacedName{Namespace: ns, Name: class}
	if v, ok := o.skupper[key]; ok {
		return v, nil
	}
	list := &v1alpha1.AnycastIngressList{}
	if err := o.r.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil { // read only
		return false, err
	}
	needs := false
	for i := range list.Items {
		if list.Items[i].Spec.ClassName == class && render.NeedsSkupper(&list.Items[i]) {
			needs = true
			break
		}
	}
	o.skupper[key] = needs
	return needs, nil
}

// alive reports whether ref still wants objects on member t.
func (o *owners) alive(ctx context.Context, t clusters.SweepTarget, ref owner.Ref) (bool, error) {
	class, err := o.class(ctx, ref.Class)
	if err != nil || class == nil {
		return false, err
	}
	members := membersByRefs(class, t.Refs)
	if len(members) == 0 {
		return false, nil
	}
	switch ref.Kind {
	case owner.KindClass:
		return true, nil
	case owner.KindIngress:
		ing, err := o.ingress(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name})
		if err != nil || ing == nil {
			return false, err
		}
		if ing.Spec.ClassName != class.Name {
			return false, nil
		}
		for _, name := range render.SelectedClusters(class, ing) {
			if members[name] {
				return true, nil
			}
		}
		return false, nil
	case owner.KindSkupperNetwork:
		return o.needsSkupper(ctx, ref.Namespace, class.Name)
	}
	return true, nil // an owner kind this version does not know: leave it alone
}

// membersByRefs finds the class members reached through any of the kubeconfig
// references of one cluster ("" for the local cluster).
func membersByRefs(class *v1alpha1.AnycastClass, refs []string) map[string]bool {
	out := map[string]bool{}
	for _, m := range class.Spec.Clusters {
		for _, ref := range refs {
			if clusters.RefString(m.KubeconfigSecretRef) == ref {
				out[m.Name] = true
			}
		}
	}
	return out
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }
