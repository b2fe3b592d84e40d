package controller

import (
	"context"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// backendHealth reads one route's backend on a member: the ready endpoints of a local
// Service, or the Skupper path to a service that runs elsewhere.
func (r *IngressReconciler) backendHealth(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, m *clusters.Member, route v1alpha1.Route, report networkReport) (health.Backend, error) {
	b := health.Backend{Route: route.Name, Service: route.Backend.Service}
	var remote *v1alpha1.CrossClusterService
	for i := range ing.Spec.Services {
		s := &ing.Spec.Services[i]
		if s.Name == route.Backend.Service && !containsString(s.RunsOn, m.Name) {
			remote = s
		}
	}
	if remote == nil {
		slices := &discoveryv1.EndpointSliceList{}
		if err := m.Reader.List(ctx, slices, client.InNamespace(ing.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: route.Backend.Service}); err != nil {
			return b, err
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					b.ReadyEndpoints++
				}
			}
		}
		return b, nil
	}

	b.Remote = true
	lu := &unstructured.Unstructured{}
	lu.SetGroupVersionKind(render.GVKListener)
	if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: ing.Namespace, Name: render.RoutingKey(ing.Name, remote.Name)}, lu); err != nil && !apierrors.IsNotFound(err) {
		return b, err
	} else if err == nil {
		var l skupperv2.Listener
		if err := fromUnstructured(lu, &l); err != nil {
			return b, err
		}
		b.ListenerMatched = l.Status.HasMatchingConnector
	}
	linked := func(member string) bool {
		hub := class.Hub()
		return (hub != nil && hub.Name == member) || report.Links[member].State == LinkReady
	}
	if !linked(m.Name) {
		b.Why = m.Name + " is not linked to the Skupper network (" + report.Links[m.Name].Message + ")"
		return b, nil
	}
	var why []string
	for _, where := range remote.RunsOn {
		if !linked(where) {
			why = append(why, where+" is not linked")
			continue
		}
		cm, err := r.Members.Get(ctx, class, where)
		if err != nil {
			why = append(why, where+" is unavailable")
			continue
		}
		cu := &unstructured.Unstructured{}
		cu.SetGroupVersionKind(render.GVKConnector)
		if err := cm.Reader.Get(ctx, types.NamespacedName{Namespace: ing.Namespace, Name: render.RoutingKey(ing.Name, remote.Name)}, cu); err != nil {
			why = append(why, where+" has no connector yet")
			continue
		}
		var c skupperv2.Connector
		if err := fromUnstructured(cu, &c); err != nil {
			return b, err
		}
		if len(c.Status.SelectedPods) == 0 {
			why = append(why, where+"'s connector selects no pods")
			continue
		}
		b.ConnectorReady = true
		return b, nil
	}
	b.Why = strings.Join(why, ", ")
	return b, nil
}
