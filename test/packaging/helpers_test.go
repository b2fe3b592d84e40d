package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// fieldManager is the server-side apply field manager of everything these tests apply.
const fieldManager = "packaging-test"

func chartDir() string { return filepath.Join(root, "charts", "anycast-operator") }

// release is one rendered chart, as `helm template` prints it.
type release struct {
	Name, Namespace string
	// Manifests are the templates' documents, in Helm's install order.
	Manifests []releaseutil.Manifest
	// CRDs are the files of crds/ (Helm installs them before the templates).
	CRDs []*chart.File
	// Notes is the rendered NOTES.txt.
	Notes string
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// renderChart renders the chart as `helm template NAME charts/anycast-operator -n NAMESPACE`
// with the given values: values merged with values.yaml and validated against
// values.schema.json, templates rendered, manifests sorted in install order.
func renderChart(name, namespace string, values map[string]any) (*release, error) {
	c, err := loader.Load(chartDir())
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return nil, err
	}
	r := &release{Name: name, Namespace: namespace, CRDs: c.CRDs()}
	for path, content := range files {
		if strings.HasSuffix(path, "/NOTES.txt") {
			r.Notes = content
			delete(files, path)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart has %d hooks; it should have none", len(hooks))
	}
	r.Manifests = manifests
	return r, nil
}

func mustRender(t testing.TB, name, namespace string, values map[string]any) *release {
	t.Helper()
	r, err := renderChart(name, namespace, values)
	if err != nil {
		t.Fatalf("rendering the chart (%s in %s, values %v): %v", name, namespace, values, err)
	}
	return r
}

// Text is the output of `helm template` (without --include-crds).
func (r *release) Text() string {
	var b strings.Builder
	for _, m := range r.Manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.String()
}

// Objects parses the manifests.
func (r *release) Objects(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, m := range r.Manifests {
		out = append(out, parseObjects(t, m.Name, []byte(m.Content))...)
	}
	return out
}

// CRDObjects parses crds/.
func (r *release) CRDObjects(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, f := range r.CRDs {
		out = append(out, parseObjects(t, f.Name, f.Data)...)
	}
	return out
}

// find returns the one object of a kind and name, failing the test otherwise.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

// parseObjects splits a YAML stream into objects, strictly.
func parseObjects(t testing.TB, source string, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for i, doc := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if len(bytes.TrimSpace(stripYAMLComments(doc))) == 0 {
			continue
		}
		m := map[string]any{}
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Fatalf("%s, document %d: %v\n%s", source, i, err, doc)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			t.Fatalf("%s, document %d: no kind, apiVersion or name:\n%s", source, i, doc)
		}
		out = append(out, u)
	}
	return out
}

func stripYAMLComments(b []byte) []byte {
	var keep [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			keep = append(keep, l)
		}
	}
	return bytes.Join(keep, []byte("\n"))
}

// ensureNamespace creates a namespace if it is missing.
func ensureNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := cl.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// applyObjects applies objects server-side, CRDs and namespaces first, and waits for the
// CRDs to be established. Every object must be accepted.
func applyObjects(t testing.TB, objs []*unstructured.Unstructured) {
	t.Helper()
	applyObjectsOrdered(t, objs, true)
}

// applyInFileOrder applies objects in the given order, as `kubectl apply -f FILE` does: a
// namespaced object before its Namespace fails.
func applyInFileOrder(t testing.TB, objs []*unstructured.Unstructured) {
	t.Helper()
	applyObjectsOrdered(t, objs, false)
}

func applyObjectsOrdered(t testing.TB, objs []*unstructured.Unstructured, reorder bool) {
	t.Helper()
	ctx := context.Background()
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			return 0
		case "Namespace":
			return 1
		}
		return 2
	}
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	if reorder {
		sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	}
	var crds []string
	for _, o := range sorted {
		if len(crds) > 0 && rank(o) > 0 {
			waitEstablished(t, crds)
			crds = nil
		}
		obj := o.DeepCopy()
		if err := cl.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			t.Fatalf("server-side apply of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o.GetName())
		}
	}
	if len(crds) > 0 {
		waitEstablished(t, crds)
	}
	waitAuthorizerSees(t, objs)
}

// waitAuthorizerSees waits until the API server's RBAC authorizer answers with the bindings
// just applied. It reads Roles and bindings from informers, so a SubjectAccessReview made
// right after the apply may be answered from before it (a CI run denied a verb the new
// Role grants). For each binding whose role is among objs, one access the role grants is
// asked for every ServiceAccount subject until it is allowed.
func waitAuthorizerSees(t testing.TB, objs []*unstructured.Unstructured) {
	t.Helper()
	roles := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == "Role" || o.GetKind() == "ClusterRole" {
			roles[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
		}
	}
	for _, b := range objs {
		if b.GetKind() != "RoleBinding" && b.GetKind() != "ClusterRoleBinding" {
			continue
		}
		kind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		roleNS := ""
		if kind == "Role" {
			roleNS = b.GetNamespace()
		}
		role, ok := roles[kind+"/"+roleNS+"/"+name]
		if !ok {
			continue
		}
		a, ok := grantedAccess(role, b.GetNamespace())
		if !ok {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		for _, s := range subjects {
			m, _ := s.(map[string]any)
			if m["kind"] != "ServiceAccount" {
				continue
			}
			ns, _ := m["namespace"].(string)
			sa, _ := m["name"].(string)
			who := serviceAccount(ns, sa)
			err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				return allowed(t, who, a), nil
			})
			if err != nil {
				t.Fatalf("the authorizer never granted %s to %s through %s %s/%s", a, who.User, b.GetKind(), b.GetNamespace(), b.GetName())
			}
		}
	}
}

// grantedAccess is one access the role's first plain rule grants (no wildcard, no
// resource names), in the binding's namespace.
func grantedAccess(role *unstructured.Unstructured, namespace string) (access, bool) {
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		m, _ := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(m, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(m, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
		names, _, _ := unstructured.NestedStringSlice(m, "resourceNames")
		if len(groups) == 0 || len(resources) == 0 || len(verbs) == 0 || len(names) > 0 ||
			groups[0] == "*" || resources[0] == "*" || verbs[0] == "*" {
			continue
		}
		res, sub, _ := strings.Cut(resources[0], "/")
		return access{Verb: verbs[0], Group: groups[0], Resource: res, Subresource: sub, Namespace: namespace}, true
	}
	return access{}, false
}

func waitEstablished(t testing.TB, names []string) {
	t.Helper()
	for _, n := range names {
		err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := cl.Get(ctx, client.ObjectKey{Name: n}, crd); err != nil {
				return false, err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", n, err)
		}
	}
}

// subject is a user or ServiceAccount as the authorizer sees it.
type subject struct {
	User   string
	Groups []string
}

func serviceAccount(namespace, name string) subject {
	return subject{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// access is one (verb, group, resource, namespace) question.
type access struct {
	Verb, Group, Resource, Subresource, Namespace string
}

func (a access) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in " + a.Namespace
	}
	return a.Verb + " " + r + " " + where
}

// allowed asks the API server's authorizer with a SubjectAccessReview.
func allowed(t testing.TB, s subject, a access) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: s.User, Groups: s.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace,
		},
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %s: %v", a, err)
	}
	return res.Status.Allowed
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./test/packaging -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the current output (rerun with -update and review the diff):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			if shown++; shown == 10 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}
