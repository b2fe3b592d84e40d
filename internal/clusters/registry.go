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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
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
	// Classes and Ingresses receive requests when a member's health or one of the objects
	// the operator wrote there changes. An ingress request without a namespace stands for
	// every ingress of the class it names.
	Classes, Ingresses *notify.Notifier
	// OnRecovered is called when a member becomes reachable again (the orphan sweep
	// runs then). Optional.
	OnRecovered func(member string)
	// WrapTransport, if set, wraps the HTTP transport of each member's clients; ref is
	// the member's kubeconfig reference ("<secret>/<key>"). Optional (tests count
	// requests with it).
	WrapTransport func(ref string, rt http.RoundTripper) http.RoundTripper

	mu    sync.Mutex
	conns map[string]*conn
}

// conn is the connection to one member, shared by every class member entry that uses the
// same kubeconfig Secret and key.
type conn struct {
	ref    string
	digest [32]byte
	cl     cluster.Cluster
	cancel context.CancelFunc
	dc     discovery.DiscoveryInterface

	mu     sync.Mutex
	health Health
	users  map[string]string // "class/member" -> class
}

func (c *conn) getHealth() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// Get implements Registry.
func (r *Remote) Get(ctx context.Context, class *v1alpha1.AnycastClass, name string) (*Member, error) {
	m := class.Member(name)
	if m == nil {
		return nil, &UnavailableError{Member: name, Reason: "UnknownCluster", Message: "not a member of class " + class.Name}
	}
	return r.GetByRef(ctx, class.Name, name, m.KubeconfigSecretRef)
}

// GetByRef returns the member named name of class, reached through ref (nil: the local
// cluster). Removed members are reached this way, from the reference the class status
// remembers, to clean them up.
func (r *Remote) GetByRef(ctx context.Context, class, name string, ref *v1alpha1.SecretKeyReference) (*Member, error) {
	if ref == nil {
		local := *r.Local
		local.Name = name
		return &local, nil
	}
	c, err := r.connect(ctx, ref)
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
	cl := c.cl.GetClient()
	return &Member{Name: name, Client: cl, Reader: cl, LiveReader: c.cl.GetAPIReader()}, nil
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

// SweepTarget is one reachable member cluster to sweep for orphans.
type SweepTarget struct {
	// Ref is the kubeconfig reference the member is reached through ("" for the local
	// cluster), as RefString writes it; KubeconfigRef is the same, for matching class
	// members.
	Ref, KubeconfigRef string
	Member             *Member
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

// SweepTargets lists the local cluster and every reachable connected member.
func (r *Remote) SweepTargets() []SweepTarget {
	out := []SweepTarget{{Ref: "local", KubeconfigRef: "", Member: r.Local}}
	r.mu.Lock()
	defer r.mu.Unlock()
	refs := make([]string, 0, len(r.conns))
	for ref := range r.conns {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		c := r.conns[ref]
		if !c.getHealth().OK {
			continue
		}
		cl := c.cl.GetClient()
		out = append(out, SweepTarget{Ref: ref, KubeconfigRef: ref, Member: &Member{Name: ref, Client: cl, Reader: cl, LiveReader: c.cl.GetAPIReader()}})
	}
	return out
}

// connect returns the connection for ref, building it, or rebuilding it when the Secret's
// content changed.
func (r *Remote) connect(ctx context.Context, ref *v1alpha1.SecretKeyReference) (*conn, error) {
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
	digest := sha256.Sum256(data)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[string]*conn{}
	}
	if c, ok := r.conns[refName]; ok {
		if c.digest == digest {
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
	c, err := r.start(refName, cfg)
	if err != nil {
		return nil, &UnavailableError{Reason: ReasonBadKubeconfig,
			Message: fmt.Sprintf("the kubeconfig in Secret %s/%s key %q cannot be used: %s", r.Namespace, ref.Name, key, shortErr(err))}
	}
	c.digest = digest
	r.conns[refName] = c
	return c, nil
}

// start builds the member's client and cache, probes it once, and keeps probing it in
// the background.
func (r *Remote) start(ref string, cfg *rest.Config) (*conn, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = owner.ManagedByValue
	if wrap := r.WrapTransport; wrap != nil {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return wrap(ref, rt) })
	}
	cl, err := cluster.New(cfg, func(o *cluster.Options) {
		o.Scheme = r.Scheme
		o.Logger = r.Log.WithValues("member", ref)
		o.Cache = MemberCacheOptions()
		o.Client = client.Options{Cache: &client.CacheOptions{Unstructured: true, DisableFor: []client.Object{&corev1.Secret{}}}}
	})
	if err != nil {
		return nil, err
	}
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Timeout = r.probeTimeout()
	dc, err := discovery.NewDiscoveryClientForConfig(probeCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{ref: ref, cl: cl, cancel: cancel, dc: dc}
	pctx, pcancel := context.WithTimeout(ctx, r.probeTimeout())
	c.health = probe(pctx, dc)
	pcancel()
	c.health.Since = time.Now()
	r.Log.Info("member connection", "secret", ref, "health", c.health.String())
	go func() {
		if err := cl.Start(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error(err, "member cache stopped", "secret", ref)
		}
	}()
	go r.watchOwned(ctx, c)
	go r.probeLoop(ctx, c)
	return c, nil
}

func (r *Remote) probeTimeout() time.Duration {
	if r.ProbeTimeout > 0 {
		return r.ProbeTimeout
	}
	return 5 * time.Second
}

// probeLoop re-probes the member and tells the controllers when its health changes.
func (r *Remote) probeLoop(ctx context.Context, c *conn) {
	interval := r.ProbeInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.probeTimeout())
		h := probe(pctx, c.dc)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		prev := c.health
		changed := prev.OK != h.OK || prev.Reason != h.Reason
		if changed {
			h.Since = time.Now()
			c.health = h
		}
		classes := map[string]bool{}
		for _, cls := range c.users {
			classes[cls] = true
		}
		c.mu.Unlock()
		if !changed {
			continue
		}
		r.Log.Info("member health changed", "secret", c.ref, "health", h.String())
		r.notifyClasses(classes)
		if h.OK && r.OnRecovered != nil {
			r.OnRecovered(c.ref)
		}
	}
}

func (r *Remote) notifyClasses(classes map[string]bool) {
	names := make([]string, 0, len(classes))
	for c := range classes {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		req := reconcile.Request{NamespacedName: types.NamespacedName{Name: c}}
		if r.Classes != nil {
			r.Classes.Notify(req)
		}
		if r.Ingresses != nil {
			r.Ingresses.Notify(req)
		}
	}
}

// watchOwned watches the objects the operator wrote on the member, so that a change or
// deletion by someone else is repaired as it is on the hub's own cluster.
func (r *Remote) watchOwned(ctx context.Context, c *conn) {
	// Informers on an API server that is down would only retry in a loop: wait until it
	// answers, and for the cache to have started.
	for !c.getHealth().OK || !c.cl.GetCache().WaitForCacheSync(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	for _, gvk := range render.AllKinds {
		if gvk == render.GVKSecret {
			continue // read live, never cached
		}
		if _, err := c.cl.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		inf, err := c.cl.GetCache().GetInformer(ctx, u, cache.BlockUntilSynced(false))
		if err != nil {
			r.Log.Error(err, "watching member objects", "secret", c.ref, "kind", gvk.Kind)
			continue
		}
		_, _ = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o interface{}) {},
			UpdateFunc: func(_, o interface{}) { r.notifyOwner(o) },
			DeleteFunc: func(o interface{}) { r.notifyOwner(o) },
		})
	}
}

func (r *Remote) notifyOwner(o interface{}) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	obj, ok := o.(client.Object)
	if !ok {
		return
	}
	ref, ok := owner.FromLabels(obj.GetLabels())
	if !ok {
		return
	}
	switch ref.Kind {
	case owner.KindClass:
		if r.Classes != nil {
			r.Classes.Notify(reconcile.Request{NamespacedName: types.NamespacedName{Name: ref.Name}})
		}
	case owner.KindIngress:
		if r.Ingresses != nil {
			r.Ingresses.Notify(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}})
		}
	case owner.KindSkupperNetwork:
		if r.Ingresses != nil {
			r.Ingresses.Notify(reconcile.Request{NamespacedName: types.NamespacedName{Name: ref.Class}})
		}
	}
}

// MemberCacheOptions caches only what the operator wrote on a member.
func MemberCacheOptions() cache.Options {
	return cache.Options{DefaultLabelSelector: labels.SelectorFromSet(labels.Set{owner.ManagedByLabel: owner.ManagedByValue})}
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
