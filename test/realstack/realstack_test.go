package realstack_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	metallbv1beta2 "go.universe.tf/metallb/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/test/realstack"
)

const (
	mlbNS   = realstack.DefaultMetalLBNamespace
	appNS   = "hello"
	vipText = "192.168.155.151"
)

var vip = netip.MustParsePrefix(vipText + "/32")

// vipPool is the pool the operator renders for one ingress: the VIP alone, never
// auto-assigned, for the ingress namespace only.
func vipPool(name, cidr string) *metallbv1beta1.IPAddressPool {
	return &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: name},
		Spec: metallbv1beta1.IPAddressPoolSpec{
			Addresses:         []string{cidr},
			AutoAssign:        new(false),
			AllocateTo:        &metallbv1beta1.ServiceAllocation{Namespaces: []string{appNS}},
		},
	}
}

// lbService is a LoadBalancer Service asking MetalLB for ip from pool by annotation.
func lbService(name, pool, ip string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if pool != "" {
		svc.Annotations = map[string]string{"metallb.io/address-pool": pool, "metallb.io/loadBalancerIPs": ip}
	}
	return svc
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func ingressIPs(svc *corev1.Service) []string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return ips
}

// noConfigErrors fails the test when a MetalLB process logged that it rejected its
// configuration.
func noConfigErrors(t *testing.T, procs ...*realstack.Process) {
	t.Helper()
	if errs := realstack.ConfigErrors(procs...); len(errs) > 0 {
		t.Fatalf("MetalLB rejected its configuration: %+v", errs)
	}
}

// TestControllerAssignsVIP: the real MetalLB controller gives a LoadBalancer Service that
// asks by annotation for the VIP of a one-/32 pool with autoAssign false exactly that VIP,
// and a Service that does not ask gets nothing from that pool.
func TestControllerAssignsVIP(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB)
	ctx := realstack.Ctx(t)
	cl := realstack.StartCluster(t, bin, "west")
	ctl, err := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, vipPool("vip", vipText+"/32"), lbService("gw", "vip", vipText), lbService("other", "", ""))

	svc := &corev1.Service{}
	realstack.Eventually(t, "the VIP on the Service", time.Minute, func() error {
		if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "gw"}, svc); err != nil {
			return err
		}
		if ips := ingressIPs(svc); !slices.Equal(ips, []string{vipText}) {
			return fmt.Errorf("status.loadBalancer.ingress %v, want [%s]", ips, vipText)
		}
		return nil
	})
	// MetalLB names the pool it allocated from on the Service.
	if got := svc.Annotations["metallb.io/ip-allocated-from-pool"]; got != "vip" {
		t.Errorf("metallb.io/ip-allocated-from-pool = %q, want vip (annotations %v)", got, svc.Annotations)
	}
	other := &corev1.Service{}
	if err := cl.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "other"}, other); err != nil {
		t.Fatal(err)
	}
	if ips := ingressIPs(other); len(ips) != 0 {
		t.Errorf("a Service without the annotations got %v from an autoAssign=false pool", ips)
	}
	noConfigErrors(t, ctl)
	realstack.Eventually(t, "the controller's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "controller", metallbv1beta1.ConfigurationResultValid)
	})
}

// stateIs checks the result of one of MetalLB's ConfigurationStates.
func stateIs(ctx context.Context, c client.Client, name string, want metallbv1beta1.ConfigurationResult) error {
	states, err := realstack.ConfigurationStates(ctx, c, mlbNS)
	if err != nil {
		return err
	}
	for _, s := range states {
		if s.Name == name {
			if s.Status.Result != want {
				return fmt.Errorf("ConfigurationState %s: result %q (%q), want %q", name, s.Status.Result, s.Status.ErrorSummary, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no ConfigurationState %s yet (have %d)", name, len(states))
}

var (
	_ = strings.Contains
	_ = metallbv1beta2.BGPPeer{}
)
