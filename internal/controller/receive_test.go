package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

const mlbNamespace = "metallb-system"

// foreignFRRConfiguration creates an FRRConfiguration the operator did not write, as
// MetalLB's speaker in frr-k8s mode writes its own per node ("metallb-<node>": the node's
// router, the peers as neighbours, what it advertises), and removes it when the test ends.
func foreignFRRConfiguration(t *testing.T, name, tor string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]interface{}{"spec": map[string]interface{}{
		"nodeSelector": map[string]interface{}{"matchLabels": map[string]interface{}{"kubernetes.io/hostname": "west-node"}},
		"bgp": map[string]interface{}{"routers": []interface{}{map[string]interface{}{
			"asn": int64(65001),
			"neighbors": []interface{}{map[string]interface{}{"address": tor, "asn": int64(64001), "port": int64(179),
				"toAdvertise": map[string]interface{}{"allowed": map[string]interface{}{"prefixes": []interface{}{"192.168.155.61/32"}}}}},
			"prefixes": []interface{}{"192.168.155.61/32"},
		}}}}}}
	u.SetGroupVersionKind(render.GVKFRRConfiguration)
	u.SetNamespace(mlbNamespace)
	u.SetName(name)
	create(t, u)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	return u
}

func getClass(t *testing.T, name string) *v1alpha1.AnycastClass {
	t.Helper()
	c := &v1alpha1.AnycastClass{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// unchanged fails when a foreign object was written since it was read.
func unchanged(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	now := getObject(t, u.GroupVersionKind(), u.GetNamespace(), u.GetName())
	if now == nil || now.GetResourceVersion() != u.GetResourceVersion() {
		t.Errorf("%s %s/%s is not the operator's, yet it was changed or deleted", u.GetKind(), u.GetNamespace(), u.GetName())
	}
}

// TestReceiveAppliedAndPruned: spec.receive becomes, on an frr-k8s member, an
// FRRConfiguration that joins MetalLB's session to the TOR (same router ASN, same
// neighbour) and lets it receive the filtered prefixes; it follows the spec (mode All) and
// is pruned when receive goes. On an frr member it becomes MetalLB's bgpextras ConfigMap,
// with a status notice and a Normal event that sessions established before need a reset,
// beside the notice and event that frr mode is deprecated upstream.
// MetalLB's own FRRConfiguration is never touched, and deleting the class leaves nothing.
func TestReceiveAppliedAndPruned(t *testing.T) {
	const name = "receive"
	tor := torAddress(name)
	metallbs := foreignFRRConfiguration(t, "metallb-west-node", tor)
	create(t, localClass(name, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRRK8s
		c.Spec.Receive = &v1alpha1.ReceiveRoutes{Prefixes: []v1alpha1.ReceivePrefix{{Prefix: "198.18.0.0/15", LE: int32p(24)}}}
	}))
	ours := render.ReceiveConfigName(name)
	waitObject(t, render.GVKFRRConfiguration, mlbNamespace, ours, func(u *unstructured.Unstructured) error {
		routers := nestedSlice(u, "spec", "bgp", "routers")
		if len(routers) != 1 {
			return fmt.Errorf("routers %v", routers)
		}
		r := routers[0].(map[string]interface{})
		n := r["neighbors"].([]interface{})[0].(map[string]interface{})
		if fmt.Sprint(r["asn"]) != "65001" || n["address"] != tor || fmt.Sprint(n["asn"]) != "64001" {
			return fmt.Errorf("router %v does not join MetalLB's session to %s (AS 65001 to 64001)", r, tor)
		}
		allowed := n["toReceive"].(map[string]interface{})["allowed"].(map[string]interface{})
		if allowed["mode"] != "filtered" || fmt.Sprint(allowed["prefixes"]) != "[map[le:24 prefix:198.18.0.0/15]]" {
			return fmt.Errorf("toReceive %v", allowed)
		}
		return nil
	})
	waitClassCondition(t, name, v1alpha1.ConditionReady, metav1.ConditionTrue, "")

	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) {
		c.Spec.Receive = &v1alpha1.ReceiveRoutes{Mode: v1alpha1.ReceiveAll}
	})
	waitObject(t, render.GVKFRRConfiguration, mlbNamespace, ours, func(u *unstructured.Unstructured) error {
		n := nestedSlice(u, "spec", "bgp", "routers")[0].(map[string]interface{})["neighbors"].([]interface{})[0].(map[string]interface{})
		if mode, _, _ := unstructured.NestedString(n, "toReceive", "allowed", "mode"); mode != "all" {
			return fmt.Errorf("mode %q, want all", mode)
		}
		return nil
	})

	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) { c.Spec.Receive = nil })
	waitGone(t, render.GVKFRRConfiguration, mlbNamespace, ours)
	unchanged(t, metallbs)

	// The bundled-FRR mode: MetalLB's bgpextras ConfigMap, and the notice.
	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRR
		c.Spec.Clusters[0].Receive = &v1alpha1.ReceiveRoutes{Prefixes: []v1alpha1.ReceivePrefix{{Prefix: "198.18.0.0/15", LE: int32p(24)}}}
	})
	waitObject(t, render.GVKConfigMap, mlbNamespace, render.BGPExtrasName, func(u *unstructured.Unstructured) error {
		extras := nestedString(u, "data", render.BGPExtrasKey)
		for _, want := range []string{"ip prefix-list anycast-receive-tor-in seq 5 permit 198.18.0.0/15 le 24", "route-map " + tor + "-in permit 20", " match ip address prefix-list anycast-receive-tor-in"} {
			if !strings.Contains(extras, want) {
				return fmt.Errorf("extras lack %q:\n%s", want, extras)
			}
		}
		return nil
	})
	eventually(t, "the class lists the notices and tells them in Normal events", func() error {
		c := getClass(t, name)
		if len(c.Status.Clusters) != 1 || len(c.Status.Clusters[0].Notices) != 2 ||
			!strings.Contains(c.Status.Clusters[0].Notices[0], "west runs MetalLB in frr mode (its bundled FRR), which MetalLB deprecated in 0.16") ||
			!strings.Contains(c.Status.Clusters[0].Notices[1], "applies only to BGP sessions established after it exists") {
			return fmt.Errorf("clusters %+v", c.Status.Clusters)
		}
		if err := classEvent(name, render.NoticeMetalLBModeDeprecated, "west: west runs MetalLB in frr mode"); err != nil {
			return err
		}
		return classEvent(name, render.NoticeReceiveNeedsSessionReset, "west: spec.clusters[west].receive is written to MetalLB's bgpextras ConfigMap")
	})
	waitGone(t, render.GVKFRRConfiguration, mlbNamespace, ours)

	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) { c.Spec.Clusters[0].Receive = nil })
	waitGone(t, render.GVKConfigMap, mlbNamespace, render.BGPExtrasName)
	eventually(t, "the receive notice goes with the setting, the mode's stays", func() error {
		if n := getClass(t, name).Status.Clusters[0].Notices; len(n) != 1 || !strings.Contains(n[0], "deprecated") {
			return fmt.Errorf("notices %v", n)
		}
		return nil
	})

	// Back to receiving, then the class goes: nothing of it is left, MetalLB's is.
	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRRK8s
		c.Spec.Receive = &v1alpha1.ReceiveRoutes{Mode: v1alpha1.ReceiveAll}
	})
	waitObject(t, render.GVKFRRConfiguration, mlbNamespace, ours, nil)
	if err := env.Client.Delete(context.Background(), &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "nothing of the class left", func() error {
		if left := owned(t, owner.Class(name)); len(left) > 0 {
			return fmt.Errorf("%d left, first %s %s", len(left), left[0].GetKind(), left[0].GetName())
		}
		return nil
	})
	unchanged(t, metallbs)
}

// TestReceiveNeverTouchesOthers: an FRRConfiguration or a bgpextras ConfigMap of the
// operator's names that someone else made is reported (NameConflict, naming it) and left
// as it is, through the class's changes and its deletion.
func TestReceiveNeverTouchesOthers(t *testing.T) {
	const name = "receive-others"
	theirs := foreignFRRConfiguration(t, render.ReceiveConfigName(name), torAddress(name))
	create(t, localClass(name, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRRK8s
		c.Spec.Receive = &v1alpha1.ReceiveRoutes{Mode: v1alpha1.ReceiveAll}
	}))
	c := waitClassCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionFalse, string(v1alpha1.ReasonNameConflict))
	if msg := findCond(c, v1alpha1.ConditionAccepted).Message; !strings.Contains(msg, "FRRConfiguration metallb-system/"+render.ReceiveConfigName(name)+" already exists and was not created by anycast-operator") {
		t.Errorf("Accepted message %q does not name the FRRConfiguration", msg)
	}
	unchanged(t, theirs)

	// A bgpextras ConfigMap of the user's own, in frr mode.
	extras := &unstructured.Unstructured{Object: map[string]interface{}{"data": map[string]interface{}{render.BGPExtrasKey: "route-map 10.9.9.9-in permit 20\n"}}}
	extras.SetGroupVersionKind(render.GVKConfigMap)
	extras.SetNamespace(mlbNamespace)
	extras.SetName(render.BGPExtrasName)
	create(t, extras)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), extras) })
	update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRR
	})
	eventually(t, "the user's bgpextras is reported", func() error {
		c := getClass(t, name)
		if err := conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionAccepted, metav1.ConditionFalse, string(v1alpha1.ReasonNameConflict)); err != nil {
			return err
		}
		if msg := findCond(c, v1alpha1.ConditionAccepted).Message; !strings.Contains(msg, "ConfigMap metallb-system/bgpextras already exists and was not created by anycast-operator") {
			return fmt.Errorf("Accepted message %q does not name the ConfigMap", msg)
		}
		return nil
	})
	if err := env.Client.Delete(context.Background(), &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the class is gone", func() error {
		err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &v1alpha1.AnycastClass{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
	unchanged(t, theirs)
	unchanged(t, extras)
}

// sessionState writes a BGPSessionState as frr-k8s's status exporter does (frr-tools/status
// in frr-k8s v0.0.21: named <node>-<random>, labelled with node, peer and VRF, the state in
// status), a stand-in for the real frr-k8s, which the lab runs.
func sessionState(t *testing.T, node, peer, bgp, bfd string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusters.GVKBGPSessionState)
	u.SetNamespace(mlbNamespace)
	u.SetGenerateName(node + "-")
	u.SetLabels(map[string]string{"frrk8s.metallb.io/node": node, "frrk8s.metallb.io/peer": peer, "frrk8s.metallb.io/vrf": ""})
	create(t, u)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	setSessionState(t, u, bgp, bfd)
	return u
}

func setSessionState(t *testing.T, u *unstructured.Unstructured, bgp, bfd string) {
	t.Helper()
	eventually(t, "writing a BGPSessionState's status", func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		u.Object["status"] = map[string]interface{}{"node": u.GetLabels()["frrk8s.metallb.io/node"], "peer": u.GetLabels()["frrk8s.metallb.io/peer"], "vrf": "", "bgpStatus": bgp, "bfdStatus": bfd}
		return env.Client.Status().Update(context.Background(), u)
	})
}

// TestSpeakerSessionsReported: what frr-k8s reports of the speakers' sessions (its
// BGPSessionStates) is in the class status per member and peer (BGP state, BFD state,
// since), beside the watcher's sessions; a member none of whose sessions to its peers is
// Established is unhealthy for the health gate, naming the peers, and the class says
// NoSessionToTOR; when a session is back, both recover. Sessions to neighbours that are not
// the class's are left out.
func TestSpeakerSessionsReported(t *testing.T) {
	const name = "speakers"
	ns := newNamespace(t, nil)
	torA, torB := torAddress(name), "10.0.99.1"
	create(t, localClass(name, func(c *v1alpha1.AnycastClass) {
		c.Spec.Clusters[0].MetalLBMode = v1alpha1.MetalLBModeFRRK8s
		c.Spec.Clusters[0].Peers = []v1alpha1.Peer{{Name: "tor-a", Address: torA, ASN: 64001}, {Name: "tor-b", Address: torB, ASN: 64001}}
	}))
	create(t, ingress(ns, "hello", name, "192.168.155.62"))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")

	a1 := sessionState(t, "node-1", torA, "Established", "N/A")
	b1 := sessionState(t, "node-1", torB, "Active", "N/A")
	sessionState(t, "node-1", "192.0.2.77", "Idle", "N/A") // someone else's neighbour
	var since *metav1.Time
	eventually(t, "the class shows the speakers' sessions", func() error {
		c := getClass(t, name)
		if err := conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionSpeakerSessionsEstablished, metav1.ConditionFalse, string(v1alpha1.ReasonSpeakerSessionsDown)); err != nil {
			return err
		}
		sp := c.Status.Clusters[0].Speakers
		if len(sp) != 2 || sp[0].Peer != "tor-a" || sp[0].BGPState != "Established" || sp[0].BFDState != "N/A" || sp[0].Established != 1 || sp[0].Nodes != 1 || sp[0].Since == nil ||
			sp[1].Peer != "tor-b" || sp[1].BGPState != "Active" || sp[1].Established != 0 || !strings.Contains(sp[1].Message, "node-1 (Active)") {
			return fmt.Errorf("speakers %+v", sp)
		}
		since = sp[0].Since
		return nil
	})

	// Both TORs down: the member cannot be carrying traffic. (Status times have whole
	// seconds: wait one so that a new since can be told from the old.)
	time.Sleep(1100 * time.Millisecond)
	setSessionState(t, a1, "Connect", "N/A")
	eventually(t, "NoSessionToTOR on the class, unhealthy on the ingress", func() error {
		c := getClass(t, name)
		if err := conditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionSpeakerSessionsEstablished, metav1.ConditionFalse, string(v1alpha1.ReasonNoSessionToTOR)); err != nil {
			return err
		}
		if sp := c.Status.Clusters[0].Speakers; sp[0].BGPState != "Connect" || sp[0].Since == nil || !sp[0].Since.After(since.Time) {
			return fmt.Errorf("tor-a %+v: since should move with the state (was %v)", sp[0], since)
		}
		ing := getIngress(t, ns, "hello")
		if len(ing.Status.Clusters) != 1 || ing.Status.Clusters[0].Health != "Unhealthy" {
			return fmt.Errorf("member health %+v", ing.Status.Clusters)
		}
		for _, want := range []string{"no BGP session of its speakers to its peers is Established", "tor-a " + torA + ": 1 of 1 nodes not Established: node-1 (Connect)", "tor-b " + torB} {
			if !strings.Contains(ing.Status.Clusters[0].HealthMessage, want) {
				return fmt.Errorf("health message %q lacks %q", ing.Status.Clusters[0].HealthMessage, want)
			}
		}
		return nil
	})

	setSessionState(t, b1, "Established", "N/A")
	setSessionState(t, a1, "Established", "N/A")
	waitClassCondition(t, name, v1alpha1.ConditionSpeakerSessionsEstablished, metav1.ConditionTrue, string(v1alpha1.ReasonEstablished))
	eventually(t, "the member is healthy again", func() error {
		if cs := getIngress(t, ns, "hello").Status.Clusters; len(cs) != 1 || cs[0].Health != "Healthy" {
			return fmt.Errorf("member health %+v", cs)
		}
		return nil
	})
}

func int32p(v int32) *int32 { return &v }

func findCond(c *v1alpha1.AnycastClass, typ string) *metav1.Condition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == typ {
			return &c.Status.Conditions[i]
		}
	}
	return &metav1.Condition{}
}

// classEvent finds an event on the class with reason and a note containing note.
func classEvent(class, reason, note string) error {
	list := &eventsv1.EventList{}
	if err := env.Client.List(context.Background(), list); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Kind == "AnycastClass" && e.Regarding.Name == class && e.Reason == reason && e.Type == "Normal" && strings.Contains(e.Note, note) {
			return nil
		}
	}
	return fmt.Errorf("no Normal %s event on class %s with %q", reason, class, note)
}
