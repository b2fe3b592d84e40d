package health

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

var vip = netip.MustParseAddr("192.168.155.151")

func programmedGateway(addr string) *gwv1.Gateway {
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "hello", Generation: 2}}
	gw.Status.Conditions = []metav1.Condition{{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed", ObservedGeneration: 2}}
	if addr != "" {
		gw.Status.Addresses = []gwv1.GatewayStatusAddress{{Value: addr}}
	}
	return gw
}

func lbService(ip string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "hello-world", Name: "hello-lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	if ip != "" {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	}
	return s
}

func TestEvaluate(t *testing.T) {
	healthy := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{lbService(vip.String())},
		Endpoints: map[string][]Endpoint{"hello-world/hello-lb": {{Ready: true, Node: "node-1"}}},
		Backends:  []Backend{{Route: "hello", Service: "hello-world", ReadyEndpoints: 2}, {Route: "api", Service: "backend", Remote: true, RemoteReady: true}}}
	cases := []struct {
		name   string
		mutate func(*Input)
		want   []string // substrings of the message; none means healthy
	}{
		{"healthy", func(*Input) {}, nil},
		{"no gateway", func(in *Input) { in.Gateway = nil }, []string{"Gateway does not exist"}},
		{"not programmed", func(in *Input) {
			in.Gateway.Status.Conditions[0].Status, in.Gateway.Status.Conditions[0].Reason = metav1.ConditionFalse, "AddressNotAssigned"
		}, []string{"not Programmed (AddressNotAssigned"}},
		{"stale", func(in *Input) { in.Gateway.Generation = 3 }, []string{"not caught up"}},
		{"gateway without the VIP", func(in *Input) { in.Gateway.Status.Addresses = nil }, []string{"status.addresses does not list the VIP 192.168.155.151"}},
		{"service without address", func(in *Input) { in.Services = []corev1.Service{lbService("")} }, []string{"hello-world/hello-lb: no address"}},
		{"service with another address", func(in *Input) { in.Services = []corev1.Service{lbService("10.0.0.1")} }, []string{"carries the VIP", "10.0.0.1"}},
		{"no service", func(in *Input) { in.Services = nil }, []string{"has created none"}},
		{"backend without endpoints", func(in *Input) { in.Backends[0].ReadyEndpoints = 0 }, []string{"route hello: Service hello-world has no ready endpoints"}},
		{"skupper not linked", func(in *Input) { in.Backends[1].RemoteReady, in.Backends[1].Why = false, "east is not linked" }, []string{"route api: backend is not reachable over Skupper: east is not linked"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy
			in.Gateway = programmedGateway(vip.String())
			in.Backends = append([]Backend(nil), healthy.Backends...)
			tc.mutate(&in)
			v := Evaluate(in)
			if (len(tc.want) == 0) != v.Healthy {
				t.Fatalf("healthy = %v (%s)", v.Healthy, v.Message())
			}
			for _, w := range tc.want {
				if !strings.Contains(v.Message(), w) {
					t.Errorf("message %q lacks %q", v.Message(), w)
				}
			}
		})
	}
}

// TestNoSessionOnly: the verdict says when the missing session is the member's one problem.
func TestNoSessionOnly(t *testing.T) {
	down := []PeerSpeakers{{Peer: SpeakerPeer{Name: "tor", Address: "10.0.0.1"}, BGPState: "Idle", Nodes: 1, Down: []string{"n1 (Idle)"}}}
	up := []PeerSpeakers{{Peer: SpeakerPeer{Name: "tor", Address: "10.0.0.1"}, BGPState: StateEstablished, Nodes: 1, Established: 1}}
	if v := Evaluate(Input{Speakers: down}); v.Healthy || v.NoSessionOnly {
		t.Fatalf("no session and no Gateway: %+v; want unhealthy, not only the session", v)
	}
	if v := Evaluate(Input{Speakers: up}); v.NoSessionOnly {
		t.Fatalf("a session up: %+v", v)
	}
	member := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{lbService(vip.String())},
		Endpoints: map[string][]Endpoint{"hello-world/hello-lb": {{Ready: true, Node: "node-1"}}}, Speakers: down}
	if v := Evaluate(member); v.Healthy || !v.NoSessionOnly || !strings.Contains(v.Message(), "no BGP session") {
		t.Fatalf("everything serves but no session is up: %+v; want unhealthy for the session only", v)
	}
	member.Speakers = up
	if v := Evaluate(member); !v.Healthy || v.NoSessionOnly {
		t.Fatalf("everything serves and a session is up: %+v", v)
	}
}
