package render

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// TestGatewayServiceFamily: the Service the operator makes in front of a shared data
// plane asks for the VIP's IP family, single-stack. The real MetalLB (v0.16.1) refuses a
// VIP of another family than the Service's ClusterIP ("requested loadBalancer IP(s) ...
// does not match the ipFamily of the service"): left to the cluster's default, an IPv6
// VIP never reached the Service on the lab's dual-stack, IPv4-first clusters.
func TestGatewayServiceFamily(t *testing.T) {
	c := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "dc"}, Spec: v1alpha1.AnycastClassSpec{
		GatewayService: &v1alpha1.GatewayService{Provisioner: v1alpha1.GatewayServiceByOperator, Namespace: "traefik",
			Selector: map[string]string{"app.kubernetes.io/name": "traefik"}},
	}}
	ing := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "hello-world", Name: "hello"}}
	for vip, want := range map[string]corev1.IPFamily{"192.168.155.151": corev1.IPv4Protocol, "2001:db8:155::151": corev1.IPv6Protocol} {
		u := gatewayService(c, ing, DefaultListeners, netip.MustParseAddr(vip))
		svc := &corev1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(svc.Spec.IPFamilies, []corev1.IPFamily{want}) || svc.Spec.IPFamilyPolicy == nil ||
			*svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
			t.Errorf("VIP %s: ipFamilies %v, policy %v; want [%s] SingleStack", vip, svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy, want)
		}
	}
}
