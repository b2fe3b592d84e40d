package controller_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const operatorNamespace = "anycast-system"

var (
	env      *testenv.Env
	mgr      ctrl.Manager
	gateways *gatewayfixture.Implementation
)

// TestMain runs one real API server with every CRD, and the operator's manager against
// it, exactly as the command wires it.
func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	var err error
	env, err = testenv.Start("west")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for _, ns := range []string{operatorNamespace, "metallb-system"} {
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				fmt.Fprintln(os.Stderr, "FAIL:", err)
				return 1
			}
		}
		mgr, err = operator.New(env.Config, operator.Options{Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: operator:", err)
			return 1
		}
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		// A clearly named stand-in for a Gateway implementation and MetalLB's IP
		// assignment: the health gate reads what they report.
		gateways = &gatewayfixture.Implementation{Client: env.Client, GatewayClassNames: []string{"envoy"}}
		go gateways.Run(ctx)
		code := m.Run()
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
		return code
	}()
	os.Exit(code)
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		return -2
	}
	return 2 // errors only: keep test output readable
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// consistently requires f to hold for d.
func consistently(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var nsCounter atomic.Int32

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.TrimRight(name, "-")
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// localClass is a class whose only member is the cluster the operator runs in.
func localClass(name string, mutate ...func(*v1alpha1.AnycastClass)) *v1alpha1.AnycastClass {
	c := &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools:            []string{"192.168.155.0/24"},
			GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{{
				Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub,
				// Each class its own TOR address: MetalLB refuses one peer defined by two
				// classes on one cluster (see TestClassConflicts).
				Peers: []v1alpha1.Peer{{Name: "tor", Address: torAddress(name), ASN: 64001}},
			}},
		},
	}
	for _, f := range mutate {
		f(c)
	}
	return c
}

func ingress(ns, name, class, address string, mutate ...func(*v1alpha1.AnycastIngress)) *v1alpha1.AnycastIngress {
	i := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: class, Address: address},
	}
	for _, f := range mutate {
		f(i)
	}
	return i
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// update applies change to the latest version of obj, retrying on conflicts.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "update "+obj.GetName(), func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return env.Client.Update(ctx, obj)
	})
}

func getIngress(t *testing.T, ns, name string) *v1alpha1.AnycastIngress {
	t.Helper()
	i := &v1alpha1.AnycastIngress{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, i); err != nil {
		t.Fatal(err)
	}
	return i
}

// condition checks a condition of an ingress or class, current for its generation.
func conditionIs(conds []metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return fmt.Errorf("no %s condition yet (have %v)", typ, conds)
	}
	if c.ObservedGeneration != generation {
		return fmt.Errorf("%s describes generation %d, want %d", typ, c.ObservedGeneration, generation)
	}
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

func waitIngressCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.AnycastIngress {
	t.Helper()
	var ing *v1alpha1.AnycastIngress
	eventually(t, fmt.Sprintf("ingress %s/%s %s=%s/%s", ns, name, typ, status, reason), func() error {
		ing = &v1alpha1.AnycastIngress{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ing); err != nil {
			return err
		}
		return conditionIs(ing.Status.Conditions, ing.Generation, typ, status, reason)
	})
	return ing
}

func waitClassCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.AnycastClass {
	t.Helper()
	var c *v1alpha1.AnycastClass
	eventually(t, fmt.Sprintf("class %s %s=%s/%s", name, typ, status, reason), func() error {
		c = &v1alpha1.AnycastClass{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, c); err != nil {
			return err
		}
		return conditionIs(c.Status.Conditions, c.Generation, typ, status, reason)
	})
	return c
}

// getObject reads a rendered object; nil when absent.
func getObject(t *testing.T, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func waitObject(t *testing.T, gvk schema.GroupVersionKind, ns, name string, check func(*unstructured.Unstructured) error) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	eventually(t, fmt.Sprintf("%s %s/%s", gvk.Kind, ns, name), func() error {
		u = getObject(t, gvk, ns, name)
		if u == nil {
			return fmt.Errorf("absent")
		}
		if check != nil {
			return check(u)
		}
		return nil
	})
	return u
}

func waitGone(t *testing.T, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s/%s gone", gvk.Kind, ns, name), func() error {
		if getObject(t, gvk, ns, name) != nil {
			return fmt.Errorf("still present")
		}
		return nil
	})
}

// owned lists every object of every rendered kind owned by ref.
func owned(t *testing.T, ref owner.Ref) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, gvk := range render.AllKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := env.Client.List(context.Background(), list, client.MatchingLabelsSelector{Selector: ref.Selector()}); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			if list.Items[i].GetDeletionTimestamp() == nil {
				out = append(out, &list.Items[i])
			}
		}
	}
	return out
}

func nestedString(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func nestedSlice(u *unstructured.Unstructured, path ...string) []interface{} {
	s, _, _ := unstructured.NestedSlice(u.Object, path...)
	return s
}

// torAddress is a TOR address of the class's own, derived from its name.
func torAddress(class string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(class))
	n := h.Sum32()
	return fmt.Sprintf("10.%d.%d.254", n%250+1, (n/250)%250+1)
}
