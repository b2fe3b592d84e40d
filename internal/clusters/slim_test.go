package clusters

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// TestSlimEndpointSlice: the cached slice keeps what ServiceEndpoints and the watches read
// (labels, readiness, node) and nothing else; a tombstone passes untouched.
func TestSlimEndpointSlice(t *testing.T) {
	in := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abcde", Namespace: "shop", ResourceVersion: "7",
			Labels:        map[string]string{discoveryv1.LabelServiceName: "web"},
			Annotations:   map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "now"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "endpointslice-controller"}}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To("a"), Zone: ptr.To("z1")},
			{Addresses: []string{"10.244.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}, NodeName: ptr.To("b")},
		},
	}
	got, err := SlimEndpointSlice(in)
	if err != nil {
		t.Fatal(err)
	}
	s := got.(*discoveryv1.EndpointSlice)
	if s.Name != in.Name || s.Namespace != in.Namespace || s.ResourceVersion != "7" || s.Labels[discoveryv1.LabelServiceName] != "web" {
		t.Errorf("identity or labels lost: %+v", s.ObjectMeta)
	}
	if len(s.Annotations) != 0 || len(s.ManagedFields) != 0 || len(s.Ports) != 0 {
		t.Errorf("kept what nobody reads: annotations %v, managed fields %v, ports %v", s.Annotations, s.ManagedFields, s.Ports)
	}
	if len(s.Endpoints) != 2 || !*s.Endpoints[0].Conditions.Ready || *s.Endpoints[1].Conditions.Ready ||
		*s.Endpoints[0].NodeName != "a" || *s.Endpoints[1].NodeName != "b" {
		t.Fatalf("endpoints' readiness or nodes lost: %+v", s.Endpoints)
	}
	if len(s.Endpoints[0].Addresses) != 0 || s.Endpoints[0].Zone != nil {
		t.Errorf("kept an endpoint's addresses or zone: %+v", s.Endpoints[0])
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "shop/web-abcde", Obj: s}
	if got, _ := SlimEndpointSlice(tomb); got != tomb {
		t.Errorf("a tombstone was changed: %v", got)
	}
}
