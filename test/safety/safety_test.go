package safety_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const converge = 90 * time.Second

// setup builds a fabric, runs each cluster's MetalLB speaker stand-in on it, and creates a
// class of west (hub) and east with peers matching the speakers' sessions and a watcher
// session to the core. eastMode is east's MetalLB mode.
func setup(t testing.TB, name string, eastMode v1alpha1.MetalLBMode) *fabric.Fabric {
	t.Helper()
	f := fabric.Start(t, fabric.Options{})
	ctx, cancel := context.WithCancel(runCtx)
	t.Cleanup(cancel)
	go func() { _ = speaker.Run(ctx, west.Client, "metallb-system", f.West.Speaker) }()
	go func() { _ = speaker.Run(ctx, east.Client, "metallb-system", f.East.Speaker) }()

	peer := func(s speaker.Session) []v1alpha1.Peer {
		return []v1alpha1.Peer{{Name: "tor", Address: s.PeerAddress.String(), ASN: int64(s.PeerASN)}}
	}
	one := metav1.Duration{Duration: time.Second}
	hold := metav1.Duration{Duration: 9 * time.Second}
	keep := metav1.Duration{Duration: 3 * time.Second}
	// A class's watcher peers with the core from the test process's link address; two
	// classes doing so at once would collide (one BGP session per address pair), so each
	// test removes its class, and with it its watcher, when it ends.
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, name) })
	create(t, west.Client, &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub, Peers: peer(f.West.Sessions()[0])},
				{Name: "east", ASN: 65002, MetalLBMode: eastMode, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}, Peers: peer(f.East.Sessions()[0])},
			},
			Watcher: &v1alpha1.Watcher{
				ASN: int64(f.WatcherASN), RouterID: "198.18.255.99",
				Sessions: []v1alpha1.WatcherSession{{
					Name: "core", Address: f.CoreLink.RouterAddr.String(), ASN: int64(f.CoreLink.RouterASN),
					LocalAddress: f.CoreLink.WatcherAddr.String(), HoldTime: &hold, KeepaliveTime: &keep, ConnectRetry: &one,
				}},
			},
		},
	})
	return f
}

// ingress creates an ingress with a quick health gate (1s to withdraw, 3s hold-down).
func ingress(t testing.TB, ns, name, class, vip string, mutate ...func(*v1alpha1.AnycastIngress)) types.NamespacedName {
	t.Helper()
	for _, e := range []*testenv.Env{west, east} {
		ensureNamespace(t, e, ns)
	}
	withdrawAfter := metav1.Duration{Duration: time.Second}
	holdDown := metav1.Duration{Duration: 3 * time.Second}
	ing := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: class, Address: vip,
			Health: &v1alpha1.HealthGate{WithdrawAfter: &withdrawAfter, HoldDown: &holdDown}},
	}
	for _, f := range mutate {
		f(ing)
	}
	create(t, west.Client, ing)
	return types.NamespacedName{Namespace: ns, Name: name}
}

func ensureNamespace(t testing.TB, e *testenv.Env, ns string) {
	t.Helper()
	if testenv.Get(t, e.Client, corev1Namespace, "", ns) == nil {
		create(t, e.Client, namespaceObject(ns))
	}
}

func create(t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func get(t testing.TB, key types.NamespacedName) *v1alpha1.AnycastIngress {
	t.Helper()
	ing := &v1alpha1.AnycastIngress{}
	if err := west.Client.Get(context.Background(), key, ing); err != nil {
		t.Fatal(err)
	}
	return ing
}

func waitIngress(t *testing.T, key types.NamespacedName, what string, check func(*v1alpha1.AnycastIngress) error) *v1alpha1.AnycastIngress {
	t.Helper()
	var ing *v1alpha1.AnycastIngress
	testenv.Eventually(t, what, converge, func() error {
		ing = get(t, key)
		if err := check(ing); err != nil {
			return fmt.Errorf("%w (members: %s)", err, members(ing))
		}
		return nil
	})
	return ing
}

func cond(typ string, status metav1.ConditionStatus, reason string) func(*v1alpha1.AnycastIngress) error {
	return func(i *v1alpha1.AnycastIngress) error {
		return testenv.ConditionIs(i.Status.Conditions, i.Generation, typ, status, reason)
	}
}

func member(i *v1alpha1.AnycastIngress, name string) v1alpha1.IngressClusterStatus {
	for _, c := range i.Status.Clusters {
		if c.Name == name {
			return c
		}
	}
	return v1alpha1.IngressClusterStatus{}
}

func members(i *v1alpha1.AnycastIngress) string {
	var parts []string
	for _, c := range i.Status.Clusters {
		parts = append(parts, fmt.Sprintf("%s{health=%s adv=%s reason=%s router=%s msg=%q}", c.Name, c.Health, c.Advertisement, c.WithdrawnReason, c.RouterState, c.HealthMessage))
	}
	return strings.Join(parts, " ")
}

func message(i *v1alpha1.AnycastIngress, typ string) string {
	for _, c := range i.Status.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

// nextHops waits until the core's FIB has n next hops for vip.
func nextHops(t testing.TB, f *fabric.Fabric, vip netip.Prefix, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("the core installs %d next hop(s) for %s", n, vip), converge, func() error {
		nh, err := f.Core.FIBNextHops(vip)
		if err != nil {
			return err
		}
		if len(nh) != n {
			return fmt.Errorf("next hops %v", nh)
		}
		return nil
	})
}

// TestUnprogrammedGatewayIsWithdrawn: east's Gateway stops being Programmed; east's path
// disappears at the FRR core and the ingress says east was withdrawn and why; once healthy
// again it comes back after the hold-down.
func TestUnprogrammedGatewayIsWithdrawn(t *testing.T) {
	f := setup(t, "gwdown", v1alpha1.MetalLBModeFRR)
	vip := netip.MustParsePrefix("192.168.155.161/32")
	key := ingress(t, "gwdown", "hello", "gwdown", vip.Addr().String())
	nextHops(t, f, vip, 2)
	waitIngress(t, key, "Ready", cond(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))

	eastGW.SetBroken(key, "the proxy pods crash-loop")
	broken := time.Now()
	nextHops(t, f, vip, 1)
	got := waitIngress(t, key, "east withdrawn and confirmed", func(i *v1alpha1.AnycastIngress) error {
		e := member(i, "east")
		if e.Health != "Unhealthy" || e.Advertisement != "Withdraw" || e.WithdrawnReason != "Unhealthy" || e.RouterState != "Withdrawn" {
			return fmt.Errorf("east %+v", e)
		}
		return cond(v1alpha1.ConditionHealthy, metav1.ConditionFalse, "MembersWithdrawn")(i)
	})
	t.Logf("east withdrawn at the core %s after its Gateway broke", time.Since(broken).Round(10*time.Millisecond))
	if e := member(got, "east"); !strings.Contains(e.HealthMessage, "crash-loop") || !strings.Contains(message(got, v1alpha1.ConditionHealthy), "east") {
		t.Errorf("the status should say east was withdrawn and why: %q / %q", e.HealthMessage, message(got, v1alpha1.ConditionHealthy))
	}
	if w := member(got, "west"); w.Advertisement != "Advertise" || w.RouterState != "Advertised" {
		t.Errorf("west must keep serving: %+v", w)
	}
	if err := cond(v1alpha1.ConditionAdvertised, metav1.ConditionTrue, "")(got); err != nil {
		t.Errorf("the routers carry exactly what was asked (west only): %v", err)
	}

	eastGW.SetBroken(key, "")
	healthy := waitIngress(t, key, "east healthy, still withdrawn during the hold-down", func(i *v1alpha1.AnycastIngress) error {
		e := member(i, "east")
		if e.Health != "Healthy" {
			return fmt.Errorf("east %+v", e)
		}
		return nil
	})
	if e := member(healthy, "east"); e.Advertisement != "Withdraw" {
		// The hold-down is 3 s: the first healthy status is written long before it ends.
		t.Errorf("east advertised again before its hold-down: %+v", e)
	}
	nextHops(t, f, vip, 2)
	waitIngress(t, key, "Ready again", cond(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))
}

// TestBackendHealth: a route backend with no ready endpoints on east and no Skupper path
// withdraws east; the same backend reached over a linked Skupper listener keeps it.
func TestBackendHealth(t *testing.T) {
	f := setup(t, "backend", v1alpha1.MetalLBModeFRR)
	vip := netip.MustParsePrefix("192.168.155.162/32")
	ns := "backend"
	for _, e := range []*testenv.Env{west, east} {
		ensureNamespace(t, e, ns)
	}
	// The app runs on west only; on east its Service exists with no ready endpoints.
	if err := gatewayfixture.ReadyBackend(context.Background(), west.Client, ns, "app", 8080, 2); err != nil {
		t.Fatal(err)
	}
	if err := gatewayfixture.ReadyBackend(context.Background(), east.Client, ns, "app", 8080, 0); err != nil {
		t.Fatal(err)
	}
	key := ingress(t, ns, "hello", "backend", vip.Addr().String(), func(i *v1alpha1.AnycastIngress) {
		i.Spec.Routes = []v1alpha1.Route{{Name: "app", Backend: v1alpha1.Backend{Service: "app", Port: 8080}}}
	})
	nextHops(t, f, vip, 1)
	got := waitIngress(t, key, "east withdrawn for its backend", func(i *v1alpha1.AnycastIngress) error {
		if e := member(i, "east"); e.Advertisement != "Withdraw" || e.RouterState != "Withdrawn" {
			return fmt.Errorf("east %+v", member(i, "east"))
		}
		return nil
	})
	if e := member(got, "east"); !strings.Contains(e.HealthMessage, "route app: Service app has no ready endpoints") {
		t.Errorf("east's message should name the backend: %q", e.HealthMessage)
	}

	// The app is declared as running on west: east reaches it over Skupper. The Service of
	// that name on east goes first: Skupper's Listener creates its own Service of the
	// service's name, and refuses to bind a name another Service holds.
	if err := east.Client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "route app over Skupper", converge, func() error {
		i := get(t, key)
		i.Spec.Services = []v1alpha1.CrossClusterService{{Name: "app", Port: 8080, Selector: "app=app", RunsOn: []string{"west"}}}
		return west.Client.Update(context.Background(), i)
	})
	nextHops(t, f, vip, 2)
	got = waitIngress(t, key, "east back with the Skupper path", func(i *v1alpha1.AnycastIngress) error {
		if e := member(i, "east"); e.Health != "Healthy" || e.Advertisement != "Advertise" || e.Link != "Ready" {
			return fmt.Errorf("east %+v", member(i, "east"))
		}
		return cond(v1alpha1.ConditionReady, metav1.ConditionTrue, "")(i)
	})
}

// TestAllUnhealthyKeepsAdvertising: with both members unhealthy, both keep advertising and
// the ingress says so.
func TestAllUnhealthyKeepsAdvertising(t *testing.T) {
	f := setup(t, "allbad", v1alpha1.MetalLBModeFRR)
	vip := netip.MustParsePrefix("192.168.155.163/32")
	key := ingress(t, "allbad", "hello", "allbad", vip.Addr().String())
	nextHops(t, f, vip, 2)
	waitIngress(t, key, "Ready", cond(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))

	westGW.SetBroken(key, "west proxy down")
	eastGW.SetBroken(key, "east proxy down")
	t.Cleanup(func() { westGW.SetBroken(key, ""); eastGW.SetBroken(key, "") })
	// When one member's breakage is seen first (the two fixtures report independently), it
	// may be withdrawn for a moment; once both are unhealthy past withdrawAfter, the
	// last-member rule keeps both advertising.
	waitIngress(t, key, "AllMembersUnhealthy, both advertising", func(i *v1alpha1.AnycastIngress) error {
		if err := cond(v1alpha1.ConditionReady, metav1.ConditionFalse, "AllMembersUnhealthy")(i); err != nil {
			return err
		}
		for _, m := range []string{"west", "east"} {
			if a := member(i, m).Advertisement; a != "Advertise" {
				return fmt.Errorf("%s is %s", m, a)
			}
		}
		return nil
	})
	// From then on both still advertise, at the core too.
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		i := get(t, key)
		for _, m := range []string{"west", "east"} {
			if a := member(i, m).Advertisement; a != "Advertise" {
				t.Fatalf("%s is %s although every member is unhealthy", m, a)
			}
		}
		nh, err := f.Core.FIBNextHops(vip)
		if err != nil || len(nh) != 2 {
			t.Fatalf("the core lost a path: %v %v", nh, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestPrependDrain: a prepend drain of east (MetalLB frr-k8s) keeps east's path at the core
// with the longer AS path, out of ECMP; the watcher and status show it prepended.
func TestPrependDrain(t *testing.T) {
	f := setup(t, "prepend", v1alpha1.MetalLBModeFRRK8s)
	// A TOR sends its best path only, and east's TOR prefers the shorter path it learns
	// back from the core over east's prepended one: the backup would never reach the
	// core. Sending all paths (ADD-PATH) keeps it there, as a prepend drain needs.
	addPathToAll(t, f.TOREast)
	vip := netip.MustParsePrefix("192.168.155.164/32")
	key := ingress(t, "prepend", "hello", "prepend", vip.Addr().String())
	nextHops(t, f, vip, 2)
	three := int32(3)
	testenv.Eventually(t, "drain east with prepend", converge, func() error {
		i := get(t, key)
		i.Spec.Drain = []string{"east"}
		i.Spec.DrainPolicy = &v1alpha1.DrainPolicy{Mode: v1alpha1.DrainPrepend, PrependCount: &three}
		return west.Client.Update(context.Background(), i)
	})
	nextHops(t, f, vip, 1)
	testenv.Eventually(t, "the core keeps east's prepended path as a backup", converge, func() error {
		paths, err := f.Core.BGPPaths(vip)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if strings.HasSuffix(p.ASPath, "65002 65002 65002 65002") {
				if p.Multipath || p.Best {
					return fmt.Errorf("east's prepended path is still used: %+v", p)
				}
				return nil
			}
		}
		return fmt.Errorf("no prepended path from east in %+v", paths)
	})
	got := waitIngress(t, key, "east prepended at the routers", func(i *v1alpha1.AnycastIngress) error {
		if e := member(i, "east"); e.Advertisement != "Prepend" || e.RouterState != "Prepended" {
			return fmt.Errorf("east %+v", e)
		}
		return cond(v1alpha1.ConditionDrained, metav1.ConditionTrue, "Withdrawn")(i)
	})
	for _, p := range got.Status.Paths {
		if p.Cluster == "east" && strings.Count(p.ASPath, "65002") != 4 {
			t.Errorf("east's path in status should carry its ASN 4 times: %+v", p)
		}
	}
}

// TestPrependRefusedOnNative: a native-mode member cannot prepend: refused in status,
// nothing of the ingress applied there.
func TestPrependRefusedOnNative(t *testing.T) {
	create(t, west.Client, &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nativeprep"},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub},
				{Name: "east", ASN: 65002, MetalLBMode: v1alpha1.MetalLBModeNative, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}},
			},
		},
	})
	key := ingress(t, "nativeprep", "hello", "nativeprep", "192.168.155.165", func(i *v1alpha1.AnycastIngress) {
		i.Spec.Drain = []string{"east"}
		i.Spec.DrainPolicy = &v1alpha1.DrainPolicy{Mode: v1alpha1.DrainPrepend}
	})
	got := waitIngress(t, key, "prepend refused", cond(v1alpha1.ConditionAccepted, metav1.ConditionFalse, "UnsupportedByMetalLBMode"))
	if m := message(got, v1alpha1.ConditionAccepted); !strings.Contains(m, "native") || !strings.Contains(m, "drainPolicy") {
		t.Errorf("the refusal should name the field and the mode: %s", m)
	}
	time.Sleep(2 * time.Second)
	if left := testenv.Owned(t, east.Client, owner.Ingress("nativeprep", "nativeprep", "hello")); len(left) != 0 {
		t.Errorf("%d objects applied to the refusing member", len(left))
	}
}

var corev1Namespace = corev1.SchemeGroupVersion.WithKind("Namespace")

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// addPathToAll makes an FRR router send every path to every neighbor (ADD-PATH).
func addPathToAll(t *testing.T, r *labfabric.Router) {
	t.Helper()
	neighbors, err := r.Neighbors()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-N", r.NS, "-c", "configure terminal", "-c", fmt.Sprintf("router bgp %d", r.ASN), "-c", "address-family ipv4 unicast"}
	for addr := range neighbors {
		if addr.Is4() {
			args = append(args, "-c", "neighbor "+addr.String()+" addpath-tx-all-paths")
		}
	}
	if out, err := exec.Command("vtysh", args...).CombinedOutput(); err != nil {
		t.Fatalf("configuring ADD-PATH on %s: %v: %s", r.Name, err, out)
	}
}
