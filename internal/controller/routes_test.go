package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
)

// TestTLSAndGRPCRoutes: against the Gateway API v1 CRDs, a route on a TLS listener
// becomes a TLSRoute (SNI hostnames, the listener's when the route has none), a route
// with grpc a GRPCRoute; a route that changes kind leaves no object of its old kind;
// a route that does not fit its TLS listener is refused (Accepted=False, InvalidRoute,
// the route named) and the objects already applied stay as they were.
func TestTLSAndGRPCRoutes(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	for svc, port := range map[string]int32{"postgres": 5432, "greeter": 50051} {
		if err := gatewayfixture.ReadyBackend(ctx, env.Client, ns, svc, port, 1); err != nil {
			t.Fatal(err)
		}
	}
	create(t, localClass("routes"))
	ing := ingress(ns, "db", "routes", "192.168.155.191", func(i *v1alpha1.AnycastIngress) {
		i.Spec.Listeners = []v1alpha1.Listener{
			{Name: "tls", Protocol: v1alpha1.ProtocolTLS, Port: 443, Hostname: "*.db.example.com"},
			{Name: "http", Protocol: v1alpha1.ProtocolHTTP, Port: 80},
		}
		i.Spec.Routes = []v1alpha1.Route{
			{Name: "pg", Listener: "tls", Backend: v1alpha1.Backend{Service: "postgres", Port: 5432}},
			{Name: "hello", Listener: "http", GRPC: &v1alpha1.GRPCMatch{Service: "helloworld.Greeter", Method: "SayHello"}, Backend: v1alpha1.Backend{Service: "greeter", Port: 50051}},
		}
	})
	create(t, ing)
	waitIngressCondition(t, ns, "db", v1alpha1.ConditionProgrammed, metav1.ConditionTrue, "")

	pg, hello := render.RouteName("db", "pg"), render.RouteName("db", "hello")
	waitObject(t, render.GVKTLSRoute, ns, pg, func(u *unstructured.Unstructured) error {
		if h := nestedSlice(u, "spec", "hostnames"); len(h) != 1 || h[0] != "*.db.example.com" {
			return fmt.Errorf("hostnames %v, want the listener's", h)
		}
		return nil
	})
	waitObject(t, render.GVKGRPCRoute, ns, hello, func(u *unstructured.Unstructured) error {
		rules := nestedSlice(u, "spec", "rules")
		if len(rules) != 1 || !strings.Contains(fmt.Sprint(rules), "SayHello") {
			return fmt.Errorf("rules %v", rules)
		}
		return nil
	})
	if getObject(t, render.GVKHTTPRoute, ns, hello) != nil || getObject(t, render.GVKHTTPRoute, ns, pg) != nil {
		t.Fatal("a TLS or gRPC route must not also be an HTTPRoute")
	}

	t.Run("a route that changes kind leaves nothing of its old kind", func(t *testing.T) {
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Routes[1].GRPC = nil })
		waitObject(t, render.GVKHTTPRoute, ns, hello, nil)
		waitGone(t, render.GVKGRPCRoute, ns, hello)
	})

	t.Run("a route that does not fit its TLS listener is refused", func(t *testing.T) {
		before := getObject(t, render.GVKTLSRoute, ns, pg)
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Routes[0].PathPrefix = "/admin" })
		got := waitIngressCondition(t, ns, "db", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonInvalidRoute)
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted)
		if !strings.Contains(c.Message, "route pg") || !strings.Contains(c.Message, "pathPrefix") {
			t.Fatalf("the message must name the route and the field: %q", c.Message)
		}
		if now := getObject(t, render.GVKTLSRoute, ns, pg); now == nil || now.GetResourceVersion() != before.GetResourceVersion() {
			t.Fatal("a refused spec must leave the applied TLSRoute alone")
		}
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Routes[0].PathPrefix = "/" })
		waitIngressCondition(t, ns, "db", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	})

	t.Run("the API server refuses a gRPC route with a path", func(t *testing.T) {
		bad := ingress(ns, "grpc-path", "routes", "192.168.155.192", func(i *v1alpha1.AnycastIngress) {
			i.Spec.Routes = []v1alpha1.Route{{Name: "g", PathPrefix: "/x", GRPC: &v1alpha1.GRPCMatch{Service: "a.B"}, Backend: v1alpha1.Backend{Service: "greeter", Port: 50051}}}
		})
		err := env.Client.Create(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), "a gRPC route matches services and methods, not paths") {
			t.Fatalf("create: %v, want the schema's refusal", err)
		}
	})
}
