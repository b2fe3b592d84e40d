package health

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestGatewayServiceEndpoints: MetalLB's speaker announces a Service IP only while the
// Service has a ready endpoint (with externalTrafficPolicy Local, on the announcing node),
// from nodes that are not excluded from load balancers and whose network is available.
// The real speaker withdrew the VIP (noLocalEndpoints) while an earlier operator reported
// the member healthy; the verdict now names the cause.
func TestGatewayServiceEndpoints(t *testing.T) {
	local := func(s corev1.Service) corev1.Service {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		return s
	}
	nodes := map[string]NodeState{"node-1": {}, "node-2": {Excluded: true}, "node-3": {NetworkUnavailable: true}}
	cases := []struct {
		name  string
		svc   corev1.Service
		eps   []Endpoint
		nodes map[string]NodeState
		want  []string // substrings; none means healthy
	}{
		{"ready endpoint", lbService(vip.String()), []Endpoint{{Ready: true, Node: "node-1"}}, nodes, nil},
		{"no endpoints", lbService(vip.String()), nil, nodes, []string{"hello-world/hello-lb has no ready endpoints", "data plane pods are not ready"}},
		{"endpoints not ready", lbService(vip.String()), []Endpoint{{Ready: false, Node: "node-1"}}, nodes, []string{"no ready endpoints"}},
		{"local on an eligible node", local(lbService(vip.String())), []Endpoint{{Ready: true, Node: "node-2"}, {Ready: true, Node: "node-1"}}, nodes, nil},
		{"local on excluded and unavailable nodes", local(lbService(vip.String())), []Endpoint{{Ready: true, Node: "node-3"}, {Ready: true, Node: "node-2"}}, nodes,
			[]string{"externalTrafficPolicy Local", "node-2 (labelled node.kubernetes.io/exclude-from-external-load-balancers)", "node-3 (NetworkUnavailable)"}},
		{"local on a node the operator cannot see", local(lbService(vip.String())), []Endpoint{{Ready: true, Node: "node-9"}}, nodes, nil},
		{"cluster policy, every node excluded", lbService(vip.String()), []Endpoint{{Ready: true, Node: "node-2"}},
			map[string]NodeState{"node-2": {Excluded: true}, "node-3": {NetworkUnavailable: true}}, []string{"every node is excluded"}},
		{"cluster policy, nodes unknown", lbService(vip.String()), []Endpoint{{Ready: true}}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{tc.svc},
				Endpoints: map[string][]Endpoint{ServiceKey(tc.svc.Namespace, tc.svc.Name): tc.eps}, Nodes: tc.nodes}
			v := Evaluate(in)
			if (len(tc.want) == 0) != v.Healthy {
				t.Fatalf("healthy = %v, want %v: %s", v.Healthy, len(tc.want) == 0, v.Message())
			}
			for _, w := range tc.want {
				if !strings.Contains(v.Message(), w) {
					t.Errorf("message %q lacks %q", v.Message(), w)
				}
			}
		})
	}
}

// TestAllocationFailureNamed: when MetalLB refuses to give the Service the VIP, its
// AllocationFailed event says why (a pool that does not admit the Service's namespace, as
// Envoy Gateway's controller-namespace Services met); the verdict carries it.
func TestAllocationFailureNamed(t *testing.T) {
	in := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{lbService("")},
		AllocationFailures: map[string]string{"hello-world/hello-lb": `Failed to allocate IP for "hello-world/hello-lb": pool hello-world.hello not compatible for ip assignment`}}
	v := Evaluate(in)
	if v.Healthy || !strings.Contains(v.Message(), "MetalLB refused hello-world/hello-lb: Failed to allocate IP") || !strings.Contains(v.Message(), "not compatible") {
		t.Fatalf("verdict %v: %s", v.Healthy, v.Message())
	}
}

// TestServiceByOperatorSkipsGatewayAddress: an implementation with a shared data plane
// (Traefik) reports no per-Gateway address; with the operator's own Service the verdict
// rests on that Service, not on the Gateway's status.addresses.
func TestServiceByOperatorSkipsGatewayAddress(t *testing.T) {
	in := Input{VIP: vip, Gateway: programmedGateway(""), Services: []corev1.Service{lbService(vip.String())},
		Endpoints: map[string][]Endpoint{"hello-world/hello-lb": {{Ready: true}}}}
	if Evaluate(in).Healthy {
		t.Fatal("without the operator's Service, a Gateway without the VIP in status.addresses must be unhealthy")
	}
	in.ServiceByOperator = true
	if v := Evaluate(in); !v.Healthy {
		t.Fatalf("with the operator's Service: %s", v.Message())
	}
}

// TestOwnedByGateway: a Service counts only when the implementation ties it to the
// Gateway (owner reference with the Gateway's UID, or the owning-gateway labels); a stale
// or foreign Service carrying only the infrastructure labels does not.
func TestOwnedByGateway(t *testing.T) {
	gw := types.NamespacedName{Namespace: "hello-world", Name: "hello"}
	uid := types.UID("gw-uid")
	svc := func(ns string, labels map[string]string, refs ...metav1.OwnerReference) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s", Labels: labels, OwnerReferences: refs}}
	}
	ref := func(u types.UID) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway", Name: "hello", UID: u}
	}
	cases := []struct {
		name string
		svc  *corev1.Service
		want bool
	}{
		{"owner reference", svc("hello-world", nil, ref(uid)), true},
		{"owner reference of an older Gateway", svc("hello-world", nil, ref("old-uid")), false},
		{"Gateway API label", svc("hello-world", map[string]string{GatewayNameLabel: "hello"}), true},
		{"Gateway API label, other namespace", svc("elsewhere", map[string]string{GatewayNameLabel: "hello"}), false},
		{"Envoy Gateway labels, controller namespace", svc("envoy-gateway-system", map[string]string{EnvoyOwningGatewayName: "hello", EnvoyOwningGatewayNamespace: "hello-world"}), true},
		{"Envoy Gateway labels of another Gateway", svc("envoy-gateway-system", map[string]string{EnvoyOwningGatewayName: "hello", EnvoyOwningGatewayNamespace: "other"}), false},
		{"infrastructure labels only", svc("hello-world", map[string]string{"anycast.dev/gateway": "hello", "anycast.dev/gateway-namespace": "hello-world"}), false},
	}
	for _, tc := range cases {
		if got := OwnedByGateway(tc.svc, gw, uid); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestServiceInAnotherNamespaceNamed: Envoy Gateway's default deploy mode puts the
// Service in its controller's namespace; a class that does not say so gets a pool that
// refuses it, and the verdict says which namespace to set.
func TestServiceInAnotherNamespaceNamed(t *testing.T) {
	s := lbService("")
	s.Namespace = "envoy-gateway-system"
	in := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{s}, ServiceNamespace: "hello-world"}
	v := Evaluate(in)
	if v.Healthy || !strings.Contains(v.Message(), "set the class's spec.gatewayService.namespace to envoy-gateway-system") {
		t.Fatalf("verdict %v: %s", v.Healthy, v.Message())
	}
}
