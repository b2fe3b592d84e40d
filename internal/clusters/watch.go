package clusters

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/anycast-operator/anycast-operator/internal/apply"
)

// Watch is one kind a controller watches on every member, the hub's own cluster
// included, and how an event of it becomes requests. A controller declares its watches
// once; the hub's cluster runs them on the manager's cache and every remote member on its
// own cache (Remote.Engage), so a change on any member reaches the controller by the same
// path and the same mapping.
type Watch struct {
	// Object is the kind watched (typed, or unstructured with its GVK set).
	Object client.Object
	// Map turns the object of an event on member m into requests.
	Map func(ctx context.Context, m Source, o client.Object) []reconcile.Request
	// Predicates filter the events, as a controller's own watches do.
	Predicates []predicate.Predicate
}

// Source is the member an event comes from, as a Watch's Map sees it.
type Source struct {
	// Classes lists the classes that have this cluster as a member.
	Classes func(ctx context.Context) []string
	// Reader reads the member's cache (for instance the Service of an EndpointSlice).
	Reader client.Reader
}

// Controller is what Engage needs of a controller: a way to add a source while running.
type Controller interface {
	Watch(src source.TypedSource[reconcile.Request]) error
}

// engagement is a controller's watches, run on every member's cache.
type engagement struct {
	ctrl    Controller
	watches []Watch
}

// memberWatch delivers one Watch's events from one member cache to a controller's queue,
// for as long as that cache lives (a cache rebuilt after an outage gets new sources, and
// the old ones let go of their informers).
type memberWatch struct {
	cache cache.Cache
	alive context.Context
	src   Source
	w     Watch
	// settled is told of every event, whatever the predicates say, before any request
	// is queued for it (see apply.Settled).
	settled *apply.Settled
}

func (s *memberWatch) String() string {
	return fmt.Sprintf("member watch of %T %s", s.w.Object, s.w.Object.GetObjectKind().GroupVersionKind().Kind)
}

func (s *memberWatch) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	// The source ends with the controller or with the member's cache, whichever first.
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.alive.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	go func() {
		defer cancel()
		inf, err := s.cache.GetInformer(wctx, s.w.Object, cache.BlockUntilSynced(false))
		if err != nil {
			if meta.IsNoMatchError(err) {
				s.settled.Unserved(s.w.Object.GetObjectKind().GroupVersionKind())
			}
			return // the member does not serve the kind: nothing of it can change
		}
		add := func(obj client.Object) {
			for _, r := range s.w.Map(wctx, s.src, obj) {
				q.Add(r)
			}
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(o interface{}) {
				obj, ok := objectOf(o)
				if ok {
					s.settled.Changed(nil, obj)
				}
				if ok && allow(s.w.Predicates, func(p predicate.Predicate) bool { return p.Create(event.CreateEvent{Object: obj}) }) {
					add(obj)
				}
			},
			UpdateFunc: func(old, o interface{}) {
				oldObj, ok1 := objectOf(old)
				obj, ok2 := objectOf(o)
				if ok1 && ok2 {
					s.settled.Changed(oldObj, obj)
				} else if ok2 {
					s.settled.Changed(nil, obj)
				}
				if ok1 && ok2 && allow(s.w.Predicates, func(p predicate.Predicate) bool {
					return p.Update(event.UpdateEvent{ObjectOld: oldObj, ObjectNew: obj})
				}) {
					add(obj)
				}
			},
			DeleteFunc: func(o interface{}) {
				obj, ok := objectOf(o)
				if ok {
					s.settled.Deleted(obj)
				}
				if ok && allow(s.w.Predicates, func(p predicate.Predicate) bool { return p.Delete(event.DeleteEvent{Object: obj}) }) {
					add(obj)
				}
			},
		})
		if err != nil {
			return
		}
		// Every change of the kind reaches changed from now on.
		s.settled.Observe(s.w.Object.GetObjectKind().GroupVersionKind())
		<-wctx.Done()
		_ = inf.RemoveEventHandler(reg)
	}()
	return nil
}

func allow(preds []predicate.Predicate, f func(predicate.Predicate) bool) bool {
	for _, p := range preds {
		if !f(p) {
			return false
		}
	}
	return true
}

func objectOf(o interface{}) (client.Object, bool) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	obj, ok := o.(client.Object)
	return obj, ok
}

// Engage runs a controller's watches on every member's cache: on those connected now and
// on every one connected or rebuilt later. Controllers engage while the operator starts,
// before any member is connected; one engaged later could see a member being connected
// at that moment twice, which only doubles its events (the queue merges them).
func (r *Remote) Engage(c Controller, watches []Watch) {
	r.engageMu.Lock()
	r.engaged = append(r.engaged, engagement{ctrl: c, watches: watches})
	r.engageMu.Unlock()
	r.mu.Lock()
	conns := make([]*conn, 0, len(r.conns))
	for _, cn := range r.conns {
		conns = append(conns, cn)
	}
	r.mu.Unlock()
	for _, cn := range conns {
		cn.mu.Lock()
		cl, alive := cn.cl, cn.clCtx
		cn.mu.Unlock()
		if cl != nil {
			r.engage(cn, cl.GetCache(), cl.GetClient(), alive, []engagement{{ctrl: c, watches: watches}})
		}
	}
}

// IsEndpointSliceWatch reports whether w watches EndpointSlices, which every member
// (the hub's own cluster included) caches per namespace in use (see Slices).
func IsEndpointSliceWatch(w Watch) bool {
	_, ok := w.Object.(*discoveryv1.EndpointSlice)
	return ok
}

// engage adds the engaged controllers' watches for one member cache.
func (r *Remote) engage(c *conn, ca cache.Cache, reader client.Reader, alive context.Context, engs []engagement) {
	src := Source{Reader: reader, Classes: func(context.Context) []string { return c.classes() }}
	c.mu.Lock()
	slices, settled := c.slices, c.settled
	c.mu.Unlock()
	for _, e := range engs {
		for _, w := range e.watches {
			var s source.TypedSource[reconcile.Request] = &memberWatch{cache: ca, alive: alive, src: src, w: w, settled: settled}
			if IsEndpointSliceWatch(w) {
				s = slices.Source(w, src)
			}
			if err := e.ctrl.Watch(s); err != nil {
				r.Log.Error(err, "watching a member", "secret", c.ref)
			}
		}
	}
}

// classes lists the classes using the connection.
func (c *conn) classes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, cls := range c.users {
		if !seen[cls] {
			seen[cls] = true
			out = append(out, cls)
		}
	}
	return out
}
