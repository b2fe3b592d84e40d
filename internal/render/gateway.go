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
				name := ref
				if CopiesCertificates(c, cluster) {
					name = CertificateCopyName(ing.Name, ref)
				}
				tls.CertificateRefs = append(tls.CertificateRefs, gwv1.SecretObjectReference{
					Group: ptr.To(gwv1.Group("")), Kind: ptr.To(gwv1.Kind("Secret")), Name: gwv1.ObjectName(name),
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
		out = append(out, route(ing, cluster, listeners, r, labels))
	}
	return out
}

// route renders one route of an ingress on one member: a TLSRoute on a TLS listener, a
// GRPCRoute when it asks for gRPC, otherwise an HTTPRoute (checkRoutes has refused what
// does not fit its listener).
func route(ing *v1alpha1.AnycastIngress, cluster string, listeners []v1alpha1.Listener, r v1alpha1.Route, labels map[string]string) *unstructured.Unstructured {
	backendName, backendPort := routeBackend(ing, cluster, r.Backend)
	parent := gwv1.ParentReference{
		Group: ptr.To(gwv1.Group(gwv1.GroupName)),
		Kind:  ptr.To(gwv1.Kind("Gateway")),
		Name:  gwv1.ObjectName(ing.Name),
	}
	if r.Listener != "" {
		parent.SectionName = ptr.To(gwv1.SectionName(r.Listener))
	}
	meta := metav1.ObjectMeta{Name: RouteName(ing.Name, r.Name), Namespace: ing.Namespace, Labels: labels}
	common := gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent}}
	backend := gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{
			Group: ptr.To(gwv1.Group("")),
			Kind:  ptr.To(gwv1.Kind("Service")),
			Name:  gwv1.ObjectName(backendName),
			Port:  ptr.To(gwv1.PortNumber(backendPort)),
		},
		Weight: ptr.To(int32(1)),
	}
	var hostnames []gwv1.Hostname
	for _, h := range routeHostnames(r, listeners) {
		hostnames = append(hostnames, gwv1.Hostname(h))
	}

	if RouteKind(r, listeners) == GVKTLSRoute.Kind {
		tr := &gwv1.TLSRoute{ObjectMeta: meta, Spec: gwv1.TLSRouteSpec{
			CommonRouteSpec: common,
			Hostnames:       hostnames,
			Rules:           []gwv1.TLSRouteRule{{BackendRefs: []gwv1.BackendRef{backend}}},
		}}
		return toUnstructured(tr, GVKTLSRoute)
	}
	if r.GRPC != nil {
		rule := gwv1.GRPCRouteRule{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: backend}}}
		if r.GRPC.Service != "" || r.GRPC.Method != "" {
			m := &gwv1.GRPCMethodMatch{Type: ptr.To(gwv1.GRPCMethodMatchExact)}
			if r.GRPC.Service != "" {
				m.Service = ptr.To(r.GRPC.Service)
			}
			if r.GRPC.Method != "" {
				m.Method = ptr.To(r.GRPC.Method)
			}
			rule.Matches = []gwv1.GRPCRouteMatch{{Method: m}}
		}
		gr := &gwv1.GRPCRoute{ObjectMeta: meta, Spec: gwv1.GRPCRouteSpec{CommonRouteSpec: common, Hostnames: hostnames, Rules: []gwv1.GRPCRouteRule{rule}}}
		return toUnstructured(gr, GVKGRPCRoute)
	}
	rule := gwv1.HTTPRouteRule{
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{
			Type:  ptr.To(gwv1.PathMatchPathPrefix),
			Value: ptr.To(pathOr(r.PathPrefix)),
		}}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: backend}},
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
	hr := &gwv1.HTTPRoute{ObjectMeta: meta, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: common, Hostnames: hostnames, Rules: []gwv1.HTTPRouteRule{rule}}}
	return toUnstructured(hr, GVKHTTPRoute)
}

// RouteKind is the Gateway API kind a route renders as: TLSRoute when it attaches to a
// TLS listener (named, or every listener of the ingress is TLS), GRPCRoute when it sets
// grpc, else HTTPRoute.
func RouteKind(r v1alpha1.Route, listeners []v1alpha1.Listener) string {
	if onTLSListener(r, listeners) {
		return GVKTLSRoute.Kind
	}
	if r.GRPC != nil {
		return GVKGRPCRoute.Kind
	}
	return GVKHTTPRoute.Kind
}

// onTLSListener reports whether a route attaches to TLS passthrough: the listener it
// names has protocol TLS, or it names none and every listener has.
func onTLSListener(r v1alpha1.Route, listeners []v1alpha1.Listener) bool {
	tls := 0
	for _, l := range listeners {
		isTLS := protocolOr(l.Protocol) == v1alpha1.ProtocolTLS
		if r.Listener != "" && l.Name == r.Listener {
			return isTLS
		}
		if isTLS {
			tls++
		}
	}
	return r.Listener == "" && len(listeners) > 0 && tls == len(listeners)
}

// routeHostnames are the hostnames a route's object carries: its own. A TLS route without
// any takes its listener's (a TLSRoute must name the SNI hostnames it matches).
func routeHostnames(r v1alpha1.Route, listeners []v1alpha1.Listener) []string {
	if len(r.Hostnames) > 0 || !onTLSListener(r, listeners) {
		return r.Hostnames
	}
	var out []string
	for _, l := range listeners {
		if (r.Listener == "" || l.Name == r.Listener) && l.Hostname != "" && !contains(out, l.Hostname) {
			out = append(out, l.Hostname)
		}
	}
	return out
}

// RouteName names the Gateway API route of one route of an ingress: "<ingress>.<route>".
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
