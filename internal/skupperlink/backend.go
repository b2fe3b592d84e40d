package skupperlink

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// BackendHealth reads one route's backend on a member: the ready endpoints of a local
// Service, or the Skupper path to a service that runs elsewhere.
func (l *Linker) BackendHealth(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, m *clusters.Member, route v1alpha1.Route, report Report) (health.Backend, error) {
	b := health.Backend{Route: route.Name, Service: route.Backend.Service}
	var remote *v1alpha1.CrossClusterService
	for i := range ing.Spec.Services {
		s := &ing.Spec.Services[i]
		if s.Name == route.Backend.Service && !slices.Contains(s.RunsOn, m.Name) {
			remote = s
		}
	}
	if remote == nil {
		n, err := readyEndpoints(ctx, m.Reader, ing.Namespace, route.Backend.Service)
		b.ReadyEndpoints = n
		return b, err
	}
	b.Remote = true
	why, err := l.remotePath(ctx, class, ing, m, remote, report)
	b.RemoteReady, b.Why = why == "", why
	return b, err
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices (member caches
// hold every EndpointSlice).
func readyEndpoints(ctx context.Context, reader client.Reader, namespace, service string) (int, error) {
	eps, err := clusters.ServiceEndpoints(ctx, reader, namespace, service)
	n := 0
	for _, e := range eps {
		if e.Ready {
			n++
		}
	}
	return n, err
}

// remotePath says what keeps a member from reaching a service over Skupper, or "" when
// nothing does, from what can be observed without a router: the member's Listener (Skupper
// writes an error there when another Service or Listener holds the name), its link and the
// serving members' links, their Connectors, and their own ready endpoints for the service
// (the Service of that name their own routes use). A Connector's selectedPods is not
// read: the Skupper controller never writes it; hasMatchingConnector neither: only a
// running router writes it.
func (l *Linker) remotePath(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, m *clusters.Member, remote *v1alpha1.CrossClusterService, report Report) (string, error) {
	name := render.BindingName(ing.Name, remote.Name)
	problem, err := bindingProblem(ctx, m.Reader, render.GVKListener, ing.Namespace, name)
	if err != nil {
		return "", err
	}
	if problem != "" {
		return "its Skupper Listener " + name + " " + problem, nil
	}
	linked := func(member string) (bool, string) {
		st, ok := report.Links[member]
		if hub := class.Hub(); hub != nil && hub.Name == member && !ok {
			return true, ""
		}
		return st.State == LinkReady, orDefault(st.Message, "not observed yet")
	}
	if ok, msg := linked(m.Name); !ok {
		return m.Name + " is not linked to the Skupper network (" + msg + ")", nil
	}
	var why []string
	for _, where := range remote.RunsOn {
		if ok, _ := linked(where); !ok {
			why = append(why, where+" is not linked")
			continue
		}
		cm, err := l.Members.Get(ctx, class, where)
		if err != nil {
			why = append(why, where+" is unavailable")
			continue
		}
		if problem, err := bindingProblem(ctx, cm.Reader, render.GVKConnector, ing.Namespace, name); err != nil {
			return "", err
		} else if problem != "" {
			why = append(why, where+"'s Connector "+problem)
			continue
		}
		n, err := readyEndpoints(ctx, cm.Reader, ing.Namespace, remote.Name)
		if err != nil {
			return "", err
		}
		if n == 0 {
			why = append(why, where+" has no ready endpoints for Service "+remote.Name)
			continue
		}
		return "", nil
	}
	return strings.Join(why, ", "), nil
}

// bindingProblem says what is wrong with a Listener or Connector: it does not exist, or
// Skupper reports it in Error (with Skupper's message); "" when neither.
func bindingProblem(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, namespace, name string) (string, error) {
	var b struct {
		Status skupperv2.CommonStatus `json:"status"`
	}
	found, err := getSkupper(ctx, reader, gvk, namespace, name, &b)
	switch {
	case err != nil:
		return "", err
	case !found:
		return "does not exist yet", nil
	case b.Status.Status == "Error":
		return "is in Error: " + b.Status.Message, nil
	}
	return "", nil
}

// getSkupper reads a Skupper object into a typed struct; found is false when it does not
// exist.
func getSkupper(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, namespace, name string, into interface{}) (found bool, err error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, u); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, fromUnstructured(u, into)
}
