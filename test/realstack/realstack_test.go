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

	"github.com/anycast-operator/anycast-operator/test/fabric"
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
			Addresses:  []string{cidr},
			AutoAssign: new(false),
			AllocateTo: &metallbv1beta1.ServiceAllocation{Namespaces: []string{appNS}},
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

// bgpObjects are what the operator renders for one member with one TOR: the peer, and
// the advertisement of the VIP pool to it with a community.
func bgpObjects(pool string, myASN, peerASN uint32, peer netip.Addr) []client.Object {
	return []client.Object{
		&metallbv1beta2.BGPPeer{
			ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: "tor"},
			Spec: metallbv1beta2.BGPPeerSpec{
				MyASN: myASN, ASN: peerASN, Address: peer.String(),
				HoldTime: &metav1.Duration{Duration: 9 * time.Second},
			},
		},
		&metallbv1beta1.BGPAdvertisement{
			ObjectMeta: metav1.ObjectMeta{Namespace: mlbNS, Name: pool},
			Spec: metallbv1beta1.BGPAdvertisementSpec{
				IPAddressPools: []string{pool}, Peers: []string{"tor"}, Communities: []string{"65535:100"},
			},
		},
	}
}

// announcedVIP is the Service a speaker announces: the VIP by annotation, with a ready
// endpoint on node (the speaker announces nothing for a Service without one).
func announcedVIP(t *testing.T, cl *realstack.Cluster, node string) {
	t.Helper()
	ctx := context.Background()
	if err := realstack.EnsureNamespace(ctx, cl.Client, appNS); err != nil {
		t.Fatal(err)
	}
	svc := lbService("gw", "vip", vipText)
	create(t, cl.Client, vipPool("vip", vipText+"/32"), svc)
	if err := realstack.StandInEndpointSlice(ctx, cl.Client, svc, []realstack.Endpoint{{Address: "10.244.0.10", Node: node}}); err != nil {
		t.Fatal(err)
	}
}

// torHolds waits until router holds the VIP from the speaker at from, with AS path asPath,
// next hop from.
func torHolds(t *testing.T, router *fabric.Router, from netip.Addr, asPath string) {
	t.Helper()
	realstack.Eventually(t, router.Name+" holds the VIP from the speaker", 2*time.Minute, func() error {
		paths, err := router.BGPPaths(vip)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if p.From == from && p.ASPath == asPath && slices.Contains(p.NextHops, from) && p.Valid {
				return nil
			}
		}
		n, _ := router.Neighbor(from)
		return fmt.Errorf("paths %+v; want one from %s with AS path %q (neighbor %s: %s, last reset %q)", paths, from, asPath, from, n.State, n.LastReset)
	})
}

// torPeer is the TOR's end of the /30 between a speaker namespace of the fabric and its
// TOR: the speaker has .2, the TOR .1.
func torPeer(speaker netip.Addr) netip.Addr { return speaker.Prev() }

// TestNativeSpeakerAnnounces: the real speaker in native mode, in a node namespace of the
// fabric, peers with the FRR TOR west and the TOR's RIB holds the VIP from it.
func TestNativeSpeakerAnnounces(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	f.West.Stop() // the fabric's gobgpd stand-in leaves the namespace to the real speaker
	cl := realstack.StartCluster(t, bin, "west")
	ctl, err := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := cl.AddNode(ctx, "west-node", f.West.NS)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeNative})
	if err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, bgpObjects("vip", fabric.WestASN, fabric.TORWestASN, torPeer(f.West.Addr))...)
	announcedVIP(t, cl, node.Name)

	torHolds(t, f.TORWest, f.West.Addr, fmt.Sprint(fabric.WestASN))
	noConfigErrors(t, ctl, sp)
	realstack.Eventually(t, "the speaker's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "speaker-"+node.Name, metallbv1beta1.ConfigurationResultValid)
	})
}

// TestFRRK8sSpeakerAnnounces: the real speaker in frr-k8s mode writes its node's
// FRRConfiguration, the real frr-k8s controller on that node turns it into FRR's
// configuration, frr-k8s's reloader applies it to the node's FRR, and that FRR peers with
// the FRR TOR east, whose RIB holds the VIP from the node.
func TestFRRK8sSpeakerAnnounces(t *testing.T) {
	bin := realstack.Require(t, realstack.ComponentMetalLB, realstack.ComponentFRRK8s)
	ctx := realstack.Ctx(t)
	f := fabric.Start(t, fabric.Options{})
	f.East.Stop()
	cl := realstack.StartCluster(t, bin, "east")
	if err := cl.InstallFRRK8sCRDs(); err != nil {
		t.Fatal(err)
	}
	ctl, err := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := cl.AddNode(ctx, "east-node", f.East.NS)
	if err != nil {
		t.Fatal(err)
	}
	frr, err := node.StartFRRK8s(ctx, realstack.FRRK8sOptions{ASN: fabric.EastASN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frr-k8s wrote:\n%s\nreload status %q\nFRR log:\n%s", frr.ConfigFile(), frr.ReloadStatus(), frr.FRRLog())
		}
	})
	sp, err := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeFRRK8s})
	if err != nil {
		t.Fatal(err)
	}
	create(t, cl.Client, bgpObjects("vip", fabric.EastASN, fabric.TOREastASN, torPeer(f.East.Addr))...)
	announcedVIP(t, cl, node.Name)

	torHolds(t, f.TOREast, f.East.Addr, fmt.Sprint(fabric.EastASN))
	// The path went through frr-k8s: its config names the VIP, and the node's FRR holds
	// the session.
	if conf := frr.ConfigFile(); !strings.Contains(conf, vip.String()) {
		t.Errorf("frr-k8s's FRR configuration does not name %s:\n%s", vip, conf)
	}
	if st, err := frr.Router.Neighbor(torPeer(f.East.Addr)); err != nil || st.State != "Established" {
		t.Errorf("the node's FRR: neighbor %s is %+v (%v), want Established", torPeer(f.East.Addr), st, err)
	}
	noConfigErrors(t, ctl, sp)
	realstack.Eventually(t, "the speaker's ConfigurationState Valid", 30*time.Second, func() error {
		return stateIs(ctx, cl.Client, "speaker-"+node.Name, metallbv1beta1.ConfigurationResultValid)
	})
}
