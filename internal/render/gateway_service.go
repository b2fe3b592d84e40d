package render

import (
	"net/netip"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// GatewayServiceLabels are the labels that mark the LoadBalancer Service of an ingress's
// Gateway, whoever creates it: the VIP's IPAddressPool admits only a Service carrying
// them, and the health gate finds the Service by them. Name and namespace are two labels
// so that each value fits the 63 characters a label value may hold.
func GatewayServiceLabels(ing *v1alpha1.AnycastIngress) map[string]string {
	return map[string]string{owner.GatewayLabel: ing.Name, owner.GatewayNamespaceLabel: ing.Namespace}
}

// GatewayServiceNamespace is where the LoadBalancer Service of an ingress's Gateway lives.
func GatewayServiceNamespace(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) string {
	if gs := c.Spec.GatewayService; gs != nil && gs.Namespace != "" {
		return gs.Namespace
	}
	return ing.Namespace
}

// OperatorServiceName names the Service the operator makes for an ingress in front of a
// shared data plane. The data plane's namespace holds the Services of every ingress
// namespace, so the name carries a digest of both names: "anycast-<ingress>-<digest>", a
// DNS-1035 label of at most 58 characters.
func OperatorServiceName(namespace, ingress string) string {
	name := ingress
	if len(name) > 40 {
		name = name[:40]
	}
	for len(name) > 0 && name[len(name)-1] == '-' {
		name = name[:len(name)-1]
	}
	return "anycast-" + name + "-" + shortHash([]string{namespace, ingress})
}

// gatewayService renders the LoadBalancer Service the operator makes in front of a shared
// data plane (provisioner Operator): it selects the data plane's pods, exposes one port
// per distinct listener port, and carries the MetalLB annotations and the labels the
// VIP's pool admits, so MetalLB gives it exactly the VIP.
func gatewayService(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, listeners []v1alpha1.Listener, vip netip.Addr) *unstructured.Unstructured {
	gs := c.Spec.GatewayService
	labels := owner.Ingress(c.Name, ing.Namespace, ing.Name).Labels()
	for k, v := range GatewayServiceLabels(ing) {
		labels[k] = v
	}
	target := map[int32]int32{}
	for _, p := range gs.Ports {
		target[p.Port] = p.TargetPort
	}
	// Listeners may share a port (by hostname); a Service port is one per number.
	seen := map[int32]bool{}
	var ports []corev1.ServicePort
	for _, l := range listeners {
		if seen[l.Port] {
			continue
		}
		seen[l.Port] = true
		tp := l.Port
		if t, ok := target[l.Port]; ok {
			tp = t
		}
		ports = append(ports, corev1.ServicePort{
			// Listener names may hold dots, which a Service port name may not.
			Name:       "p" + strconv.Itoa(int(l.Port)),
			Protocol:   corev1.ProtocolTCP,
			Port:       l.Port,
			TargetPort: intstr.FromInt32(tp),
		})
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Port < ports[j].Port })
	policy := corev1.ServiceExternalTrafficPolicyCluster
	if gs.ExternalTrafficPolicy == string(corev1.ServiceExternalTrafficPolicyLocal) {
		policy = corev1.ServiceExternalTrafficPolicyLocal
	}
	// MetalLB gives a Service an address only of its ClusterIP's family ("requested
	// loadBalancer IP(s) ... does not match the ipFamily of the service", seen with the real
	// MetalLB v0.16.1): a Service left to the cluster's default family never gets an IPv6
	// VIP on an IPv4-first cluster, nor an IPv4 VIP on an IPv6-first one. A cluster
	// without that family refuses the Service, which the apply reports.
	family := corev1.IPv4Protocol
	if vip.Is6() {
		family = corev1.IPv6Protocol
	}
	single := corev1.IPFamilyPolicySingleStack
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      OperatorServiceName(ing.Namespace, ing.Name),
			Namespace: gs.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				MetalLBAddressPoolAnnotation: PoolName(ing.Namespace, ing.Name),
				MetalLBLoadBalancerIPsAnno:   vip.String(),
			},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			Selector:              gs.Selector,
			Ports:                 ports,
			ExternalTrafficPolicy: policy,
			IPFamilies:            []corev1.IPFamily{family},
			IPFamilyPolicy:        &single,
		},
	}
	return toUnstructured(svc, GVKService)
}
