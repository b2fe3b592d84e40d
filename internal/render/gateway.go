package render

import (
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// GatewayClassName is the GatewayClass the class's Gateways use.
func GatewayClassName(c *v1alpha1.AnycastClass) string {
	if c.Spec.GatewayClass == nil {
		return c.Spec.GatewayClassName
	}
	if c.Spec.GatewayClass.Name != "" {
		return c.Spec.GatewayClass.Name
	}
	return "anycast-" + c.Name
}

// classGatewayClass renders the GatewayClass when the class asks for one.
func classGatewayClass(c *v1alpha1.AnycastClass) []*unstructured.Unstructured {
	if c.Spec.GatewayClass == nil {
		return nil
	}
	return []*unstructured.Unstructured{toUnstructured(&gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayClassName(c), Labels: owner.Class(c.Name).Labels()},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(c.Spec.GatewayClass.ControllerName)},
	}, GVKGatewayClass)}
}

// DefaultListeners is what an ingress without listeners gets: plain HTTP on port 80.
var DefaultListeners = []v1alpha1.Listener{{Name: "http", Protocol: v1alpha1.ProtocolHTTP, Port: 80}}

// ingressGateway renders the Gateway with the VIP, and the HTTPRoutes.
func ingressGateway(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, cluster string, vip netip.Addr) []*unstructured.Unstructured {
	labels := owner.Ingress(c.Name, ing.Namespace, ing.Name).Labels()
	listeners := ing.Spec.Listeners
	if len(listeners) == 0 {
		listeners = DefaultListeners
	}
	gw := &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: ing.Name, Namespace: ing.Namespace, Labels: labels},
		Spec:       gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(GatewayClassName(c))},
	}
	gs := c.Spec.GatewayService
	if gs.Provisioned() == v1alpha1.GatewayServiceByImplementation {
		if gs != nil && gs.SpecAddresses {
			gw.Spec.Addresses = []gwv1.GatewaySpecAddress{{Type: ptr.To(gwv1.IPAddressType), Value: vip.String()}}
		}
		// Implementations copy these onto the LoadBalancer Service they create for the
		// Gateway; MetalLB then gives that Service exactly the VIP, from the VIP's pool,
		// whose serviceAllocation admits only a Service with these labels.
		gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{
			Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{
				MetalLBAddressPoolAnnotation: gwv1.AnnotationValue(PoolName(ing.Namespace, ing.Name)),
				MetalLBLoadBalancerIPsAnno:   gwv1.AnnotationValue(vip.String()),
			},
			Labels: map[gwv1.LabelKey]gwv1.LabelValue{},
		}
		for k, v := range GatewayServiceLabels(ing) {
			gw.Spec.Infrastructure.Labels[gwv1.LabelKey(k)] = gwv1.LabelValue(v)
		}
	}
	for _, l := range listeners {
		gl := gwv1.Listener{
			Name:     gwv1.SectionName(l.Name),
			Port:     gwv1.PortNumber(l.Port),
			Protocol: gwv1.ProtocolType(protocolOr(l.Protocol)),
			AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{
				From: ptr.To(gwv1.NamespacesFromSame),
			}},
		}
		if l.Hostname != "" {
			gl.Hostname = ptr.To(gwv1.Hostname(l.Hostname))
		}
		switch {
		case l.TLS != nil:
			tls := &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModeTerminate)}
			for _, ref := range l.TLS.CertificateRefs {
				tls.CertificateRefs = append(tls.CertificateRefs, gwv1.SecretObjectReference{
					Group: ptr.To(gwv1.Group("")), Kind: ptr.To(gwv1.Kind("Secret")), Name: gwv1.ObjectName(ref),
				})
			}
			gl.TLS = tls
		case protocolOr(l.Protocol) == v1alpha1.ProtocolTLS:
			gl.TLS = &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModePassthrough)}
		}
		gw.Spec.Listeners = append(gw.Spec.Listeners, gl)
	}
	out := []*unstructured.Unstructured{toUnstructured(gw, GVKGateway)}
	if gs.Provisioned() == v1alpha1.GatewayServiceByOperator {
		out = append(out, gatewayService(c, ing, listeners, vip))
	}

	for _, r := range ing.Spec.Routes {
		backendName, backendPort := routeBackend(ing, cluster, r.Backend)
		parent := gwv1.ParentReference{
			Group: ptr.To(gwv1.Group(gwv1.GroupName)),
			Kind:  ptr.To(gwv1.Kind("Gateway")),
			Name:  gwv1.ObjectName(ing.Name),
		}
		if r.Listener != "" {
			parent.SectionName = ptr.To(gwv1.SectionName(r.Listener))
		}
		rule := gwv1.HTTPRouteRule{
			Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{
				Type:  ptr.To(gwv1.PathMatchPathPrefix),
				Value: ptr.To(pathOr(r.PathPrefix)),
			}}},
			BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{
					Group: ptr.To(gwv1.Group("")),
					Kind:  ptr.To(gwv1.Kind("Service")),
					Name:  gwv1.ObjectName(backendName),
					Port:  ptr.To(gwv1.PortNumber(backendPort)),
				},
				Weight: ptr.To(int32(1)),
			}}},
		}
		if r.RewritePrefix != "" {
			rule.Filters = []gwv1.HTTPRouteFilter{{
				Type: gwv1.HTTPRouteFilterURLRewrite,
				URLRewrite: &gwv1.HTTPURLRewriteFilter{Path: &gwv1.HTTPPathModifier{
					Type:               gwv1.PrefixMatchHTTPPathModifier,
					ReplacePrefixMatch: ptr.To(r.RewritePrefix),
				}},
			}}
		}
		route := &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: RouteName(ing.Name, r.Name), Namespace: ing.Namespace, Labels: labels},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent}},
				Rules:           []gwv1.HTTPRouteRule{rule},
			},
		}
		for _, h := range r.Hostnames {
			route.Spec.Hostnames = append(route.Spec.Hostnames, gwv1.Hostname(h))
		}
		out = append(out, toUnstructured(route, GVKHTTPRoute))
	}
	return out
}

// RouteName names the HTTPRoute of one route of an ingress: "<ingress>.<route>".
func RouteName(ingress, route string) string { return ingress + "." + route }

// routeBackend resolves a route's backend on one member: a cross-cluster service that does
// not run there is reached through its Skupper listener's Service, on the listener's port.
func routeBackend(ing *v1alpha1.AnycastIngress, cluster string, b v1alpha1.Backend) (string, int32) {
	for _, s := range ing.Spec.Services {
		if s.Name == b.Service && !contains(s.RunsOn, cluster) {
			return ListenerHost(s), s.Port
		}
	}
	return b.Service, b.Port
}

func protocolOr(p v1alpha1.ListenerProtocol) v1alpha1.ListenerProtocol {
	if p == "" {
		return v1alpha1.ProtocolHTTP
	}
	return p
}

func pathOr(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
