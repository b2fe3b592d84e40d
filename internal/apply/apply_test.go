package apply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// env is one real API server with the MetalLB CRDs (and every other) installed.
var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start("apply"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var ref = owner.Ingress("c", "apply-test", "web")

// pool is an IPAddressPool owned by ref, with extra labels and spec fields.
func pool(ns, name string, labels map[string]string, spec map[string]interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.GVKIPAddressPool)
	u.SetNamespace(ns)
	u.SetName(name)
	l := ref.Labels()
	for k, v := range labels {
		l[k] = v
	}
	u.SetLabels(l)
	u.Object["spec"] = spec
	return u
}

// ownedOnly reads like the operator's member cache: it holds only objects carrying the
// managed-by label, so anyone else's object looks absent.
type ownedOnly struct{ client.Reader }

func (r ownedOnly) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if obj.GetLabels()[owner.ManagedByLabel] != owner.ManagedByValue {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	return nil
}

// stripped is a cache that keeps no managed fields, as the operator's caches do.
type stripped struct{ client.Reader }

func (r stripped) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	obj.SetManagedFields(nil)
	return nil
}

// lagging is a cache that has not seen anything yet.
type lagging struct{ client.Reader }

func (lagging) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
}

func mustNamespace(t *testing.T, name string) {
	t.Helper()
	err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func live(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	return testenv.Get(t, env.Client, render.GVKIPAddressPool, ns, name)
}

// TestCreatedObjectIsAppliedLater: an object made by a create (one request, no read
// first) is then owned by server-side apply alone, so a field a later render stops
// sending is removed from the cluster, and a repeated apply writes nothing. Also with a
// cache that keeps no managed fields (the operator's): the update reads them live.
func TestCreatedObjectIsAppliedLater(t *testing.T) {
	for _, tc := range []struct {
		ns     string
		reader client.Reader
	}{
		{"apply-created", ownedOnly{env.Client}},
		{"apply-created-stripped", stripped{ownedOnly{env.Client}}},
	} {
		t.Run(tc.ns, func(t *testing.T) { createdIsAppliedLater(t, tc.ns, tc.reader) })
	}
}

func createdIsAppliedLater(t *testing.T, ns string, reader client.Reader) {
	ctx := context.Background()
	mustNamespace(t, ns)
	a := &apply.Applier{Client: env.Client, Reader: reader, LiveReader: env.Client}

	first := pool(ns, "vip", map[string]string{"team": "red"},
		map[string]interface{}{"addresses": []interface{}{"10.9.0.1/32"}, "autoAssign": false, "avoidBuggyIPs": true})
	if res, err := a.Apply(ctx, first); err != nil || res != apply.Created {
		t.Fatalf("first apply: %v, %v; want Created", res, err)
	}
	rv := live(t, ns, "vip").GetResourceVersion()
	if res, err := a.Apply(ctx, first); err != nil || res != apply.Unchanged {
		t.Fatalf("same apply again: %v, %v; want Unchanged", res, err)
	}
	if got := live(t, ns, "vip").GetResourceVersion(); got != rv {
		t.Fatalf("an unchanged apply wrote (resourceVersion %s -> %s)", rv, got)
	}

	second := pool(ns, "vip", nil,
		map[string]interface{}{"addresses": []interface{}{"10.9.0.2/32"}, "autoAssign": false})
	if res, err := a.Apply(ctx, second); err != nil || res != apply.Updated {
		t.Fatalf("changed apply: %v, %v; want Updated", res, err)
	}
	got := live(t, ns, "vip")
	if _, ok := got.GetLabels()["team"]; ok {
		t.Errorf("label team is still there after the render stopped sending it: %v", got.GetLabels())
	}
	if v, ok, _ := unstructured.NestedBool(got.Object, "spec", "avoidBuggyIPs"); ok && v {
		t.Errorf("spec.avoidBuggyIPs is still true after the render stopped sending it")
	}
	if addrs, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "addresses"); len(addrs) != 1 || addrs[0] != "10.9.0.2/32" {
		t.Errorf("spec.addresses = %v, want [10.9.0.2/32]", addrs)
	}
	var ours []metav1.ManagedFieldsEntry
	for _, m := range got.GetManagedFields() {
		if m.Manager == owner.ManagedByValue {
			ours = append(ours, m)
		}
	}
	if len(ours) != 1 || ours[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields of %s: %+v; want one Apply entry", owner.ManagedByValue, ours)
	}
}

// TestCreateNeverTouchesOthers: a same-named object the cache cannot see (not ours, or
// another owner's) is reported as a conflict and left exactly as it was.
func TestCreateNeverTouchesOthers(t *testing.T) {
	ctx := context.Background()
	mustNamespace(t, "apply-others")
	a := &apply.Applier{Client: env.Client, Reader: ownedOnly{env.Client}, LiveReader: env.Client}

	theirs := pool("apply-others", "hand-made", nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.1/32"}})
	theirs.SetLabels(map[string]string{"team": "network"})
	if err := env.Client.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	other := owner.Ingress("c", "apply-others", "someone-else")
	stolen := pool("apply-others", "other-owner", nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.2/32"}})
	stolen.SetLabels(other.Labels())
	if err := env.Client.Create(ctx, stolen); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, holder string }{{"hand-made", ""}, {"other-owner", other.String()}} {
		before := live(t, "apply-others", tc.name)
		// Through a cache that has not caught up too: the create itself refuses.
		for _, r := range []client.Reader{ownedOnly{env.Client}, lagging{}} {
			a.Reader = r
			_, err := a.Apply(ctx, pool("apply-others", tc.name, nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.9/32"}}))
			var c *apply.ConflictError
			if !errors.As(err, &c) {
				t.Fatalf("%s: Apply = %v; want a ConflictError", tc.name, err)
			}
			if c.Holder != tc.holder {
				t.Errorf("%s: holder %q, want %q", tc.name, c.Holder, tc.holder)
			}
		}
		if after := live(t, "apply-others", tc.name); after.GetResourceVersion() != before.GetResourceVersion() {
			t.Errorf("%s was written (resourceVersion %s -> %s)", tc.name, before.GetResourceVersion(), after.GetResourceVersion())
		}
	}
}

// TestCreateBehindTheCache: our own object that the cache does not show yet costs no write
// when it already matches.
func TestCreateBehindTheCache(t *testing.T) {
	ctx := context.Background()
	mustNamespace(t, "apply-lag")
	a := &apply.Applier{Client: env.Client, Reader: ownedOnly{env.Client}, LiveReader: env.Client}
	desired := pool("apply-lag", "vip", nil, map[string]interface{}{"addresses": []interface{}{"10.9.2.1/32"}})
	if _, err := a.Apply(ctx, desired); err != nil {
		t.Fatal(err)
	}
	rv := live(t, "apply-lag", "vip").GetResourceVersion()
	a.Reader = lagging{}
	if res, err := a.Apply(ctx, desired); err != nil || res != apply.Unchanged {
		t.Fatalf("apply behind the cache: %v, %v; want Unchanged", res, err)
	}
	if got := live(t, "apply-lag", "vip").GetResourceVersion(); got != rv {
		t.Errorf("wrote an object that already matched (resourceVersion %s -> %s)", rv, got)
	}
}

// TestCreateMakesTheNamespace: a member that lacks the ingress's namespace gets it.
func TestCreateMakesTheNamespace(t *testing.T) {
	ctx := context.Background()
	a := &apply.Applier{Client: env.Client, Reader: ownedOnly{env.Client}, LiveReader: env.Client}
	if res, err := a.Apply(ctx, pool("apply-new-ns", "vip", nil, map[string]interface{}{"addresses": []interface{}{"10.9.3.1/32"}})); err != nil || res != apply.Created {
		t.Fatalf("Apply into a missing namespace: %v, %v; want Created", res, err)
	}
	ns := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "apply-new-ns"}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels[owner.ManagedByLabel] != owner.ManagedByValue {
		t.Errorf("namespace labels %v; want %s=%s", ns.Labels, owner.ManagedByLabel, owner.ManagedByValue)
	}
}

// stale is a cache that still holds an old copy of every object it was given.
type stale struct {
	client.Reader
	old map[string]*unstructured.Unstructured
}

func (r stale) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if o, ok := r.old[key.String()]; ok {
		o.DeepCopyInto(obj.(*unstructured.Unstructured))
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestAdoptBehindTheCache: the first change of a created object, seen through a cache
// that missed a later write (here another field manager's label), still applies, and
// still drops what the render no longer sends.
func TestAdoptBehindTheCache(t *testing.T) {
	ctx := context.Background()
	mustNamespace(t, "apply-stale")
	a := &apply.Applier{Client: env.Client, Reader: ownedOnly{env.Client}, LiveReader: env.Client}
	first := pool("apply-stale", "vip", map[string]string{"team": "red"}, map[string]interface{}{"addresses": []interface{}{"10.9.4.1/32"}})
	if _, err := a.Apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	old := live(t, "apply-stale", "vip")
	other := old.DeepCopy()
	other.SetManagedFields(nil)
	l := other.GetLabels()
	l["someone"] = "else"
	other.SetLabels(l)
	if err := env.Client.Update(ctx, other, client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	a.Reader = stale{Reader: env.Client, old: map[string]*unstructured.Unstructured{"apply-stale/vip": old}}
	second := pool("apply-stale", "vip", nil, map[string]interface{}{"addresses": []interface{}{"10.9.4.2/32"}})
	if res, err := a.Apply(ctx, second); err != nil || res != apply.Updated {
		t.Fatalf("apply through a stale cache: %v, %v; want Updated", res, err)
	}
	got := live(t, "apply-stale", "vip")
	if _, ok := got.GetLabels()["team"]; ok {
		t.Errorf("label team is still there: %v", got.GetLabels())
	}
	if got.GetLabels()["someone"] != "else" {
		t.Errorf("another manager's label was lost: %v", got.GetLabels())
	}
}

// TestLeafFailureHoldsNothingBack: a leaf the API server refuses (here an invalid Secret)
// is reported, and neither the other objects nor the prune wait for it; an object that
// fails in the ordered part still stops the rest, and nothing is pruned then.
func TestLeafFailureHoldsNothingBack(t *testing.T) {
	ctx := context.Background()
	mustNamespace(t, "apply-leaves")
	a := &apply.Applier{Client: env.Client, Reader: ownedOnly{env.Client}, LiveReader: env.Client}
	old := pool("apply-leaves", "old", nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.1/32"}})
	if _, err := a.Apply(ctx, old); err != nil {
		t.Fatal(err)
	}
	bad := &unstructured.Unstructured{}
	bad.SetGroupVersionKind(render.GVKSecret)
	bad.SetNamespace("apply-leaves")
	bad.SetName("Not_A_Valid_Name")
	bad.SetLabels(ref.Labels())
	bad.Object["type"] = "kubernetes.io/tls" // and no tls.crt: refused twice over
	fresh := pool("apply-leaves", "new", nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.2/32"}})

	_, err := a.ApplyAllWithLeaves(ctx, ref, []*unstructured.Unstructured{bad}, []*unstructured.Unstructured{fresh}, []schema.GroupVersionKind{render.GVKIPAddressPool}, "")
	if err == nil || !strings.Contains(err.Error(), "Not_A_Valid_Name") {
		t.Fatalf("the refused leaf must be reported: %v", err)
	}
	if live(t, "apply-leaves", "new") == nil {
		t.Error("the object after a refused leaf was not applied")
	}
	if live(t, "apply-leaves", "old") != nil {
		t.Error("a refused leaf held back the prune")
	}

	// In the ordered part an error stops: nothing after it, no prune.
	again := pool("apply-leaves", "again", nil, map[string]interface{}{"addresses": []interface{}{"10.9.1.3/32"}})
	_, err = a.ApplyAll(ctx, ref, []*unstructured.Unstructured{bad, again}, []schema.GroupVersionKind{render.GVKIPAddressPool}, "")
	if err == nil || live(t, "apply-leaves", "again") != nil || live(t, "apply-leaves", "new") == nil {
		t.Errorf("an ordered error must stop the rest and the prune (err %v)", err)
	}
}
