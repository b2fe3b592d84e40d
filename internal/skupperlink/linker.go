// Package skupperlink keeps the Skupper network of each (class, namespace) that needs one:
// a Site on every member, and every spoke linked to the interconnect hub with a token that
// carries a fresh grant's credential, as the real Skupper controllers were seen to behave
// (a failed redemption spends its grant, a Link can vanish, a spoke Site can be deleted).
// It also judges a route backend reached over Skupper. The ingress controller calls it;
// it renders through internal/render and applies through internal/apply.
package skupperlink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// Link states reported per member in AnycastIngress status.clusters[].link.
const (
	LinkPending = status.LinkPending
	LinkReady   = status.LinkReady
	LinkError   = status.LinkError
)

// Reasons of Linked=False besides ReasonLinkPending, from the worst: a Skupper Site in
// Error needs a person (Skupper cannot link or serve from it); a refused redemption is
// repaired by the operator with a fresh grant.
const (
	ReasonSiteError        = string(v1alpha1.ReasonSiteError)
	ReasonRedemptionFailed = string(v1alpha1.ReasonRedemptionFailed)
	ReasonLinkPending      = string(v1alpha1.ReasonLinkPending)
)

// linkRecheck is how often a Ready link is looked at again. Skupper writes Links and
// their Secrets on the spoke without the operator's labels, so member caches do not hold
// them and nothing notifies a deletion: this is how soon a deleted Link is noticed.
const linkRecheck = 30 * time.Second

// linkErrorGrace is how long a Link may stay in Error before the operator gives up its
// credential and links the spoke again.
const linkErrorGrace = 30 * time.Second

// Link is one member's link to the hub, as its Site, token and Link report it.
type Link struct {
	State string
	// Reason is the reason of Linked=False this state stands for.
	Reason  string
	Message string
}

func linkPending(msg string) Link {
	return Link{State: LinkPending, Reason: ReasonLinkPending, Message: msg}
}

// Report is what reconciling a namespace's Skupper network found.
type Report struct {
	// Needed is false when no ingress of the class in the namespace uses Skupper.
	Needed bool
	// Links holds the state of each spoke, and of the hub when its Site is in Error.
	Links map[string]Link
	// RequeueAfter asks to look again (a link on its way up, a backoff running).
	RequeueAfter time.Duration
}

func (n *Report) requeue(d time.Duration) {
	if d > 0 && (n.RequeueAfter == 0 || d < n.RequeueAfter) {
		n.RequeueAfter = d
	}
}

// redeemBackoff spaces the tokens of one spoke after failed redemptions and lost links,
// so a hub that keeps failing is not flooded: 2s, 4s, 8s ... up to two minutes.
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

// NetworkKinds are the kinds of a namespace's Skupper network on a member.
var NetworkKinds = []schema.GroupVersionKind{render.GVKSite, render.GVKAccessGrant, render.GVKAccessToken}

// Linker keeps the Skupper networks of the ingress namespaces.
type Linker struct {
	// Members connects to member clusters.
	Members clusters.Registry
	// Ingresses lists the ingresses of a class in a namespace (from the hub's cache).
	Ingresses func(ctx context.Context, class, namespace string) ([]v1alpha1.AnycastIngress, error)

	backoff redeemBackoff
	// networks serialises the work on one network (class and namespace), which several
	// ingress workers share, and remembers the networks known to be clean.
	networks networkLocks
}

// Dirty forgets that a network is clean: an object of it was seen on a member.
func (l *Linker) Dirty(class, namespace string) { l.networks.dirty(class + "/" + namespace) }

// Reconcile keeps the Skupper network of (class, namespace) while one of the
// class's ingresses there uses cross-cluster services, and removes it when none does. It
// links every spoke to the hub: the hub's grant for the spoke is filled by the hub's
// Skupper controller; once the hub Site has endpoints, the spoke gets a token carrying the
// grant's credential, and keeps it for as long as it serves. Anything that spends or
// breaks that credential (a refused redemption, a lost Link, a deleted spoke Site) moves
// the spoke to a fresh grant; the Links of abandoned tokens are removed.
func (l *Linker) Reconcile(ctx context.Context, class *v1alpha1.AnycastClass, namespace string) (Report, error) {
	key := class.Name + "/" + namespace
	unlock := l.networks.lock(key)
	defer unlock()
	report := Report{Links: map[string]Link{}}
	ingresses, err := l.Ingresses(ctx, class.Name, namespace)
	if err != nil {
		return report, err
	}
	for i := range ingresses {
		if ingresses[i].DeletionTimestamp.IsZero() && render.NeedsSkupper(&ingresses[i]) {
			report.Needed = true
		}
	}
	ref := owner.SkupperNetwork(class.Name, namespace)
	if !report.Needed {
		// Most namespaces never use Skupper: once every member was checked clean (live:
		// deletion must not trust a cache), the check is not repeated until the class
		// changes, the network is needed again, or an object of it shows up.
		if l.networks.isClean(key, class.Generation) {
			return report, nil
		}
		all, err := l.forEachMember(ctx, class, func(ctx context.Context, m *clusters.Member) error {
			_, err := m.LiveApplier().Prune(ctx, ref, NetworkKinds, nil, "")
			return err
		})
		if err == nil && all {
			l.networks.markClean(key, class.Generation)
		}
		return report, err
	}
	l.networks.dirty(key)

	hub := class.Hub()
	obs := render.Observed{Skupper: render.SkupperObserved{Grants: map[string]render.GrantObserved{}}}
	// hold lists the members whose state could not be read: nothing is applied or pruned
	// there this time, since a token that could not be seen might be deleted.
	hold := map[string]bool{}
	linking := hub != nil && len(class.Spec.Clusters) > 1
	if linking {
		hubMember, err := l.memberFor(ctx, class, hub.Name)
		if err != nil {
			// Without the hub there is nothing to link to, and nothing may be pruned on
			// the spokes: their tokens and links keep working.
			for _, m := range class.Spec.Clusters {
				if m.Name != hub.Name {
					report.Links[m.Name] = linkPending("the hub " + hub.Name + " is unavailable: " + err.Error())
				}
			}
			report.RequeueAfter = 30 * time.Second
			return report, nil
		}
		hubSite, err := l.observeHub(ctx, class, namespace, hubMember, &obs.Skupper)
		if err != nil {
			return report, fmt.Errorf("cluster %s: reading the Skupper network: %w", hub.Name, err)
		}
		if msg, failed := siteError(hubSite); failed {
			report.Links[hub.Name] = Link{LinkError, ReasonSiteError, "the Skupper Site " + hub.Name + " is in Error: " + msg}
		}
		if ra := hub.RouterAccess; ra != nil && ra.Type == v1alpha1.RouterAccessLoadBalancer && ra.Pool != "" {
			mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
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
			sp := &spokeLink{l: l, class: class, namespace: namespace, hub: hub.Name, hubSite: hubSite, spoke: m.Name, sk: &obs.Skupper}
			st, requeue := sp.observe(ctx)
			report.Links[m.Name] = st
			report.requeue(requeue)
			if sp.hold {
				hold[m.Name] = true
			}
		}
	}

	out := render.RenderSkupperNetwork(class, namespace, &obs)
	var errs []error
	for _, co := range out.Clusters {
		if len(co.Refusals) > 0 || hold[co.Name] {
			continue
		}
		m, err := l.memberFor(ctx, class, co.Name)
		if err != nil {
			continue // reported by the ingress's own member status
		}
		mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
		_, err = m.Applier().ApplyAll(mctx, ref, co.Objects, NetworkKinds, "")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: skupper network: %w", co.Name, err))
		}
	}
	return report, errors.Join(errs...)
}

// siteError returns the message of a Site Skupper reports in Error ("skupper-router is not
// owned by skupper site ...", left by a deleted Site, for one): it cannot link or serve.
func siteError(s *skupperv2.Site) (string, bool) {
	if s == nil || s.Status.Status != "Error" {
		return "", false
	}
	return orDefault(s.Status.Message, "no message"), true
}

// observeHub reads the hub Site (nil when absent) and the state of each spoke's current
// grant.
func (l *Linker) observeHub(ctx context.Context, class *v1alpha1.AnycastClass, namespace string, hub *clusters.Member, sk *render.SkupperObserved) (*skupperv2.Site, error) {
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	site, err := getSite(ctx, hub.Reader, namespace, hub.Name)
	if err != nil {
		return nil, err
	}
	sk.HubSiteEndpoints = site != nil && len(site.Status.Endpoints) > 0
	grants := &unstructured.UnstructuredList{}
	grants.SetGroupVersionKind(render.GVKAccessGrant.GroupVersion().WithKind("AccessGrantList"))
	ref := owner.SkupperNetwork(class.Name, namespace)
	if err := hub.Reader.List(ctx, grants, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: ref.Selector()}); err != nil {
		return nil, err
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
				return nil, err
			}
			best = render.GrantObserved{Attempt: attempt, URL: g.Status.URL, Code: g.Status.Code, CA: g.Status.CA}
		}
		if best.Attempt >= 0 {
			sk.Grants[spoke.Name] = best
		}
	}
	return site, nil
}

// getSite reads a Site; nil when there is none.
func getSite(ctx context.Context, reader client.Reader, namespace, name string) (*skupperv2.Site, error) {
	var s skupperv2.Site
	if found, err := getSkupper(ctx, reader, render.GVKSite, namespace, name, &s); !found || err != nil {
		return nil, err
	}
	return &s, nil
}

// spokeLink decides, for one spoke, what its token should be, from the grant the hub
// filled, the token the spoke holds and the Links Skupper wrote for it.
type spokeLink struct {
	l         *Linker
	class     *v1alpha1.AnycastClass
	namespace string
	hub       string
	hubSite   *skupperv2.Site
	spoke     string
	sk        *render.SkupperObserved
	// hold is set when the spoke's state could not be read or an abandoned token's Links
	// could not be removed: nothing is applied there this time.
	hold bool
}

func (s *spokeLink) key() string { return s.class.Name + "/" + s.namespace + "/" + s.spoke }

// observe reads the spoke and returns its link state and when to look again. It records
// in s.sk whether the spoke holds the current token (kept, whatever the hub's endpoints
// do) and, when the credential is spent or broken, moves the spoke to a fresh grant.
func (s *spokeLink) observe(ctx context.Context) (Link, time.Duration) {
	m, err := s.l.memberFor(ctx, s.class, s.spoke)
	if err != nil {
		return linkPending(err.Error()), 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	g, ok := s.sk.Grants[s.spoke]
	filled := ok && g.URL != "" && g.Code != "" && g.CA != ""
	var token *skupperv2.AccessToken
	if filled {
		token, err = getToken(ctx, m.Reader, s.namespace, render.TokenName(s.class.Name, s.hub, g))
		if err != nil {
			s.hold = true
			return linkPending("reading the access token: " + err.Error()), 10 * time.Second
		}
		if token != nil {
			// The token was presented already: it stays, whatever the hub does next.
			g.Issued = true
			s.sk.Grants[s.spoke] = g
		}
	}
	if msg, failed := siteError(s.hubSite); failed {
		return Link{LinkError, ReasonSiteError, "the hub's Skupper Site " + s.hub + " is in Error: " + msg}, 10 * time.Second
	}
	site, err := getSite(ctx, m.Reader, s.namespace, s.spoke)
	if err != nil {
		return linkPending("reading the Skupper Site: " + err.Error()), 10 * time.Second
	}
	if msg, failed := siteError(site); failed {
		return Link{LinkError, ReasonSiteError, "the Skupper Site " + s.spoke + " is in Error: " + msg}, 10 * time.Second
	}
	if !filled {
		return linkPending("waiting for the hub's Skupper controller to fill the access grant"), 5 * time.Second
	}
	now := time.Now()
	if token == nil {
		if !s.sk.HubSiteEndpoints {
			return linkPending("waiting for the hub Site " + s.hub + " to report endpoints (its skupper-router Service needs an address); no token is issued before, since a failed redemption spends the grant"), 5 * time.Second
		}
		if ready, wait := s.l.backoff.ready(s.key(), now); !ready {
			// The fresh grant is there; its token waits for the backoff.
			s.sk.Grants[s.spoke] = render.GrantObserved{Attempt: g.Attempt}
			return linkPending(fmt.Sprintf("a fresh token is issued in %s", wait.Round(time.Second))), wait
		}
		return linkPending("issuing the access token"), 2 * time.Second
	}
	switch {
	case token.Status.Redeemed && token.Status.Status == "Error":
		// Skupper's word for a token redeemed for a Site that was deleted since ("Already
		// redeemed for a deleted site"): the Link and Secret went with that Site.
		return s.relink(ctx, m, token, g, "the token was redeemed for a Skupper Site that is gone ("+token.Status.Message+")")
	case token.Status.Redeemed:
		return s.redeemed(ctx, m, token, g)
	case token.Status.Status == "Error":
		// A refused redemption spends the grant (even a 500 "No valid endpoints found for
		// site"), and Skupper retries the token at once and on every resync: the token goes
		// now, and a fresh grant replaces it.
		s.l.backoff.failed(s.key(), now)
		s.sk.Grants[s.spoke] = render.GrantObserved{Attempt: g.Attempt + 1}
		return Link{LinkError, ReasonRedemptionFailed, fmt.Sprintf("redemption of token %s failed (%s); issuing a fresh grant (attempt %d)", token.Name, token.Status.Message, g.Attempt+1)}, 2 * time.Second
	}
	return linkPending("waiting for the spoke's Skupper controller to redeem the token"), 2 * time.Second
}

// redeemed judges the Links of a redeemed token, removes the Links of the spoke's earlier
// tokens once this one has its own, and relinks when its Link is gone,
// in Error, or points at endpoints the hub no longer has.
func (s *spokeLink) redeemed(ctx context.Context, m *clusters.Member, token *skupperv2.AccessToken, g render.GrantObserved) (Link, time.Duration) {
	mine, stale, err := s.links(ctx, m, token.Name)
	if err != nil {
		return linkPending("reading the Links: " + err.Error()), 10 * time.Second
	}
	if len(mine) == 0 {
		return s.relink(ctx, m, token, g, "the Link of token "+token.Name+" is gone")
	}
	var ready, failed *skupperv2.Link
	for i := range mine {
		switch mine[i].Status.Status {
		case "Ready":
			ready = &mine[i]
		case "Error":
			failed = &mine[i]
		}
	}
	switch {
	case ready == nil && failed != nil:
		// Skupper also reports a Link in Error for a moment while its Site starts (after a
		// controller restart, say): only an Error that lasts is worth a new credential.
		if wait := linkErrorGrace - time.Since(errorSince(failed)); wait > 0 {
			return linkPending("Link " + failed.Name + " is in Error (" + failed.Status.Message + "); relinking if it lasts"), wait
		}
		return s.relink(ctx, m, token, g, "Link "+failed.Name+" is in Error ("+failed.Status.Message+")")
	case ready == nil && s.movedEndpoints(mine):
		return s.relink(ctx, m, token, g, "the hub Site "+s.hub+" reports other endpoints than Link "+mine[0].Name+" points at")
	}
	// This token has its Link: the Links of earlier tokens (a grant the hub re-issued,
	// leftovers of an operator that recreated spent tokens) only compete with it.
	recheck := linkRecheck
	if err := s.remove(ctx, m, stale); err != nil {
		logf.FromContext(ctx).Error(err, "removing the Skupper Links of earlier tokens", "spoke", s.spoke, "namespace", s.namespace)
		recheck = 10 * time.Second
	}
	if ready != nil {
		s.l.backoff.reset(s.key())
		return Link{State: LinkReady}, recheck
	}
	l := mine[0]
	return linkPending("Link " + l.Name + " is " + orDefault(l.Status.Status, "Pending") + ": " + orDefault(l.Status.Message, "no status yet")), min(recheck, 5*time.Second)
}

// errorSince is when a Link's Ready condition turned False, or the zero time when the Link
// does not say.
func errorSince(l *skupperv2.Link) time.Time {
	if c := meta.FindStatusCondition(l.Status.Conditions, "Ready"); c != nil && c.Status == metav1.ConditionFalse {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// movedEndpoints reports whether the hub Site has endpoints and a Link points at none of
// them: the hub's router got a new address (a LoadBalancer Service re-addressed after an
// outage), and a Link to the old one never comes up.
func (s *spokeLink) movedEndpoints(links []skupperv2.Link) bool {
	if s.hubSite == nil || len(s.hubSite.Status.Endpoints) == 0 {
		return false
	}
	current := map[string]bool{}
	for _, e := range s.hubSite.Status.Endpoints {
		current[e.Host+":"+e.Port] = true
	}
	for _, l := range links {
		for _, e := range l.Spec.Endpoints {
			if current[e.Host+":"+e.Port] {
				return false
			}
		}
	}
	return true
}

// links returns the spoke's Links that Skupper wrote for the token named current (mine),
// and those it wrote for the operator's earlier tokens to this hub (stale). Skupper names
// a redeemed token's Links and TLS Secret after the token and makes them owned by the
// spoke's Site; Links of other origins are never touched.
func (s *spokeLink) links(ctx context.Context, m *clusters.Member, current string) (mine, stale []skupperv2.Link, err error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(render.GVKLink.GroupVersion().WithKind("LinkList"))
	// Links carry none of the operator's labels, so no cache holds them: read live.
	if err := m.LiveReader.List(ctx, list, client.InNamespace(s.namespace)); err != nil {
		return nil, nil, err
	}
	for i := range list.Items {
		var l skupperv2.Link
		if err := fromUnstructured(&list.Items[i], &l); err != nil {
			return nil, nil, err
		}
		if !ownedBySite(l.OwnerReferences, s.spoke) || !render.IsTokenName(s.class.Name, s.hub, l.Spec.TLSCredentials) {
			continue
		}
		if l.Spec.TLSCredentials == current {
			mine = append(mine, l)
		} else {
			stale = append(stale, l)
		}
	}
	return mine, stale, nil
}

func ownedBySite(refs []metav1.OwnerReference, site string) bool {
	for _, o := range refs {
		if o.Kind == "Site" && o.Name == site && strings.HasPrefix(o.APIVersion, render.GVKSite.Group+"/") {
			return true
		}
	}
	return false
}

// The Links Skupper wrote for an abandoned token are removed on the spokes (the local
// cluster can be one). Their TLS Secrets are not: the spoke role lets the hub touch no
// Secret outside MetalLB's namespace, and the garbage collector removes them with the Site
// that owns them.
// +kubebuilder:rbac:groups=skupper.io,resources=links,verbs=get;list;watch;delete

// relink abandons a token whose credential is spent or broken: its Links go (one in Error
// would stay there, and keep competing with the new one), then a fresh grant replaces it,
// after the backoff. If they cannot be removed, the token stays for now, so the next
// attempt still knows them by its name.
func (s *spokeLink) relink(ctx context.Context, m *clusters.Member, token *skupperv2.AccessToken, g render.GrantObserved, why string) (Link, time.Duration) {
	mine, _, err := s.links(ctx, m, token.Name)
	if err == nil {
		err = s.remove(ctx, m, mine)
	}
	if err != nil {
		s.hold = true
		return linkPending(why + "; removing the Links of token " + token.Name + ": " + err.Error()), 10 * time.Second
	}
	logf.FromContext(ctx).Info("relinking a Skupper spoke", "spoke", s.spoke, "namespace", s.namespace, "token", token.Name, "why", why)
	s.l.backoff.failed(s.key(), time.Now())
	s.sk.Grants[s.spoke] = render.GrantObserved{Attempt: g.Attempt + 1}
	return linkPending(fmt.Sprintf("%s; issuing a fresh grant (attempt %d)", why, g.Attempt+1)), 2 * time.Second
}

// remove deletes Links, each only if it is still the object that was read.
func (s *spokeLink) remove(ctx context.Context, m *clusters.Member, links []skupperv2.Link) error {
	var errs []error
	for i := range links {
		l := &links[i]
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(render.GVKLink)
		u.SetNamespace(l.Namespace)
		u.SetName(l.Name)
		uid := l.UID
		if err := m.Client.Delete(ctx, u, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("Link %s: %w", l.Name, err))
			continue
		}
		logf.FromContext(ctx).Info("removed a Skupper Link of an abandoned token", "spoke", s.spoke, "namespace", l.Namespace,
			"link", l.Name, "tlsSecret", l.Spec.TLSCredentials)
	}
	return errors.Join(errs...)
}

// getToken reads an AccessToken; nil when there is none.
func getToken(ctx context.Context, reader client.Reader, namespace, name string) (*skupperv2.AccessToken, error) {
	var t skupperv2.AccessToken
	if found, err := getSkupper(ctx, reader, render.GVKAccessToken, namespace, name, &t); !found || err != nil {
		return nil, err
	}
	return &t, nil
}

func (l *Linker) forEachMember(ctx context.Context, class *v1alpha1.AnycastClass, f func(context.Context, *clusters.Member) error) (bool, error) {
	return clusters.ForEach(ctx, l.Members, class, f)
}

func (l *Linker) memberFor(ctx context.Context, class *v1alpha1.AnycastClass, name string) (*clusters.Member, error) {
	return l.Members.Get(ctx, class, name)
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
