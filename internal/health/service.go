package health

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Endpoint is one endpoint of a Service's EndpointSlices.
type Endpoint struct {
	Ready bool
	// Node is the endpoint's nodeName ("" when the slice does not say).
	Node string
}

// NodeState is what decides whether MetalLB's speaker on a node may announce a VIP.
type NodeState struct {
	// Excluded: labelled node.kubernetes.io/exclude-from-external-load-balancers.
	Excluded bool
	// NetworkUnavailable: the node's NetworkUnavailable condition is True.
	NetworkUnavailable bool
}

// ExcludeFromLBLabel keeps MetalLB's speaker on a node from announcing any Service IP.
const ExcludeFromLBLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Labels by which Gateway implementations mark the Service they create for a Gateway.
const (
	// GatewayNameLabel is the label Gateway API asks implementations to put on the
	// resources they generate for a Gateway (Istio, OpenShift and others), in the
	// Gateway's namespace.
	GatewayNameLabel = "gateway.networking.k8s.io/gateway-name"
	// EnvoyOwningGatewayName and EnvoyOwningGatewayNamespace are Envoy Gateway's, which
	// may put the Service in another namespace than the Gateway's.
	EnvoyOwningGatewayName      = "gateway.envoyproxy.io/owning-gateway-name"
	EnvoyOwningGatewayNamespace = "gateway.envoyproxy.io/owning-gateway-namespace"
)

// OwnedByGateway reports whether the implementation made svc for the Gateway gw (name and
// namespace; uid when the Gateway exists): an owner reference to the Gateway, or the
// owning-gateway labels of Gateway API or Envoy Gateway. The infrastructure labels alone
// do not prove it: a stale Service, or anyone's, may carry them.
func OwnedByGateway(svc *corev1.Service, gw types.NamespacedName, uid types.UID) bool {
	for _, ref := range svc.OwnerReferences {
		if ref.Kind == "Gateway" && strings.HasPrefix(ref.APIVersion, gwv1.GroupName+"/") && svc.Namespace == gw.Namespace {
			if ref.Name == gw.Name && (uid == "" || ref.UID == uid) {
				return true
			}
		}
	}
	l := svc.Labels
	if l[EnvoyOwningGatewayName] == gw.Name && l[EnvoyOwningGatewayNamespace] == gw.Namespace {
		return true
	}
	return l[GatewayNameLabel] == gw.Name && svc.Namespace == gw.Namespace
}

// judgeServices checks that the Gateway's LoadBalancer Service carries the VIP and that
// MetalLB's speakers will announce it: MetalLB announces a Service IP only while the
// Service has a ready endpoint (on the announcing node itself with
// externalTrafficPolicy Local), and only from nodes not excluded from load balancers and
// whose network is available.
func judgeServices(in Input) []string {
	vip := in.VIP.String()
	var carrying []corev1.Service
	for _, s := range in.Services {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer && hasIngressIP(&s, vip) {
			carrying = append(carrying, s)
		}
	}
	if len(carrying) == 0 {
		msg := "no LoadBalancer Service of the Gateway carries the VIP " + vip + describeServices(in.Services)
		for _, s := range in.Services {
			if in.ServiceNamespace != "" && s.Namespace != in.ServiceNamespace {
				msg += fmt.Sprintf("; the implementation put %s in namespace %s, but the VIP's pool admits only namespace %s: set the class's spec.gatewayService.namespace to %s", key(&s), s.Namespace, in.ServiceNamespace, s.Namespace)
			}
			if f := in.AllocationFailures[key(&s)]; f != "" {
				msg += "; MetalLB refused " + key(&s) + ": " + f
			}
		}
		return []string{msg}
	}
	var why []string
	for _, s := range carrying {
		problem := endpointProblem(&s, in.Endpoints[key(&s)], in.Nodes)
		if problem == "" {
			return nil // one Service announced from somewhere is enough
		}
		why = append(why, problem)
	}
	return why
}

// endpointProblem says why MetalLB would not announce svc from any node, or "".
func endpointProblem(svc *corev1.Service, eps []Endpoint, nodes map[string]NodeState) string {
	local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	ready := 0
	var ineligible []string
	seen := map[string]bool{}
	for _, e := range eps {
		if !e.Ready {
			continue
		}
		ready++
		if !local {
			continue
		}
		st, known := nodes[e.Node]
		switch {
		case !known || e.Node == "":
			// A node the operator cannot see is not held against the member.
			return ""
		case st.Excluded:
			if !seen[e.Node] {
				ineligible = append(ineligible, e.Node+" (labelled "+ExcludeFromLBLabel+")")
			}
		case st.NetworkUnavailable:
			if !seen[e.Node] {
				ineligible = append(ineligible, e.Node+" (NetworkUnavailable)")
			}
		default:
			return ""
		}
		seen[e.Node] = true
	}
	switch {
	case ready == 0:
		return fmt.Sprintf("the Gateway's Service %s has no ready endpoints, and MetalLB announces a LoadBalancer IP only while its Service has one: the Gateway's data plane pods are not ready", key(svc))
	case local:
		sort.Strings(ineligible)
		return fmt.Sprintf("the Gateway's Service %s has externalTrafficPolicy Local, so MetalLB announces the VIP only from nodes with a ready endpoint, and none of those may announce: %s", key(svc), strings.Join(ineligible, ", "))
	}
	if len(nodes) > 0 && !anyEligible(nodes) {
		return fmt.Sprintf("the Gateway's Service %s has ready endpoints, but every node is excluded from load balancers or has its network unavailable, so no MetalLB speaker announces the VIP", key(svc))
	}
	return ""
}

func anyEligible(nodes map[string]NodeState) bool {
	for _, st := range nodes {
		if !st.Excluded && !st.NetworkUnavailable {
			return true
		}
	}
	return false
}

func hasIngressIP(s *corev1.Service, vip string) bool {
	for _, i := range s.Status.LoadBalancer.Ingress {
		if i.IP == vip {
			return true
		}
	}
	return false
}

// key is "namespace/name", the key of Input.Endpoints and Input.AllocationFailures.
func key(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

// ServiceKey is the key of a Service in Input.Endpoints and Input.AllocationFailures.
func ServiceKey(namespace, name string) string { return namespace + "/" + name }
