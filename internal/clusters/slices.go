package clusters

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Slices caches a cluster's EndpointSlices one namespace at a time, for the namespaces the
// operator reads them in: those of its ingresses (route backends, Skupper services) and of
// their Gateways' Services. A busy member runs thousands of Services that are none of the
// operator's business; a cluster-wide cache of their slices grew the hub by about 1 KiB
// per slice even slimmed (issue 20).
//
// A namespace's cache starts at the first read there (the read waits until it has
// synced, so the health gate never judges from an empty cache), and the engaged
// EndpointSlice watches run on it from then on. It stops when Needed no longer names the
// namespace and nothing has read it for IdleAfter: while an ingress lives in a namespace,
// its slices keep being watched even if nothing reads them for hours.
type Slices struct {
	// Config, HTTPClient, Mapper and Scheme reach the cluster (shared with its main cache,
	// so the namespace caches open no connection of their own).
	Config     *rest.Config
	HTTPClient *http.Client
	Mapper     meta.RESTMapper
	Scheme     *runtime.Scheme
	// Needed lists the namespaces whose caches must be kept (see NeededNamespaces); nil
	// keeps every cache once started.
	Needed func(ctx context.Context) (map[string]bool, error)
	// IdleAfter is how long a namespace no longer needed keeps its cache after its last
	// read (default one minute); Every is how often that is checked (default one minute).
	IdleAfter, Every time.Duration
	Log              logr.Logger

	mu      sync.Mutex
	ctx     context.Context
	started chan struct{}
	byNS    map[string]*nsSlices
	engaged []sliceWatch
}

// nsSlices is one namespace's cache.
type nsSlices struct {
	cache  cache.Cache
	ctx    context.Context
	cancel context.CancelFunc
	// ready is closed once the cache has synced (or failed to: err says so).
	ready    chan struct{}
	err      error
	lastRead time.Time
}

// sliceWatch is one engaged EndpointSlice watch: it runs on every namespace cache.
type sliceWatch struct {
	ctx   context.Context
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
	w     Watch
	src   Source
}

// Start runs until ctx ends: namespace caches live no longer than it, and the unneeded
// ones are stopped every Every. It is a manager Runnable (on every replica, as caches are).
func (s *Slices) Start(ctx context.Context) error {
	s.begin(ctx)
	every := s.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sweep(ctx)
		}
	}
}

// begin sets the context the namespace caches live in; reads wait for it.
func (s *Slices) begin(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return
	}
	s.ctx = ctx
	close(s.startedLocked())
}

func (s *Slices) startedLocked() chan struct{} {
	if s.started == nil {
		s.started = make(chan struct{})
	}
	return s.started
}

// NeedLeaderElection: the namespace caches feed readers on every replica.
func (s *Slices) NeedLeaderElection() bool { return false }

// Namespaces lists the namespaces whose EndpointSlices are cached now.
func (s *Slices) Namespaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byNS))
	for ns := range s.byNS {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// sweep stops the caches of namespaces no longer needed and not read for IdleAfter.
func (s *Slices) sweep(ctx context.Context) {
	if s.Needed == nil {
		return
	}
	needed, err := s.Needed(ctx)
	if err != nil {
		s.Log.V(1).Info("not sweeping EndpointSlice caches: the namespaces in use are unknown", "error", err.Error())
		return
	}
	idle := s.IdleAfter
	if idle <= 0 {
		idle = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns, c := range s.byNS {
		if needed[ns] || time.Since(c.lastRead) < idle {
			continue
		}
		c.cancel()
		delete(s.byNS, ns)
		s.Log.V(1).Info("stopped watching EndpointSlices: no ingress uses the namespace", "namespace", ns)
	}
}

// namespace returns ns's cache, started and synced; the first caller starts it, and every
// caller waits for its sync (bounded by ctx).
func (s *Slices) namespace(ctx context.Context, ns string) (cache.Cache, error) {
	s.mu.Lock()
	started := s.startedLocked()
	s.mu.Unlock()
	select {
	case <-started:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the EndpointSlice caches to start: %w", ctx.Err())
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("the EndpointSlice caches of this cluster are stopped")
	}
	c, ok := s.byNS[ns]
	if !ok {
		var err error
		if c, err = s.startLocked(ns); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	c.lastRead = time.Now()
	s.mu.Unlock()
	select {
	case <-c.ready:
		if c.err != nil {
			return nil, c.err
		}
		return c.cache, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the EndpointSlices of namespace %s: %w", ns, ctx.Err())
	}
}

// startLocked builds and starts ns's cache, and runs the engaged watches on it.
func (s *Slices) startLocked(ns string) (*nsSlices, error) {
	ca, err := cache.New(s.Config, cache.Options{
		HTTPClient:        s.HTTPClient,
		Mapper:            s.Mapper,
		Scheme:            s.Scheme,
		DefaultNamespaces: map[string]cache.Config{ns: {}},
		ByObject:          map[client.Object]cache.ByObject{&discoveryv1.EndpointSlice{}: EndpointSliceCache()},
	})
	if err != nil {
		return nil, fmt.Errorf("caching the EndpointSlices of namespace %s: %w", ns, err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &nsSlices{cache: ca, ctx: ctx, cancel: cancel, ready: make(chan struct{})}
	if s.byNS == nil {
		s.byNS = map[string]*nsSlices{}
	}
	s.byNS[ns] = c
	go func() {
		if err := ca.Start(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error(err, "EndpointSlice cache stopped", "namespace", ns)
		}
	}()
	go func() {
		defer close(c.ready)
		// The informer exists before the sync is waited for, so the wait covers it.
		if _, err := ca.GetInformer(ctx, &discoveryv1.EndpointSlice{}, cache.BlockUntilSynced(false)); err != nil {
			c.err = fmt.Errorf("watching the EndpointSlices of namespace %s: %w", ns, err)
			return
		}
		if !ca.WaitForCacheSync(ctx) {
			c.err = fmt.Errorf("the EndpointSlices of namespace %s did not sync: %w", ns, context.Cause(ctx))
		}
	}()
	for _, e := range s.engaged {
		s.run(e, c)
	}
	return c, nil
}

// run starts one engaged watch on one namespace cache, for as long as both live.
func (s *Slices) run(e sliceWatch, c *nsSlices) {
	alive, cancel := context.WithCancel(c.ctx)
	go func() {
		select {
		case <-e.ctx.Done():
		case <-alive.Done():
		}
		cancel()
	}()
	mw := &memberWatch{cache: c.cache, alive: alive, src: e.src, w: e.w}
	if err := mw.Start(e.ctx, e.queue); err != nil {
		s.Log.Error(err, "watching EndpointSlices")
	}
}

// Source is a controller source that delivers w's events from every namespace cache,
// those started later included.
func (s *Slices) Source(w Watch, src Source) source.TypedSource[reconcile.Request] {
	return &slicesSource{s: s, w: w, src: src}
}

type slicesSource struct {
	s   *Slices
	w   Watch
	src Source
}

func (ss *slicesSource) String() string { return "EndpointSlices of the namespaces in use" }

func (ss *slicesSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	e := sliceWatch{ctx: ctx, queue: q, w: ss.w, src: ss.src}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.engaged = append(ss.s.engaged, e)
	for _, c := range ss.s.byNS {
		ss.s.run(e, c)
	}
	return nil
}

// Reader returns r with its EndpointSlice reads served by the namespace caches: a read
// must name its namespace.
func (s *Slices) Reader(r client.Reader) client.Reader { return &sliceReader{Reader: r, s: s} }

type sliceReader struct {
	client.Reader
	s *Slices
}

func (r *sliceReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*discoveryv1.EndpointSlice); !ok {
		return r.Reader.Get(ctx, key, obj, opts...)
	}
	ca, err := r.s.namespace(ctx, key.Namespace)
	if err != nil {
		return err
	}
	return ca.Get(ctx, key, obj, opts...)
}

func (r *sliceReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*discoveryv1.EndpointSliceList); !ok {
		return r.Reader.List(ctx, list, opts...)
	}
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	if o.Namespace == "" {
		return fmt.Errorf("EndpointSlices are cached per namespace: a list must name its namespace")
	}
	ca, err := r.s.namespace(ctx, o.Namespace)
	if err != nil {
		return err
	}
	return ca.List(ctx, list, opts...)
}
