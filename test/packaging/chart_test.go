package packaging

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/hack/generate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current chart")

// chartCase is one set of values the chart is rendered, linted and golden-tested with.
type chartCase struct {
	Name, Release, Namespace string
	Values                   map[string]any
}

var chartCases = []chartCase{
	{Name: "hub-default", Release: "anycast-operator", Namespace: "anycast-system", Values: map[string]any{}},
	{Name: "hub-custom", Release: "edge", Namespace: "ops-anycast", Values: map[string]any{
		"metallb":           map[string]any{"namespace": "metallb"},
		"image":             map[string]any{"repository": "registry.example/anycast-operator", "digest": "sha256:" + strings.Repeat("ab", 32)},
		"imagePullSecrets":  []any{map[string]any{"name": "registry"}},
		"replicaCount":      3,
		"logging":           map[string]any{"level": "debug", "encoder": "console"},
		"syncPeriod":        "1h",
		"ingressWorkers":    32,
		"extraArgs":         []any{"--kube-api-qps=50"},
		"podAnnotations":    map[string]any{"example.com/team": "network"},
		"priorityClassName": "system-cluster-critical",
		"commonLabels":      map[string]any{"example.com/owner": "platform"},
		"tolerations":       []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}},
		"topologySpreadConstraints": []any{map[string]any{
			"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
			"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "anycast-operator"}},
		}},
		"metrics": map[string]any{"port": 9090, "serviceMonitor": map[string]any{
			"enabled": true, "labels": map[string]any{"release": "prometheus"}, "interval": "15s",
		}},
		"podDisruptionBudget": map[string]any{"enabled": true},
	}},
	{Name: "hub-minimal", Release: "anycast-operator", Namespace: "anycast-system", Values: map[string]any{
		"replicaCount":        1,
		"leaderElection":      map[string]any{"enabled": false},
		"metrics":             map[string]any{"enabled": false},
		"serviceAccount":      map[string]any{"create": false, "name": "existing-operator"},
		"rbac":                map[string]any{"create": false},
		"podDisruptionBudget": map[string]any{"enabled": true, "maxUnavailable": 1},
	}},
	{Name: "spoke-default", Release: "anycast-operator", Namespace: "anycast-system", Values: map[string]any{"role": "spoke"}},
	{Name: "spoke-custom", Release: "hub-identity", Namespace: "anycast-spoke", Values: map[string]any{
		"role":    "spoke",
		"metallb": map[string]any{"namespace": "metallb"},
		"spoke": map[string]any{
			"serviceAccount": map[string]any{"name": "west-hub", "annotations": map[string]any{"example.com/hub": "west"}},
			"tokenSecret":    map[string]any{"name": "west-hub-token-1"},
		},
	}},
}

// TestChartLint is `helm lint --strict` for every case: warnings are failures.
func TestChartLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion("v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range chartCases {
		t.Run(tc.Name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(chartDir(), tc.Values, tc.Namespace, kv)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestChartGolden is `helm template` for every case, against testdata/chart/<case>.yaml
// and the rendered NOTES.txt against testdata/chart/<case>.NOTES.txt.
func TestChartGolden(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.Name, func(t *testing.T) {
			r := mustRender(t, tc.Release, tc.Namespace, tc.Values)
			golden(t, filepath.Join("chart", tc.Name+".yaml"), []byte(r.Text()))
			golden(t, filepath.Join("chart", tc.Name+".NOTES.txt"), []byte(r.Notes))
			// Every manifest parses strictly and names its namespace when namespaced.
			for _, o := range r.Objects(t) {
				if o.GetNamespace() == "" && !clusterScoped[o.GetKind()] {
					t.Errorf("%s %s has no namespace", o.GetKind(), o.GetName())
				}
			}
		})
	}
}

var clusterScoped = map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true, "Namespace": true}

// TestChartRejectsBadValues: values.schema.json and the chart's checks refuse what cannot
// work, with a message naming the problem.
func TestChartRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"unknown role":           {map[string]any{"role": "edge"}, "role"},
		"misspelt key":           {map[string]any{"replicas": 3}, "replicas"},
		"bad metallb namespace":  {map[string]any{"metallb": map[string]any{"namespace": "Metal_LB"}}, "namespace"},
		"bad digest":             {map[string]any{"image": map[string]any{"repository": "x", "digest": "latest"}}, "digest"},
		"bad log level":          {map[string]any{"logging": map[string]any{"level": "verbose"}}, "level"},
		"bad port":               {map[string]any{"metrics": map[string]any{"port": 70000}}, "port"},
		"two leaders":            {map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}}, "leaderElection"},
		"no service account":     {map[string]any{"serviceAccount": map[string]any{"create": false}}, "serviceAccount.name is required"},
		"unknown spoke key":      {map[string]any{"role": "spoke", "spoke": map[string]any{"token": "x"}}, "token"},
		"bad sync period":        {map[string]any{"syncPeriod": "ten hours"}, "syncPeriod"},
		"negative workers":       {map[string]any{"ingressWorkers": -1}, "ingressWorkers"},
		"workers as text":        {map[string]any{"ingressWorkers": "many"}, "ingressWorkers"},
		"pull policy misspelled": {map[string]any{"image": map[string]any{"repository": "x", "pullPolicy": "always"}}, "pullPolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderChart("anycast-operator", "anycast-system", tc.values)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestChartRolesInstallOnlyTheirObjects: the spoke role is an identity and nothing else;
// the hub role is the operator.
func TestChartRolesInstallOnlyTheirObjects(t *testing.T) {
	kinds := func(r *release) []string {
		seen := map[string]bool{}
		for _, o := range r.Objects(t) {
			seen[o.GetKind()] = true
		}
		var out []string
		for k := range seen {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	spoke := mustRender(t, "anycast-operator", "anycast-system", map[string]any{"role": "spoke"})
	if got, want := kinds(spoke), []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "ServiceAccount"}; !reflect.DeepEqual(got, want) {
		t.Errorf("spoke kinds %v, want %v", got, want)
	}
	for _, o := range spoke.Objects(t) {
		if o.GetKind() == "Secret" {
			if typ, _, _ := unstructured.NestedString(o.Object, "type"); typ != string(corev1.SecretTypeServiceAccountToken) {
				t.Errorf("spoke Secret %s has type %q", o.GetName(), typ)
			}
			if o.GetAnnotations()[corev1.ServiceAccountNameKey] != "anycast-operator" {
				t.Errorf("spoke token Secret annotations %v", o.GetAnnotations())
			}
		}
	}
	hub := mustRender(t, "anycast-operator", "anycast-system", map[string]any{})
	if got, want := kinds(hub), []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hub kinds %v, want %v", got, want)
	}
	if len(hub.CRDs) != 2 {
		t.Errorf("hub: %d CRD files, want 2", len(hub.CRDs))
	}
	if !strings.Contains(spoke.Notes, "anycast-operator kubeconfig --context") {
		t.Errorf("the spoke NOTES do not say how to hand the identity to the hub:\n%s", spoke.Notes)
	}
}

// TestChartHubDeployment checks what the issue asks of the Deployment, structurally.
func TestChartHubDeployment(t *testing.T) {
	r := mustRender(t, "anycast-operator", "anycast-system", map[string]any{})
	u := find(t, r.Objects(t), "Deployment", "anycast-operator")
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &d, true); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	has := func(arg string) bool {
		for _, a := range c.Args {
			if a == arg {
				return true
			}
		}
		return false
	}
	for _, arg := range []string{"--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
		if !has(arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resource requests %v", c.Resources.Requests)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v", sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	var podNS bool
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		t.Errorf("no POD_NAMESPACE from the downward API: %+v", c.Env)
	}
	if c.Image != "ghcr.io/anycast-operator/anycast-operator:"+loadChart(t).Metadata.AppVersion {
		t.Errorf("image %s", c.Image)
	}
	if pod.ServiceAccountName != "anycast-operator" {
		t.Errorf("service account %s", pod.ServiceAccountName)
	}
}

// TestChartHubRBACEqualsGenerated fails when the chart's hub RBAC grants anything other
// than config/rbac/role.yaml (regenerated by `make manifests` from the kubebuilder
// markers), with namespaces templated: anycast-system -> the release namespace,
// metallb-system -> metallb.namespace.
func TestChartHubRBACEqualsGenerated(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cluster, roles, err := generate.ParseRoleYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	nsMap := map[string]string{"anycast-system": "ops-anycast", "metallb-system": "metallb"}
	want := map[string][]rbacv1.PolicyRule{"": cluster.Rules}
	for _, r := range roles {
		ns, ok := nsMap[r.Namespace]
		if !ok {
			t.Fatalf("role.yaml has a Role in %s, which the chart does not template", r.Namespace)
		}
		want[ns] = r.Rules
	}
	rel := mustRender(t, "edge", "ops-anycast", map[string]any{"metallb": map[string]any{"namespace": "metallb"}})
	objs := rel.Objects(t)
	// The operator's roles are those bound to its ServiceAccount (the others are for people).
	got := map[string][]rbacv1.PolicyRule{}
	bound := map[string]bool{}
	operatorRoles := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
			continue
		}
		var rb rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &rb); err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != "edge-anycast-operator" || rb.Subjects[0].Namespace != "ops-anycast" {
			t.Errorf("%s %s binds %+v, want only the operator's ServiceAccount", o.GetKind(), o.GetName(), rb.Subjects)
		}
		operatorRoles[rb.RoleRef.Kind+"/"+o.GetNamespace()+"/"+rb.RoleRef.Name] = true
		bound[o.GetNamespace()] = true
	}
	for _, o := range objs {
		if (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") || !operatorRoles[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] {
			continue
		}
		var role rbacv1.ClusterRole // same rules field for both kinds
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[o.GetNamespace()]; dup {
			t.Errorf("two operator roles in %q", o.GetNamespace())
		}
		got[o.GetNamespace()] = role.Rules
	}
	for ns := range want {
		if !reflect.DeepEqual(normalizeRules(got[ns]), normalizeRules(want[ns])) {
			t.Errorf("namespace %q: chart rules differ from config/rbac/role.yaml (run `make chart-generate`)\nchart: %+v\nrole.yaml: %+v", ns, got[ns], want[ns])
		}
		if !bound[ns] {
			t.Errorf("namespace %q: the role is not bound", ns)
		}
	}
	if len(got) != len(want) {
		t.Errorf("chart roles in %d scopes, role.yaml in %d", len(got), len(want))
	}
}

// normalizeRules expands rules into sorted (group, resource, verb) triples, so that two
// equivalent rule lists compare equal whatever their grouping.
func normalizeRules(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"|"+res+"|"+v+"|"+strings.Join(r.ResourceNames, ","))
				}
			}
		}
		for _, u := range r.NonResourceURLs {
			for _, v := range r.Verbs {
				out = append(out, "url|"+u+"|"+v)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestGeneratedFilesUpToDate fails when a file derived from another is stale: the chart's
// CRDs (from config/crd/bases), its hub RBAC (from config/rbac/role.yaml), docs/api.md
// (from the CRDs) or the ArgoCD configuration (from the Lua health checks).
func TestGeneratedFilesUpToDate(t *testing.T) {
	stale, err := generate.Stale(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		t.Errorf("%s: run `make packaging-generate` and commit the result", s)
	}
}

// hub and spoke installs shared by the envtest tests: installed once, in namespaces of
// their own.
const (
	hubRelease     = "hub"
	hubNamespace   = "hub-system"
	hubMetalLB     = "hub-metallb"
	spokeRelease   = "anycast-operator"
	spokeNamespace = "spoke-system"
	spokeMetalLB   = "metallb-system"
)

var hubOnce, spokeOnce sync.Once
var hubErr, spokeErr string

// installHub applies the hub role, CRDs included, as `helm install` would.
func installHub(t *testing.T) *release {
	t.Helper()
	r := mustRender(t, hubRelease, hubNamespace, map[string]any{"metallb": map[string]any{"namespace": hubMetalLB}})
	hubOnce.Do(func() {
		ok := t.Run("install", func(t *testing.T) {
			ensureNamespace(t, hubNamespace, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
			ensureNamespace(t, hubMetalLB, nil)
			applyObjects(t, r.CRDObjects(t))
			applyObjects(t, r.Objects(t))
		})
		if !ok {
			hubErr = "installing the hub chart failed"
		}
	})
	if hubErr != "" {
		t.Fatal(hubErr)
	}
	return r
}

// installSpoke applies the spoke role (no CRDs: installed with --skip-crds).
func installSpoke(t *testing.T) *release {
	t.Helper()
	r := mustRender(t, spokeRelease, spokeNamespace, spokeValues())
	spokeOnce.Do(func() {
		ok := t.Run("install", func(t *testing.T) {
			ensureNamespace(t, spokeNamespace, nil)
			ensureNamespace(t, spokeMetalLB, nil)
			ensureNamespace(t, spokeDataPlane, nil)
			applyObjects(t, r.Objects(t))
		})
		if !ok {
			spokeErr = "installing the spoke chart failed"
		}
	})
	if spokeErr != "" {
		t.Fatal(spokeErr)
	}
	return r
}

// TestHubChartAppliesToEnvtest: the hub role, CRDs first, is accepted server-side by a real
// API server, and the CRDs it installs are this project's and serve their API.
func TestHubChartAppliesToEnvtest(t *testing.T) {
	r := installHub(t)
	ctx := context.Background()
	for _, o := range r.Objects(t) {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := cl.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	// The API the CRDs define is served: an AnycastClass list works.
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("anycast.dev/v1alpha1")
	list.SetKind("AnycastClassList")
	if err := cl.List(ctx, list); err != nil {
		t.Errorf("listing AnycastClasses after installing the hub chart: %v", err)
	}
	// The chart's kubeVersion admits the API server it was tested on.
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !chartutil.IsCompatibleRange(loadChart(t).Metadata.KubeVersion, v.GitVersion) {
		t.Errorf("kubeVersion %q does not admit %s", loadChart(t).Metadata.KubeVersion, v.GitVersion)
	}
}

// TestHubPodIsRestricted creates, server-side dry run, a Pod from the Deployment's template
// in a namespace that enforces the "restricted" Pod Security Standard: the real admission
// plugin must admit it.
func TestHubPodIsRestricted(t *testing.T) {
	r := installHub(t)
	u := find(t, r.Objects(t), "Deployment", "hub-anycast-operator")
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "restricted-check", Namespace: hubNamespace, Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	if _, err := cs.CoreV1().Pods(hubNamespace).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the operator pod is not admitted under the restricted Pod Security Standard: %v", err)
	}
	// And the check is real: a privileged container is refused there.
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	bad.Spec.Containers[0].SecurityContext.Capabilities = nil
	if _, err := cs.CoreV1().Pods(hubNamespace).Create(context.Background(), bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
		t.Errorf("a pod without the hardening was admitted: the namespace does not enforce restricted")
	}
}

// TestHubRBACIsLeastPrivilege asks the API server what the hub's ServiceAccount may do,
// through the RBAC the chart installed.
func TestHubRBACIsLeastPrivilege(t *testing.T) {
	installHub(t)
	sa := serviceAccount(hubNamespace, "hub-anycast-operator")
	for _, a := range []access{
		{Verb: "watch", Group: "anycast.dev", Resource: "anycastingresses"},
		{Verb: "patch", Group: "anycast.dev", Resource: "anycastclasses", Subresource: "status"},
		{Verb: "update", Group: "anycast.dev", Resource: "anycastingresses", Subresource: "finalizers"},
		{Verb: "list", Resource: "secrets", Namespace: hubNamespace},
		{Verb: "create", Resource: "secrets", Namespace: hubMetalLB},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: hubNamespace},
		{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: "hello-world"},
		{Verb: "patch", Group: "metallb.io", Resource: "bgppeers", Namespace: hubMetalLB},
		{Verb: "create", Group: "gateway.networking.k8s.io", Resource: "gateways", Namespace: "hello-world"},
	} {
		if !allowed(t, sa, a) {
			t.Errorf("hub: %s denied", a)
		}
	}
	for _, a := range []access{
		{Verb: "get", Resource: "secrets", Namespace: "hello-world"},
		{Verb: "list", Resource: "secrets"},
		{Verb: "create", Resource: "secrets", Namespace: hubNamespace},
		{Verb: "create", Group: "anycast.dev", Resource: "anycastclasses"},
		{Verb: "delete", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "hello-world"},
		{Verb: "create", Resource: "pods", Namespace: hubNamespace},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
	} {
		if allowed(t, sa, a) {
			t.Errorf("hub: %s allowed", a)
		}
	}
}

// TestSpokeChartAppliesToEnvtest: the spoke role is accepted server-side.
func TestSpokeChartAppliesToEnvtest(t *testing.T) {
	r := installSpoke(t)
	ctx := context.Background()
	for _, o := range r.Objects(t) {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := cl.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// TestUserRoles: the roles for people do what they say, through a real authorizer. The
// aggregation into admin, edit and view is done by kube-controller-manager, which envtest
// does not run, so the labels are checked and the roles are bound directly.
func TestUserRoles(t *testing.T) {
	r := installHub(t)
	objs := r.Objects(t)
	editor := find(t, objs, "ClusterRole", "hub-anycast-operator-ingress-editor")
	viewer := find(t, objs, "ClusterRole", "hub-anycast-operator-viewer")
	find(t, objs, "ClusterRole", "hub-anycast-operator-class-editor")
	for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-edit"} {
		if editor.GetLabels()[l] != "true" {
			t.Errorf("the ingress editor role lacks %s", l)
		}
	}
	if viewer.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Errorf("the viewer role does not aggregate to view")
	}
	ctx := context.Background()
	bind := func(kind, ns, role, user string) {
		var obj client.Object
		ref := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role}
		subj := []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}
		if kind == "RoleBinding" {
			ensureNamespace(t, ns, nil)
			obj = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user, Namespace: ns}, RoleRef: ref, Subjects: subj}
		} else {
			obj = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user}, RoleRef: ref, Subjects: subj}
		}
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	bind("RoleBinding", "team-a", "hub-anycast-operator-ingress-editor", "alice")
	bind("RoleBinding", "team-a", "hub-anycast-operator-viewer", "victor")
	bind("ClusterRoleBinding", "", "hub-anycast-operator-class-editor", "nora")
	alice, victor, nora := subject{User: "alice"}, subject{User: "victor"}, subject{User: "nora"}
	for _, c := range []struct {
		who  subject
		a    access
		want bool
	}{
		{alice, access{Verb: "create", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-a"}, true},
		{alice, access{Verb: "delete", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-a"}, true},
		{alice, access{Verb: "create", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-b"}, false},
		{alice, access{Verb: "update", Group: "anycast.dev", Resource: "anycastingresses", Subresource: "status", Namespace: "team-a"}, false},
		{alice, access{Verb: "create", Group: "anycast.dev", Resource: "anycastclasses"}, false},
		{victor, access{Verb: "list", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-a"}, true},
		{victor, access{Verb: "create", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-a"}, false},
		{nora, access{Verb: "create", Group: "anycast.dev", Resource: "anycastclasses"}, true},
		{nora, access{Verb: "update", Group: "anycast.dev", Resource: "anycastclasses", Subresource: "status"}, false},
		{nora, access{Verb: "create", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "team-a"}, false},
	} {
		if got := allowed(t, c.who, c.a); got != c.want {
			t.Errorf("%s: %s allowed=%v, want %v", c.who.User, c.a, got, c.want)
		}
	}
}
