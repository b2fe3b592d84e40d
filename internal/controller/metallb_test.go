package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlbv1beta1 "go.universe.tf/metallb/api/v1beta1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/controller"
	"github.com/anycast-operator/anycast-operator/internal/observe"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/status"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
)

// foreignPool creates an IPAddressPool the operator did not make (a site-wide pool, say)
// and removes it when the test ends.
func foreignPool(t *testing.T, name string, addresses ...string) *mlbv1beta1.IPAddressPool {
	t.Helper()
	p := &mlbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: mlbNS}, Spec: mlbv1beta1.IPAddressPoolSpec{Addresses: addresses}}
	create(t, p)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	return p
}

// within polls f until it returns nil, failing after d: for what must happen within
// seconds (a functional bound, not a speed target).
func within(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
}

// TestPoolOverlapRefused: a pool that is not ours (a site-wide pool covering the class
// range) already holds the VIP. MetalLB rejects its whole configuration when two pools
// overlap, so the operator must not apply the VIP's pool there: the member is refused with
// PoolOverlap naming the other pool, nothing of the ingress is applied, and once the other
// pool stops covering the VIP the ingress is programmed without any other change.
func TestPoolOverlapRefused(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("overlap", func(c *v1alpha1.AnycastClass) { c.Spec.Pools = []string{"192.168.200.0/24"} }))
	site := foreignPool(t, "site-wide", "10.77.0.0/16", "192.168.200.0/24")
	create(t, ingress(ns, "hello", "overlap", "192.168.200.5"))

	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPoolOverlap)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted).Message
	for _, want := range []string{"IPAddressPool metallb-system/site-wide (192.168.200.0/24)", "MetalLB rejects its whole configuration", "nothing of this generation is applied"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Accepted message %q lacks %q", msg, want)
		}
	}
	if err := conditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, string(v1alpha1.ReasonNotAccepted)); err != nil {
		t.Error(err)
	}
	consistently(t, "no object of the refused ingress is applied", 2*time.Second, func() error {
		if left := owned(t, owner.Ingress("overlap", ns, "hello")); len(left) != 0 {
			return fmt.Errorf("%d objects applied, first %s %s", len(left), left[0].GetKind(), left[0].GetName())
		}
		return nil
	})

	// The site's pool is split around the class range: the refusal lifts by itself.
	update(t, site, func(p *mlbv1beta1.IPAddressPool) { p.Spec.Addresses = []string{"10.77.0.0/16"} })
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitObject(t, render.GVKIPAddressPool, mlbNS, render.PoolName(ns, "hello"), nil)

	// Pools of one address are looked up by that address (not by walking every pool):
	// written as a /32 or as a range of one, they refuse that VIP, and only that one.
	foreignPool(t, "pinned", "192.168.200.9/32")
	foreignPool(t, "pinned-range", "10.78.0.0/16", "192.168.200.11-192.168.200.11")
	create(t, ingress(ns, "nine", "overlap", "192.168.200.9"))
	create(t, ingress(ns, "eleven", "overlap", "192.168.200.11"))
	create(t, ingress(ns, "ten", "overlap", "192.168.200.10"))
	for name, want := range map[string]string{"nine": "IPAddressPool metallb-system/pinned (192.168.200.9/32)", "eleven": "IPAddressPool metallb-system/pinned-range (192.168.200.11-192.168.200.11)"} {
		got := waitIngressCondition(t, ns, name, v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPoolOverlap)
		if msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted).Message; !strings.Contains(msg, want) {
			t.Errorf("%s: Accepted message %q lacks %q", name, msg, want)
		}
	}
	waitIngressCondition(t, ns, "ten", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// TestMetalLBRejectionShown: when a member's MetalLB rejects its configuration (two
// overlapping pools that are not ours, here), every change there silently does nothing.
// The class shows MetalLB's verdict per member within seconds, in MetalLB's own words,
// and the ingresses on that member are not Programmed; when MetalLB accepts its
// configuration again, both recover.
func TestMetalLBRejectionShown(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("verdict"))
	create(t, ingress(ns, "hello", "verdict", "192.168.155.171"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitClassCondition(t, "verdict", v1alpha1.ConditionMetalLBConfigValid, metav1.ConditionTrue, controller.ReasonMetalLBConfigValid)

	a := foreignPool(t, "broken-a", "10.250.0.0/24")
	b := foreignPool(t, "broken-b", "10.250.0.128/25")
	within(t, "class shows MetalLB's rejection", 10*time.Second, func() error {
		c := &v1alpha1.AnycastClass{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "verdict"}, c); err != nil {
			return err
		}
		if err := conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionMetalLBConfigValid, metav1.ConditionFalse, observe.ReasonMetalLBConfigRejected); err != nil {
			return err
		}
		if len(c.Status.Clusters) != 1 || c.Status.Clusters[0].MetalLB != observe.MetalLBInvalid ||
			!strings.Contains(c.Status.Clusters[0].MetalLBMessage, `controller: configuration error: CIDR "10.250.0.128/25" in pool "broken-b" overlaps with already defined CIDR "10.250.0.0/24"`) {
			return fmt.Errorf("clusters %+v", c.Status.Clusters)
		}
		return conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionReady, metav1.ConditionFalse, observe.ReasonMetalLBConfigRejected)
	})
	within(t, "ingress not programmed while MetalLB rejects its configuration", 10*time.Second, func() error {
		ing := getIngress(t, ns, "hello")
		if err := conditionIs(ing.Status.Conditions, ing.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, observe.ReasonMetalLBConfigRejected); err != nil {
			return err
		}
		if cs := ing.Status.Clusters; len(cs) != 1 || cs[0].Programmed || !strings.Contains(cs[0].Message, "MetalLB on west rejects its configuration") {
			return fmt.Errorf("clusters %+v", cs)
		}
		return nil
	})

	for _, p := range []*mlbv1beta1.IPAddressPool{a, b} {
		if err := env.Client.Delete(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	waitClassCondition(t, "verdict", v1alpha1.ConditionMetalLBConfigValid, metav1.ConditionTrue, controller.ReasonMetalLBConfigValid)
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionProgrammed, metav1.ConditionTrue, "")
}

// TestGatewayServiceEndpointsJudged: MetalLB's speaker withdraws a VIP whose Service has
// no ready endpoint (the Gateway's data plane pods not ready): the member is unhealthy,
// and the message names the cause instead of a bare NotAdvertised.
func TestGatewayServiceEndpointsJudged(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("dataplane"))
	create(t, ingress(ns, "hello", "dataplane", "192.168.155.172"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")

	key := types.NamespacedName{Namespace: ns, Name: "hello"}
	gateways.SetDataPlaneReady(key, false)
	t.Cleanup(func() { gateways.SetDataPlaneReady(key, true) })
	eventually(t, "member unhealthy for its data plane", func() error {
		ing := getIngress(t, ns, "hello")
		if cs := ing.Status.Clusters; len(cs) != 1 || cs[0].Health != status.HealthUnhealthy ||
			!strings.Contains(cs[0].HealthMessage, "the Gateway's Service "+ns+"/hello-lb has no ready endpoints") {
			return fmt.Errorf("clusters %+v", cs)
		}
		return nil
	})
	gateways.SetDataPlaneReady(key, true)
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionHealthy, metav1.ConditionTrue, "")
}

// TestForeignGatewayServiceIgnored: a Service carrying a Gateway's infrastructure labels,
// with the VIP, but not tied to the Gateway by its implementation (no owner reference, no
// owning-gateway label: a stale one, or anyone's) does not make the member healthy.
func TestForeignGatewayServiceIgnored(t *testing.T) {
	ns := newNamespace(t, nil)
	// No implementation serves this GatewayClass: nothing makes the real Service.
	create(t, localClass("foreign", func(c *v1alpha1.AnycastClass) { c.Spec.GatewayClassName = "nobody-serves-this" }))
	create(t, ingress(ns, "hello", "foreign", "192.168.155.173"))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "impostor", Namespace: ns, Labels: render.GatewayServiceLabels(&v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns}})},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	create(t, svc)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.155.173"}}
	if err := env.Client.Status().Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the impostor Service does not count", func() error {
		ing := getIngress(t, ns, "hello")
		if cs := ing.Status.Clusters; len(cs) != 1 || !strings.Contains(cs[0].HealthMessage, "no LoadBalancer Service of the Gateway carries the VIP 192.168.155.173 (the implementation has created none)") {
			return fmt.Errorf("clusters %+v", cs)
		}
		return nil
	})
}

// TestFirstAdvertisementWaitsForHealth: MetalLB announces a VIP as soon as its Service has
// the address and an endpoint, before the Gateway serves anything, so the operator holds a
// member's BGPAdvertisement back until the member has been healthy once. Nothing is
// advertised while no member is healthy (there is no traffic to protect yet); the pool
// and the Gateway are there, so the member can come up.
func TestFirstAdvertisementWaitsForHealth(t *testing.T) {
	ns := newNamespace(t, nil)
	class := localClass("firstadv", func(c *v1alpha1.AnycastClass) { c.Spec.GatewayClassName = "not-served-yet" })
	create(t, class)
	create(t, ingress(ns, "hello", "firstadv", "192.168.155.174"))
	pool := render.PoolName(ns, "hello")
	waitObject(t, render.GVKIPAddressPool, mlbNS, pool, nil)
	waitObject(t, render.GVKGateway, ns, "hello", nil)
	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionHealthy, metav1.ConditionFalse, string(v1alpha1.ReasonPending))
	if cs := got.Status.Clusters; len(cs) != 1 || cs[0].Advertisement != string(render.Withdraw) || cs[0].WithdrawnReason != render.ReasonAwaitingHealth {
		t.Fatalf("clusters %+v", cs)
	}
	consistently(t, "no BGPAdvertisement before the member is healthy", 2*time.Second, func() error {
		if getObject(t, render.GVKBGPAdvertisement, mlbNS, pool) != nil {
			return fmt.Errorf("advertised before its first health")
		}
		return nil
	})

	// An implementation now serves the class's Gateways: the member turns healthy and
	// advertises at once.
	update(t, class, func(c *v1alpha1.AnycastClass) { c.Spec.GatewayClassName = "envoy" })
	waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, nil)
	got = waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	if cs := got.Status.Clusters; cs[0].Advertisement != string(render.Advertise) || cs[0].WithdrawnReason != "" {
		t.Fatalf("clusters %+v", cs)
	}
}

// TestRefusedEverywhereSaysSo: an ingress every member refuses reports that nothing is
// applied anywhere, not "the other members are programmed" nor a Gateway that "does not
// exist yet" as if something were on its way.
func TestRefusedEverywhereSaysSo(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("refusedall", func(c *v1alpha1.AnycastClass) {
		c.Spec.Pools = []string{"2001:db8:177::/64"}
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeNative
	}))
	create(t, ingress(ns, "hello", "refusedall", "2001:db8:177::10"))
	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonUnsupportedByMode)
	acc := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted).Message
	if strings.Contains(acc, "the other members are programmed") || !strings.Contains(acc, "every selected member refuses the ingress, so nothing of this generation is applied anywhere") {
		t.Errorf("Accepted: %s", acc)
	}
	if err := conditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, string(v1alpha1.ReasonNotAccepted)); err != nil {
		t.Error(err)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionHealthy); c != nil {
		if c.Reason != string(v1alpha1.ReasonNotAccepted) || strings.Contains(c.Message, "does not exist yet") {
			t.Errorf("Healthy %s: %s", c.Reason, c.Message)
		}
	}
	if left := owned(t, owner.Ingress("refusedall", ns, "hello")); len(left) != 0 {
		t.Errorf("%d objects applied", len(left))
	}
}

// TestBGPPeerRewrittenOnlyWhenItChanges: MetalLB resets a BGP session when its BGPPeer is
// rewritten. Only an edit of that peer rewrites it; edits of other peers, the pools, a
// drain and ingresses coming and going leave it untouched.
func TestBGPPeerRewrittenOnlyWhenItChanges(t *testing.T) {
	ns := newNamespace(t, nil)
	class := localClass("peers", func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].Peers = append(c.Spec.Clusters[0].Peers, v1alpha1.Peer{Name: "tor2", Address: "10.201.0.254", ASN: 64001})
	})
	create(t, class)
	waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("peers", "tor2"), nil)
	rv := func(peer string) string {
		return waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("peers", peer), nil).GetResourceVersion()
	}
	tor, tor2 := rv("tor"), rv("tor2")
	unchanged := func(when string) {
		t.Helper()
		consistently(t, when+": no BGPPeer rewritten", 1500*time.Millisecond, func() error {
			if a, b := rv("tor"), rv("tor2"); a != tor || b != tor2 {
				return fmt.Errorf("resourceVersions %s/%s, were %s/%s", a, b, tor, tor2)
			}
			return nil
		})
	}

	create(t, ingress(ns, "hello", "peers", "192.168.155.175"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	unchanged("an ingress created")

	update(t, class, func(c *v1alpha1.AnycastClass) { c.Spec.Pools = append(c.Spec.Pools, "192.168.201.0/24") })
	waitClassCondition(t, "peers", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	unchanged("a pool added")

	update(t, class, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].Drain = &v1alpha1.DrainPolicy{Mode: v1alpha1.DrainWithdraw}
	})
	waitClassCondition(t, "peers", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	unchanged("the member drained")

	update(t, class, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].Peers[1].HoldTime = &metav1.Duration{Duration: 9 * time.Second}
	})
	eventually(t, "tor2 rewritten for its hold time", func() error {
		u := waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("peers", "tor2"), nil)
		if h, _, _ := unstructured.NestedString(u.Object, "spec", "holdTime"); h != "9s" {
			return fmt.Errorf("holdTime %q", h)
		}
		return nil
	})
	if got := rv("tor"); got != tor {
		t.Fatalf("editing tor2 rewrote tor (%s -> %s)", tor, got)
	}
}

// TestGatewayServiceByOperator: a shared data plane (Traefik) makes no Service per
// Gateway: with provisioner Operator the operator makes one in the data plane's namespace,
// selecting its pods, with the MetalLB annotations; the VIP's pool admits exactly that
// Service, MetalLB gives it the VIP, and the member is healthy without the Gateway
// reporting the address.
func TestGatewayServiceByOperator(t *testing.T) {
	ns := newNamespace(t, nil)
	dataPlane := newNamespace(t, nil)
	create(t, localClass("shared", func(c *v1alpha1.AnycastClass) {
		c.Spec.GatewayClassName = "traefik-like"
		c.Spec.GatewayService = &v1alpha1.GatewayService{
			Provisioner: v1alpha1.GatewayServiceByOperator, Namespace: dataPlane,
			Selector: map[string]string{"app.kubernetes.io/name": "traefik"},
			Ports:    []v1alpha1.ServicePortMapping{{Port: 80, TargetPort: 8000}},
		}
	}))
	create(t, ingress(ns, "hello", "shared", "192.168.155.176"))
	name := render.OperatorServiceName(ns, "hello")
	svc := waitObject(t, render.GVKService, dataPlane, name, func(u *unstructured.Unstructured) error {
		ips, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
		if len(ips) != 1 || ips[0].(map[string]interface{})["ip"] != "192.168.155.176" {
			return fmt.Errorf("status.loadBalancer.ingress %v", ips)
		}
		return nil
	})
	if p := nestedSlice(svc, "spec", "ports"); len(p) != 1 || p[0].(map[string]interface{})["targetPort"] != int64(8000) {
		t.Errorf("ports %v", p)
	}
	// A shared data plane reports the Gateway Programmed, with no per-Gateway address.
	eventually(t, "gateway programmed as a shared data plane reports it", func() error {
		gw := waitObject(t, render.GVKGateway, ns, "hello", nil)
		status := map[string]interface{}{"conditions": []interface{}{
			map[string]interface{}{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": gw.GetGeneration()},
			map[string]interface{}{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": gw.GetGeneration()},
		}}
		gw.Object["status"] = status
		return env.Client.Status().Update(context.Background(), gw)
	})
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	if ann := waitObject(t, render.GVKGateway, ns, "hello", nil).GetAnnotations(); ann[render.MetalLBLoadBalancerIPsAnno] != "" {
		t.Errorf("the Gateway itself carries MetalLB annotations: %v", ann)
	}
}

// TestGatewayServiceInControllerNamespace: Envoy Gateway's default deploy mode puts the
// Service in its controller's namespace. A class that does not say so gets a pool that
// refuses it (MetalLB's AllocationFailed, named in the health message with the namespace
// to set); once the class names the namespace, MetalLB gives the Service the VIP.
func TestGatewayServiceInControllerNamespace(t *testing.T) {
	ns := newNamespace(t, nil)
	egNS := newNamespace(t, nil)
	eg := &gatewayfixture.Implementation{Client: env.Client, GatewayClassNames: []string{"eg"}, ServiceNamespace: egNS, NoMetalLB: true}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go eg.Run(ctx)

	class := localClass("egcn", func(c *v1alpha1.AnycastClass) { c.Spec.GatewayClassName = "eg" })
	create(t, class)
	create(t, ingress(ns, "hello", "egcn", "192.168.155.177"))
	eventually(t, "health names the namespace and MetalLB's refusal", func() error {
		ing := getIngress(t, ns, "hello")
		if cs := ing.Status.Clusters; len(cs) != 1 ||
			!strings.Contains(cs[0].HealthMessage, "set the class's spec.gatewayService.namespace to "+egNS) ||
			!strings.Contains(cs[0].HealthMessage, "pool "+render.PoolName(ns, "hello")+" not compatible for ip assignment") {
			return fmt.Errorf("clusters %+v", cs)
		}
		return nil
	})
	update(t, class, func(c *v1alpha1.AnycastClass) {
		c.Spec.GatewayService = &v1alpha1.GatewayService{Namespace: egNS}
	})
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitObject(t, render.GVKService, egNS, gatewayfixture.ControllerNamespaceServiceName(ns, "hello"), func(u *unstructured.Unstructured) error {
		if u.GetAnnotations()["metallb.io/ip-allocated-from-pool"] != render.PoolName(ns, "hello") {
			return fmt.Errorf("annotations %v", u.GetAnnotations())
		}
		return nil
	})
}
