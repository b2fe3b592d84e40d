// Package lookup finds the hub's AnycastIngresses and AnycastClasses an event concerns
// (an ingress's class changed, a backend's endpoints moved, an address was freed, a
// kubeconfig Secret changed), through the hub's cache and its field indexes: the
// reconcilers' watches map events to requests with it.
package lookup

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

const (
	// ClassNameIndex indexes AnycastIngresses by spec.className.
	ClassNameIndex = "spec.className"
	// backendIndex indexes AnycastIngresses by the "<namespace>/<service>" of their
	// routes' backends, so an EndpointSlice change reaches the ingresses whose health it
	// decides.
	backendIndex = "spec.routes.backend"
	// certificateIndex indexes AnycastIngresses by the "<namespace>/<secret>" of the
	// Secrets their listeners name, so a certificate renewed on the hub reaches them.
	certificateIndex = "spec.listeners.tls.certificateRefs"
)

// SetupIndexes registers the field indexes the lookups list by.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &v1alpha1.AnycastIngress{}, ClassNameIndex, func(o client.Object) []string {
		return []string{o.(*v1alpha1.AnycastIngress).Spec.ClassName}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &v1alpha1.AnycastIngress{}, backendIndex, func(o client.Object) []string {
		ing := o.(*v1alpha1.AnycastIngress)
		var out []string
		for _, r := range ing.Spec.Routes {
			out = append(out, ing.Namespace+"/"+r.Backend.Service)
		}
		return out
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &v1alpha1.AnycastIngress{}, certificateIndex, func(o client.Object) []string {
		ing := o.(*v1alpha1.AnycastIngress)
		var out []string
		for _, ref := range render.CertificateRefs(ing) {
			out = append(out, ing.Namespace+"/"+ref)
		}
		return out
	})
}

// IngressesOfCertificate are the ingresses whose listeners name a changed Secret.
func (h Hub) IngressesOfCertificate(ctx context.Context, o client.Object) []reconcile.Request {
	return h.ingresses(ctx, client.MatchingFields{certificateIndex: o.GetNamespace() + "/" + o.GetName()})
}

// Hub looks objects up in the hub's cache (which has the indexes of SetupIndexes).
type Hub struct {
	Reader client.Reader
}

// ingresses lists ingresses as requests; a failed list (the cache stopping) maps to none.
func (h Hub) ingresses(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &v1alpha1.AnycastIngressList{}
	if err := h.Reader.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil
	}
	return Requests(list.Items)
}

// IngressesOfClass are every ingress of a class.
func (h Hub) IngressesOfClass(ctx context.Context, class string) []reconcile.Request {
	return h.ingresses(ctx, client.MatchingFields{ClassNameIndex: class})
}

// IngressesOfClassObject are every ingress of a changed class.
func (h Hub) IngressesOfClassObject(ctx context.Context, o client.Object) []reconcile.Request {
	return h.IngressesOfClass(ctx, o.GetName())
}

// AllIngresses are every ingress.
func (h Hub) AllIngresses(ctx context.Context, _ client.Object) []reconcile.Request {
	return h.ingresses(ctx)
}

// IngressesInNamespace are the ingresses of a namespace (one whose labels changed: a
// class may admit or refuse it now).
func (h Hub) IngressesInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	return h.ingresses(ctx, client.InNamespace(o.GetName()))
}

// IngressesOfBackend are the ingresses routing to a Service.
func (h Hub) IngressesOfBackend(ctx context.Context, namespace, service string) []reconcile.Request {
	return h.ingresses(ctx, client.MatchingFields{backendIndex: namespace + "/" + service})
}

// IngressesIn lists the ingresses of a class in a namespace.
func (h Hub) IngressesIn(ctx context.Context, class, namespace string) ([]v1alpha1.AnycastIngress, error) {
	list := &v1alpha1.AnycastIngressList{}
	err := h.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{ClassNameIndex: class}, client.UnsafeDisableDeepCopy)
	return list.Items, err
}

// AddressWaiters are the ingresses of the same class that wait for an address, when
// another ingress changes or goes: it may have freed theirs.
func (h Hub) AddressWaiters(ctx context.Context, o client.Object) []reconcile.Request {
	ing := o.(*v1alpha1.AnycastIngress)
	list := &v1alpha1.AnycastIngressList{}
	if err := h.Reader.List(ctx, list, client.MatchingFields{ClassNameIndex: ing.Spec.ClassName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var waiting []v1alpha1.AnycastIngress
	for _, other := range list.Items {
		if other.Name == ing.Name && other.Namespace == ing.Namespace {
			continue
		}
		if c := meta.FindStatusCondition(other.Status.Conditions, v1alpha1.ConditionAccepted); c != nil && (c.Reason == ipam.ReasonAddressInUse || c.Reason == ipam.ReasonPoolExhausted) {
			waiting = append(waiting, other)
		}
	}
	return Requests(waiting)
}

// AddressFreed passes the ingress events that can free an address: a deletion, or an
// update after which the ingress no longer holds an address it held. Anything else
// (a new ingress taking its address, every status write) frees nothing, and looking for
// waiters then would cost a scan of the class per event.
var AddressFreed = predicate.Funcs{
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

// AllClasses are every class.
func (h Hub) AllClasses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.AnycastClassList{}
	if err := h.Reader.List(ctx, list); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		out = append(out, ClassRequest(c.Name))
	}
	return out
}

// ClassesUsingSecret lists the classes that read a Secret of the operator's namespace:
// as a member kubeconfig, and with passwords, as a peer password.
func (h Hub) ClassesUsingSecret(ctx context.Context, secret string, passwords bool) []string {
	return h.classes(ctx, func(m v1alpha1.ClusterMember) bool {
		if m.KubeconfigSecretRef != nil && m.KubeconfigSecretRef.Name == secret {
			return true
		}
		for _, p := range m.Peers {
			if passwords && p.PasswordSecretRef != nil && p.PasswordSecretRef.Name == secret {
				return true
			}
		}
		return false
	})
}

// ClassesWithLocalMember lists the classes with a member that is the cluster the
// operator runs in.
func (h Hub) ClassesWithLocalMember(ctx context.Context) []string {
	return h.classes(ctx, func(m v1alpha1.ClusterMember) bool { return m.KubeconfigSecretRef == nil })
}

// classes lists the classes with a member that matches.
func (h Hub) classes(ctx context.Context, match func(v1alpha1.ClusterMember) bool) []string {
	list := &v1alpha1.AnycastClassList{}
	if err := h.Reader.List(ctx, list); err != nil {
		return nil
	}
	var out []string
	for _, cls := range list.Items {
		for _, m := range cls.Spec.Clusters {
			if match(m) {
				out = append(out, cls.Name)
				break
			}
		}
	}
	return out
}

// ClassOwner is the class that owns a rendered object, by its owner labels.
func ClassOwner(_ context.Context, o client.Object) []reconcile.Request {
	ref, ok := owner.FromLabels(o.GetLabels())
	if !ok || ref.Kind != owner.KindClass {
		return nil
	}
	return []reconcile.Request{ClassRequest(ref.Name)}
}

// ClassRequest is the request of a class (cluster-scoped).
func ClassRequest(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}
}

// Requests are the requests of ingresses.
func Requests(items []v1alpha1.AnycastIngress) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, i := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: i.Namespace, Name: i.Name}})
	}
	return out
}

// IngressNamespaces lists the namespaces whose EndpointSlices the operator reads on a
// member: those holding an ingress, and those of its Gateway's Service when the class puts
// that Service elsewhere (a shared data plane's namespace).
//
// Read only, so the cache's own objects: it is asked once a minute per member (each
// member's EndpointSlice caches are swept), and copying every ingress each time, with a
// status entry per member, was most of what a hub with 20 members allocated at rest.
func (h Hub) IngressNamespaces(ctx context.Context) (map[string]bool, error) {
	classes := &v1alpha1.AnycastClassList{}
	if err := h.Reader.List(ctx, classes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	ingresses := &v1alpha1.AnycastIngressList{}
	if err := h.Reader.List(ctx, ingresses, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	byName := map[string]*v1alpha1.AnycastClass{}
	for i := range classes.Items {
		byName[classes.Items[i].Name] = &classes.Items[i]
	}
	out := map[string]bool{}
	for i := range ingresses.Items {
		ing := &ingresses.Items[i]
		out[ing.Namespace] = true
		if c := byName[ing.Spec.ClassName]; c != nil {
			out[render.GatewayServiceNamespace(c, ing)] = true
		}
	}
	return out, nil
}
