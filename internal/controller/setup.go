package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/lookup"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/origins"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/skupperlink"
)

// DefaultIngressWorkers is how many ingresses are reconciled at once by default. A
// reconcile mostly waits for the members' API servers, and the operator pays for each
// wake-up more than for the work it wakes for: with sixteen reconciles in flight instead
// of four, the answers come in batches. A burst of 100 ingresses on two members cost the
// operator 660 to 667 units of its CPU's pace per ingress-member instead of 719 to 877,
// its API servers 18 to 20 ms instead of 20 to 27, and was programmed in 3.7 to 3.9 s
// instead of 4.0 to 5.3 (docs/performance.md). The same ingress is never reconciled twice
// at once.
const DefaultIngressWorkers = 16

// memberWatches are what the ingress controller watches on every member, the hub's own
// cluster included (see clusters.Watch): the Gateway's Service and the EndpointSlices that
// decide the health gate, MetalLB's verdict and the pools that are not ours, and the
// objects the operator wrote, whose drift it repairs.
func (r *IngressReconciler) memberWatches() []clusters.Watch {
	notCreated := predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	watches := []clusters.Watch{
		{Object: &corev1.Service{}, Map: func(_ context.Context, _ clusters.Source, o client.Object) []reconcile.Request {
			if req, ok := clusters.GatewayRequest(o); ok {
				return []reconcile.Request{req}
			}
			return nil
		}},
		{Object: &discoveryv1.EndpointSlice{}, Map: r.endpointSliceRequests},
		// A pool that is not ours may come, change or go and overlap a VIP (or stop to).
		{Object: newUnstructured(render.GVKIPAddressPool), Map: r.memberIngresses,
			Predicates: []predicate.Predicate{predicate.NewPredicateFuncs(clusters.IsForeignObject)}},
		// MetalLB's verdict: only a changed one is news (see verdictChanged); likewise the
		// speakers' session state (frr-k8s), which the health gate reads.
		{Object: newUnstructured(clusters.GVKConfigurationState), Map: r.memberIngresses, Predicates: []predicate.Predicate{verdictChanged}},
		{Object: newUnstructured(clusters.GVKBGPSessionState), Map: r.memberIngresses, Predicates: []predicate.Predicate{sessionStateChanged}},
	}
	for _, gvk := range append(append([]schema.GroupVersionKind{}, ingressKinds...), skupperlink.NetworkKinds...) {
		// Ours, created by us: only a change or a deletion by someone else needs a repair.
		watches = append(watches, clusters.Watch{Object: newUnstructured(gvk), Map: r.ownerRequests, Predicates: []predicate.Predicate{notCreated}})
	}
	return watches
}

// endpointSliceRequests maps an EndpointSlice to the ingress whose Gateway's Service it
// belongs to, and to the ingresses whose routes use its Service as a backend.
func (r *IngressReconciler) endpointSliceRequests(ctx context.Context, m clusters.Source, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	out := r.hub().IngressesOfBackend(ctx, o.GetNamespace(), svc)
	gw := &corev1.Service{}
	// The member's cache holds only the Services made for Gateways.
	if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: o.GetNamespace(), Name: svc}, gw); err == nil {
		if req, ok := clusters.GatewayRequest(gw); ok {
			out = append(out, req)
		}
	}
	return out
}

// memberIngresses enqueues every ingress of the classes that have the member as a member.
func (r *IngressReconciler) memberIngresses(ctx context.Context, m clusters.Source, _ client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, c := range m.Classes(ctx) {
		out = append(out, r.hub().IngressesOfClass(ctx, c)...)
	}
	return out
}

// SetupWithManager registers the ingress controller: the hub's own objects, its own
// cluster as a member, and every remote member through the registry (the same watches).
func (r *IngressReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := r.Allocator.Watch(context.Background(), mgr.GetCache()); err != nil {
		return fmt.Errorf("indexing ingress addresses: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("anycastingress").
		// Status writes (ours included) do not change the generation: reacting to them
		// would only burn a reconcile per write.
		For(&v1alpha1.AnycastIngress{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.hub().IngressesOfClassObject),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A class coming or going can raise or settle a conflict for another class's
		// ingresses (a shared member): those are few events, so every ingress is looked at.
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.hub().AllIngresses),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&v1alpha1.AnycastIngress{}, handler.EnqueueRequestsFromMapFunc(r.hub().AddressWaiters),
			builder.WithPredicates(lookup.AddressFreed)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.hub().IngressesInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// A new or changed kubeconfig Secret can bring a member back.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, c := range r.hub().ClassesUsingSecret(ctx, o.GetName(), false) {
				out = append(out, r.hub().IngressesOfClass(ctx, c)...)
			}
			return out
		}))
	// A certificate renewed (or created, or deleted) on the hub: its copies follow.
	if len(r.CertificateNamespaces) > 0 {
		certs, err := certificateSource(mgr, r.CertificateNamespaces, r.hub().IngressesOfCertificate)
		if err != nil {
			return fmt.Errorf("watching the hub's certificate Secrets: %w", err)
		}
		b = b.WatchesRawSource(certs)
	}
	if r.Notifier != nil {
		// A member's health changed, or the BGP watcher saw a change.
		// A class's every ingress looked at again is a refresh, and so is a report that an
		// apply left behind has ended: new work goes first.
		b = b.WatchesRawSource(r.Notifier.SourceWithPriority(func(ctx context.Context, e notify.IngressEvent) []reconcile.Request {
			if e.Class != "" {
				return r.hub().IngressesOfClass(ctx, e.Class)
			}
			return []reconcile.Request{{NamespacedName: e.Ingress}}
		}, notify.IngressEvent.IsRefresh))
	}
	watches := r.memberWatches()
	b = watchLocal(mgr, b, watches, r.Client, localSlices(r.Members))
	workers := r.Workers
	if workers <= 0 {
		workers = DefaultIngressWorkers
	}
	c, err := b.WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: r.refreshes.NewQueue}).Build(r)
	if err != nil {
		return err
	}
	engage(r.Members, c, watches)
	return nil
}

// watchLocal runs member watches on the hub's own cluster (as a member of the classes
// that have it as one), for the kinds it serves.
func watchLocal(mgr ctrl.Manager, b *builder.Builder, watches []clusters.Watch, hub client.Reader, slices *clusters.Slices) *builder.Builder {
	local := clusters.Source{Reader: hub, Classes: func(ctx context.Context) []string { return lookup.Hub{Reader: hub}.ClassesWithLocalMember(ctx) }}
	for _, w := range watches {
		if slices != nil && clusters.IsEndpointSliceWatch(w) {
			// Cached per namespace in use, as on every member.
			b = b.WatchesRawSource(slices.Source(w, local))
			continue
		}
		if !kindServed(mgr, w.Object) {
			logf.Log.WithName("setup").Info("not watching a kind the cluster does not serve", "kind", fmt.Sprintf("%T %s", w.Object, w.Object.GetObjectKind().GroupVersionKind()))
			continue
		}
		b = b.Watches(w.Object, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return w.Map(ctx, local, o)
		}), builder.WithPredicates(w.Predicates...))
	}
	return b
}

// localSlices returns the EndpointSlice caches of the hub's own cluster, when the
// registry keeps them (the operator's always does; nil: the manager's cache serves them).
func localSlices(members clusters.Registry) *clusters.Slices {
	if l, ok := members.(interface{ LocalEndpointSlices() *clusters.Slices }); ok {
		return l.LocalEndpointSlices()
	}
	return nil
}

// engage runs the watches on every remote member's cache, when the registry has members.
func engage(members clusters.Registry, c controller.Controller, watches []clusters.Watch) {
	if e, ok := members.(interface {
		Engage(clusters.Controller, []clusters.Watch)
	}); ok {
		e.Engage(c, watches)
	}
}

// ownerRequests maps a rendered object back to the ingresses that own it, so a change or
// deletion by someone else is repaired.
func (r *IngressReconciler) ownerRequests(ctx context.Context, _ clusters.Source, o client.Object) []reconcile.Request {
	ref, ok := owner.FromLabels(o.GetLabels())
	if !ok {
		return nil
	}
	switch ref.Kind {
	case owner.KindIngress:
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
	case owner.KindSkupperNetwork:
		// On any member: the network is not known clean any more.
		r.linker().Dirty(ref.Class, ref.Namespace)
		items, err := r.hub().IngressesIn(ctx, ref.Class, ref.Namespace)
		if err != nil {
			return nil
		}
		return lookup.Requests(items)
	}
	return nil
}

// memberWatches are what the class controller watches on every member, the hub's own
// cluster included: the objects the operator wrote for the class, and MetalLB's verdict.
func (r *ClassReconciler) memberWatches() []clusters.Watch {
	notCreated := predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	classes := func(ctx context.Context, m clusters.Source, _ client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, c := range m.Classes(ctx) {
			out = append(out, lookup.ClassRequest(c))
		}
		return out
	}
	watches := []clusters.Watch{{Object: newUnstructured(clusters.GVKConfigurationState), Predicates: []predicate.Predicate{verdictChanged}, Map: classes},
		{Object: newUnstructured(clusters.GVKBGPSessionState), Predicates: []predicate.Predicate{sessionStateChanged}, Map: classes}}
	for _, gvk := range classKinds {
		if render.LiveOnly(gvk) {
			continue // read live, never cached
		}
		watches = append(watches, clusters.Watch{Object: newUnstructured(gvk), Predicates: []predicate.Predicate{notCreated},
			Map: func(ctx context.Context, _ clusters.Source, o client.Object) []reconcile.Request {
				return lookup.ClassOwner(ctx, o)
			}})
	}
	return watches
}

// SetupWithManager registers the class controller, with its watches on every member.
func (r *ClassReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("anycastclass").
		For(&v1alpha1.AnycastClass{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Ingresses coming and going change the class's count and unblock its deletion; a
		// new address or member state can explain a path, or stop to. A moment after the
		// event (classOfIngress).
		Watches(&v1alpha1.AnycastIngress{}, classOfIngress(ingressSettle),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return origins.IngressChanged(e.ObjectOld, e.ObjectNew) }})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.classesOfSecret)).
		// A class coming or going can settle or raise a conflict with the others
		// (shared members, watcher sessions).
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.hub().AllClasses),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}))
	if r.Notifier != nil {
		b = b.WatchesRawSource(r.Notifier.Source(func(_ context.Context, c notify.ClassEvent) []reconcile.Request {
			return []reconcile.Request{lookup.ClassRequest(string(c))}
		}))
	}
	watches := r.memberWatches()
	b = watchLocal(mgr, b, watches, r.Client, localSlices(r.Members))
	c, err := b.Build(r)
	if err != nil {
		return err
	}
	engage(r.Members, c, watches)
	return nil
}

// ingressSettle is how long after an ingress event its class is reconciled.
const ingressSettle = time.Second

// classOfIngress enqueues an ingress's class a moment (settle) after the ingress is
// created, deleted or changes its address or member states, rather than at once: a burst
// of ingresses (a hundred applied together) costs the class one reconcile a moment, not
// one each. Each class reconcile re-checks the class's objects on every member and, with
// a watcher, matches the routers' paths against every ingress of the class: one per
// ingress made a burst cost the members times its size, and with a watcher the square
// of its size. What the class learns from its ingresses waits
// that moment: its count, the end of a deletion that waits for them, and a path that a
// new address explains. (A path's own arrival reconciles the class at once; an ingress
// writes its address as soon as its members are programmed, so the cache nearly always
// holds it by the time MetalLB has advertised it, and otherwise the ingress's event
// brings the class back a moment later.)
func classOfIngress(settle time.Duration) handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		for _, o := range objs {
			if ing, ok := o.(*v1alpha1.AnycastIngress); ok && ing.Spec.ClassName != "" {
				q.AddAfter(lookup.ClassRequest(ing.Spec.ClassName), settle)
			}
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
	}
}

// classesOfSecret enqueues the classes whose peers or members use a Secret of the
// operator's namespace (a password or a kubeconfig), and the class owning a rendered
// password Secret.
func (r *ClassReconciler) classesOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if reqs := lookup.ClassOwner(ctx, o); reqs != nil {
		return reqs
	}
	if o.GetNamespace() != r.Namespace {
		return nil
	}
	var out []reconcile.Request
	for _, c := range r.hub().ClassesUsingSecret(ctx, o.GetName(), true) {
		out = append(out, lookup.ClassRequest(c))
	}
	return out
}

// verdictChanged passes ConfigurationState events that change MetalLB's verdict: MetalLB
// rewrites the objects at every configuration change. sessionStateChanged passes
// BGPSessionState events that change a session's state.
var (
	verdictChanged      = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return clusters.VerdictChanged(e.ObjectOld, e.ObjectNew) }}
	sessionStateChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return clusters.SessionStateChanged(e.ObjectOld, e.ObjectNew) }}
)

// kindServed reports whether the cluster serves an object's kind (its CRD is installed).
func kindServed(mgr ctrl.Manager, obj client.Object) bool {
	gvk, err := apiutil.GVKForObject(obj, mgr.GetScheme())
	if err != nil {
		return false
	}
	_, err = mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

func newUnstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// hub finds the ingresses and classes an event concerns.
func (r *IngressReconciler) hub() lookup.Hub { return lookup.Hub{Reader: r.Client} }

// hub finds the classes an event concerns.
func (r *ClassReconciler) hub() lookup.Hub { return lookup.Hub{Reader: r.Client} }
