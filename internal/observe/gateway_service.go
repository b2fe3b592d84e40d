package observe

import (
	"context"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// gatewayServices lists the LoadBalancer Services made for an ingress's Gateway on a
// member: the operator's own (provisioner Operator), or those the implementation made and
// tied to the Gateway (an owner reference or owning-gateway labels). A Service carrying
// only the infrastructure labels (a stale one, or anyone's) does not count.
func gatewayServices(ctx context.Context, r client.Reader, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, gwUID types.UID) ([]corev1.Service, error) {
	list := &corev1.ServiceList{}
	if err := r.List(ctx, list, client.MatchingLabels(render.GatewayServiceLabels(ing))); err != nil {
		return nil, err
	}
	gw := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	byOperator := class.Spec.GatewayService.Provisioned() == v1alpha1.GatewayServiceByOperator
	ours := owner.Ingress(class.Name, ing.Namespace, ing.Name)
	var out []corev1.Service
	for i := range list.Items {
		s := &list.Items[i]
		if byOperator {
			if ref, ok := owner.FromLabels(s.Labels); ok && ref == ours && s.Name == render.OperatorServiceName(ing.Namespace, ing.Name) {
				out = append(out, *s)
			}
			continue
		}
		if health.OwnedByGateway(s, gw, gwUID) {
			out = append(out, *s)
		}
	}
	return out, nil
}

// readNodes reads the member's Nodes (cut down to what MetalLB's announcing depends on).
func readNodes(ctx context.Context, r client.Reader) (map[string]health.NodeState, error) {
	list := &corev1.NodeList{}
	if err := r.List(ctx, list); err != nil {
		return nil, err
	}
	out := make(map[string]health.NodeState, len(list.Items))
	for _, n := range list.Items {
		st := health.NodeState{}
		_, st.Excluded = n.Labels[health.ExcludeFromLBLabel]
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
				st.NetworkUnavailable = true
			}
		}
		out[n.Name] = st
	}
	return out, nil
}

func carries(s *corev1.Service, ip string) bool {
	for _, i := range s.Status.LoadBalancer.Ingress {
		if i.IP == ip {
			return true
		}
	}
	return false
}

// allocationFailure is the message of MetalLB's latest AllocationFailed event for a
// Service, or "". Events are read live and only for a Service still without the VIP: they
// are not worth a cache of every event of a cluster. A failed read says nothing.
func allocationFailure(ctx context.Context, r client.Reader, s *corev1.Service) string {
	events := &corev1.EventList{}
	sel := fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.uid", string(s.UID)), fields.OneTermEqualSelector("reason", "AllocationFailed"))
	if err := r.List(ctx, events, client.InNamespace(s.Namespace), client.MatchingFieldsSelector{Selector: sel}); err != nil || len(events.Items) == 0 {
		return ""
	}
	return latestEvent(events.Items).Message
}

// latestEvent is the event that happened last. Core events carry times to the second,
// so two messages in one second tie: the etcd revision they were written at (their
// resourceVersion) breaks the tie, else the name, which a client-go recorder makes from
// the time in nanoseconds ("<object>.<hex>"). Seen with two AllocationFailed messages in one
// second: the older one was reported.
func latestEvent(items []corev1.Event) *corev1.Event {
	sort.SliceStable(items, func(i, j int) bool {
		ti, tj := eventTime(&items[i]), eventTime(&items[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		ri, erri := strconv.ParseUint(items[i].ResourceVersion, 10, 64)
		rj, errj := strconv.ParseUint(items[j].ResourceVersion, 10, 64)
		if erri == nil && errj == nil && ri != rj {
			return ri < rj
		}
		return items[i].Name < items[j].Name
	})
	return &items[len(items)-1]
}

// eventTime is when an event last happened, whichever of its times is set.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// announcingNodes counts the nodes whose MetalLB speaker announces one of the Services to
// at least one peer, from MetalLB's ServiceBGPStatus objects; nil when MetalLB publishes
// none for them (older MetalLB, or nothing announced yet).
func announcingNodes(ctx context.Context, r client.Reader, metallbNamespace string, svcs []corev1.Service) (*int32, error) {
	nodes := map[string]bool{}
	found := false
	for _, s := range svcs {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(clusters.GVKServiceBGPStatus.GroupVersion().WithKind("ServiceBGPStatusList"))
		err := r.List(ctx, list, client.InNamespace(metallbNamespace), client.MatchingLabels{
			"metallb.io/service-name": s.Name, "metallb.io/service-namespace": s.Namespace,
		})
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, o := range list.Items {
			found = true
			peers, _, _ := unstructured.NestedStringSlice(o.Object, "status", "peers")
			node, _, _ := unstructured.NestedString(o.Object, "status", "node")
			if len(peers) > 0 && node != "" {
				nodes[node] = true
			}
		}
	}
	if !found {
		return nil, nil
	}
	n := int32(len(nodes))
	return &n, nil
}
