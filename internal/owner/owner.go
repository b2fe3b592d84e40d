// Package owner defines the labels that tie a rendered object, on any member cluster, to
// the hub object it was rendered from. Owner references cannot cross clusters, so these
// labels are what pruning, deletion and the orphan sweep select on.
package owner

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// Label keys written on every rendered object.
const (
	// ManagedByLabel marks objects written by this operator (value ManagedByValue).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel, and the server-side apply field manager.
	ManagedByValue = "anycast-operator"
	// KindLabel is the kind of the owner: AnycastClass, AnycastIngress or SkupperNetwork.
	KindLabel = "anycast.dev/owner-kind"
	// NameLabel is the owner's name (the class name for SkupperNetwork owners).
	NameLabel = "anycast.dev/owner-name"
	// NamespaceLabel is the owner's namespace (absent for class owners).
	NamespaceLabel = "anycast.dev/owner-namespace"
	// ClassLabel is the AnycastClass the object belongs to, whatever its owner.
	ClassLabel = "anycast.dev/class"
	// GatewayLabel and GatewayNamespaceLabel are set through the Gateway's
	// spec.infrastructure.labels, so that the implementation puts them on the LoadBalancer
	// Service it creates: the ingress's name and namespace (two labels, since together
	// they may exceed the 63 characters of one label value). The operator finds (and
	// caches) those Services by them.
	GatewayLabel          = "anycast.dev/gateway"
	GatewayNamespaceLabel = "anycast.dev/gateway-namespace"
)

// Kind is the kind of hub object that owns rendered objects.
type Kind string

const (
	// KindClass owns what is shared by every ingress of a class on a member: BGP peers, BFD
	// profiles, peer password Secrets, the GatewayClass.
	KindClass Kind = "AnycastClass"
	// KindIngress owns one ingress's objects: pool, advertisement, Gateway, routes,
	// Skupper listeners and connectors.
	KindIngress Kind = "AnycastIngress"
	// KindSkupperNetwork owns the Skupper objects shared by the ingresses of one class in one
	// namespace: Site, AccessGrants, AccessTokens. It lives as long as one of those ingresses
	// needs Skupper.
	KindSkupperNetwork Kind = "SkupperNetwork"
)

// Ref identifies an owner.
type Ref struct {
	Kind      Kind
	Class     string
	Namespace string
	Name      string
}

// Class returns the owner reference of a class.
func Class(class string) Ref { return Ref{Kind: KindClass, Class: class, Name: class} }

// Ingress returns the owner reference of an ingress.
func Ingress(class, namespace, name string) Ref {
	return Ref{Kind: KindIngress, Class: class, Namespace: namespace, Name: name}
}

// SkupperNetwork returns the owner reference of a class's Skupper network in a namespace.
func SkupperNetwork(class, namespace string) Ref {
	return Ref{Kind: KindSkupperNetwork, Class: class, Namespace: namespace, Name: class}
}

// Labels returns the labels every object owned by r carries.
func (r Ref) Labels() map[string]string {
	l := map[string]string{
		ManagedByLabel: ManagedByValue,
		KindLabel:      string(r.Kind),
		NameLabel:      r.Name,
		ClassLabel:     r.Class,
	}
	if r.Namespace != "" {
		l[NamespaceLabel] = r.Namespace
	}
	return l
}

// Selector selects every object owned by r.
func (r Ref) Selector() labels.Selector {
	return labels.SelectorFromSet(r.Labels())
}

// IndexField names the cache index of rendered objects by owner (see IndexValue): pruning
// looks up one owner's objects among thousands without matching every object's labels.
const IndexField = "anycast.dev/owner"

// IndexKey is the value IndexValue gives the objects r owns.
func (r Ref) IndexKey() string {
	return string(r.Kind) + "/" + r.Class + "/" + r.Namespace + "/" + r.Name
}

// IndexValue extracts the owner index value of an object (none when it is not ours).
func IndexValue(labels map[string]string) []string {
	r, ok := FromLabels(labels)
	if !ok {
		return nil
	}
	return []string{r.IndexKey()}
}

// Managed selects every object this operator wrote.
func Managed() labels.Selector {
	return labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByValue})
}

// FromLabels reads the owner of an object from its labels; ok is false when the object is
// not one of ours.
func FromLabels(l map[string]string) (Ref, bool) {
	return fromLabel(func(k string) string { return l[k] })
}

// OfUnstructured is FromLabels(obj.GetLabels()) without the copy GetLabels makes: the
// labels are read in place, so it may be used on a cache's own objects, many times (the
// orphan sweep reads every object of every member).
func OfUnstructured(obj *unstructured.Unstructured) (Ref, bool) {
	l, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "metadata", "labels")
	m, _ := l.(map[string]interface{})
	return fromLabel(func(k string) string { v, _ := m[k].(string); return v })
}

func fromLabel(l func(string) string) (Ref, bool) {
	if l(ManagedByLabel) != ManagedByValue || l(KindLabel) == "" || l(NameLabel) == "" {
		return Ref{}, false
	}
	return Ref{Kind: Kind(l(KindLabel)), Class: l(ClassLabel), Namespace: l(NamespaceLabel), Name: l(NameLabel)}, true
}

// String renders r for logs and messages.
func (r Ref) String() string {
	if r.Namespace == "" {
		return string(r.Kind) + "/" + r.Name
	}
	return string(r.Kind) + "/" + r.Namespace + "/" + r.Name
}
