// Package health decides, from what one member cluster reports, whether it can serve an
// anycast VIP: MetalLB and Cilium only look at the LoadBalancer Service's endpoints, which
// for a Gateway are the proxy pods, not the routes' backends, so a cluster whose gateway
// or backends are down would keep attracting its share of the traffic. It is pure: the
// controller reads the objects, this package judges them.
package health

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Input is what one member reports for one ingress.
type Input struct {
	// VIP is the ingress's address.
	VIP netip.Addr
	// Gateway is the rendered Gateway as the member holds it; nil when absent.
	Gateway *gwv1.Gateway
	// Services are the LoadBalancer Services made for the Gateway: by its implementation
	// (found by the infrastructure labels and tied to the Gateway, see OwnedByGateway), or
	// by the operator in front of a shared data plane.
	Services []corev1.Service
	// ServiceNamespace is the namespace the VIP's pool admits (the class's
	// gatewayService.namespace, or the Gateway's).
	ServiceNamespace string
	// Endpoints are the endpoints of each Service's EndpointSlices, by ServiceKey.
	Endpoints map[string][]Endpoint
	// Nodes are the member's nodes the operator could read, by name; a node missing here
	// is not held against the member.
	Nodes map[string]NodeState
	// AllocationFailures are MetalLB's last AllocationFailed event message per Service
	// without the VIP, by ServiceKey.
	AllocationFailures map[string]string
	// ServiceByOperator: the Service is the operator's, in front of a shared data plane
	// that does not report a Gateway's address (Traefik), so the Gateway's
	// status.addresses is not checked.
	ServiceByOperator bool
	// Backends are the route backends as seen from this member.
	Backends []Backend
	// Speakers is what the member's speakers report of their BGP sessions to its peers
	// (frr-k8s mode; SummarizeSpeakers); nil when nothing is reported.
	Speakers []PeerSpeakers
	// Certificates are the member's certificate problems (JudgeCertificates).
	Certificates []string
}

// Backend is one route's backend on one member.
type Backend struct {
	// Route and Service name it in messages.
	Route, Service string
	// Remote is true when the Service runs on other members and is reached over Skupper.
	Remote bool
	// ReadyEndpoints counts the ready endpoints of a local Service's EndpointSlices.
	ReadyEndpoints int
	// RemoteReady: the path over Skupper is up as far as the operator can see it. This
	// member's Listener is there and not in error, this member's link to the hub is Ready,
	// and some member where the service runs is linked, holds its Connector (not in error)
	// and has ready endpoints for the service. Skupper's own selectedPods and
	// hasMatchingConnector are not used: the controller never writes the first, and only a
	// running router writes the second.
	RemoteReady bool
	// Why says what is missing on the Skupper path, when RemoteReady is false.
	Why string
}

// Verdict is the judgement.
type Verdict struct {
	Healthy bool
	// Reasons list every problem, in the order they were checked.
	Reasons []string
	// NoSessionOnly: the one problem is that none of the speakers' sessions to the
	// member's peers is Established (NoSessionToTOR). The routers then hold no path from
	// the member, so withdrawing its advertisement would change nothing there; it would
	// only add the hold-down and MetalLB's re-render to its return once a session comes
	// up (a session is not Established yet in the seconds after a speaker starts).
	NoSessionOnly bool
}

// Message joins the reasons.
func (v Verdict) Message() string { return strings.Join(v.Reasons, "; ") }

// Evaluate judges a member.
func Evaluate(in Input) Verdict {
	var reasons []string
	noSession := NoSessionToTOR(in.Speakers)
	if noSession != "" {
		reasons = append(reasons, noSession)
	}
	vip := in.VIP.String()
	switch gw := in.Gateway; {
	case gw == nil:
		reasons = append(reasons, "the Gateway does not exist yet")
	default:
		c := meta.FindStatusCondition(gw.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
		switch {
		case c == nil:
			reasons = append(reasons, "the Gateway has not been programmed by its implementation yet")
		case c.Status != metav1.ConditionTrue:
			reasons = append(reasons, fmt.Sprintf("the Gateway is not Programmed (%s: %s)", c.Reason, c.Message))
		case c.ObservedGeneration != 0 && c.ObservedGeneration < gw.Generation:
			reasons = append(reasons, "the Gateway's implementation has not caught up with its last change")
		}
		if !in.ServiceByOperator && !gatewayHasAddress(gw, vip) {
			reasons = append(reasons, "the Gateway's status.addresses does not list the VIP "+vip)
		}
	}
	reasons = append(reasons, judgeServices(in)...)
	for _, b := range in.Backends {
		switch {
		case !b.Remote && b.ReadyEndpoints == 0:
			reasons = append(reasons, fmt.Sprintf("route %s: Service %s has no ready endpoints", b.Route, b.Service))
		case b.Remote && !b.RemoteReady:
			reasons = append(reasons, fmt.Sprintf("route %s: %s is not reachable over Skupper: %s", b.Route, b.Service, b.Why))
		}
	}
	reasons = append(reasons, in.Certificates...)
	return Verdict{Healthy: len(reasons) == 0, Reasons: reasons, NoSessionOnly: noSession != "" && len(reasons) == 1}
}

func gatewayHasAddress(gw *gwv1.Gateway, vip string) bool {
	for _, a := range gw.Status.Addresses {
		if a.Value == vip {
			return true
		}
	}
	return false
}

func describeServices(svcs []corev1.Service) string {
	if len(svcs) == 0 {
		return " (the implementation has created none)"
	}
	var parts []string
	for _, s := range svcs {
		var ips []string
		for _, i := range s.Status.LoadBalancer.Ingress {
			ips = append(ips, i.IP)
		}
		if len(ips) == 0 {
			ips = []string{"no address"}
		}
		parts = append(parts, s.Namespace+"/"+s.Name+": "+strings.Join(ips, ","))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, "; ") + ")"
}
