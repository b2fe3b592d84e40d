package clusters

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// MetalLB objects the operator reads on a member but did not write.
var (
	// GVKConfigurationState is MetalLB's verdict on its configuration (v0.15.3 and later):
	// one object for the controller and one per speaker.
	GVKConfigurationState = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "ConfigurationState"}
	// GVKServiceBGPStatus says, per Service and node, which peers a speaker announces the
	// Service's IP to.
	GVKServiceBGPStatus = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "ServiceBGPStatus"}
	// GVKBGPSessionState is frr-k8s's report of one BGP session of one node (MetalLB in
	// frr-k8s mode), in frr-k8s's namespace: MetalLB's unless told otherwise.
	GVKBGPSessionState = schema.GroupVersionKind{Group: "frrk8s.metallb.io", Version: "v1beta1", Kind: "BGPSessionState"}
)

// ObservedByObject are the cache entries, on a member and on the hub's own cluster, for
// MetalLB's objects and for what the operator reads there but did not write. MetalLB's
// objects are watched in MetalLB's namespaces only (nil: every namespace, as on the hub's
// own cluster, whose role is cluster-wide): a spoke grants MetalLB rights there alone.
// Every IPAddressPool is watched, ours or not (MetalLB rejects its whole configuration
// when two pools overlap, so a VIP's pool is checked against all of them), MetalLB's
// ConfigurationStates and ServiceBGPStatuses, and frr-k8s's BGPSessionStates (its
// FRRConfigurations are watched like MetalLB's, ours only); the Nodes are cut down to what
// decides whether MetalLB may announce from them.
func ObservedByObject(metallbNamespaces []string) map[client.Object]cache.ByObject {
	everything := labels.Everything()
	managed := owner.Managed()
	in := func(sel labels.Selector) cache.ByObject {
		if metallbNamespaces == nil {
			return cache.ByObject{Label: sel}
		}
		ns := map[string]cache.Config{}
		for _, n := range metallbNamespaces {
			ns[n] = cache.Config{LabelSelector: sel}
		}
		return cache.ByObject{Namespaces: ns}
	}
	return map[client.Object]cache.ByObject{
		newUnstructured(render.GVKIPAddressPool):    in(everything),
		newUnstructured(render.GVKBGPAdvertisement): in(managed),
		newUnstructured(render.GVKBGPPeer):          in(managed),
		newUnstructured(render.GVKBFDProfile):       in(managed),
		newUnstructured(GVKConfigurationState):      in(everything),
		newUnstructured(GVKServiceBGPStatus):        in(everything),
		newUnstructured(render.GVKFRRConfiguration): in(managed),
		newUnstructured(GVKBGPSessionState):         in(everything),
		&corev1.Node{}:                              {Label: everything, Transform: trimNode},
	}
}

// trimNode keeps of a Node only its name, the label that excludes it from load balancers
// and its NetworkUnavailable condition: a large cluster's Nodes would otherwise cost the
// operator their whole status (images, addresses, capacity) for two facts.
func trimNode(o interface{}) (interface{}, error) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return o, nil
	}
	out := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion}}
	if v, ok := n.Labels[health.ExcludeFromLBLabel]; ok {
		out.Labels = map[string]string{health.ExcludeFromLBLabel: v}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable {
			out.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return out, nil
}

func newUnstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// VerdictChanged reports whether an update of a ConfigurationState changed MetalLB's
// verdict (its result or error summary), the only change worth a reconcile.
func VerdictChanged(old, new interface{}) bool {
	return statusChanged(old, new, "result", "errorSummary")
}

// SessionStateChanged reports whether an update of a BGPSessionState changed the
// session's BGP or BFD state, the only change worth a reconcile.
func SessionStateChanged(old, new interface{}) bool {
	return statusChanged(old, new, "bgpStatus", "bfdStatus")
}

// statusChanged reports whether an update changed one of the status fields.
func statusChanged(old, new interface{}, fields ...string) bool {
	o, ok1 := old.(*unstructured.Unstructured)
	n, ok2 := new.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return true
	}
	for _, f := range fields {
		a, _, _ := unstructured.NestedString(o.Object, "status", f)
		b, _, _ := unstructured.NestedString(n.Object, "status", f)
		if a != b {
			return true
		}
	}
	return false
}

// IsForeign reports whether a watched object (or its tombstone) was not made by the
// operator.
func IsForeign(o interface{}) bool {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	obj, ok := o.(client.Object)
	if !ok {
		return false
	}
	_, ours := owner.FromLabels(obj.GetLabels())
	return !ours
}

// ServiceEndpoints lists the endpoints of a Service's EndpointSlices. An endpoint without
// a ready condition counts as ready, as the EndpointSlice API says.
func ServiceEndpoints(ctx context.Context, r client.Reader, namespace, service string) ([]health.Endpoint, error) {
	slices := &discoveryv1.EndpointSliceList{}
	if err := r.List(ctx, slices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
		return nil, err
	}
	var out []health.Endpoint
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			ep := health.Endpoint{Ready: e.Conditions.Ready == nil || *e.Conditions.Ready}
			if e.NodeName != nil {
				ep.Node = *e.NodeName
			}
			out = append(out, ep)
		}
	}
	return out, nil
}

// IsForeignObject is IsForeign for a predicate.
func IsForeignObject(o client.Object) bool { return IsForeign(o) }
