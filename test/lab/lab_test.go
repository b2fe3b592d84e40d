package lab

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
)

// fakeFabric answers the questions samples and the table ask.
type fakeFabric struct{ port uint16 }

func (f fakeFabric) Mode() string                                         { return FabricGoBGP }
func (f fakeFabric) Describe() string                                     { return "fake" }
func (f fakeFabric) Announcer(string) speaker.Announcer                   { return nil }
func (f fakeFabric) StopSpeaker(string)                                   {}
func (f fakeFabric) StartSpeaker(context.Context, string) error           { return nil }
func (f fakeFabric) SpeakerRunning(string) bool                           { return true }
func (f fakeFabric) Core(context.Context, netip.Prefix) (CoreView, error) { return CoreView{}, nil }
func (f fakeFabric) Block() int                                           { return -1 }
func (f fakeFabric) Close()                                               {}
func (f fakeFabric) Client(context.Context, netip.Prefix) (ClientView, error) {
	return ClientView{}, nil
}
func (f fakeFabric) TOR(c string) (netip.Addr, uint32, uint16) {
	if c == "east" {
		return netip.MustParseAddr("127.1.1.3"), 64002, f.port
	}
	return netip.MustParseAddr("127.1.1.2"), 64001, f.port
}
func (f fakeFabric) Watcher() (netip.Addr, netip.Addr, uint32, uint16) {
	return netip.MustParseAddr("127.1.1.99"), netip.MustParseAddr("127.1.1.1"), 64666, f.port
}

// TestSamples: the lab applies config/samples with only the fabric's addresses changed,
// and the result is a valid AnycastClass and AnycastIngress.
func TestSamples(t *testing.T) {
	for _, port := range []uint16{179, 1179} {
		class, ingress, err := samples(fakeFabric{port: port}, sampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var c v1alpha1.AnycastClass
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(class.Object, &c, true); err != nil {
			t.Fatalf("class: %v", err)
		}
		var i v1alpha1.AnycastIngress
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(ingress.Object, &i, true); err != nil {
			t.Fatalf("ingress: %v", err)
		}
		if c.Name != ClassName || len(c.Spec.Clusters) != 2 || c.Spec.Watcher == nil || i.Spec.Address != VIP {
			t.Fatalf("samples changed shape: %+v %+v", c.Spec, i.Spec)
		}
		west, east := c.Member("west"), c.Member("east")
		if west.ASN != 65001 || east.ASN != 65002 || east.KubeconfigSecretRef == nil || east.KubeconfigSecretRef.Name != EastSecret {
			t.Errorf("members %+v %+v", west, east)
		}
		for _, m := range []*v1alpha1.ClusterMember{west, east} {
			addr, asn, _ := fakeFabric{}.TOR(m.Name)
			if len(m.Peers) != 1 || m.Peers[0].Address != addr.String() || m.Peers[0].ASN != int64(asn) {
				t.Errorf("%s peers %+v", m.Name, m.Peers)
			}
			if (port == 179) != (m.Peers[0].Port == nil) || (m.Peers[0].Port != nil && *m.Peers[0].Port != int32(port)) {
				t.Errorf("%s peer port %v, fabric port %d", m.Name, m.Peers[0].Port, port)
			}
		}
		s := c.Spec.Watcher.Sessions[0]
		if c.Spec.Watcher.ASN != 64999 || s.Address != "127.1.1.1" || s.LocalAddress != "127.1.1.99" || s.ASN != 64666 ||
			s.AddPathReceive == nil || !*s.AddPathReceive || s.Multihop != nil {
			t.Errorf("watcher %+v", c.Spec.Watcher)
		}
	}
}

// TestBMPSamples: with the BMP watcher the sample's session to the core is replaced by a
// collector on the fabric's port that admits the core and both TORs by address; without
// BMP the statusOrigins check stays what it was, with it each member's path must come from
// its own TOR.
func TestBMPSamples(t *testing.T) {
	w := &bmpWatcher{port: 41019, routers: []bmpRouter{
		{"core", netip.MustParseAddr("198.18.1.2")}, {"tor-west", netip.MustParseAddr("198.18.2.2")}, {"tor-east", netip.MustParseAddr("198.18.3.2")},
	}}
	class, _, err := samples(fakeFabric{port: 179}, sampleOptions{bmp: w})
	if err != nil {
		t.Fatal(err)
	}
	var c v1alpha1.AnycastClass
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(class.Object, &c, true); err != nil {
		t.Fatalf("class: %v", err)
	}
	b := c.Spec.Watcher.BMP
	if len(c.Spec.Watcher.Sessions) != 0 || b == nil || b.Port == nil || *b.Port != 41019 || b.ListenAddress != "" || len(b.Routers) != 3 {
		t.Fatalf("watcher %+v", c.Spec.Watcher)
	}
	for i, r := range w.routers {
		if b.Routers[i].Name != r.name || b.Routers[i].Address != r.addr.String() {
			t.Errorf("router %d: %+v, want %s at %s", i, b.Routers[i], r.name, r.addr)
		}
	}

	ing := &v1alpha1.AnycastIngress{}
	ing.Status.Paths = []v1alpha1.PathStatus{
		{Session: "core", Peer: "198.18.1.1", PeerAS: 64001, Cluster: "west"},
		{Session: "tor-east", Peer: "198.18.3.1", PeerAS: 64666, Cluster: "west"}, // via the core
	}
	snap := &Snapshot{Ingress: ing}
	if err := snap.statusOrigins("west"); err != nil {
		t.Errorf("BGP watcher: %v", err)
	}
	snap.BMP = true
	if err := snap.statusOrigins("west"); err == nil || !strings.Contains(err.Error(), "tor-west") {
		t.Errorf("BMP watcher without tor-west's report: %v, want an error naming tor-west", err)
	}
	ing.Status.Paths = append(ing.Status.Paths, v1alpha1.PathStatus{Session: "tor-west", Peer: "198.18.21.2", PeerAS: 65001, Cluster: "west"})
	if err := snap.statusOrigins("west"); err != nil {
		t.Errorf("BMP watcher with tor-west's report: %v", err)
	}
}

// TestRealSamples: on the real stack the samples get the members' MetalLB modes and
// their TORs (native mode without the peer fields it rejects), Traefik's class and the
// operator-made Service in Traefik's namespace, the IPv6 pool and the VIP, and stay valid.
func TestRealSamples(t *testing.T) {
	tor := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, vip := range []string{VIP, VIP6} {
		o := sampleOptions{vip: netip.MustParseAddr(vip), real: true, members: []sampleMember{
			{name: "west", mode: "native", tor: tor("198.18.11.1"), torASN: 64001},
			{name: "east", mode: "frr-k8s", tor: tor("2001:2:0:12::1"), torASN: 64002},
		}}
		class, ingress, err := samples(fakeFabric{port: 179}, o)
		if err != nil {
			t.Fatal(err)
		}
		var c v1alpha1.AnycastClass
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(class.Object, &c, true); err != nil {
			t.Fatalf("class: %v", err)
		}
		var i v1alpha1.AnycastIngress
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(ingress.Object, &i, true); err != nil {
			t.Fatalf("ingress: %v", err)
		}
		west, east := c.Member("west"), c.Member("east")
		if string(west.MetalLBMode) != "native" || string(east.MetalLBMode) != "frr-k8s" {
			t.Errorf("modes %q %q", west.MetalLBMode, east.MetalLBMode)
		}
		if p := west.Peers[0]; p.Address != "198.18.11.1" || p.ASN != 64001 || p.BFD != nil || p.KeepaliveTime != nil {
			t.Errorf("west's peer %+v: want the TOR, without what native mode rejects", p)
		}
		if p := east.Peers[0]; p.Address != "2001:2:0:12::1" || p.ASN != 64002 || p.KeepaliveTime == nil {
			t.Errorf("east's peer %+v", p)
		}
		gs := c.Spec.GatewayService
		if c.Spec.GatewayClassName != TraefikClass || gs == nil || gs.Provisioner != v1alpha1.GatewayServiceByOperator ||
			gs.Namespace != TraefikNamespace || gs.Selector["app.kubernetes.io/name"] != "traefik" || len(gs.Ports) != 2 ||
			gs.Ports[0].TargetPort != TraefikEntryPoint || gs.Ports[1].Port != TraefikEntryPointSecure || gs.Ports[1].TargetPort != TraefikEntryPointSecure {
			t.Errorf("gateway class %q, service %+v", c.Spec.GatewayClassName, gs)
		}
		// HTTPS beside HTTP, with the hub's certificate.
		if n := len(i.Spec.Listeners); n != 2 || i.Spec.Listeners[1].Protocol != v1alpha1.ProtocolHTTPS || i.Spec.Listeners[1].TLS == nil ||
			len(i.Spec.Listeners[1].TLS.CertificateRefs) != 1 || i.Spec.Listeners[1].TLS.CertificateRefs[0] != HTTPSSecret {
			t.Errorf("listeners %+v: want HTTP and HTTPS with %s", i.Spec.Listeners, HTTPSSecret)
		}
		if !slices.Contains(c.Spec.Pools, Pool6) || i.Spec.Address != vip {
			t.Errorf("pools %v, address %s, want %s and %s", c.Spec.Pools, i.Spec.Address, Pool6, vip)
		}
	}
}

// TestRender: the table shows the clusters, the ingress's conditions and members, the
// core's paths with their origin clusters, and the client's path via the core.
func TestRender(t *testing.T) {
	yes, no := true, false
	ing := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: IngressName, Namespace: IngressNamespace, Generation: 2},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: ClassName, Drain: []string{"east"}},
		Status: v1alpha1.AnycastIngressStatus{
			Address: VIP,
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: metav1.ConditionTrue, ObservedGeneration: 2},
				{Type: "Drained", Status: metav1.ConditionFalse, ObservedGeneration: 1, Reason: "StillAdvertised", Message: "east still advertises"},
			},
			Clusters: []v1alpha1.IngressClusterStatus{{Name: "west", Programmed: true, Advertised: &yes}, {Name: "east", Programmed: true, Advertised: &no, Drained: true}},
		},
	}
	s := &Snapshot{
		At: time.Now(), Fabric: "fake fabric", VIP: netip.MustParsePrefix(VIP + "/32"), Ingress: ing,
		Core: CoreView{HasFIB: true, FIB: []netip.Addr{netip.MustParseAddr("198.18.1.2")}, Paths: []CorePath{
			{ASPath: "64001 65001", NextHop: netip.MustParseAddr("198.18.1.2"), Best: true, Multipath: true},
		}},
		Client: ClientView{ASN: ClientASN, CoreAddr: netip.MustParseAddr("198.18.3.1"), Paths: []CorePath{
			{ASPath: "64666 64001 65001", NextHop: netip.MustParseAddr("198.18.3.1"), Best: true, Multipath: true},
		}},
		Speakers: map[string]SpeakerView{"west": {Running: true}, "east": {Problems: []string{"BGPPeer x: nope"}}},
		Clusters: []ClusterView{{Name: "west", Role: "hub", ASN: 65001}, {Name: "east", Role: "spoke", ASN: 65002}},
		Operator: "pid 1",
	}
	out := s.Render()
	for _, want := range []string{
		"fake fabric", "west    65001  ?          hub    -           up", "DOWN", "! east speaker: BGPPeer x: nope",
		"drain [east]", "Ready=True", "Drained=False(stale)", "Drained: StillAdvertised: east still advertises",
		"kernel route: via 198.18.1.2", "64001 65001", "west (65001)",
		"CLIENT (AS64500", "client: via core 64666 64001 65001  (next hop 198.18.3.1, origin west (65001), best)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	// With the class: the members' reachability, what is wrong first, and the watcher's
	// sessions, as `anycast-operator status` shows them (internal/statusview).
	withClass := *s
	withClass.Class = &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: ClassName, Generation: 1},
		Spec: v1alpha1.AnycastClassSpec{Clusters: []v1alpha1.ClusterMember{{Name: "west", ASN: 65001}, {Name: "east", ASN: 65002}}},
		Status: v1alpha1.AnycastClassStatus{
			Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, ObservedGeneration: 1, Reason: "Unreachable", Message: "ClustersReachable: east: cannot reach the API server"}},
			Clusters:   []v1alpha1.ClusterStatus{{Name: "west", Reachable: true}, {Name: "east", Reachable: false, Reason: "Unreachable", Message: "cannot reach the API server"}},
			Sessions:   []v1alpha1.SessionStatus{{Name: "core", State: "Established"}},
		}}
	out = withClass.Render()
	for _, want := range []string{
		"! class datacenter, member east: Unreachable: cannot reach the API server",
		"east    65002  no (Unreachable)  spoke", "core     Established",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table with the class lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "east    65002") > strings.Index(out, "west    65001") {
		t.Errorf("the unreachable member is not first:\n%s", out)
	}
	if err := s.coreServes("west"); err != nil {
		t.Error(err)
	}
	if err := s.coreServes("west", "east"); err == nil {
		t.Error("one path is not ECMP across both")
	}
	if err := errs1(s.clientReaches(), s.clientReaches("west")); err != nil {
		t.Error(err)
	}
	if err := s.clientReaches("east"); err == nil {
		t.Error("the client's path to west counted as a path to east")
	}
	notCore := *s
	notCore.Client.Paths = []CorePath{{ASPath: "64001 65001", NextHop: netip.MustParseAddr("198.18.1.2"), Best: true}}
	if err := notCore.clientReaches(); err == nil {
		t.Error("a path that does not come from the core counted")
	}
	none := *s
	none.Client.Paths = nil
	if err := none.clientReaches(); err == nil || !strings.Contains(none.Render(), "client: no path") {
		t.Errorf("no client path: %v\n%s", err, none.Render())
	}
	if err := s.condition("Drained", metav1.ConditionFalse); err == nil || !strings.Contains(err.Error(), "generation") {
		t.Errorf("a stale condition must not count: %v", err)
	}
}

// TestProcessRecords: a recorded process is found alive and stopped; a record whose
// start time does not match (the pid reused by another process) is never signalled.
func TestProcessRecords(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() { _ = cmd.Process.Kill() }()
	if err := recordProc(dir, "sleeper", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	recs := recordedProcs(dir)
	if len(recs) != 1 || recs[0].Name != "sleeper" || !recs[0].alive() {
		t.Fatalf("records %+v", recs)
	}
	stale := recs[0]
	stale.Start++
	if err := stopProcs([]procRecord{stale}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Fatal("a record with another start time killed the process")
	}
	if err := stopProcs(recs, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the recorded process still runs")
	}
	if r := ReadRecord(dir); len(r.Running()) != 0 || r.Block != -1 || filepath.Base(r.Dir) != filepath.Base(dir) {
		t.Errorf("record %+v", r)
	}
}

// TestChooseFabric: explicit modes are kept, unknown ones refused.
func TestChooseFabric(t *testing.T) {
	for _, m := range []string{FabricFRR, FabricGoBGP} {
		if got, _, err := chooseFabric(m); err != nil || got != m {
			t.Errorf("%s: %s %v", m, got, err)
		}
	}
	if got, why, err := chooseFabric(""); err != nil || (got != FabricFRR && got != FabricGoBGP) || why == "" {
		t.Errorf("auto: %s (%s) %v", got, why, err)
	}
	if _, _, err := chooseFabric("quagga"); err == nil {
		t.Error("unknown fabric accepted")
	}
}
