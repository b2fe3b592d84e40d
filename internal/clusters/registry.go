package clusters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// DefaultKubeconfigKey is the Secret key a kubeconfigSecretRef reads when it names none.
const DefaultKubeconfigKey = "kubeconfig"

// Remote is the Registry of a hub: the local cluster, and members reached through
// kubeconfig Secrets in the operator's namespace. It builds a client and a cache per
// kubeconfig, probes each member's API server, and rebuilds or drops connections as the
// Secrets and classes change, without a restart.
type Remote struct {
	// Hub reads kubeconfig Secrets from Namespace.
	Hub client.Reader
	// Namespace is the operator's namespace.
	Namespace string
	// Local is the cluster the operator runs in.
	Local *Member
	// Scheme of the member clients.
	Scheme *runtime.Scheme
	// Log receives connection changes (never kubeconfig contents).
	Log logr.Logger
	// ProbeInterval is how often members are probed; ProbeTimeout bounds one probe.
	ProbeInterval, ProbeTimeout time.Duration
	// APICheckInterval is how often a member that answers is also asked whether it still
	// serves the API groups the operator writes (default one minute); in between, a probe
	// asks for its version only.
	APICheckInterval time.Duration
	// Classes and Ingresses hear when a member's health changes (its objects' changes
	// reach the controllers through their engaged watches, see Engage).
	Classes   *notify.Notifier[notify.ClassEvent]
	Ingresses *notify.Notifier[notify.IngressEvent]
	// OnRecovered is called when a member becomes reachable again (the orphan sweep
	// runs then). Optional.
	OnRecovered func(member string)
	// LocalSlices caches the EndpointSlices of the cluster the operator runs in (Local's
	// Reader reads through it; the controllers run their EndpointSlice watches of that
	// cluster on it). Optional.
	LocalSlices *Slices
	// SliceNamespaces lists the namespaces whose EndpointSlices stay cached on every
	// member (see Slices.Needed). Optional: without it, a namespace cache once started
	// is kept.
	SliceNamespaces func(ctx context.Context) (map[string]bool, error)
	// WrapTransport, if set, wraps the HTTP transport of each member's clients; ref is
	// the member's kubeconfig reference ("<secret>/<key>"). Optional (tests count
	// requests with it).
	WrapTransport func(ref string, rt http.RoundTripper) http.RoundTripper
	// CacheSyncTimeout bounds how long a member is not programmed while its cache reads
	// its objects (default DefaultCacheSyncTimeout; see cacheSync).
	CacheSyncTimeout time.Duration

	mu    sync.Mutex
	conns map[string]*conn
	// engaged has its own lock: a cache is built while mu is held (connect), and reads it.
	engageMu sync.Mutex
	engaged  []engagement
}

// conn is the connection to one member, shared by every class member entry that uses the
// same kubeconfig Secret and key.
type conn struct {
	ref    string
	digest [32]byte
	// secretVersion is the UID and resourceVersion of the Secret digest was taken from.
	secretVersion string
	cfg           *rest.Config
	cancel        context.CancelFunc
	dc            discovery.DiscoveryInterface

	mu     sync.Mutex
	health Health
	users  map[string]string // "class/member" -> class
	// cl is the member's client and cache. It exists only while the member answers, and
	// is rebuilt when the member comes back after an outage: informers that were
	// backing off for the whole outage would otherwise be late to see what was written
	// since, and the health gate reads them.
	cl       cluster.Cluster
	clCtx    context.Context
	clCancel context.CancelFunc
	// identity tells which cluster this is (see clusterIdentity): two Secrets may reach
	// the same cluster.
	identity string
	// indexed lists the kinds cl's cache indexes by owner.
	indexed map[schema.GroupVersionKind]bool
	// pruned is the prune memory of cl's lifetime: a rebuilt client starts listing again.
	pruned *apply.PruneMemory
	// settled remembers the owners found as desired, for cl's lifetime; cl's member
	// watches tell it of every change (see apply.Settled).
	settled *apply.Settled
	// slices caches the member's EndpointSlices per namespace in use, for cl's lifetime.
	slices *Slices
	// sync follows the first sync of cl's cache (see cacheSync).
	sync *cacheSync
	// kick asks the probe loop to probe now, fully (a write found the API server
	// unreachable).
	kick chan struct{}
	// metallbNamespaces are the MetalLB namespaces of the classes using the member: its
	// cache watches MetalLB's objects there only, as the spoke role allows (MetalLB's
	// objects, and the operator's rights on them, live in MetalLB's namespace).
	metallbNamespaces []string
	// ctx lives as long as the connection.
	ctx context.Context
}

func (c *conn) member(name string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl == nil {
		return nil
	}
	cl := c.cl.GetClient()
	return &Member{Name: name, Client: cl, Reader: c.slices.Reader(cl), LiveReader: c.cl.GetAPIReader(), Indexed: c.indexed,
		MetalLBNamespaces: append([]string(nil), c.metallbNamespaces...), Latency: c.health.Latency, Pruned: c.pruned, Settled: c.settled,
		ProbeNow: c.probeNow, syncing: c.sync}
}

// probeNow has the member probed at once rather than at the next tick.
func (c *conn) probeNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *conn) getHealth() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// LocalEndpointSlices returns the hub's own cluster's EndpointSlice caches (nil when the
// registry was built without: the manager's cache then serves them, under its options).
func (r *Remote) LocalEndpointSlices() *Slices { return r.LocalSlices }

// Get implements Registry.
func (r *Remote) Get(ctx context.Context, class *v1alpha1.AnycastClass, name string) (*Member, error) {
	m := class.Member(name)
	if m == nil {
		return nil, &UnavailableError{Member: name, Reason: "UnknownCluster", Message: "not a member of class " + class.Name}
	}
	return r.getByRef(ctx, class.Name, name, m.KubeconfigSecretRef, render.MetalLBNamespace(class))
}

// GetByRef returns the member named name of class, reached through ref (nil: the local
// cluster). Removed members are reached this way, from the reference the class status
// remembers, to clean them up.
func (r *Remote) GetByRef(ctx context.Context, class, name string, ref *v1alpha1.SecretKeyReference) (*Member, error) {
	return r.getByRef(ctx, class, name, ref, "")
}

// getByRef is GetByRef for a class whose MetalLB runs in metallbNamespace ("": any the
// connection already watches).
func (r *Remote) getByRef(ctx context.Context, class, name string, ref *v1alpha1.SecretKeyReference, metallbNamespace string) (*Member, error) {
	if ref == nil {
		local := *r.Local
		local.Name = name
		return &local, nil
	}
	c, err := r.connect(ctx, ref, metallbNamespace)
	if err != nil {
		if u, ok := err.(*UnavailableError); ok {
			u.Member = name
		}
		return nil, err
	}
	c.mu.Lock()
	if c.users == nil {
		c.users = map[string]string{}
	}
	c.users[class+"/"+name] = class
	h := c.health
	c.mu.Unlock()
	if !h.OK {
		return nil, &UnavailableError{Member: name, Reason: h.Reason, Message: h.Message}
	}
	if err := r.watchMetalLBNamespace(c, metallbNamespace); err != nil {
		return nil, &UnavailableError{Member: name, Reason: ReasonConnecting, Message: "watching MetalLB's namespace " + metallbNamespace + ": " + shortErr(err)}
	}
	m := c.member(name)
	if m == nil {
		return nil, &UnavailableError{Member: name, Reason: ReasonConnecting, Message: "connecting to the API server"}
	}
	return m, nil
}

// Retain drops the class's use of every member not in keep, and closes connections no
// class uses any more. Call it once a removed member has been cleaned up.
func (r *Remote) Retain(class string, keep []string) {
	want := map[string]bool{}
	for _, k := range keep {
		want[class+"/"+k] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for ref, c := range r.conns {
		c.mu.Lock()
		for user, cls := range c.users {
			if cls == class && !want[user] {
				delete(c.users, user)
			}
		}
		unused := len(c.users) == 0
		c.mu.Unlock()
		if unused {
			r.Log.Info("closing member connection: no class uses it", "secret", ref)
			c.cancel()
			delete(r.conns, ref)
		}
	}
}

// SweepTarget is one reachable cluster to sweep for orphans.
type SweepTarget struct {
	// Ref names the target in logs.
	Ref string
	// Refs are every kubeconfig reference that reaches this cluster, as RefString writes
	// them ("" for the cluster the operator runs in): an object is an orphan only if no
	// class member reached through any of them wants it.
	Refs   []string
	Member *Member
}

// RefString writes a kubeconfig reference as "name/key"; nil (the local cluster) is "".
func RefString(ref *v1alpha1.SecretKeyReference) string {
	if ref == nil {
		return ""
	}
	key := ref.Key
	if key == "" {
		key = DefaultKubeconfigKey
	}
	return ref.Name + "/" + key
}

// SweepTargets lists every reachable cluster once, the local one included, with every
// reference that reaches it.
func (r *Remote) SweepTargets(ctx context.Context) []SweepTarget {
	byID := map[string]*SweepTarget{}
	var order []string
	add := func(id, ref string, m *Member) {
		if t, ok := byID[id]; ok {
			t.Refs = append(t.Refs, ref)
			return
		}
		name := ref
		if name == "" {
			name = "local"
		}
		byID[id] = &SweepTarget{Ref: name, Refs: []string{ref}, Member: m}
		order = append(order, id)
	}
	if id, err := clusterIdentity(ctx, r.Local.LiveReader); err == nil {
		add(id, "", r.Local)
	}
	r.mu.Lock()
	refs := make([]string, 0, len(r.conns))
	for ref := range r.conns {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	conns := make([]*conn, 0, len(refs))
	for _, ref := range refs {
		conns = append(conns, r.conns[ref])
	}
	r.mu.Unlock()
	for _, c := range conns {
		if !c.getHealth().OK {
			continue
		}
		m := c.member(c.ref)
		c.mu.Lock()
		id := c.identity
		c.mu.Unlock()
		if m == nil || id == "" {
			continue
		}
		add(id, c.ref, m)
	}
	out := make([]SweepTarget, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out
}

// clusterIdentity identifies a cluster by the UID of its kube-system namespace, which
// the API server creates once and never changes.
func clusterIdentity(ctx context.Context, r client.Reader) (string, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: metav1.NamespaceSystem}, ns); err != nil {
		return "", err
	}
	return string(ns.UID), nil
}

// connect returns the connection for ref, building it, or rebuilding it when the Secret's
// content changed.
func (r *Remote) connect(ctx context.Context, ref *v1alpha1.SecretKeyReference, metallbNamespace string) (*conn, error) {
	key := ref.Key
	if key == "" {
		key = DefaultKubeconfigKey
	}
	refName := RefString(ref)
	secret := &corev1.Secret{}
	if err := r.Hub.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &UnavailableError{Reason: ReasonKubeconfigSecretMissing,
				Message: fmt.Sprintf("the kubeconfig Secret %s/%s does not exist; create it (anycast-operator kubeconfig prints it from the spoke)", r.Namespace, ref.Name)}
		}
		return nil, err
	}
	data, ok := secret.Data[key]
	if !ok || len(bytes.TrimSpace(data)) == 0 {
		return nil, &UnavailableError{Reason: ReasonKubeconfigKeyMissing,
			Message: fmt.Sprintf("the Secret %s/%s has no key %q holding a kubeconfig", r.Namespace, ref.Name, key)}
	}
	// Every reconcile asks for every member: the Secret's version tells whether its
	// kubeconfig can have changed without digesting it each time.
	version := string(secret.UID) + "/" + secret.ResourceVersion
	r.mu.Lock()
	if c, ok := r.conns[refName]; ok && c.secretVersion == version && secret.ResourceVersion != "" {
		r.mu.Unlock()
		return c, nil
	}
	r.mu.Unlock()
	digest := sha256.Sum256(data)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[string]*conn{}
	}
	if c, ok := r.conns[refName]; ok {
		if c.digest == digest {
			c.secretVersion = version
			return c, nil
		}
		r.Log.Info("kubeconfig Secret changed: reconnecting", "secret", refName)
		c.cancel()
		delete(r.conns, refName)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, &UnavailableError{Reason: ReasonBadKubeconfig,
			Message: fmt.Sprintf("the Secret %s/%s key %q is not a usable kubeconfig: %s", r.Namespace, ref.Name, key, shortErr(err))}
	}
	if metallbNamespace == "" {
		metallbNamespace = render.DefaultMetalLBNamespace
	}
	c, err := r.start(refName, cfg, metallbNamespace)
	if err != nil {
		return nil, &UnavailableError{Reason: ReasonBadKubeconfig,
			Message: fmt.Sprintf("the kubeconfig in Secret %s/%s key %q cannot be used: %s", r.Namespace, ref.Name, key, shortErr(err))}
	}
	c.digest, c.secretVersion = digest, version
	r.conns[refName] = c
	return c, nil
}

// start probes the member once, builds its client and cache if it answers, and keeps
// probing it in the background.
func (r *Remote) start(ref string, cfg *rest.Config, metallbNamespace string) (*conn, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = owner.ManagedByValue
	if wrap := r.WrapTransport; wrap != nil {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return wrap(ref, rt) })
	}
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Timeout = r.probeTimeout()
	dc, err := discovery.NewDiscoveryClientForConfig(probeCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{ref: ref, cfg: cfg, cancel: cancel, dc: dc, ctx: ctx, metallbNamespaces: []string{metallbNamespace}, kick: make(chan struct{}, 1)}
	pctx, pcancel := context.WithTimeout(ctx, r.probeTimeout())
	c.health = probe(pctx, dc, true)
	pcancel()
	c.health.Since = time.Now()
	if c.health.OK {
		if err := r.buildCluster(ctx, c); err != nil {
			cancel()
			return nil, err
		}
	}
	r.Log.Info("member connection", "secret", ref, "health", c.health.String())
	go r.probeLoop(ctx, c)
	return c, nil
}

// buildCluster (re)builds the member's client and cache and starts them.
func (r *Remote) buildCluster(ctx context.Context, c *conn) error {
	c.mu.Lock()
	namespaces := append([]string(nil), c.metallbNamespaces...)
	c.mu.Unlock()
	syncing := newCacheSync()
	cl, err := cluster.New(c.cfg, func(o *cluster.Options) {
		o.Scheme = r.Scheme
		o.Logger = r.Log.WithValues("member", c.ref)
		o.Cache = MemberCacheOptions(namespaces)
		o.Cache.DefaultWatchErrorHandler = syncing.watchError
		o.Client = client.Options{Cache: &client.CacheOptions{Unstructured: true, DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}}
	})
	if err != nil {
		return err
	}
	indexed, err := IndexOwners(ctx, cl.GetFieldIndexer(), cl.GetRESTMapper())
	if err != nil {
		return err
	}
	ictx, icancel := context.WithTimeout(ctx, r.probeTimeout())
	id, err := clusterIdentity(ictx, cl.GetAPIReader())
	icancel()
	if err != nil {
		return fmt.Errorf("reading the cluster's identity (namespace kube-system): %w", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	// The informers every reconcile reads start now, with the cache, and the member is
	// programmed once they have synced (see cacheSync).
	syncing.start(cctx, cl.GetCache(), syncedKinds(indexed, namespaces))
	c.mu.Lock()
	if c.clCancel != nil {
		c.clCancel()
	}
	slices := &Slices{Config: c.cfg, HTTPClient: cl.GetHTTPClient(), Mapper: cl.GetRESTMapper(), Scheme: r.Scheme,
		Needed: r.SliceNamespaces, Log: r.Log.WithValues("member", c.ref)}
	slices.begin(cctx)
	c.cl, c.clCtx, c.clCancel, c.identity, c.indexed = cl, cctx, ccancel, id, indexed
	c.pruned, c.settled, c.slices, c.sync = &apply.PruneMemory{}, &apply.Settled{}, slices, syncing
	c.mu.Unlock()
	go func() { _ = slices.Start(cctx) }()
	go func() {
		if err := cl.Start(cctx); err != nil && cctx.Err() == nil {
			r.Log.Error(err, "member cache stopped", "secret", c.ref)
		}
	}()
	// The controllers' watches run on this cache as they do on the hub's own cluster.
	r.engageMu.Lock()
	engaged := append([]engagement(nil), r.engaged...)
	r.engageMu.Unlock()
	r.engage(c, cl.GetCache(), cl.GetClient(), cctx, engaged)
	go r.awaitSync(cctx, c, syncing)
	return nil
}

// watchMetalLBNamespace makes the member's cache watch MetalLB's objects in ns too, when a
// class with another MetalLB namespace starts using the member: the cache is rebuilt (a
// rare event: the classes on one member share MetalLB's namespace).
func (r *Remote) watchMetalLBNamespace(c *conn, ns string) error {
	if ns == "" {
		return nil
	}
	c.mu.Lock()
	for _, have := range c.metallbNamespaces {
		if have == ns {
			c.mu.Unlock()
			return nil
		}
	}
	c.metallbNamespaces = append(c.metallbNamespaces, ns)
	sort.Strings(c.metallbNamespaces)
	c.mu.Unlock()
	r.Log.Info("member cache now watches another MetalLB namespace: rebuilding it", "secret", c.ref, "namespace", ns)
	return r.buildCluster(c.ctx, c)
}

func (r *Remote) probeTimeout() time.Duration {
	if r.ProbeTimeout > 0 {
		return r.ProbeTimeout
	}
	return 5 * time.Second
}

func (r *Remote) apiCheckInterval() time.Duration {
	if r.APICheckInterval > 0 {
		return r.APICheckInterval
	}
	return time.Minute
}

// probeLoop re-probes the member and tells the controllers when its health changes.
func (r *Remote) probeLoop(ctx context.Context, c *conn) {
	interval := r.ProbeInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// The first probe (in start) was a full one.
	lastFull := time.Now()
	for {
		kicked := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
			kicked = true
		}
		// A member that answers is asked for its version only, and for the API groups the
		// operator writes once per APICheckInterval: the groups were four of a probe's
		// five requests, most of an idle hub's requests (issue 20: with 20 members, 9.5
		// requests a second with nothing to do). A member that did not pass its last
		// probe, or that a write found unreachable, is probed fully.
		full := kicked || !c.getHealth().OK || time.Since(lastFull) >= r.apiCheckInterval()
		pctx, cancel := context.WithTimeout(ctx, r.probeTimeout())
		h := probe(pctx, c.dc, full)
		cancel()
		if full {
			lastFull = time.Now()
		}
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		prev := c.health
		changed := prev.OK != h.OK || prev.Reason != h.Reason
		// The latency is news every time: the ingress reconciler does not wait for a
		// member that answers slowly (see controller.memberWork).
		c.health.Latency = h.Latency
		users := map[string]bool{}
		for _, cls := range c.users {
			users[cls] = true
		}
		classes := sortedNames(users)
		c.mu.Unlock()
		if !changed {
			if kicked && h.OK {
				// A write found the member unreachable, but it answers: the ingresses
				// that reported it Unavailable are looked at again now, not in a minute.
				r.notifyIngresses(classes)
			}
			continue
		}
		if h.OK {
			// Back: fresh informers see everything written during the outage at once.
			if err := r.buildCluster(ctx, c); err != nil {
				h = Health{Reason: ReasonBadKubeconfig, Message: "the kubeconfig cannot be used: " + shortErr(err)}
			}
		}
		c.mu.Lock()
		h.Since = time.Now()
		c.health = h
		c.mu.Unlock()
		r.Log.Info("member health changed", "secret", c.ref, "health", h.String())
		r.notifyClasses(classes)
		if h.OK && r.OnRecovered != nil {
			r.OnRecovered(c.ref)
		}
	}
}

// notifyIngresses has every ingress of the classes looked at again (a refresh).
func (r *Remote) notifyIngresses(classes []string) {
	if r.Ingresses == nil {
		return
	}
	for _, c := range classes {
		r.Ingresses.Notify(notify.ClassIngresses(c))
	}
}

// notifyClasses tells the class and ingress controllers that the classes' member changed.
func (r *Remote) notifyClasses(classes []string) {
	if r.Classes != nil {
		for _, c := range classes {
			r.Classes.Notify(notify.ClassEvent(c))
		}
	}
	r.notifyIngresses(classes)
}

// sortedNames lists a set's names in order.
func sortedNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MemberCacheOptions caches what the operator wrote on a member, and what its health gate
// reads there: the Services Gateway implementations create (found by the label the
// Gateway's infrastructure propagates), EndpointSlices (route backends and the Gateway's
// data plane), and MetalLB's own state (see ObservedByObject).
func MemberCacheOptions(metallbNamespaces []string) cache.Options {
	by := ObservedByObject(metallbNamespaces)
	by[&corev1.Service{}] = cache.ByObject{Label: GatewayServiceSelector()}
	return cache.Options{
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{owner.ManagedByLabel: owner.ManagedByValue}),
		ByObject:             by,
		DefaultTransform:     cache.TransformStripManagedFields(),
	}
}

// EndpointSliceCache is how every cache of the operator (the hub's and each member's)
// holds EndpointSlices: all of them, since a route backend is any Service of the
// ingress's namespace, but only what is read of them (see SlimEndpointSlice).
func EndpointSliceCache() cache.ByObject {
	return cache.ByObject{Label: labels.Everything(), Transform: SlimEndpointSlice}
}

// SlimEndpointSlice keeps of an EndpointSlice what the operator reads (ServiceEndpoints,
// and the watches that map a slice to its ingresses): its name, namespace, labels and
// version, and each endpoint's readiness and node. A busy member runs thousands of
// Services that are none of the operator's business (issue 20); their slices' addresses,
// ports, targets, zones, hints, annotations and managed fields would cost the hub memory
// for nothing.
func SlimEndpointSlice(obj interface{}) (interface{}, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil // a tombstone: its object was slimmed when it was stored
	}
	out := &discoveryv1.EndpointSlice{
		TypeMeta: s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
			Generation: s.Generation, Labels: s.Labels, DeletionTimestamp: s.DeletionTimestamp,
		},
		AddressType: s.AddressType,
	}
	if len(s.Endpoints) > 0 {
		out.Endpoints = make([]discoveryv1.Endpoint, len(s.Endpoints))
		for i, e := range s.Endpoints {
			out.Endpoints[i] = discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready}, NodeName: e.NodeName}
		}
	}
	return out, nil
}

// GatewayServiceSelector selects the Services made for the operator's Gateways.
func GatewayServiceSelector() labels.Selector {
	req, err := labels.NewRequirement(owner.GatewayLabel, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}

// GatewayRequest maps a Service made for a Gateway back to its ingress.
func GatewayRequest(o client.Object) (reconcile.Request, bool) {
	name, ns := o.GetLabels()[owner.GatewayLabel], o.GetLabels()[owner.GatewayNamespaceLabel]
	if name == "" || ns == "" {
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}, true
}

// Close stops every member connection.
func (r *Remote) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ref, c := range r.conns {
		c.cancel()
		delete(r.conns, ref)
	}
}
