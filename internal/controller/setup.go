package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/skupperlink"
)

// classNameIndex indexes AnycastIngresses by spec.className.
const classNameIndex = "spec.className"

// SetupIndexes registers the field indexes the reconcilers list by.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.AnycastIngress{}, classNameIndex, func(o client.Object) []string {
		return []string{o.(*v1alpha1.AnycastIngress).Spec.ClassName}
	}); err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.AnycastIngress{}, backendIndex, ingressBackends)
}

// backendIndex indexes AnycastIngresses by the "<namespace>/<service>" of their routes'
// backends, so an EndpointSlice change reaches the ingresses whose health it decides.
const backendIndex = "spec.routes.backend"

func ingressBackends(o client.Object) []string {
	ing := o.(*v1alpha1.AnycastIngress)
	var out []string
	for _, r := range ing.Spec.Routes {
		out = append(out, ing.Namespace+"/"+r.Backend.Service)
	}
	return out
}

// backendRequests maps a backend request (see clusters.BackendRequest) to the ingresses
// routing to that Service.
func (r *IngressReconciler) backendRequests(ctx context.Context, ns, svc string) []reconcile.Request {
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{backendIndex: ns + "/" + svc}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

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
		// MetalLB's verdict: only a changed one is news (see verdictChanged).
		{Object: newUnstructured(clusters.GVKConfigurationState), Map: r.memberIngresses, Predicates: []predicate.Predicate{verdictChanged}},
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
	out := r.backendRequests(ctx, o.GetNamespace(), svc)
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
		out = append(out, r.ingressesOfClass(ctx, c)...)
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
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.ingressesOfClassRequests),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A class coming or going can raise or settle a conflict for another class's
		// ingresses (a shared member): those are few events, so every ingress is looked at.
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.allIngresses),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&v1alpha1.AnycastIngress{}, handler.EnqueueRequestsFromMapFunc(r.addressWaiters),
			builder.WithPredicates(addressFreed)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.ingressesInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// A new or changed kubeconfig Secret can bring a member back.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, c := range classesUsingSecret(ctx, r.Client, o.GetName(), false) {
				out = append(out, r.ingressesOfClass(ctx, c)...)
			}
			return out
		}))
	if r.Notifier != nil {
		// A member's health changed, or the BGP watcher saw a change.
		b = b.WatchesRawSource(r.Notifier.Source(func(ctx context.Context, e notify.IngressEvent) []reconcile.Request {
			if e.Class != "" {
				return r.ingressesOfClass(ctx, e.Class)
			}
			return []reconcile.Request{{NamespacedName: e.Ingress}}
		}))
	}
	watches := r.memberWatches()
	b = watchLocal(mgr, b, watches, r.Client)
	workers := r.Workers
	if workers <= 0 {
		workers = 4
	}
	c, err := b.WithOptions(controller.Options{MaxConcurrentReconciles: workers}).Build(r)
	if err != nil {
		return err
	}
	engage(r.Members, c, watches)
	return nil
}

// watchLocal runs member watches on the hub's own cluster (as a member of the classes
// that have it as one), for the kinds it serves.
func watchLocal(mgr ctrl.Manager, b *builder.Builder, watches []clusters.Watch, hub client.Reader) *builder.Builder {
	local := clusters.Source{Reader: hub, Classes: func(ctx context.Context) []string { return classesWithLocalMember(ctx, hub) }}
	for _, w := range watches {
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

// engage runs the watches on every remote member's cache, when the registry has members.
func engage(members clusters.Registry, c controller.Controller, watches []clusters.Watch) {
	if e, ok := members.(interface {
		Engage(clusters.Controller, []clusters.Watch)
	}); ok {
		e.Engage(c, watches)
	}
}

// ingressesOfClass enqueues every ingress of a class.
func (r *IngressReconciler) ingressesOfClass(ctx context.Context, class string) []reconcile.Request {
	return r.ingressesOfClassRequests(ctx, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: class}})
}

// ingressesOfClassRequests enqueues every ingress of a changed class.
func (r *IngressReconciler) ingressesOfClassRequests(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{classNameIndex: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// allIngresses enqueues every ingress.
func (r *IngressReconciler) allIngresses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// addressFreed passes the ingress events that can free an address: a deletion, or an
// update after which the ingress no longer holds an address it held. Anything else
// (a new ingress taking its address, every status write) frees nothing, and looking for
// waiters then would cost a scan of the class per event.
var addressFreed = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.AnycastIngress)
		n, ok2 := e.ObjectNew.(*v1alpha1.AnycastIngress)
		if !ok1 || !ok2 {
			return true
		}
		if !n.DeletionTimestamp.IsZero() || o.Spec.ClassName != n.Spec.ClassName {
			return true
		}
		for _, a := range []string{o.Spec.Address, o.Status.Address} {
			if a != "" && a != n.Spec.Address && a != n.Status.Address {
				return true
			}
		}
		return false
	},
}

// addressWaiters enqueues the ingresses of the same class that wait for an address, when
// another ingress changes or goes: it may have freed theirs.
func (r *IngressReconciler) addressWaiters(ctx context.Context, o client.Object) []reconcile.Request {
	ing := o.(*v1alpha1.AnycastIngress)
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{classNameIndex: ing.Spec.ClassName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var waiting []v1alpha1.AnycastIngress
	for _, other := range list.Items {
		if other.Name == ing.Name && other.Namespace == ing.Namespace {
			continue
		}
		if c := meta.FindStatusCondition(other.Status.Conditions, v1alpha1.ConditionAccepted); c != nil && (c.Reason == ReasonAddressInUse || c.Reason == ReasonPoolExhausted) {
			waiting = append(waiting, other)
		}
	}
	return requestsFor(waiting)
}

// ingressesInNamespace enqueues the ingresses of a namespace whose labels changed (a class
// may admit or refuse it now).
func (r *IngressReconciler) ingressesInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
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
		items, err := r.ingressesIn(ctx, ref.Class, ref.Namespace)
		if err != nil {
			return nil
		}
		return requestsFor(items)
	}
	return nil
}

// memberWatches are what the class controller watches on every member, the hub's own
// cluster included: the objects the operator wrote for the class, and MetalLB's verdict.
func (r *ClassReconciler) memberWatches() []clusters.Watch {
	notCreated := predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	watches := []clusters.Watch{{Object: newUnstructured(clusters.GVKConfigurationState), Predicates: []predicate.Predicate{verdictChanged},
		Map: func(ctx context.Context, m clusters.Source, _ client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, c := range m.Classes(ctx) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c}})
			}
			return out
		}}}
	for _, gvk := range classKinds {
		if gvk == render.GVKSecret {
			continue // read live, never cached
		}
		watches = append(watches, clusters.Watch{Object: newUnstructured(gvk), Predicates: []predicate.Predicate{notCreated},
			Map: func(ctx context.Context, _ clusters.Source, o client.Object) []reconcile.Request {
				return classOwnerRequests(ctx, o)
			}})
	}
	return watches
}

// SetupWithManager registers the class controller, with its watches on every member.
func (r *ClassReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("anycastclass").
		For(&v1alpha1.AnycastClass{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Ingresses coming and going change the class's count and unblock its deletion.
		Watches(&v1alpha1.AnycastIngress{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.(*v1alpha1.AnycastIngress).Spec.ClassName}}}
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.classesOfSecret)).
		// A class coming or going can settle or raise a conflict with the others
		// (shared members, watcher sessions).
		Watches(&v1alpha1.AnycastClass{}, handler.EnqueueRequestsFromMapFunc(r.allClasses),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}))
	if r.Notifier != nil {
		b = b.WatchesRawSource(r.Notifier.Source(func(_ context.Context, c notify.ClassEvent) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: string(c)}}}
		}))
	}
	watches := r.memberWatches()
	b = watchLocal(mgr, b, watches, r.Client)
	c, err := b.Build(r)
	if err != nil {
		return err
	}
	engage(r.Members, c, watches)
	return nil
}

// allClasses enqueues every class.
func (r *ClassReconciler) allClasses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.AnycastClassList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Name}})
	}
	return out
}

// classesOfSecret enqueues the classes whose peers or members use a Secret of the
// operator's namespace (a password or a kubeconfig), and the class owning a rendered
// password Secret.
func (r *ClassReconciler) classesOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if reqs := classOwnerRequests(ctx, o); reqs != nil {
		return reqs
	}
	if o.GetNamespace() != r.Namespace {
		return nil
	}
	var out []reconcile.Request
	for _, c := range classesUsingSecret(ctx, r.Client, o.GetName(), true) {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c}})
	}
	return out
}

// classesUsingSecret lists the classes that read a Secret of the operator's namespace:
// as a member kubeconfig, and with passwords, as a peer password.
func classesUsingSecret(ctx context.Context, c client.Reader, secret string, passwords bool) []string {
	list := &v1alpha1.AnycastClassList{}
	if err := c.List(ctx, list); err != nil {
		return nil
	}
	var out []string
	for _, cls := range list.Items {
		uses := false
		for _, m := range cls.Spec.Clusters {
			uses = uses || (m.KubeconfigSecretRef != nil && m.KubeconfigSecretRef.Name == secret)
			for _, p := range m.Peers {
				uses = uses || (passwords && p.PasswordSecretRef != nil && p.PasswordSecretRef.Name == secret)
			}
		}
		if uses {
			out = append(out, cls.Name)
		}
	}
	return out
}

func classOwnerRequests(_ context.Context, o client.Object) []reconcile.Request {
	ref, ok := owner.FromLabels(o.GetLabels())
	if !ok || ref.Kind != owner.KindClass {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: ref.Name}}}
}

// verdictChanged passes ConfigurationState events that change MetalLB's verdict: MetalLB
// rewrites the objects at every configuration change.
var verdictChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return clusters.VerdictChanged(e.ObjectOld, e.ObjectNew)
}}

// classesWithLocalMember lists the classes with a member that is the cluster the
// operator runs in.
func classesWithLocalMember(ctx context.Context, c client.Reader) []string {
	list := &v1alpha1.AnycastClassList{}
	if err := c.List(ctx, list); err != nil {
		return nil
	}
	var out []string
	for _, cls := range list.Items {
		for _, m := range cls.Spec.Clusters {
			if m.KubeconfigSecretRef == nil {
				out = append(out, cls.Name)
				break
			}
		}
	}
	return out
}

func requestsFor(items []v1alpha1.AnycastIngress) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, i := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: i.Namespace, Name: i.Name}})
	}
	return out
}

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
