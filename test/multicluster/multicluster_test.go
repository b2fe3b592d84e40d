package multicluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestFanOutAndLinking: one AnycastIngress on west programs all three members; the spokes
// receive AccessTokens carrying exactly their grant's url, code and ca; Linked=True once
// the Skupper fixture redeems them.
func TestFanOutAndLinking(t *testing.T) {
	ns := namespace(t, "fanout")
	backendOn(t, ns, east)
	create(t, west.Client, threeClusters("fan"))
	create(t, west.Client, ingress(ns, "hello", "fan", "192.168.155.151", withBackendOn("east")))

	ing := waitIngress(t, ns, "hello", "Ready", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))
	for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed, v1alpha1.ConditionLinked} {
		if err := testenv.ConditionIs(ing.Status.Conditions, ing.Generation, typ, metav1.ConditionTrue, ""); err != nil {
			t.Error(err)
		}
	}
	for _, name := range []string{"west", "east", "north"} {
		cs := ing.Status.Cluster(name)
		if cs == nil || !cs.Programmed || cs.Link != "Ready" {
			t.Errorf("cluster %s status %+v, want programmed and linked", name, cs)
		}
	}

	pool := render.PoolName(ns, "hello")
	for name, env := range map[string]*testenv.Env{"west": west, "east": east, "north": north} {
		for _, o := range []struct {
			gvk      schema.GroupVersionKind
			ns, name string
		}{
			{render.GVKIPAddressPool, mlbNS, pool}, {render.GVKBGPAdvertisement, mlbNS, pool}, {render.GVKGateway, ns, "hello"},
			{render.GVKBGPPeer, mlbNS, render.PeerName("fan", "tor")}, {render.GVKSite, ns, name},
		} {
			if testenv.Get(t, env.Client, o.gvk, o.ns, o.name) == nil {
				t.Errorf("cluster %s lacks %s %s/%s (status %+v)", name, o.gvk.Kind, o.ns, o.name, ing.Status.Cluster(name))
			}
		}
	}
	// The backend runs on east: a Connector there, Listeners elsewhere.
	listener := render.BindingName("hello", "backend")
	if testenv.Get(t, east.Client, render.GVKConnector, ns, listener) == nil {
		t.Error("east lacks the Connector")
	}
	for name, env := range map[string]*testenv.Env{"west": west, "north": north} {
		if testenv.Get(t, env.Client, render.GVKListener, ns, listener) == nil {
			t.Errorf("%s lacks the Listener", name)
		}
	}

	// Each spoke's token carries exactly its grant's credential.
	for spoke, env := range map[string]*testenv.Env{"east": east, "north": north} {
		grant := testenv.Get(t, west.Client, render.GVKAccessGrant, ns, render.GrantName("fan", spoke, 0))
		if grant == nil {
			t.Fatalf("no grant for %s on the hub", spoke)
		}
		g := render.GrantObserved{
			URL:  str(grant, "status", "url"),
			Code: str(grant, "status", "code"),
			CA:   str(grant, "status", "ca"),
		}
		token := testenv.Get(t, env.Client, render.GVKAccessToken, ns, render.TokenName("fan", "west", g))
		if token == nil {
			t.Fatalf("no token on %s for grant %s", spoke, grant.GetName())
		}
		if str(token, "spec", "url") != g.URL || str(token, "spec", "code") != g.Code || str(token, "spec", "ca") != g.CA || g.Code == "" {
			t.Errorf("%s token does not carry the grant's url/code/ca", spoke)
		}
		if redeemed, _, _ := unstructured.NestedBool(token.Object, "status", "redeemed"); !redeemed {
			t.Errorf("%s token not redeemed", spoke)
		}
	}
	// The hub's router Service, created by Skupper, gets the MetalLB pool for router
	// access; nothing else of it is claimed.
	svc := testenv.Get(t, west.Client, corev1.SchemeGroupVersion.WithKind("Service"), ns, "skupper-router")
	if svc == nil || svc.GetAnnotations()["metallb.io/address-pool"] != "skupper-links" {
		t.Errorf("the skupper-router Service lacks the router-access pool annotation: %v", svc)
	} else {
		for _, mf := range svc.GetManagedFields() {
			if mf.Manager == "anycast-operator-router-access" && !strings.Contains(string(mf.FieldsV1.Raw), "metallb.io/address-pool") {
				t.Errorf("the operator claims more than the pool annotation: %s", mf.FieldsV1.Raw)
			}
			if mf.Manager == "anycast-operator-router-access" && strings.Contains(string(mf.FieldsV1.Raw), "spec") {
				t.Errorf("the operator claims spec fields of Skupper's Service: %s", mf.FieldsV1.Raw)
			}
		}
	}
	cls := waitClass(t, "fan", "ClustersReachable", converge, func(c *v1alpha1.AnycastClass) error {
		return testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionClustersReachable, metav1.ConditionTrue, "")
	})
	if len(cls.Status.Clusters) != 3 {
		t.Errorf("class status lists %d members, want 3", len(cls.Status.Clusters))
	}
}

// TestMemberOutage: with east's API server stopped, west and north stay programmed and
// the ingress and the class name east unreachable within 30 s; when it starts again the
// ingress converges without an operator restart.
func TestMemberOutage(t *testing.T) {
	ns := namespace(t, "outage")
	create(t, west.Client, threeClusters("out"))
	create(t, west.Client, ingress(ns, "hello", "out", "192.168.155.152"))
	waitIngress(t, ns, "hello", "Ready", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))

	stopped := time.Now()
	if err := east.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = east.StartAPIServer()
		}
	})
	// The acceptance bound is 30 s; how fast it really is goes to the log.
	var ing *v1alpha1.AnycastIngress
	testenv.Eventually(t, "ingress names east unavailable", 30*time.Second, func() error {
		ing = &v1alpha1.AnycastIngress{}
		if err := west.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hello"}, ing); err != nil {
			return err
		}
		if err := testenv.ConditionIs(ing.Status.Conditions, ing.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "MemberUnavailable"); err != nil {
			return err
		}
		return mentions(conditionMessage(ing.Status.Conditions, v1alpha1.ConditionProgrammed), "east")
	})
	t.Logf("ingress reported east unavailable %s after its API server stopped", time.Since(stopped).Round(10*time.Millisecond))
	waitClass(t, "out", "names east unreachable", 30*time.Second-time.Since(stopped), func(c *v1alpha1.AnycastClass) error {
		if err := testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionClustersReachable, metav1.ConditionFalse, ""); err != nil {
			return err
		}
		if m := classMember(c, "east"); m == nil || m.Reachable || m.Reason != "Unreachable" {
			return fmt.Errorf("east member status %+v", m)
		}
		return mentions(conditionMessage(c.Status.Conditions, v1alpha1.ConditionClustersReachable), "east")
	})
	t.Logf("class reported east unreachable %s after its API server stopped", time.Since(stopped).Round(10*time.Millisecond))
	for _, name := range []string{"west", "north"} {
		if cs := ing.Status.Cluster(name); cs == nil || !cs.Programmed {
			t.Errorf("%s must stay programmed while east is down: %+v", name, cs)
		}
	}

	started := time.Now()
	if err := east.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitIngress(t, ns, "hello", "Ready again", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))
	t.Logf("Ready again %s after east's API server was started", time.Since(started).Round(10*time.Millisecond))
	if testenv.Get(t, east.Client, render.GVKGateway, ns, "hello") == nil {
		t.Error("east's Gateway is missing after the outage")
	}
}

// TestDeleteWhileMemberDown: deleting the ingress while north is down removes its
// children from west and east at once, and from north when north returns.
func TestDeleteWhileMemberDown(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "deletion")
	create(t, west.Client, threeClusters("del"))
	// An HTTPS listener: north holds a copy of the hub's certificate, which must go too.
	create(t, west.Client, tlsSecret(ns, "hello-tls", newPair(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))))
	ing := ingress(ns, "hello", "del", "192.168.155.153", withHTTPS("hello-tls"))
	create(t, west.Client, ing)
	waitIngress(t, ns, "hello", "Ready", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))
	ref := owner.Ingress("del", ns, "hello")
	if n := len(testenv.Owned(t, north.Client, ref)); n == 0 {
		t.Fatal("north holds none of the ingress's objects")
	}
	copyName := render.CertificateCopyName("hello", "hello-tls")
	if err := north.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: copyName}, &corev1.Secret{}); err != nil {
		t.Fatalf("north has no certificate copy: %v", err)
	}

	if err := north.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = north.StartAPIServer()
		}
	})
	waitClass(t, "del", "north unreachable", converge, func(c *v1alpha1.AnycastClass) error {
		if m := classMember(c, "north"); m == nil || m.Reachable {
			return fmt.Errorf("north member status %+v", m)
		}
		return nil
	})
	if err := west.Client.Delete(ctx, ing); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "ingress gone", converge, func() error {
		if err := west.Client.Get(ctx, client.ObjectKeyFromObject(ing), &v1alpha1.AnycastIngress{}); err == nil {
			return fmt.Errorf("still present")
		} else {
			return client.IgnoreNotFound(err)
		}
	})
	for name, env := range map[string]*testenv.Env{"west": west, "east": east} {
		if left := testenv.Owned(t, env.Client, ref); len(left) != 0 {
			t.Errorf("%s still holds %d objects of the deleted ingress", name, len(left))
		}
	}

	if err := north.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	testenv.Eventually(t, "north swept once it returns", converge, func() error {
		if left := testenv.Owned(t, north.Client, ref); len(left) != 0 {
			return fmt.Errorf("%d objects left, e.g. %s %s", len(left), left[0].GetKind(), left[0].GetName())
		}
		if err := north.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: copyName}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the certificate copy is still there (%v)", err)
		}
		return nil
	})
}

// TestAddAndRemoveMember: adding a member to the class programs it; removing one removes
// everything of the class from it.
func TestAddAndRemoveMember(t *testing.T) {
	ns := namespace(t, "membership")
	cls := class("grow", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke))
	create(t, west.Client, cls)
	create(t, west.Client, ingress(ns, "hello", "grow", "192.168.155.154"))
	waitIngress(t, ns, "hello", "Ready", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))
	if testenv.Get(t, east.Client, render.GVKGateway, ns, "hello") == nil {
		t.Fatal("east lacks the Gateway")
	}

	update(t, cls, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters = []v1alpha1.ClusterMember{member("west", 65001, v1alpha1.InterconnectHub), member("north", 65003, v1alpha1.InterconnectSpoke)}
	})
	testenv.Eventually(t, "north programmed", converge, func() error {
		if testenv.Get(t, north.Client, render.GVKGateway, ns, "hello") == nil || testenv.Get(t, north.Client, render.GVKBGPPeer, mlbNS, render.PeerName("grow", "tor")) == nil {
			return fmt.Errorf("north lacks the Gateway or the peer")
		}
		return nil
	})
	testenv.Eventually(t, "east cleaned", converge, func() error {
		for _, ref := range []owner.Ref{owner.Ingress("grow", ns, "hello"), owner.Class("grow")} {
			if left := testenv.Owned(t, east.Client, ref); len(left) != 0 {
				return fmt.Errorf("%d objects of %s left on east", len(left), ref)
			}
		}
		return nil
	})
	waitIngress(t, ns, "hello", "Ready on west and north", func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionReady, metav1.ConditionTrue, ""); err != nil {
			return err
		}
		if i.Status.Cluster("east") != nil || i.Status.Cluster("north") == nil {
			return fmt.Errorf("status clusters %+v", i.Status.Clusters)
		}
		return nil
	})
}

// TestForeignGatewayUntouched: a Gateway of the same name on east that the operator did
// not create is left as it is and reported; the other members are programmed.
func TestForeignGatewayUntouched(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "foreign")
	theirs := &unstructured.Unstructured{}
	theirs.SetGroupVersionKind(render.GVKGateway)
	theirs.SetNamespace(ns)
	theirs.SetName("hello")
	_ = unstructured.SetNestedField(theirs.Object, "their-class", "spec", "gatewayClassName")
	_ = unstructured.SetNestedSlice(theirs.Object, []interface{}{map[string]interface{}{"name": "web", "port": int64(8080), "protocol": "HTTP"}}, "spec", "listeners")
	create(t, east.Client, nsObject(ns))
	create(t, east.Client, theirs)
	before := testenv.Get(t, east.Client, render.GVKGateway, ns, "hello")

	create(t, west.Client, class("foreign", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "foreign", "192.168.155.155"))
	ing := waitIngress(t, ns, "hello", "NameConflict", condition(v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "NameConflict"))
	if cs := ing.Status.Cluster("east"); cs == nil || cs.Programmed || mentions(cs.Message, "Gateway", "not created by anycast-operator") != nil {
		t.Errorf("east status should report the foreign Gateway: %+v", cs)
	}
	if cs := ing.Status.Cluster("west"); cs == nil || !cs.Programmed {
		t.Errorf("west should be programmed: %+v", cs)
	}
	time.Sleep(time.Second)
	after := testenv.Get(t, east.Client, render.GVKGateway, ns, "hello")
	if after.GetResourceVersion() != before.GetResourceVersion() || len(after.GetLabels()) != 0 {
		t.Errorf("the foreign Gateway was modified")
	}
	_ = ctx
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

// TestDriftOnAMemberIsRepaired: an object of an ingress on a remote member, edited or
// deleted by someone else, is put back, also after reconciles that found everything as
// desired (the member remembers such an owner as settled and skips its apply while
// nothing of it changes: the change must end that).
func TestDriftOnAMemberIsRepaired(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "drift")
	create(t, west.Client, class("drift", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "drift", "192.168.155.157"))
	waitIngress(t, ns, "hello", "Programmed", condition(v1alpha1.ConditionProgrammed, metav1.ConditionTrue, ""))
	pool := render.PoolName(ns, "hello")

	// Reconciles that change nothing: a pool of someone else's on east has every ingress
	// of its classes looked at again.
	settle := func(name, cidr string) {
		t.Helper()
		theirs := &unstructured.Unstructured{}
		theirs.SetGroupVersionKind(render.GVKIPAddressPool)
		theirs.SetNamespace(mlbNS)
		theirs.SetName(name)
		_ = unstructured.SetNestedStringSlice(theirs.Object, []string{cidr}, "spec", "addresses")
		create(t, east.Client, theirs)
		time.Sleep(3 * time.Second)
		if err := east.Client.Delete(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
	}
	settle("drift-theirs-1", "172.31.250.0/30")

	// autoAssign: a field the operator sets that changes nothing it observes, so only
	// the edit itself can bring the repair.
	edited := testenv.Get(t, east.Client, render.GVKIPAddressPool, mlbNS, pool)
	_ = unstructured.SetNestedField(edited.Object, true, "spec", "autoAssign")
	if err := east.Client.Update(ctx, edited); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "east's edited pool repaired", converge, func() error {
		auto, _, _ := unstructured.NestedBool(testenv.Get(t, east.Client, render.GVKIPAddressPool, mlbNS, pool).Object, "spec", "autoAssign")
		if auto {
			return fmt.Errorf("spec.autoAssign is still true")
		}
		return nil
	})

	settle("drift-theirs-2", "172.31.250.4/30")
	adv := testenv.Get(t, east.Client, render.GVKBGPAdvertisement, mlbNS, pool)
	if adv == nil {
		t.Fatalf("east has no BGPAdvertisement %s: %s", pool, describeMembers(waitIngress(t, ns, "hello", "read", func(*v1alpha1.AnycastIngress) error { return nil })))
	}
	if err := east.Client.Delete(ctx, adv); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "east's deleted advertisement recreated", converge, func() error {
		got := testenv.Get(t, east.Client, render.GVKBGPAdvertisement, mlbNS, pool)
		if got == nil || got.GetUID() == adv.GetUID() {
			return fmt.Errorf("not recreated yet")
		}
		return nil
	})
}
