// Package watcher_test proves, with real routers, that the operator reports what the
// routers carry: FRR core (AS 64666) and TORs (64001, 64002) in network namespaces, each
// cluster's MetalLB speaker played by a gobgpd speaker (65001, 65002), and the operator's
// embedded watcher peering with the core from this test process. The hub (west) and the
// spoke (east) are real API servers.
package watcher_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const (
	operatorNamespace = "anycast-system"
	converge          = 90 * time.Second
)

var west, east *testenv.Env

// delays collects the operator's BGP-change-to-status-write delays, for the benchmark.
var delays delaySamples

type delaySamples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *delaySamples) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

// take returns and clears the samples.
func (s *delaySamples) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.d
	s.d = nil
	return out
}

func TestMain(m *testing.M) {
	level := zapcore.Level(2)
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		level = -2
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(level)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if west, err = testenv.Start("west"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = west.Stop() }()
	if east, err = testenv.Start("east"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = east.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, e := range []*testenv.Env{west, east} {
		for _, ns := range []string{operatorNamespace, "metallb-system", "hello-world"} {
			if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				fmt.Fprintln(os.Stderr, "FAIL:", err)
				return 1
			}
		}
	}
	if err := west.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "east-kubeconfig", Namespace: operatorNamespace},
		Data:       map[string][]byte{"kubeconfig": east.Kubeconfig()},
	}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	mgr, err := operator.New(west.Config, operator.Options{
		Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0", MemberProbeInterval: time.Second,
		StatusDelayObserver: delays.add,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Clearly named stand-ins for each cluster's Gateway implementation and MetalLB IP
	// assignment: the health gate reads what they report.
	for _, e := range []*testenv.Env{west, east} {
		go (&gatewayfixture.Implementation{Client: e.Client, GatewayClassNames: []string{"envoy"}}).Run(ctx)
	}
	code := m.Run()
	cancel()
	<-done
	return code
}

// class is the reference class: west and east with their TORs, and a watcher session to
// the fabric's core.
func class(name string, f *fabric.Fabric, password *v1alpha1.SecretKeyReference) *v1alpha1.AnycastClass {
	one := metav1.Duration{Duration: time.Second}
	hold := metav1.Duration{Duration: 9 * time.Second}
	keep := metav1.Duration{Duration: 3 * time.Second}
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools:            []string{"192.168.155.0/24"},
			GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub, Peers: []v1alpha1.Peer{{Name: "tor", Address: "10.0.63.254", ASN: 64001}}},
				{Name: "east", ASN: 65002, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}, Peers: []v1alpha1.Peer{{Name: "tor", Address: "10.1.63.254", ASN: 64002}}},
			},
			Watcher: &v1alpha1.Watcher{
				ASN: int64(f.WatcherASN), RouterID: "198.18.255.99",
				Sessions: []v1alpha1.WatcherSession{{
					Name: "core", Address: f.CoreLink.RouterAddr.String(), ASN: int64(f.CoreLink.RouterASN),
					LocalAddress: f.CoreLink.WatcherAddr.String(),
					HoldTime:     &hold, KeepaliveTime: &keep, ConnectRetry: &one,
					PasswordSecretRef: password,
				}},
			},
		},
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

func waitIngress(t *testing.T, name, what string, check func(*v1alpha1.AnycastIngress) error) *v1alpha1.AnycastIngress {
	t.Helper()
	var ing *v1alpha1.AnycastIngress
	testenv.Eventually(t, what, converge, func() error {
		ing = getIngress(t, name)
		return check(ing)
	})
	return ing
}

func advertised(i *v1alpha1.AnycastIngress, cluster string) (bool, bool) {
	for _, c := range i.Status.Clusters {
		if c.Name == cluster && c.Advertised != nil {
			return *c.Advertised, true
		}
	}
	return false, false
}

func message(i *v1alpha1.AnycastIngress, typ string) string {
	return message2(i.Status.Conditions, typ)
}

// TestRoutersView walks the watcher acceptance of issue 4 on one fabric: ECMP at the core
// and both origins in status; east withdrawn and back; east drained while still
// announcing, then withdrawn; and nothing ever sent by the watcher.
func TestRoutersView(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	vip := netip.MustParsePrefix("192.168.155.151/32")
	create(t, class("dc", f, nil))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "dc") })
	ing := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "hello-world"},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: "dc", Address: vip.Addr().String()},
	}
	create(t, ing)
	f.West.Announce(vip)
	f.East.Announce(vip)

	// Both clusters announce: two ECMP next hops at the core, both origins in status.
	testenv.Eventually(t, "the core installs two ECMP next hops", converge, func() error {
		nh, err := f.Core.FIBNextHops(vip)
		if err != nil {
			return err
		}
		if len(nh) != 2 {
			return fmt.Errorf("next hops %v", nh)
		}
		return nil
	})
	got := waitIngress(t, "hello", "Advertised with both origins, and Ready", func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionAdvertised, metav1.ConditionTrue, "Advertised"); err != nil {
			return err
		}
		origins := map[int64]string{}
		for _, p := range i.Status.Paths {
			origins[p.OriginAS] = p.Cluster
		}
		if origins[65001] != "west" || origins[65002] != "east" {
			return fmt.Errorf("paths %+v", i.Status.Paths)
		}
		// Ready also needs the members healthy (their Gateways served by the
		// status fixture), which may come after the routers' view.
		return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	})
	for _, p := range got.Status.Paths {
		if !strings.HasPrefix(p.ASPath, "64666 ") || p.Session != "core" {
			t.Errorf("unexpected path %+v", p)
		}
	}
	cls := &v1alpha1.AnycastClass{}
	testenv.Eventually(t, "the class reports its session", converge, func() error {
		if err := west.Client.Get(context.Background(), client.ObjectKey{Name: "dc"}, cls); err != nil {
			return err
		}
		if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionSessionsEstablished, metav1.ConditionTrue, ""); err != nil {
			return err
		}
		if len(cls.Status.Sessions) != 1 || cls.Status.Sessions[0].State != "Established" || cls.Status.Sessions[0].AcceptedPrefixes < 1 || cls.Status.Sessions[0].Since == nil {
			return fmt.Errorf("sessions %+v", cls.Status.Sessions)
		}
		return nil
	})

	t.Run("east stops announcing, then returns", func(t *testing.T) {
		f.East.Withdraw(vip)
		got := waitIngress(t, "hello", "east reported missing", func(i *v1alpha1.AnycastIngress) error {
			if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionAdvertised, metav1.ConditionFalse, "Degraded"); err != nil {
				return err
			}
			if adv, ok := advertised(i, "east"); !ok || adv {
				return fmt.Errorf("east still advertised")
			}
			return nil
		})
		if !strings.Contains(message(got, v1alpha1.ConditionAdvertised), "east") {
			t.Errorf("Advertised should name east: %s", message(got, v1alpha1.ConditionAdvertised))
		}
		if adv, _ := advertised(got, "west"); !adv {
			t.Error("west is still advertised")
		}
		f.East.Announce(vip)
		waitIngress(t, "hello", "Advertised again", func(i *v1alpha1.AnycastIngress) error {
			return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionAdvertised, metav1.ConditionTrue, "")
		})
	})

	t.Run("drain east: verified only once its path is gone", func(t *testing.T) {
		testenv.Eventually(t, "drain east", converge, func() error {
			cur := getIngress(t, "hello")
			cur.Spec.Drain = []string{"east"}
			return west.Client.Update(context.Background(), cur)
		})
		// East's speaker stands in for MetalLB and keeps announcing: not drained yet.
		got := waitIngress(t, "hello", "Drained=False while east still announces", func(i *v1alpha1.AnycastIngress) error {
			return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionDrained, metav1.ConditionFalse, "StillAdvertised")
		})
		if !strings.Contains(message(got, v1alpha1.ConditionDrained), "east") {
			t.Errorf("Drained should name east: %s", message(got, v1alpha1.ConditionDrained))
		}
		if err := testenv.ConditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionReady, metav1.ConditionFalse, ""); err != nil {
			t.Errorf("Ready must follow the routers, not the intent: %v", err)
		}
		f.East.Withdraw(vip)
		got = waitIngress(t, "hello", "Drained=True once the path is gone", func(i *v1alpha1.AnycastIngress) error {
			return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionDrained, metav1.ConditionTrue, "Withdrawn")
		})
		if err := testenv.ConditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionAdvertised, metav1.ConditionTrue, ""); err != nil {
			t.Errorf("with east drained, west alone serves: %v", err)
		}
	})

	t.Run("the core receives nothing from the watcher", func(t *testing.T) {
		n, err := f.Core.ReceivedFrom(f.CoreLink.WatcherAddr)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("the core received %d prefixes from the watcher", n)
		}
	})
}

// TestWrongPasswordIsReported: a watcher session whose TCP MD5 password differs from the
// router's never establishes, and the class says so.
func TestWrongPasswordIsReported(t *testing.T) {
	f := fabric.Start(t, fabric.Options{WatcherPassword: "right-password-for-tests"})
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "core-md5", Namespace: operatorNamespace},
		Data:       map[string][]byte{"password": []byte("wrong-password-for-tests")},
	})
	create(t, class("md5", f, &v1alpha1.SecretKeyReference{Name: "core-md5"}))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "md5") })
	cls := &v1alpha1.AnycastClass{}
	testenv.Eventually(t, "SessionsEstablished=False naming the session", converge, func() error {
		if err := west.Client.Get(context.Background(), client.ObjectKey{Name: "md5"}, cls); err != nil {
			return err
		}
		if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionSessionsEstablished, metav1.ConditionFalse, "SessionsDown"); err != nil {
			return err
		}
		// Linux drops segments with a wrong MD5 signature silently: the watcher can only
		// infer the password from connection attempts that time out, so this takes a
		// few attempts.
		if len(cls.Status.Sessions) != 1 || !strings.Contains(strings.ToLower(cls.Status.Sessions[0].Message), "password") {
			return fmt.Errorf("sessions %+v", cls.Status.Sessions)
		}
		if !strings.Contains(message2(cls.Status.Conditions, v1alpha1.ConditionSessionsEstablished), "core") {
			return fmt.Errorf("the condition does not name the session")
		}
		return nil
	})
	t.Logf("session status: %+v", cls.Status.Sessions[0])
	// It stays down: a wrong password never establishes.
	time.Sleep(5 * time.Second)
	if err := west.Client.Get(context.Background(), client.ObjectKey{Name: "md5"}, cls); err != nil {
		t.Fatal(err)
	}
	if cls.Status.Sessions[0].State == "Established" {
		t.Fatal("a session with the wrong password established")
	}
}

func message2(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := west.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}
