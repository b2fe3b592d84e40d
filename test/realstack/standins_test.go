package realstack_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// TestEndpointSliceController: the stand-in for the EndpointSlice controller lists, per IP
// family of a Service, the pods its selector matches in its namespace, with their address
// of that family, their node and readiness, the Service's ports by name with a named
// targetPort resolved through the pod's container ports (a pod without that port left
// out); it follows a pod turning unready and removes the slices of a Service that is gone.
func TestEndpointSliceController(t *testing.T) {
	ctx := realstack.Ctx(t)
	cl := realstack.StartCluster(t, realstack.Binaries{}, "west")
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("198.18.11.2"), netip.MustParseAddr("2001:2:0:11::2")}
	pod := func(ns, name string, labels map[string]string, port string, notReady bool) {
		t.Helper()
		if err := realstack.StandInPodWith(ctx, cl.Client, realstack.Pod{Namespace: ns, Name: name, Node: "west-node", Labels: labels,
			IPs: ips, Ports: []corev1.ContainerPort{{Name: port, ContainerPort: 8082}}, NotReady: notReady}); err != nil {
			t.Fatal(err)
		}
	}
	app := map[string]string{"app": "hello"}
	pod(appNS, "hello-1", app, "http", false)
	pod(appNS, "hello-2", app, "metrics", false) // no port named http: left out
	pod("other", "hello-3", app, "http", false)  // another namespace
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "hello"},
		Spec:       corev1.ServiceSpec{Selector: app, Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}},
	}
	create(t, cl.Client, svc)
	esc := &realstack.EndpointSliceController{Client: cl.Client}
	if err := esc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	slicesOf := func() map[discoveryv1.AddressType]discoveryv1.EndpointSlice {
		t.Helper()
		list := &discoveryv1.EndpointSliceList{}
		if err := cl.Client.List(ctx, list, client.InNamespace(appNS), client.MatchingLabels{discoveryv1.LabelServiceName: "hello"}); err != nil {
			t.Fatal(err)
		}
		out := map[discoveryv1.AddressType]discoveryv1.EndpointSlice{}
		for _, s := range list.Items {
			out[s.AddressType] = s
		}
		return out
	}
	got := slicesOf()
	if len(got) != 1 {
		t.Fatalf("slices %v: want one, IPv4, for a single-stack IPv4 Service", got)
	}
	v4 := got[discoveryv1.AddressTypeIPv4]
	if len(v4.Endpoints) != 1 || v4.Endpoints[0].Addresses[0] != "198.18.11.2" || *v4.Endpoints[0].NodeName != "west-node" ||
		!*v4.Endpoints[0].Conditions.Ready || v4.Endpoints[0].TargetRef.Name != "hello-1" {
		t.Errorf("endpoints %+v: want hello-1 alone, ready, on west-node", v4.Endpoints)
	}
	if len(v4.Ports) != 1 || *v4.Ports[0].Name != "http" || *v4.Ports[0].Port != 8082 {
		t.Errorf("ports %+v: want http, the pod's 8082", v4.Ports)
	}
	if v4.Labels[discoveryv1.LabelManagedBy] != realstack.StandInManagedBy || len(v4.OwnerReferences) != 1 || v4.OwnerReferences[0].Name != "hello" {
		t.Errorf("labels %v, owners %v", v4.Labels, v4.OwnerReferences)
	}

	// A pod turning unready is listed not ready.
	pod(appNS, "hello-1", app, "http", true)
	if err := esc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if e := slicesOf()[discoveryv1.AddressTypeIPv4].Endpoints; len(e) != 1 || *e[0].Conditions.Ready {
		t.Errorf("endpoints %+v: want hello-1 not ready", e)
	}
	// The Service goes, its slices with it.
	if err := cl.Client.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := esc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := slicesOf(); len(got) != 0 {
		t.Errorf("slices of a deleted Service: %v", got)
	}
}

// TestKubeProxy: the kube-proxy stand-in binds a LoadBalancer Service's address to the
// node namespace's loopback while the Service holds it, and unbinds it when the Service
// loses it; it reports a port it cannot play (targetPort other than port).
func TestKubeProxy(t *testing.T) {
	if os.Geteuid() != 0 {
		if labfabric.InCI() {
			t.Fatal("CI is set, so this is a failure, not a skip: the kube-proxy stand-in needs root (network namespaces)")
		}
		t.Skip("needs root (network namespaces)")
	}
	ctx := realstack.Ctx(t)
	cl := realstack.StartCluster(t, realstack.Binaries{}, "west")
	ns := fmt.Sprintf("realstack-kp-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	_ = exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	kp := &realstack.KubeProxy{Client: cl.Client, Node: &realstack.Node{Name: "west-node", NetNS: ns}}
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	svc := lbService("gw", "", "")
	svc.Spec.Ports[0].TargetPort = intstr.FromInt32(8000)
	create(t, cl.Client, svc)
	loHas := func(a string) bool {
		out, _ := exec.Command("ip", "-n", ns, "addr", "show", "dev", "lo").Output()
		return strings.Contains(string(out), " "+a+"/")
	}
	if err := kp.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if loHas(vipText) {
		t.Fatal("bound before the Service holds the address")
	}
	setIngress := func(ips ...string) {
		t.Helper()
		if err := cl.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			t.Fatal(err)
		}
		svc.Status.LoadBalancer.Ingress = nil
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		if err := cl.Client.Status().Update(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if err := kp.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	setIngress(vipText)
	if !loHas(vipText) || !slices.Equal(kp.Bound(), []string{vipText + " (" + appNS + "/gw)"}) {
		t.Errorf("bound %v; want the VIP on lo", kp.Bound())
	}
	if p := kp.Problems(); len(p) != 1 || !strings.Contains(p[0], "targetPort 8000") {
		t.Errorf("problems %v: want the port it cannot translate", p)
	}
	setIngress()
	if loHas(vipText) || len(kp.Bound()) != 0 {
		t.Errorf("still bound after the Service lost the address: %v", kp.Bound())
	}
	if ev := kp.Events(); len(ev) != 2 || !strings.HasPrefix(ev[0].What, "bound "+vipText) || !strings.HasPrefix(ev[1].What, "unbound "+vipText) || ev[1].At.Before(ev[0].At) {
		t.Errorf("events %v", ev)
	}
}
