package packaging

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/hack/generate"
)

const installerImage = "registry.example:5000/anycast/anycast-operator:v9.9.9"

// buildInstaller is `make build-installer IMG=installerImage`: the same function
// hack/build-installer runs.
func buildInstaller(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	b, err := generate.Kustomize(filepath.Join(root, "config", "default"), installerImage)
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, "config/default", b)
}

var installerOnce sync.Once
var installerFailed bool

// installInstaller applies the installer once for the tests that need it.
func installInstaller(t *testing.T) {
	t.Helper()
	installerOnce.Do(func() {
		installerFailed = !t.Run("install", testInstallerApplies)
	})
	if installerFailed {
		t.Fatal("applying the installer failed")
	}
}

// TestInstallerAppliesToEnvtest applies the build-installer output server-side: CRDs,
// namespace, RBAC, Deployment, Service. MetalLB's namespace is a prerequisite (MetalLB is).
func TestInstallerAppliesToEnvtest(t *testing.T) { installInstaller(t) }

func testInstallerApplies(t *testing.T) {
	objs := buildInstaller(t)
	d := find(t, objs, "Deployment", "anycast-operator")
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, &dep); err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != installerImage {
		t.Errorf("installer image %s, want %s", got, installerImage)
	}
	for _, kind := range []string{"CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "Service"} {
		found := false
		for _, o := range objs {
			found = found || o.GetKind() == kind
		}
		if !found {
			t.Errorf("the installer has no %s", kind)
		}
	}
	ensureNamespace(t, "metallb-system", nil)
	applyInFileOrder(t, objs)
	// Applying it again changes nothing and conflicts with nothing.
	applyInFileOrder(t, objs)
	live := &appsv1.Deployment{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "anycast-system", Name: "anycast-operator"}, live); err != nil {
		t.Fatal(err)
	}
	if live.Generation != 1 {
		t.Errorf("re-applying the installer changed the Deployment (generation %d)", live.Generation)
	}
}

// TestInstallerRBACIsTheGeneratedRBAC: the installer's roles are config/rbac/role.yaml.
func TestInstallerRBACIsTheGeneratedRBAC(t *testing.T) {
	objs := buildInstaller(t)
	b, err := generate.Kustomize(filepath.Join(root, "config", "rbac"), "")
	if err != nil {
		t.Fatal(err)
	}
	rbacObjs := parseObjects(t, "config/rbac", b)
	for _, r := range rbacObjs {
		var got *unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == r.GetKind() && o.GetName() == r.GetName() && o.GetNamespace() == r.GetNamespace() {
				got = o
			}
		}
		if got == nil {
			t.Errorf("%s %s/%s of config/rbac is not in the installer", r.GetKind(), r.GetNamespace(), r.GetName())
			continue
		}
		if !reflect.DeepEqual(got.Object["rules"], r.Object["rules"]) || !reflect.DeepEqual(got.Object["subjects"], r.Object["subjects"]) {
			t.Errorf("%s %s/%s differs between config/rbac and the installer", r.GetKind(), r.GetNamespace(), r.GetName())
		}
	}
}

// TestUserRolesKustomizeEqualsChart: config/rbac/user_roles.yaml and the chart's user
// roles grant the same, with the same aggregation labels.
func TestUserRolesKustomizeEqualsChart(t *testing.T) {
	b, err := generate.Kustomize(filepath.Join(root, "config", "rbac"), "")
	if err != nil {
		t.Fatal(err)
	}
	kobjs := parseObjects(t, "config/rbac", b)
	chart := mustRender(t, "anycast-operator", "anycast-system", map[string]any{}).Objects(t)
	for _, name := range []string{"anycast-operator-ingress-editor", "anycast-operator-viewer", "anycast-operator-class-editor"} {
		k, c := find(t, kobjs, "ClusterRole", name), find(t, chart, "ClusterRole", name)
		var kr, cr rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(k.Object, &kr); err != nil {
			t.Fatal(err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(c.Object, &cr); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalizeRules(kr.Rules), normalizeRules(cr.Rules)) {
			t.Errorf("%s: config/rbac grants %v, the chart %v", name, normalizeRules(kr.Rules), normalizeRules(cr.Rules))
		}
		for key, v := range cr.Labels {
			if strings.HasPrefix(key, "rbac.authorization.k8s.io/") && kr.Labels[key] != v {
				t.Errorf("%s: config/rbac lacks the label %s=%s", name, key, v)
			}
		}
	}
}

// TestSamplesApply: the samples (config/samples) are valid against the installed CRDs,
// CEL rules included.
func TestSamplesApply(t *testing.T) {
	installInstaller(t)
	b, err := generate.Kustomize(filepath.Join(root, "config", "samples"), "")
	if err != nil {
		t.Fatal(err)
	}
	objs := parseObjects(t, "config/samples", b)
	if len(objs) < 2 {
		t.Fatalf("%d samples", len(objs))
	}
	for _, o := range objs {
		if o.GetNamespace() != "" {
			ensureNamespace(t, o.GetNamespace(), nil)
		}
	}
	ctx := context.Background()
	for _, o := range objs {
		obj := o.DeepCopy()
		if err := cl.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership, client.DryRunAll); err != nil {
			t.Errorf("sample %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// TestSpokeKustomizeEqualsChart: config/spoke (for kustomize users) grants exactly what the
// chart's spoke role grants, to a ServiceAccount with a token Secret, and is accepted by
// the API server (server-side dry run: the shared API server already has an
// anycast-system/anycast-operator, the hub's).
func TestSpokeKustomizeEqualsChart(t *testing.T) {
	b, err := generate.Kustomize(filepath.Join(root, "config", "spoke"), "")
	if err != nil {
		t.Fatal(err)
	}
	kobjs := parseObjects(t, "config/spoke", b)
	chart := mustRender(t, "anycast-operator", "anycast-system", map[string]any{"role": "spoke"}).Objects(t)
	kc, km, _ := spokeRules(t, kobjs, "metallb-system")
	cc, cm, _ := spokeRules(t, chart, "metallb-system")
	if !reflect.DeepEqual(normalizeRules(kc), normalizeRules(cc)) {
		t.Errorf("cluster rules differ:\nconfig/spoke: %v\nchart: %v", normalizeRules(kc), normalizeRules(cc))
	}
	if !reflect.DeepEqual(normalizeRules(km), normalizeRules(cm)) {
		t.Errorf("MetalLB rules differ:\nconfig/spoke: %v\nchart: %v", normalizeRules(km), normalizeRules(cm))
	}
	sa := find(t, kobjs, "ServiceAccount", "")
	tok := find(t, kobjs, "Secret", "")
	csa, ctok := find(t, chart, "ServiceAccount", ""), find(t, chart, "Secret", "")
	if sa.GetName() != csa.GetName() || sa.GetNamespace() != csa.GetNamespace() || tok.GetName() != ctok.GetName() ||
		!reflect.DeepEqual(tok.Object["type"], ctok.Object["type"]) || tok.GetAnnotations()["kubernetes.io/service-account.name"] != sa.GetName() {
		t.Errorf("config/spoke identity %s/%s (token %s) differs from the chart's %s/%s (token %s)",
			sa.GetNamespace(), sa.GetName(), tok.GetName(), csa.GetNamespace(), csa.GetName(), ctok.GetName())
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		rb := find(t, kobjs, kind, "")
		subjects, _, _ := unstructured.NestedSlice(rb.Object, "subjects")
		want := []any{map[string]any{"kind": "ServiceAccount", "name": sa.GetName(), "namespace": sa.GetNamespace()}}
		if !reflect.DeepEqual(subjects, want) {
			t.Errorf("config/spoke %s binds %v", kind, subjects)
		}
	}
	ensureNamespace(t, "metallb-system", nil)
	ensureNamespace(t, "anycast-system", nil)
	ctx := context.Background()
	for _, o := range kobjs {
		obj := o.DeepCopy()
		if err := cl.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldManager+"-dry-run"), client.ForceOwnership, client.DryRunAll); err != nil {
			t.Errorf("config/spoke %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
