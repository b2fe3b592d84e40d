package realstack_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// clientNet is the network the TOR sends the node in TestFRRK8sReceiveJoinsSession: the
// clients' network, from the benchmarking range the fabric uses.
var clientNet = netip.MustParsePrefix("198.18.50.0/24")

// kernelRoute is the node namespace's kernel route to p ("" when it has none).
func kernelRoute(t *testing.T, netns string, p netip.Prefix) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", netns, "ip", "-4", "route", "show", "exact", p.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route in %s: %v: %s", netns, err, out)
	}
	return strings.TrimSpace(string(out))
}

// connectionsEstablished is how often router has established its session with addr: a
// second session, or a reset, counts up.
func connectionsEstablished(t *testing.T, router *fabric.Router, addr netip.Addr) int {
	t.Helper()
	out, err := router.Vtysh("show bgp neighbors " + addr.String() + " json")
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]struct {
		ConnectionsEstablished int `json:"connectionsEstablished"`
	}
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("%s: %v: %.300s", router.Name, err, out)
	}
	return n[addr.String()].ConnectionsEstablished
}

// TestFRRK8sReceiveJoinsSession: what the operator renders for spec.receive on an frr-k8s
// member (render.RenderClass: the BGPPeer and the FRRConfiguration) makes the real
// frr-k8s v0.0.21, beside the real MetalLB v0.16.1 speaker in frr-k8s mode, install the
// route the TOR sends into the node's kernel, over the session MetalLB opened: frr-k8s
// merges the FRRConfiguration into MetalLB's (it refuses a neighbour whose session
// settings differ, and then applies nothing), the node's FRR has one neighbour, and the
// TOR saw one session, never reset. Without the FRRConfiguration MetalLB's own
// configuration lets nothing in, and removing it withdraws the route. frr-k8s runs in
// MetalLB's namespace, as MetalLB's Helm chart deploys it.
func TestFRRK8sReceiveJoinsSession(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB, realstack.ComponentFRRK8s)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	cl, ctl, node := startMember(t, bin, "east", f.East, true)
	frr, err := node.StartFRRK8s(ctx, realstack.FRRK8sOptions{Namespace: mlbNS, ASN: fabric.EastASN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frr-k8s wrote:\n%s\nreload status %q\nfrr-k8s log:\n%s\nFRR log:\n%s", frr.ConfigFile(), frr.ReloadStatus(), frr.Controller.LogTail(4000), frr.FRRLog())
		}
	})
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeFRRK8s, FRRK8sNamespace: mlbNS})
	if err != nil {
		t.Fatal(err)
	}
	// The TOR originates the clients' network towards the node.
	if out, err := f.TOREast.Vtysh(fmt.Sprintf("configure terminal\nrouter bgp %d\naddress-family ipv4 unicast\nnetwork %s", fabric.TOREastASN, clientNet)); err != nil {
		t.Fatalf("announcing %s from the TOR: %v: %s", clientNet, err, out)
	}

	tor := torPeer(f.East.Addr)
	class := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "dc"}, Spec: v1alpha1.AnycastClassSpec{
		Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy",
		Receive: &v1alpha1.ReceiveRoutes{Prefixes: []v1alpha1.ReceivePrefix{{Prefix: "198.18.0.0/15", LE: new(int32(24))}}},
		Clusters: []v1alpha1.ClusterMember{{Name: "east", ASN: fabric.EastASN, MetalLBMode: v1alpha1.MetalLBModeFRRK8s,
			Peers: []v1alpha1.Peer{{Name: "tor", Address: tor.String(), ASN: fabric.TOREastASN, HoldTime: &metav1.Duration{Duration: 9 * time.Second}}}}},
	}}
	out := render.RenderClass(class, &render.Observed{})
	if p := out.AllProblems(); len(p) > 0 {
		t.Fatalf("render refused: %v", p)
	}
	var peer, receive *unstructured.Unstructured
	for _, o := range out.Cluster("east").Objects {
		switch o.GroupVersionKind() {
		case render.GVKBGPPeer:
			peer = o
		case render.GVKFRRConfiguration:
			receive = o
		}
	}
	if peer == nil || receive == nil {
		t.Fatalf("render gave no BGPPeer or FRRConfiguration: %v", out.Cluster("east").Objects)
	}
	create(t, cl.Client, peer)
	if err := f.TOREast.WaitEstablished(2*time.Minute, f.East.Addr); err != nil {
		t.Fatal(err)
	}
	// MetalLB alone: its inbound route-map denies everything the TOR sends.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if r := kernelRoute(t, node.NetNS, clientNet); r != "" {
			t.Fatalf("the node has a route to %s before receive is configured: %s", clientNet, r)
		}
	}
	established := connectionsEstablished(t, f.TOREast, f.East.Addr)

	create(t, cl.Client, receive)
	realstack.Eventually(t, "the node's kernel routes the clients' network through the TOR", 2*time.Minute, func() error {
		if r := kernelRoute(t, node.NetNS, clientNet); !strings.Contains(r, "via "+tor.String()) || !strings.Contains(r, "proto bgp") {
			return fmt.Errorf("route %q, want one via %s learnt by BGP (frr-k8s reload status %q)", r, tor, frr.ReloadStatus())
		}
		return nil
	})
	neighbors, err := frr.Router.Neighbors()
	if err != nil {
		t.Fatal(err)
	}
	if len(neighbors) != 1 || neighbors[tor].State != "Established" {
		t.Errorf("the node's FRR has neighbours %+v, want one, %s, Established: the FRRConfiguration must join MetalLB's session", neighbors, tor)
	}
	if now := connectionsEstablished(t, f.TOREast, f.East.Addr); now != established {
		t.Errorf("the TOR established its session with the node %d times, %d before receive: joining must neither reset it nor open another", now, established)
	}
	if !strings.Contains(frr.ConfigFile(), "permit "+"198.18.0.0/15 le 24") {
		t.Errorf("frr-k8s's FRR configuration has no inbound filter for the receive prefix:\n%s", frr.ConfigFile())
	}

	if err := cl.Client.Delete(ctx, receive); err != nil {
		t.Fatal(err)
	}
	realstack.Eventually(t, "the route goes with the FRRConfiguration", 2*time.Minute, func() error {
		if r := kernelRoute(t, node.NetNS, clientNet); r != "" {
			return fmt.Errorf("route %q still there", r)
		}
		return nil
	})
	noConfigErrors(t, ctl, sp)
}
