package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Link states reported per member in AnycastIngress status.clusters[].link.
const (
	LinkNotApplicable = "n/a"
	LinkPending       = "Pending"
	LinkReady         = "Ready"
	LinkError         = "Error"
)

// linkState is one spoke's link to the hub, as its token and Link report it.
type linkState struct {
	State   string
	Message string
}

// networkReport is what reconciling a namespace's Skupper network found.
type networkReport struct {
	// Needed is false when no ingress of the class in the namespace uses Skupper.
	Needed bool
	// Links holds the state of each spoke; the hub is always linked to itself.
	Links map[string]linkState
	// RequeueAfter asks to look again (a link on its way up, a backoff running).
	RequeueAfter time.Duration
}

// redeemBackoff spaces fresh grants after failed redemptions of one spoke, so a hub that
// keeps failing is not flooded: 2s, 4s, 8s ... up to two minutes.
type redeemBackoff struct {
	mu    sync.Mutex
	state map[string]backoffEntry
}

type backoffEntry struct {
	failures int
	next     time.Time
}

func (b *redeemBackoff) ready(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.state[key]
	if now.Before(e.next) {
		return false, e.next.Sub(now)
	}
	return true, 0
}

func (b *redeemBackoff) failed(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil {
		b.state = map[string]backoffEntry{}
	}
	e := b.state[key]
	e.failures++
	d := time.Second << min(e.failures, 7)
	if d > 2*time.Minute {
		d = 2 * time.Minute
	}
	e.next = now.Add(d)
	b.state[key] = e
}

func (b *redeemBackoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.state, key)
}

// reconcileSkupperNetwork keeps the Skupper network of (class, namespace) while one of the
// class's ingresses there uses cross-cluster services, and removes it when none does. It
// links every spoke to the hub: the hub's grant for the spoke is filled by the hub's
// Skupper controller; once the hub Site has endpoints, the spoke gets a token carrying the
// grant's credential; a failed redemption spends the grant, so the next attempt is a new
// grant, after a backoff.
func (r *IngressReconciler) reconcileSkupperNetwork(ctx context.Context, class *v1alpha1.AnycastClass, namespace string) (networkReport, error) {
	key := class.Name + "/" + namespace
	unlock := r.networks.lock(key)
	defer unlock()
	report := networkReport{Links: map[string]linkState{}}
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{classNameIndex: class.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return report, err
	}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() && render.NeedsSkupper(&list.Items[i]) {
			report.Needed = true
		}
	}
	ref := owner.SkupperNetwork(class.Name, namespace)
	if !report.Needed {
		// Most namespaces never use Skupper: once every member was checked clean (live:
		// deletion must not trust a cache), the check is not repeated until the class
		// changes, the network is needed again, or an object of it shows up.
		if r.networks.isClean(key, class.Generation) {
			return report, nil
		}
		all, err := r.forEachMember(ctx, class, func(ctx context.Context, m *clusters.Member) error {
			_, err := m.LiveApplier().Prune(ctx, ref, skupperNetworkKinds, nil, "")
			return err
		})
		if err == nil && all {
			r.networks.markClean(key, class.Generation)
		}
		return report, err
	}
	r.networks.dirty(key)

	hub := class.Hub()
	obs := render.Observed{Skupper: render.SkupperObserved{Grants: map[string]render.GrantObserved{}}}
	linking := hub != nil && len(class.Spec.Clusters) > 1
	if linking {
		hubMember, err := r.memberFor(ctx, class, hub.Name)
		if err != nil {
			// Without the hub there is nothing to link to, and nothing may be pruned on
			// the spokes: their tokens and links keep working.
			for _, m := range class.Spec.Clusters {
				if m.Name != hub.Name {
					report.Links[m.Name] = linkState{LinkPending, "the hub " + hub.Name + " is unavailable: " + err.Error()}
				}
			}
			report.RequeueAfter = 30 * time.Second
			return report, nil
		}
		if err := r.observeHub(ctx, class, namespace, hubMember, &obs.Skupper); err != nil {
			return report, fmt.Errorf("cluster %s: reading the Skupper network: %w", hub.Name, err)
		}
		if ra := hub.RouterAccess; ra != nil && ra.Type == v1alpha1.RouterAccessLoadBalancer && ra.Pool != "" {
			mctx, cancel := context.WithTimeout(ctx, memberTimeout)
			_, err := annotateRouterService(mctx, hubMember, namespace, ra.Pool)
			cancel()
			if err != nil {
				return report, fmt.Errorf("cluster %s: setting the MetalLB pool of the skupper-router Service: %w", hub.Name, err)
			}
		}
		for _, m := range class.Spec.Clusters {
			if m.Name == hub.Name {
				continue
			}
			st, requeue := r.observeSpoke(ctx, class, namespace, hub.Name, m.Name, &obs.Skupper)
			report.Links[m.Name] = st
			if requeue > 0 && (report.RequeueAfter == 0 || requeue < report.RequeueAfter) {
				report.RequeueAfter = requeue
			}
		}
	}

	out := render.RenderSkupperNetwork(class, namespace, &obs)
	var errs []error
	for _, co := range out.Clusters {
		if len(co.Refusals) > 0 {
			continue
		}
		m, err := r.memberFor(ctx, class, co.Name)
		if err != nil {
			continue // reported by the ingress's own member status
		}
		mctx, cancel := context.WithTimeout(ctx, memberTimeout)
		_, err = applyAll(mctx, m.Applier(), ref, co.Objects, skupperNetworkKinds, "")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: skupper network: %w", co.Name, err))
		}
	}
	return report, errors.Join(errs...)
}

// observeHub reads whether the hub Site has endpoints and the state of each spoke's
// current grant.
func (r *IngressReconciler) observeHub(ctx context.Context, class *v1alpha1.AnycastClass, namespace string, hub *clusters.Member, sk *render.SkupperObserved) error {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	site := &unstructured.Unstructured{}
	site.SetGroupVersionKind(render.GVKSite)
	err := hub.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: hub.Name}, site)
	switch {
	case err == nil:
		var s skupperv2.Site
		if err := fromUnstructured(site, &s); err != nil {
			return err
		}
		sk.HubSiteEndpoints = len(s.Status.Endpoints) > 0
	case !apierrors.IsNotFound(err):
		return err
	}
	grants := &unstructured.UnstructuredList{}
	grants.SetGroupVersionKind(render.GVKAccessGrant.GroupVersion().WithKind("AccessGrantList"))
	ref := owner.SkupperNetwork(class.Name, namespace)
	if err := hub.Reader.List(ctx, grants, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: ref.Selector()}); err != nil {
		return err
	}
	for _, spoke := range class.Spec.Clusters {
		best := render.GrantObserved{Attempt: -1}
		for i := range grants.Items {
			attempt, ok := render.ParseGrantAttempt(class.Name, spoke.Name, grants.Items[i].GetName())
			if !ok || attempt <= best.Attempt {
				continue
			}
			var g skupperv2.AccessGrant
			if err := fromUnstructured(&grants.Items[i], &g); err != nil {
				return err
			}
			best = render.GrantObserved{Attempt: attempt, URL: g.Status.URL, Code: g.Status.Code, CA: g.Status.CA}
		}
		if best.Attempt >= 0 {
			sk.Grants[spoke.Name] = best
		}
	}
	return nil
}

// observeSpoke reads a spoke's token and Link. A token the spoke's Skupper controller
// failed to redeem has spent its grant: the spoke moves to a fresh grant (attempt + 1),
// once the backoff allows.
func (r *IngressReconciler) observeSpoke(ctx context.Context, class *v1alpha1.AnycastClass, namespace, hubName, spoke string, sk *render.SkupperObserved) (linkState, time.Duration) {
	g, ok := sk.Grants[spoke]
	if !ok || g.URL == "" || g.Code == "" || g.CA == "" {
		return linkState{LinkPending, "waiting for the hub's Skupper controller to fill the access grant"}, 5 * time.Second
	}
	if !sk.HubSiteEndpoints {
		return linkState{LinkPending, "waiting for the hub Site " + hubName + " to report endpoints (its skupper-router Service needs an address); no token is issued before, since a failed redemption spends the grant"}, 5 * time.Second
	}
	m, err := r.memberFor(ctx, class, spoke)
	if err != nil {
		return linkState{LinkPending, err.Error()}, 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	tokenName := render.TokenName(class.Name, hubName, g)
	tok := &unstructured.Unstructured{}
	tok.SetGroupVersionKind(render.GVKAccessToken)
	if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: tokenName}, tok); err != nil {
		if apierrors.IsNotFound(err) {
			return linkState{LinkPending, "issuing the access token"}, 5 * time.Second
		}
		return linkState{LinkPending, "reading the access token: " + err.Error()}, 10 * time.Second
	}
	var token skupperv2.AccessToken
	if err := fromUnstructured(tok, &token); err != nil {
		return linkState{LinkError, err.Error()}, time.Minute
	}
	key := class.Name + "/" + namespace + "/" + spoke
	switch {
	case token.Status.Redeemed:
		r.backoff.reset(key)
		link := &unstructured.Unstructured{}
		link.SetGroupVersionKind(render.GVKLink)
		// Links are written by Skupper, not by us: read them live, they are not cached.
		if err := m.LiveReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: tokenName}, link); err != nil {
			if apierrors.IsNotFound(err) {
				return linkState{LinkPending, "token redeemed; waiting for the Link"}, 5 * time.Second
			}
			return linkState{LinkPending, "reading the Link: " + err.Error()}, 10 * time.Second
		}
		var l skupperv2.Link
		if err := fromUnstructured(link, &l); err != nil {
			return linkState{LinkError, err.Error()}, time.Minute
		}
		if l.Status.Status == "Ready" {
			return linkState{LinkReady, ""}, 0
		}
		return linkState{LinkPending, "Link " + tokenName + " is " + orDefault(l.Status.Status, "Pending") + ": " + l.Status.Message}, 5 * time.Second
	case token.Status.Status == "Error":
		// The grant is spent. Move to a fresh grant once the backoff allows; its token
		// follows when the hub has filled it.
		now := time.Now()
		if ok, wait := r.backoff.ready(key, now); !ok {
			return linkState{LinkError, fmt.Sprintf("redemption failed (%s); a fresh grant will be issued in %s", token.Status.Message, wait.Round(time.Second))}, wait
		}
		r.backoff.failed(key, now)
		sk.Grants[spoke] = render.GrantObserved{Attempt: g.Attempt + 1}
		return linkState{LinkError, fmt.Sprintf("redemption failed (%s); issuing a fresh grant (attempt %d)", token.Status.Message, g.Attempt+1)}, 5 * time.Second
	}
	return linkState{LinkPending, "waiting for the spoke's Skupper controller to redeem the token"}, 5 * time.Second
}

// forEachMember runs f on every reachable member of the class, with a timeout each.
// forEachMember runs f on every available member; reachedAll is false when a member was
// unavailable (and skipped).
func (r *IngressReconciler) forEachMember(ctx context.Context, class *v1alpha1.AnycastClass, f func(context.Context, *clusters.Member) error) (reachedAll bool, err error) {
	reachedAll = true
	var errs []error
	for _, m := range class.Spec.Clusters {
		member, err := r.memberFor(ctx, class, m.Name)
		if err != nil {
			reachedAll = false
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, memberTimeout)
		if err := f(mctx, member); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", m.Name, err))
		}
		cancel()
	}
	return reachedAll, errors.Join(errs...)
}

func (r *IngressReconciler) memberFor(ctx context.Context, class *v1alpha1.AnycastClass, name string) (*clusters.Member, error) {
	return r.Members.Get(ctx, class, name)
}

// setLinked summarises the links of the members an ingress selects.
func setLinked(conds conditionSet, ing *v1alpha1.AnycastIngress, class *v1alpha1.AnycastClass, report networkReport) {
	if !render.NeedsSkupper(ing) {
		for i := range ing.Status.Clusters {
			ing.Status.Clusters[i].Link = LinkNotApplicable
		}
		conds.set(v1alpha1.ConditionLinked, true, "NoCrossClusterServices", "the ingress has no services reached over Skupper")
		return
	}
	var pending []string
	failed := false
	for i := range ing.Status.Clusters {
		cs := &ing.Status.Clusters[i]
		if hub := class.Hub(); hub != nil && hub.Name == cs.Name || len(class.Spec.Clusters) < 2 {
			cs.Link = LinkReady
			continue
		}
		st, ok := report.Links[cs.Name]
		if !ok {
			st = linkState{LinkPending, "not observed yet"}
		}
		cs.Link = st.State
		if st.State != LinkReady {
			pending = append(pending, cs.Name+" ("+st.Message+")")
			failed = failed || st.State == LinkError
		}
	}
	sort.Strings(pending)
	switch {
	case len(pending) == 0:
		conds.set(v1alpha1.ConditionLinked, true, "Linked", "every member is linked to the hub")
	case failed:
		conds.set(v1alpha1.ConditionLinked, false, "RedemptionFailed", "not linked: "+joinNames(pending))
	default:
		conds.set(v1alpha1.ConditionLinked, false, ReasonLinkPending, "not linked yet: "+joinNames(pending))
	}
}

func fromUnstructured(u *unstructured.Unstructured, into interface{}) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// routerAccessManager is the field manager of the one field the operator sets on an
// object it did not create: the MetalLB pool annotation of the hub's skupper-router
// Service, which Skupper creates for the Site the operator wrote. Server-side apply with a
// manager of its own claims that annotation and nothing else, so neither Skupper's fields
// nor anyone else's are touched.
const routerAccessManager = "anycast-operator-router-access"

// SkupperRouterService is the LoadBalancer Service Skupper creates for a Site's link
// access on plain Kubernetes.
const SkupperRouterService = "skupper-router"

// annotateRouterService asks MetalLB to address the hub's skupper-router Service from
// the pool the class names for router access (never an anycast pool), once Skupper has
// created the Service. It reports whether the annotation is in place.
func annotateRouterService(ctx context.Context, hub *clusters.Member, namespace, pool string) (bool, error) {
	svc := &unstructured.Unstructured{}
	svc.SetAPIVersion("v1")
	svc.SetKind("Service")
	if err := hub.LiveReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: SkupperRouterService}, svc); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if svc.GetAnnotations()[render.MetalLBAddressPoolAnnotation] == pool {
		return true, nil
	}
	patch := &unstructured.Unstructured{}
	patch.SetAPIVersion("v1")
	patch.SetKind("Service")
	patch.SetNamespace(namespace)
	patch.SetName(SkupperRouterService)
	patch.SetAnnotations(map[string]string{render.MetalLBAddressPoolAnnotation: pool})
	if err := hub.Client.Patch(ctx, patch, client.Apply, client.FieldOwner(routerAccessManager)); err != nil {
		return false, err
	}
	return true, nil
}

// networkLocks serialises the work on one Skupper network and remembers which networks
// were found clean (nothing of them on any member) at which class generation. A lock
// lives only while someone holds or waits for it, so the map does not grow with every
// class and namespace ever seen; the clean memo holds one generation per network known
// clean, and dirty forgets it.
type networkLocks struct {
	mu    sync.Mutex
	locks map[string]*networkLock
	clean map[string]int64
}

type networkLock struct {
	sync.Mutex
	users int // holders and waiters, guarded by networkLocks.mu
}

// lock takes the network's lock and returns its release.
func (n *networkLocks) lock(key string) func() {
	n.mu.Lock()
	if n.locks == nil {
		n.locks = map[string]*networkLock{}
	}
	l, ok := n.locks[key]
	if !ok {
		l = &networkLock{}
		n.locks[key] = l
	}
	l.users++
	n.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		n.mu.Lock()
		defer n.mu.Unlock()
		if l.users--; l.users == 0 {
			delete(n.locks, key)
		}
	}
}

// held is the number of networks with a live lock (for tests).
func (n *networkLocks) held() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.locks)
}

func (n *networkLocks) isClean(key string, generation int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	g, ok := n.clean[key]
	return ok && g == generation
}

func (n *networkLocks) markClean(key string, generation int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.clean == nil {
		n.clean = map[string]int64{}
	}
	n.clean[key] = generation
}

// dirty forgets that a network is clean: it is needed, or an object of it was seen.
func (n *networkLocks) dirty(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.clean, key)
}
