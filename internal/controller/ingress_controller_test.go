package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
)

const mlbNS = "metallb-system"

// TestIngressLifecycle: create programs the local member; changing the VIP, draining,
// undraining and adding or removing a route each reach the cluster; delete removes every
// child and the finalizer.
func TestIngressLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	create(t, localClass("life"))
	ing := ingress(ns, "hello", "life", "192.168.155.151")
	create(t, ing)

	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "Ready")
	if got.Status.Address != "192.168.155.151" || len(got.Status.Clusters) != 1 || !got.Status.Clusters[0].Programmed {
		t.Fatalf("status: %+v", got.Status)
	}
	for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed} {
		if err := conditionIs(got.Status.Conditions, got.Generation, typ, metav1.ConditionTrue, ""); err != nil {
			t.Fatal(err)
		}
	}
	pool := render.PoolName(ns, "hello")
	waitObject(t, render.GVKIPAddressPool, mlbNS, pool, func(u *unstructured.Unstructured) error {
		if a := nestedSlice(u, "spec", "addresses"); len(a) != 1 || a[0] != "192.168.155.151/32" {
			return fmt.Errorf("addresses %v", a)
		}
		return nil
	})
	waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, nil)
	waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("life", "tor"), nil)
	gw := waitObject(t, render.GVKGateway, ns, "hello", nil)
	if ann, _, _ := unstructured.NestedStringMap(gw.Object, "spec", "infrastructure", "annotations"); ann[render.MetalLBLoadBalancerIPsAnno] != "192.168.155.151" || ann[render.MetalLBAddressPoolAnnotation] != pool {
		t.Fatalf("gateway infrastructure annotations %v", ann)
	}

	t.Run("change VIP", func(t *testing.T) {
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Address = "192.168.155.152" })
		waitObject(t, render.GVKIPAddressPool, mlbNS, pool, func(u *unstructured.Unstructured) error {
			if a := nestedSlice(u, "spec", "addresses"); len(a) != 1 || a[0] != "192.168.155.152/32" {
				return fmt.Errorf("addresses %v", a)
			}
			return nil
		})
		// The Gateway asks for the VIP through the annotations its implementation copies
		// onto its Service (spec.addresses only when the class asks for it).
		waitObject(t, render.GVKGateway, ns, "hello", func(u *unstructured.Unstructured) error {
			ann, _, _ := unstructured.NestedStringMap(u.Object, "spec", "infrastructure", "annotations")
			if ann[render.MetalLBLoadBalancerIPsAnno] != "192.168.155.152" {
				return fmt.Errorf("gateway infrastructure annotations %v", ann)
			}
			if addrs := nestedSlice(u, "spec", "addresses"); len(addrs) != 0 {
				return fmt.Errorf("gateway spec.addresses %v, want none by default", addrs)
			}
			return nil
		})
		got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
		if got.Status.Address != "192.168.155.152" {
			t.Fatalf("status.address %s", got.Status.Address)
		}
	})

	t.Run("drain and undrain", func(t *testing.T) {
		// A class of one member cannot drain it (the schema refuses draining every
		// selected cluster when spec.clusters is set; render refuses it otherwise).
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Drain = []string{"west"} })
		waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonNoServingCluster)
		if getObject(t, render.GVKBGPAdvertisement, mlbNS, pool) == nil {
			t.Fatal("a refused spec must leave the working advertisement alone")
		}
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Drain = nil })
		waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	})

	t.Run("add and remove a route", func(t *testing.T) {
		if err := gatewayfixture.ReadyBackend(ctx, env.Client, ns, "api", 8080, 1); err != nil {
			t.Fatal(err)
		}
		update(t, ing, func(i *v1alpha1.AnycastIngress) {
			i.Spec.Routes = []v1alpha1.Route{{Name: "api", PathPrefix: "/api", Backend: v1alpha1.Backend{Service: "api", Port: 8080}}}
		})
		waitObject(t, render.GVKHTTPRoute, ns, render.RouteName("hello", "api"), func(u *unstructured.Unstructured) error {
			rules := nestedSlice(u, "spec", "rules")
			if len(rules) != 1 {
				return fmt.Errorf("rules %v", rules)
			}
			return nil
		})
		update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Routes = nil })
		waitGone(t, render.GVKHTTPRoute, ns, render.RouteName("hello", "api"))
		waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	})

	t.Run("delete removes everything", func(t *testing.T) {
		if err := env.Client.Delete(ctx, ing); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ingress gone", func() error {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(ing), &v1alpha1.AnycastIngress{})
			if err == nil {
				return fmt.Errorf("still present")
			}
			return client.IgnoreNotFound(err)
		})
		if left := owned(t, owner.Ingress("life", ns, "hello")); len(left) != 0 {
			t.Fatalf("%d children left after delete, e.g. %s %s", len(left), left[0].GetKind(), left[0].GetName())
		}
		// The class's shared peer stays: it belongs to the class.
		if getObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("life", "tor")) == nil {
			t.Fatal("the class's BGPPeer must outlive its ingresses")
		}
	})
}

// TestDrainLocalMember: in a class with a local and a remote member, draining the local
// one removes its advertisement and keeps its pool and Gateway.
func TestDrainLocalMember(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("drain", func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters = append(c.Spec.Clusters, v1alpha1.ClusterMember{
			Name: "east", ASN: 65002, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"},
		})
	}))
	ing := ingress(ns, "hello", "drain", "192.168.155.151")
	create(t, ing)
	pool := render.PoolName(ns, "hello")
	waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, nil)

	update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Drain = []string{"west"} })
	waitGone(t, render.GVKBGPAdvertisement, mlbNS, pool)
	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	if !got.Status.Clusters[0].Drained {
		t.Fatalf("west should be reported drained: %+v", got.Status.Clusters)
	}
	if getObject(t, render.GVKIPAddressPool, mlbNS, pool) == nil || getObject(t, render.GVKGateway, ns, "hello") == nil {
		t.Fatal("draining keeps the pool and the Gateway")
	}
	// east is reached through a kubeconfig, which this build does not serve: the ingress
	// says so instead of claiming to be programmed.
	if err := conditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "MemberUnavailable"); err != nil {
		t.Fatal(err)
	}

	update(t, ing, func(i *v1alpha1.AnycastIngress) { i.Spec.Drain = nil })
	waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, nil)
}

// TestAddressInUse: the later of two ingresses claiming one VIP is refused and gets
// nothing applied; when the first goes, the second takes the address.
func TestAddressInUse(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	create(t, localClass("conflict"))
	first := ingress(ns, "first", "conflict", "192.168.155.10")
	create(t, first)
	waitIngressCondition(t, ns, "first", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	create(t, ingress(ns, "second", "conflict", "192.168.155.10"))

	got := waitIngressCondition(t, ns, "second", v1alpha1.ConditionAccepted, metav1.ConditionFalse, "AddressInUse")
	if err := conditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionReady, metav1.ConditionFalse, "AddressInUse"); err != nil {
		t.Fatal(err)
	}
	consistently(t, "nothing of the second ingress is applied", 2*time.Second, func() error {
		if left := owned(t, owner.Ingress("conflict", ns, "second")); len(left) != 0 {
			return fmt.Errorf("%d objects applied", len(left))
		}
		return nil
	})
	if err := env.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitIngressCondition(t, ns, "second", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitObject(t, render.GVKIPAddressPool, mlbNS, render.PoolName(ns, "second"), nil)
}

// TestAllocation: ingresses without an address get the lowest free ones, and keep them.
func TestAllocation(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("alloc", func(c *v1alpha1.AnycastClass) { c.Spec.Pools = []string{"198.18.10.0/30"} }))
	create(t, ingress(ns, "taken", "alloc", "198.18.10.1"))
	waitIngressCondition(t, ns, "taken", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	create(t, ingress(ns, "auto", "alloc", ""))
	got := waitIngressCondition(t, ns, "auto", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	if got.Status.Address != "198.18.10.2" {
		t.Fatalf("allocated %q, want 198.18.10.2 (the lowest free host address)", got.Status.Address)
	}
	// The /30 has two host addresses; a third ingress finds none.
	create(t, ingress(ns, "none", "alloc", ""))
	waitIngressCondition(t, ns, "none", v1alpha1.ConditionAccepted, metav1.ConditionFalse, "PoolExhausted")
}

// TestMissingClass: an ingress naming no class is refused and applies nothing; creating
// the class brings it up.
func TestMissingClass(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, ingress(ns, "orphan", "later", "192.168.155.20"))
	waitIngressCondition(t, ns, "orphan", v1alpha1.ConditionAccepted, metav1.ConditionFalse, "ClassNotFound")
	if left := owned(t, owner.Ingress("later", ns, "orphan")); len(left) != 0 {
		t.Fatalf("%d objects applied without a class", len(left))
	}
	create(t, localClass("later"))
	waitIngressCondition(t, ns, "orphan", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// TestNamespaceNotAllowed: a class admitting only labelled namespaces refuses others; the
// label admits the ingress.
func TestNamespaceNotAllowed(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("picky", func(c *v1alpha1.AnycastClass) {
		c.Spec.AllowedNamespaces = &v1alpha1.AllowedNamespaces{From: v1alpha1.NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"anycast": "enabled"}}}
	}))
	create(t, ingress(ns, "hello", "picky", "192.168.155.30"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonNamespaceNotAllowed)
	if left := owned(t, owner.Ingress("picky", ns, "hello")); len(left) != 0 {
		t.Fatalf("%d objects applied in a refused namespace", len(left))
	}
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	update(t, nsObj, func(n *corev1.Namespace) { n.Labels["anycast"] = "enabled" })
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// TestNameConflict: a Gateway the operator did not create is left untouched and reported.
func TestNameConflict(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	theirs := &unstructured.Unstructured{}
	theirs.SetGroupVersionKind(render.GVKGateway)
	theirs.SetNamespace(ns)
	theirs.SetName("hello")
	theirs.SetLabels(map[string]string{"team": "someone-else"})
	_ = unstructured.SetNestedField(theirs.Object, "their-class", "spec", "gatewayClassName")
	_ = unstructured.SetNestedSlice(theirs.Object, []interface{}{map[string]interface{}{"name": "web", "port": int64(8080), "protocol": "HTTP"}}, "spec", "listeners")
	if err := env.Client.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	before := getObject(t, render.GVKGateway, ns, "hello")

	create(t, localClass("clash"))
	create(t, ingress(ns, "hello", "clash", "192.168.155.40"))
	got := waitIngressCondition(t, ns, "hello", v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "NameConflict")
	if got.Status.Clusters[0].Programmed {
		t.Fatal("a member with a conflicting object is not programmed")
	}
	after := getObject(t, render.GVKGateway, ns, "hello")
	if after.GetResourceVersion() != before.GetResourceVersion() {
		t.Fatalf("the foreign Gateway was modified: %v", after.Object)
	}
	// Everything else is applied.
	waitObject(t, render.GVKIPAddressPool, mlbNS, render.PoolName(ns, "hello"), nil)
}

// TestNativeModeRefusal: a member in MetalLB native mode with BFD is refused by the class
// and gets nothing; the refusal names the field and the mode.
func TestNativeModeRefusal(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, localClass("native", func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeNative
		three := int32(3)
		c.Spec.Clusters[0].Peers[0].BFD = &v1alpha1.BFDSettings{DetectMultiplier: &three}
	}))
	cls := waitClassCondition(t, "native", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonUnsupportedByMode)
	var msg string
	for _, c := range cls.Status.Conditions {
		if c.Type == v1alpha1.ConditionAccepted {
			msg = c.Message
		}
	}
	for _, want := range []string{"bfd", "native"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %q", msg, want)
		}
	}
	create(t, ingress(ns, "hello", "native", "192.168.155.50"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonUnsupportedByMode)
	consistently(t, "nothing applied to the refused member", 2*time.Second, func() error {
		if n := len(owned(t, owner.Class("native"))) + len(owned(t, owner.Ingress("native", ns, "hello"))); n != 0 {
			return fmt.Errorf("%d objects applied", n)
		}
		return nil
	})
}

// TestPasswordSecret: a peer password Secret is copied to the member as MetalLB's
// basic-auth Secret; until it exists, the class says which Secret is missing.
func TestPasswordSecret(t *testing.T) {
	ctx := context.Background()
	create(t, localClass("secret", func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].Peers[0].PasswordSecretRef = &v1alpha1.SecretKeyReference{Name: "tor-md5"}
	}))
	waitClassCondition(t, "secret", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPasswordSecretNotFound)
	if getObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("secret", "tor")) != nil {
		t.Fatal("a peer without its password must not be configured")
	}
	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tor-md5", Namespace: operatorNamespace},
		Data:       map[string][]byte{"password": []byte("s3cret-for-tests")},
	}); err != nil {
		t.Fatal(err)
	}
	waitClassCondition(t, "secret", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: mlbNS, Name: render.PasswordSecretName("secret", "tor")}, s); err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeBasicAuth || string(s.Data["password"]) != "s3cret-for-tests" {
		t.Fatalf("member secret: type %s", s.Type)
	}
	peer := waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("secret", "tor"), nil)
	if nestedString(peer, "spec", "passwordSecret", "name") != s.Name {
		t.Fatalf("peer does not reference the secret: %v", peer.Object["spec"])
	}
}

// TestClassDeletionWaitsForIngresses: like a GatewayClass in use, a class with ingresses
// stays (and says why) until they are gone; then its shared objects are removed.
func TestClassDeletionWaitsForIngresses(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	cls := localClass("inuse")
	create(t, cls)
	ing := ingress(ns, "hello", "inuse", "192.168.155.60")
	create(t, ing)
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	if err := env.Client.Delete(ctx, cls); err != nil {
		t.Fatal(err)
	}
	eventually(t, "class reports InUse", func() error {
		c := &v1alpha1.AnycastClass{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "inuse"}, c); err != nil {
			return err
		}
		return conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionReady, metav1.ConditionFalse, "InUse")
	})
	if getObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("inuse", "tor")) == nil {
		t.Fatal("the peer must stay while an ingress uses the class")
	}
	if err := env.Client.Delete(ctx, ing); err != nil {
		t.Fatal(err)
	}
	waitGone(t, render.GVKBGPPeer, mlbNS, render.PeerName("inuse", "tor"))
	eventually(t, "class gone", func() error {
		err := env.Client.Get(ctx, client.ObjectKey{Name: "inuse"}, &v1alpha1.AnycastClass{})
		if err == nil {
			return fmt.Errorf("still present")
		}
		return client.IgnoreNotFound(err)
	})
}

// TestDriftIsRepaired: someone deleting or editing a rendered object gets it back.
func TestDriftIsRepaired(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	create(t, localClass("drift"))
	create(t, ingress(ns, "hello", "drift", "192.168.155.70"))
	pool := render.PoolName(ns, "hello")
	adv := waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, nil)
	if err := env.Client.Delete(ctx, adv); err != nil {
		t.Fatal(err)
	}
	waitObject(t, render.GVKBGPAdvertisement, mlbNS, pool, func(u *unstructured.Unstructured) error {
		if u.GetUID() == adv.GetUID() {
			return fmt.Errorf("not recreated yet")
		}
		return nil
	})
	p := waitObject(t, render.GVKIPAddressPool, mlbNS, pool, nil)
	_ = unstructured.SetNestedSlice(p.Object, []interface{}{"192.168.155.99/32"}, "spec", "addresses")
	if err := env.Client.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitObject(t, render.GVKIPAddressPool, mlbNS, pool, func(u *unstructured.Unstructured) error {
		if a := nestedSlice(u, "spec", "addresses"); len(a) != 1 || a[0] != "192.168.155.70/32" {
			return fmt.Errorf("addresses %v", a)
		}
		return nil
	})
}

// TestClassConflicts: a class that shares a member with an older class cannot define the
// same BGP peer there (MetalLB refuses a peer defined twice) nor peer its watcher with the
// same router; it is refused on that member, and accepted once the older class is gone.
func TestClassConflicts(t *testing.T) {
	ctx := context.Background()
	watcher := func(c *v1alpha1.AnycastClass) {
		c.Spec.Watcher = &v1alpha1.Watcher{ASN: 64999, RouterID: "198.18.255.1",
			Sessions: []v1alpha1.WatcherSession{{Name: "core", Address: "198.18.250.1", ASN: 64666}}}
	}
	sameTOR := func(c *v1alpha1.AnycastClass) { c.Spec.Clusters[0].Peers[0].Address = "10.0.63.254" }
	older := localClass("first", watcher, sameTOR)
	create(t, older)
	waitClassCondition(t, "first", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	time.Sleep(1100 * time.Millisecond)               // creation timestamps have one-second resolution
	create(t, localClass("second", watcher, sameTOR)) // the same TOR on the same cluster
	got := waitClassCondition(t, "second", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPeerConflict)
	var msg string
	for _, c := range got.Status.Conditions {
		if c.Type == v1alpha1.ConditionAccepted {
			msg = c.Message
		}
	}
	if !strings.Contains(msg, "first") || !strings.Contains(msg, "10.0.63.254") {
		t.Errorf("the refusal should name the other class and the peer: %s", msg)
	}
	waitClassCondition(t, "second", v1alpha1.ConditionSessionsEstablished, metav1.ConditionFalse, "SessionConflict")
	if getObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("second", "tor")) != nil {
		t.Fatal("the conflicting peer must not be applied")
	}
	ns := newNamespace(t, nil)
	create(t, ingress(ns, "hello", "second", "192.168.155.90"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPeerConflict)

	// Another ASN on the same cluster (its own TOR, the default VRF): MetalLB's speakers
	// have one ASN per VRF, so the younger class is refused there too.
	otherASN := localClass("third", func(c *v1alpha1.AnycastClass) { c.Spec.Clusters[0].ASN = 65009 })
	create(t, otherASN)
	got = waitClassCondition(t, "third", v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonPeerConflict)
	for _, c := range got.Status.Conditions {
		if c.Type == v1alpha1.ConditionAccepted && (!strings.Contains(c.Message, "ASN 65001") || !strings.Contains(c.Message, "65009")) {
			t.Errorf("the refusal should name both ASNs: %s", c.Message)
		}
	}
	if getObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("third", "tor")) != nil {
		t.Fatal("the peer of a class refused for its ASN must not be applied")
	}
	if err := env.Client.Delete(ctx, otherASN); err != nil {
		t.Fatal(err)
	}

	if err := env.Client.Delete(ctx, older); err != nil {
		t.Fatal(err)
	}
	waitClassCondition(t, "second", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
	waitObject(t, render.GVKBGPPeer, mlbNS, render.PeerName("second", "tor"), nil)
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionAccepted, metav1.ConditionTrue, "")
}
