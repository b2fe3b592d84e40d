package bmp_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// freePort is a TCP port nothing listens on right now, for a collector.
func freePort(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// members are the reference members. Each class gets its own (fictitious) MetalLB peer
// addresses: a peer defined by two classes on one member is refused (PeerConflict).
func members(peerOctet int) []v1alpha1.ClusterMember {
	return []v1alpha1.ClusterMember{
		{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub,
			Peers: []v1alpha1.Peer{{Name: "tor", Address: fmt.Sprintf("10.0.63.%d", peerOctet), ASN: 64001}}},
		{Name: "east", ASN: 65002, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"},
			Peers: []v1alpha1.Peer{{Name: "tor", Address: fmt.Sprintf("10.1.63.%d", peerOctet), ASN: 64002}}},
	}
}

// bgpClass verifies its VIPs with the BGP watcher's ADD-PATH session to the core.
func bgpClass(name, pool string, f *fabric.Fabric) *v1alpha1.AnycastClass {
	one := metav1.Duration{Duration: time.Second}
	hold := metav1.Duration{Duration: 9 * time.Second}
	keep := metav1.Duration{Duration: 3 * time.Second}
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{pool}, GatewayClassName: "envoy", Clusters: members(254),
			Watcher: &v1alpha1.Watcher{
				ASN: int64(f.WatcherASN), RouterID: "198.18.255.99",
				Sessions: []v1alpha1.WatcherSession{{
					Name: "core", Address: f.CoreLink.RouterAddr.String(), ASN: int64(f.CoreLink.RouterASN),
					LocalAddress: f.CoreLink.WatcherAddr.String(), HoldTime: &hold, KeepaliveTime: &keep, ConnectRetry: &one,
				}},
			},
		},
	}
}

// bmpClass verifies its VIPs with BMP alone, from both TORs; the core is not allowed.
func bmpClass(name, pool string, f *fabric.Fabric, port uint16, tune func(*v1alpha1.BMPCollector)) *v1alpha1.AnycastClass {
	p := int32(port)
	c := &v1alpha1.BMPCollector{ListenAddress: "0.0.0.0", Port: &p, Routers: []v1alpha1.BMPRouter{
		{Name: "tor-west", Address: f.TORWestLink.RouterAddr.String()},
		{Name: "tor-east", Address: f.TOREastLink.RouterAddr.String()},
	}}
	if tune != nil {
		tune(c)
	}
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{pool}, GatewayClassName: "envoy", Clusters: members(253),
			Watcher: &v1alpha1.Watcher{BMP: c},
		},
	}
}

// streamBMP has the TORs and the core stream BMP (pre- and post-policy Adj-RIB-In, both
// families, statistics every second) to this process, on the collector port, each to the
// watcher's end of its own link.
func streamBMP(t *testing.T, f *fabric.Fabric, port uint16) {
	t.Helper()
	for _, r := range []struct {
		router *fabric.Router
		link   fabric.Link
	}{{f.TORWest, f.TORWestLink}, {f.TOREast, f.TOREastLink}, {f.Core, f.CoreLink}} {
		fabric.EnableBMP(t, r.router, fabric.BMPOptions{Collector: netip.AddrPortFrom(r.link.WatcherAddr, port), StatsInterval: time.Second})
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tor-west `show bmp`:\n%s", fabric.BMPSessions(f.TORWest))
		}
	})
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := west.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func getIngress(t testing.TB, name string) *v1alpha1.AnycastIngress {
	t.Helper()
	ing := &v1alpha1.AnycastIngress{}
	if err := west.Client.Get(context.Background(), client.ObjectKey{Namespace: "hello-world", Name: name}, ing); err != nil {
		t.Fatal(err)
	}
	return ing
}

func getClass(t testing.TB, name string) *v1alpha1.AnycastClass {
	t.Helper()
	cls := &v1alpha1.AnycastClass{}
	if err := west.Client.Get(context.Background(), client.ObjectKey{Name: name}, cls); err != nil {
		t.Fatal(err)
	}
	return cls
}

// verdict is what an ingress says of the routers' view: Advertised and Drained (status and
// reason; messages name sessions, which differ by design), and per member whether the
// routers carry it and how.
type verdict struct {
	Advertised, Drained string
	Members             string
}

func (v verdict) String() string {
	return fmt.Sprintf("Advertised=%s Drained=%s members[%s]", v.Advertised, v.Drained, v.Members)
}

func verdictOf(i *v1alpha1.AnycastIngress) verdict {
	cond := func(typ string) string {
		for _, c := range i.Status.Conditions {
			if c.Type == typ {
				if c.ObservedGeneration != i.Generation {
					return "stale"
				}
				return string(c.Status) + "/" + c.Reason
			}
		}
		return "absent"
	}
	var ms []string
	for _, c := range i.Status.Clusters {
		adv := "?"
		if c.Advertised != nil {
			adv = fmt.Sprint(*c.Advertised)
		}
		ms = append(ms, fmt.Sprintf("%s advertised=%s %s", c.Name, adv, c.RouterState))
	}
	return verdict{Advertised: cond(v1alpha1.ConditionAdvertised), Drained: cond(v1alpha1.ConditionDrained), Members: strings.Join(ms, "; ")}
}

// sameVerdict waits until both ingresses give the wanted Advertised and Drained, then
// requires the same verdict, member by member, from both.
func sameVerdict(t *testing.T, what, bgpIng, bmpIng, advertised, drained string) {
	t.Helper()
	var vb, vm verdict
	testenv.Eventually(t, what, converge, func() error {
		vb, vm = verdictOf(getIngress(t, bgpIng)), verdictOf(getIngress(t, bmpIng))
		for _, v := range []verdict{vb, vm} {
			if v.Advertised != advertised || v.Drained != drained {
				return fmt.Errorf("want Advertised=%s Drained=%s; BGP: %s; BMP: %s", advertised, drained, vb, vm)
			}
		}
		if vb != vm {
			return fmt.Errorf("the verdicts differ:\n  BGP: %s\n  BMP: %s", vb, vm)
		}
		return nil
	})
	t.Logf("%s: both %s", what, vm)
}

func setDrain(t *testing.T, name string, drain []string) {
	t.Helper()
	testenv.Eventually(t, "drain "+name, converge, func() error {
		cur := getIngress(t, name)
		cur.Spec.Drain = drain
		return west.Client.Update(context.Background(), cur)
	})
}

// TestBMPVerdictsMatchBGP (issue 19 acceptance): on the FRR fabric, a class verified over
// BMP from the two TORs gives, through drain, undrain, a speaker stopped and restarted,
// the same Advertised and Drained verdicts, member by member, as a class verified by the
// BGP watcher's ADD-PATH session to the core; its paths name the TOR that saw each
// cluster's path and the neighbour it came from; the core, streaming too but not on the
// allowed list, is refused and the class says so.
func TestBMPVerdictsMatchBGP(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	port := freePort(t)
	streamBMP(t, f, port)
	vipBGP := netip.MustParsePrefix("192.168.155.151/32")
	vipBMP := netip.MustParsePrefix("192.168.156.151/32")
	create(t, bgpClass("bgp", "192.168.155.0/24", f))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "bgp") })
	create(t, bmpClass("bmp", "192.168.156.0/24", f, port, nil))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "bmp") })
	t.Cleanup(func() {
		if t.Failed() {
			cls := getClass(t, "bmp")
			t.Logf("class bmp at the failure: conditions %+v\nstatus.bmp %+v", cls.Status.Conditions, cls.Status.BMP)
		}
	})
	for _, ing := range []struct{ name, class, addr string }{{"via-bgp", "bgp", vipBGP.Addr().String()}, {"via-bmp", "bmp", vipBMP.Addr().String()}} {
		create(t, &v1alpha1.AnycastIngress{
			ObjectMeta: metav1.ObjectMeta{Name: ing.name, Namespace: "hello-world"},
			Spec:       v1alpha1.AnycastIngressSpec{ClassName: ing.class, Address: ing.addr},
		})
	}
	announce := func(s *fabric.Speaker) {
		s.Announce(vipBGP)
		s.Announce(vipBMP)
	}
	withdraw := func(s *fabric.Speaker) {
		s.Withdraw(vipBGP)
		s.Withdraw(vipBMP)
	}
	announce(f.West)
	announce(f.East)
	sameVerdict(t, "both members announce", "via-bgp", "via-bmp", "True/Advertised", "absent")

	// Which TOR saw which cluster's path, from which neighbour.
	ing := getIngress(t, "via-bmp")
	seen := map[string]bool{}
	for _, p := range ing.Status.Paths {
		seen[fmt.Sprintf("%s %s %s %s", p.Session, p.Peer, p.RIB, p.Cluster)] = true
	}
	for _, want := range []string{
		fmt.Sprintf("tor-west %s PostPolicy west", f.West.Addr),
		fmt.Sprintf("tor-east %s PostPolicy east", f.East.Addr),
	} {
		if !seen[want] {
			t.Errorf("no path %q in status.paths: %+v", want, ing.Status.Paths)
		}
	}
	cls := getClass(t, "bmp")
	t.Logf("class bmp status.bmp: %+v", cls.Status.BMP)

	testenv.Eventually(t, "the class reports its routers, and refuses the core", converge, func() error {
		cls := getClass(t, "bmp")
		if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionSessionsEstablished, metav1.ConditionTrue, "Established"); err != nil {
			return err
		}
		b := cls.Status.BMP
		if b == nil || !b.Listening || len(b.Routers) != 2 {
			return fmt.Errorf("status.bmp %+v", b)
		}
		for _, r := range b.Routers {
			if !r.Connected || !r.Synced || r.AcceptedPrefixes != 1 || r.SysName == "" || len(r.Peers) == 0 {
				return fmt.Errorf("router %+v", r)
			}
		}
		if len(b.Refused) != 1 || b.Refused[0].Address != f.CoreLink.RouterAddr.String() || b.Refused[0].Attempts < 1 {
			return fmt.Errorf("refused %+v, want the core (%s)", b.Refused, f.CoreLink.RouterAddr)
		}
		return nil
	})

	t.Run("drain east: still announcing, then withdrawn", func(t *testing.T) {
		setDrain(t, "via-bgp", []string{"east"})
		setDrain(t, "via-bmp", []string{"east"})
		sameVerdict(t, "east drained but announcing", "via-bgp", "via-bmp", "True/Advertised", "False/StillAdvertised")
		withdraw(f.East)
		sameVerdict(t, "east drained and withdrawn", "via-bgp", "via-bmp", "True/Advertised", "True/Withdrawn")
	})

	t.Run("undrain east", func(t *testing.T) {
		setDrain(t, "via-bgp", nil)
		setDrain(t, "via-bmp", nil)
		sameVerdict(t, "east undrained, not announcing yet", "via-bgp", "via-bmp", "False/Degraded", "absent")
		announce(f.East)
		sameVerdict(t, "east back", "via-bgp", "via-bmp", "True/Advertised", "absent")
	})

	t.Run("east's speaker stops and restarts", func(t *testing.T) {
		f.East.Stop()
		sameVerdict(t, "east's speaker stopped", "via-bgp", "via-bmp", "False/Degraded", "absent")
		f.East.Start()
		sameVerdict(t, "east's speaker restarted", "via-bgp", "via-bmp", "True/Advertised", "absent")
	})

	t.Run("west's speaker stops too", func(t *testing.T) {
		f.West.Stop()
		f.East.Stop()
		sameVerdict(t, "no speaker", "via-bgp", "via-bmp", "False/NotAdvertised", "absent")
		f.West.Start()
		f.East.Start()
		sameVerdict(t, "both back", "via-bgp", "via-bmp", "True/Advertised", "absent")
	})

	// The routers never received a byte from the collector: the kernel's count on
	// each router's BMP socket.
	for _, r := range []*fabric.Router{f.TORWest, f.TOREast} {
		if n := bytesReceived(t, r, port); n != 0 {
			t.Errorf("%s received %d bytes on its BMP connection", r.Name, n)
		}
	}
}

// bytesReceived is what the router's established BMP connections to port have
// received, from the kernel's TCP info (ss -i: bytes_received, absent while 0).
func bytesReceived(t *testing.T, r *fabric.Router, port uint16) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", r.NS, "ss", "-Htni", "state", "established", fmt.Sprintf("( dport = :%d )", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("ss in %s: %v: %s", r.NS, err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf(":%d", port)) {
		t.Fatalf("%s has no established BMP connection to port %d: %s", r.Name, port, out)
	}
	total := 0
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "bytes_received:"); ok {
			n, _ := strconv.Atoi(v)
			total += n
		}
	}
	return total
}
