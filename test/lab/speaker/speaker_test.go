package speaker_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	mlbv1beta2 "go.universe.tf/metallb/api/v1beta2"

	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start("speaker"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// fake records what it is asked to advertise.
type fake struct {
	sessions []speaker.Session
	mu       sync.Mutex
	routes   []speaker.Route
	calls    int
}

func (f *fake) Sessions() []speaker.Session { return f.sessions }

func (f *fake) Advertise(_ context.Context, routes []speaker.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = slices.Clone(routes)
	f.calls++
	return nil
}

func (f *fake) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.routes {
		out = append(out, r.String())
	}
	return out
}

func namespace(t *testing.T, name string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	testenv.Eventually(t, what, 20*time.Second, f)
}

func want(f *fake, routes ...string) func() error {
	return func() error {
		if got := f.got(); !slices.Equal(got, routes) {
			return fmt.Errorf("announced %q, want %q", got, routes)
		}
		return nil
	}
}

var tor = speaker.Session{LocalASN: 65002, PeerAddress: netip.MustParseAddr("198.18.12.1"), PeerASN: 64002}

func peer(ns, name, addr string, asn, myASN uint32) *mlbv1beta2.BGPPeer {
	return &mlbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: mlbv1beta2.BGPPeerSpec{MyASN: myASN, ASN: asn, Address: addr}}
}

func pool(ns, name string, addrs ...string) *mlbv1beta1.IPAddressPool {
	return &mlbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"pool": name}},
		Spec: mlbv1beta1.IPAddressPoolSpec{Addresses: addrs, AutoAssign: ptr.To(false)}}
}

// TestAnnouncesWhatTheObjectsDescribe follows the operator's rendering: a /32 pool, an
// advertisement naming it and the class's peer, with communities (one through a Community
// alias), localPref and asPathPrepend; then the advertisement's removal (a drain) and return.
func TestAnnouncesWhatTheObjectsDescribe(t *testing.T) {
	ns := "metallb-a"
	namespace(t, ns)
	f := &fake{sessions: []speaker.Session{tor}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A client that can watch: passes follow the objects' events.
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	s := &speaker.Speaker{Client: wc, Namespace: ns, Announcer: f, Resync: time.Hour}
	go func() { _ = s.Run(ctx) }()

	create(t,
		peer(ns, "dc-tor", "198.18.12.1", 64002, 65002),
		pool(ns, "hello", "192.168.155.151/32"),
		&mlbv1beta1.Community{ObjectMeta: metav1.ObjectMeta{Name: "aliases", Namespace: ns},
			Spec: mlbv1beta1.CommunitySpec{Communities: []mlbv1beta1.CommunityAlias{{Name: "no-export", Value: "65535:65281"}}}},
	)
	adv := &mlbv1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns},
		Spec: mlbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"hello"}, Peers: []string{"dc-tor"},
			Communities: []string{"64512:100", "no-export", "large:64999:1:2"}, LocalPref: 150, AsPathPrepend: 2}}
	create(t, adv)
	eventually(t, "the VIP announced with its attributes",
		want(f, "192.168.155.151/32 communities 64512:100,65535:65281,large:64999:1:2 localPref 150 prepend 2"))
	if st := s.State(); len(st.Problems) != 0 || st.Err != nil {
		t.Errorf("state %+v", st)
	}

	// A drain: the operator deletes the advertisement, the pool stays.
	if err := env.Client.Delete(ctx, adv); err != nil {
		t.Fatal(err)
	}
	eventually(t, "withdrawn with its advertisement", want(f))
	adv.ResourceVersion = ""
	adv.Spec = mlbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"hello"}}
	create(t, adv)
	eventually(t, "back, to every peer", want(f, "192.168.155.151/32"))
}

// TestReportsPeersItCannotReach: a BGPPeer naming another router, port or local AS is not
// one of the speaker's sessions; nothing is announced to it and the problem is reported.
func TestReportsPeersItCannotReach(t *testing.T) {
	ns := "metallb-b"
	namespace(t, ns)
	f := &fake{sessions: []speaker.Session{tor}}
	s := &speaker.Speaker{Client: env.Client, Namespace: ns, Announcer: f}
	create(t,
		peer(ns, "wrong-address", "10.1.63.254", 64002, 65002),
		peer(ns, "wrong-asn", "198.18.12.1", 64002, 65099),
		pool(ns, "hello", "192.168.155.151/32"),
		&mlbv1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns},
			Spec: mlbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"hello", "missing"}}},
	)
	st := s.Pass(context.Background())
	if len(st.Routes) != 0 || f.calls != 1 || len(f.got()) != 0 {
		t.Fatalf("announced %v", st.Routes)
	}
	joined := strings.Join(st.Problems, "\n")
	for _, w := range []string{"wrong-address", "10.1.63.254", "wrong-asn", "AS65099"} {
		if !strings.Contains(joined, w) {
			t.Errorf("problems do not mention %q:\n%s", w, joined)
		}
	}

	// The right peer appears: announced (the missing pool is still reported).
	create(t, peer(ns, "right", "198.18.12.1", 64002, 65002))
	st = s.Pass(context.Background())
	if got := f.got(); !slices.Equal(got, []string{"192.168.155.151/32"}) {
		t.Errorf("announced %v", got)
	}
	if !strings.Contains(strings.Join(st.Problems, "\n"), "IPAddressPool missing does not exist") {
		t.Errorf("problems %v", st.Problems)
	}
}

// TestPoolsSelectorsRangesAggregation: pools chosen by label selector, ranges expanded,
// aggregation to a shorter prefix, and with AnnounceServices only the addresses
// LoadBalancer Services hold.
func TestPoolsSelectorsRangesAggregation(t *testing.T) {
	ns := "metallb-c"
	namespace(t, ns)
	f := &fake{sessions: []speaker.Session{tor}}
	s := &speaker.Speaker{Client: env.Client, Namespace: ns, Announcer: f}
	create(t,
		peer(ns, "tor", "198.18.12.1", 64002, 65002),
		pool(ns, "range", "10.9.0.1-10.9.0.3"),
		pool(ns, "other", "10.8.0.0/31"),
		&mlbv1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "by-label", Namespace: ns},
			Spec: mlbv1beta1.BGPAdvertisementSpec{IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"pool": "range"}}}}},
		&mlbv1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "aggregated", Namespace: ns},
			Spec: mlbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"other"}, AggregationLength: ptr.To(int32(24))}},
	)
	s.Pass(context.Background())
	if got, w := f.got(), []string{"10.8.0.0/24", "10.9.0.1/32", "10.9.0.2/32", "10.9.0.3/32"}; !slices.Equal(got, w) {
		t.Errorf("announced %v, want %v", got, w)
	}

	s.AnnounceServices = true
	s.Pass(context.Background())
	if got := f.got(); len(got) != 0 {
		t.Errorf("no Service holds an address, announced %v", got)
	}
	svcNS := "svc-c"
	namespace(t, svcNS)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: svcNS},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	create(t, svc)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.9.0.2"}}
	if err := env.Client.Status().Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	s.Pass(context.Background())
	if got := f.got(); !slices.Equal(got, []string{"10.9.0.2/32"}) {
		t.Errorf("announced %v, want the Service's address only", got)
	}
}
