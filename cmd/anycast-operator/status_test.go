package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/statusview"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var updateStatus = flag.Bool("update", false, "rewrite testdata/status/*.{txt,json,yaml} goldens from the current output")

// statusNow is the time the goldens' ages are counted to.
var statusNow = time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)

// fileSource serves recorded API objects (a YAML List) as the API server would: by
// namespace, NotFound for what is not there.
type fileSource struct {
	classes   []v1alpha1.AnycastClass
	ingresses []v1alpha1.AnycastIngress
	forbidden bool // every class read is refused, as for a namespace-only viewer
}

func loadFileSource(t testing.TB, path string) *fileSource {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string                   `json:"apiVersion"`
		Kind       string                   `json:"kind"`
		Items      []map[string]interface{} `json:"items"`
	}
	if err := yaml.UnmarshalStrict(b, &list); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	src := &fileSource{}
	for _, obj := range list.Items {
		u := unstructured.Unstructured{Object: obj}
		// Strict: a misspelt field in a recording is an error, not a silent drop.
		switch u.GetKind() {
		case "AnycastClass":
			var c v1alpha1.AnycastClass
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &c, true); err != nil {
				t.Fatalf("%s: class %s: %v", path, u.GetName(), err)
			}
			src.classes = append(src.classes, c)
		case "AnycastIngress":
			var i v1alpha1.AnycastIngress
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &i, true); err != nil {
				t.Fatalf("%s: ingress %s: %v", path, u.GetName(), err)
			}
			src.ingresses = append(src.ingresses, i)
		default:
			t.Fatalf("%s: unexpected kind %q", path, u.GetKind())
		}
	}
	return src
}

var (
	ingressGR = schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "anycastingresses"}
	classGR   = schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "anycastclasses"}
)

func (f *fileSource) Where() string { return "the recorded objects" }

func (f *fileSource) Ingress(_ context.Context, ns, name string) (*v1alpha1.AnycastIngress, error) {
	for i := range f.ingresses {
		if f.ingresses[i].Namespace == ns && f.ingresses[i].Name == name {
			return f.ingresses[i].DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(ingressGR, name)
}

func (f *fileSource) Ingresses(_ context.Context, ns string) ([]v1alpha1.AnycastIngress, error) {
	var out []v1alpha1.AnycastIngress
	for _, i := range f.ingresses {
		if ns == "" || i.Namespace == ns {
			out = append(out, *i.DeepCopy())
		}
	}
	return out, nil
}

func (f *fileSource) Class(_ context.Context, name string) (*v1alpha1.AnycastClass, error) {
	if f.forbidden {
		return nil, apierrors.NewForbidden(classGR, name, fmt.Errorf("user \"alice\" cannot get resource \"anycastclasses\""))
	}
	for i := range f.classes {
		if f.classes[i].Name == name {
			return f.classes[i].DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(classGR, name)
}

func (f *fileSource) Classes(context.Context) ([]v1alpha1.AnycastClass, error) {
	if f.forbidden {
		return nil, apierrors.NewForbidden(classGR, "", fmt.Errorf("user \"alice\" cannot list resource \"anycastclasses\""))
	}
	var out []v1alpha1.AnycastClass
	for _, c := range f.classes {
		out = append(out, *c.DeepCopy())
	}
	return out, nil
}

// fileDeps runs the command on a file source, in namespace "default" unless -n says
// otherwise, with no terminal.
func fileDeps(src statusSource) statusDeps {
	return statusDeps{
		connect:    func(statusOptions) (statusSource, string, error) { return src, "default", nil },
		isTerminal: func(io.Writer) bool { return false },
		getenv:     func(string) string { return "" },
		now:        func() time.Time { return statusNow },
	}
}

func runStatus(deps statusDeps, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := statusCmdWith(args, &out, &errb, deps)
	return code, out.String(), errb.String()
}

// statusGoldens are the golden cases: recorded objects and the command's arguments.
var statusGoldens = []struct {
	name, objects string
	args          []string
}{
	{"all-healthy", "all-healthy", []string{"-n", "team-a"}},
	{"drained-member", "drained-member", []string{"-n", "team-a"}},
	{"unreachable-member", "unreachable-member", []string{"-n", "team-a"}},
	{"not-ready-ingress", "not-ready-ingress", []string{"-n", "team-a"}},
	{"not-ready-ingress-by-name", "not-ready-ingress", []string{"web", "-n", "team-a"}},
	{"all-namespaces", "not-ready-ingress", []string{"-A"}},
	{"bmp-routers", "bmp-routers", []string{"-n", "team-a"}},
	{"unexpected-origins", "unexpected-origins", []string{"-n", "team-a"}},
	{"speakers-down", "speakers-down", []string{"-n", "team-a"}},
	{"no-status", "no-status", []string{"-n", "team-b"}},
	{"empty-namespace", "all-healthy", []string{"-n", "empty"}},
}

// TestStatusGolden: the command's text, json and yaml for recorded objects match the
// goldens (go test ./cmd/anycast-operator -run TestStatusGolden -update rewrites them).
func TestStatusGolden(t *testing.T) {
	for _, tc := range statusGoldens {
		t.Run(tc.name, func(t *testing.T) {
			src := loadFileSource(t, filepath.Join("testdata", "status", tc.objects+".objects.yaml"))
			for _, format := range []string{"txt", "json", "yaml"} {
				args := tc.args
				if format != "txt" {
					args = append(slices.Clone(args), "-o", format)
				}
				code, out, errs := runStatus(fileDeps(src), args...)
				if code != 0 || errs != "" {
					t.Fatalf("%v: exit %d: %s", args, code, errs)
				}
				golden := filepath.Join("testdata", "status", tc.name+"."+format)
				if *updateStatus {
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run: go test ./cmd/anycast-operator -run TestStatusGolden -update)", err)
				}
				if out != string(want) {
					t.Errorf("%v differs from %s (rerun with -update and review the diff):\n%s", args, golden, statusDiff(string(want), out))
				}
			}
		})
	}
}

// statusDiff shows the first lines where want and got differ.
func statusDiff(want, got string) string {
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
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}

// TestStatusBadInput: usage errors exit 2 with a message saying what is wrong; an
// ingress that is not there exits 1 naming it and its namespace.
func TestStatusBadInput(t *testing.T) {
	src := loadFileSource(t, filepath.Join("testdata", "status", "not-ready-ingress.objects.yaml"))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-n", "team-a", "-o", "xml"}, 2, `unknown output format "xml": text, json or yaml`},
		{[]string{"-n", "team-a", "-otable"}, 2, `unknown output format "table"`},
		{[]string{"-A", "web"}, 2, "a NAME and -A do not go together"},
		{[]string{"-A", "-n", "team-a"}, 2, "-n and -A do not go together"},
		{[]string{"web", "api"}, 2, "one AnycastIngress name at most"},
		{[]string{"--color", "sometimes"}, 2, `unknown --color "sometimes"`},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-n", "team-a", "nope"}, 1, `AnycastIngress "nope" not found in namespace "team-a"`},
		{[]string{"web"}, 1, `AnycastIngress "web" not found in namespace "default"`},
	} {
		code, out, errs := runStatus(fileDeps(src), tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q), stdout %q", tc.args, code, tc.code, errs, tc.want, out)
		}
	}
	// kubectl's spellings are accepted: flags after the name, -ojson, --namespace=.
	for _, args := range [][]string{{"web", "-n", "team-a", "-ojson"}, {"--namespace=team-a", "--output=json", "web"}, {"-nteam-a", "web", "-o", "json"}} {
		code, out, errs := runStatus(fileDeps(src), args...)
		var r statusview.Report
		if code != 0 || errs != "" || json.Unmarshal([]byte(out), &r) != nil || len(r.Ingresses) != 1 || r.Ingresses[0].Name != "web" {
			t.Errorf("%v: exit %d, stderr %q, stdout %.200q", args, code, errs, out)
		}
	}
}

// TestStatusJSONIsTheReport: -o json and -o yaml are the documented structure: the schema
// name, ok, problems with their parts, sorted ingresses; never the raw objects.
func TestStatusJSONIsTheReport(t *testing.T) {
	src := loadFileSource(t, filepath.Join("testdata", "status", "unreachable-member.objects.yaml"))
	_, out, _ := runStatus(fileDeps(src), "-n", "team-a", "-o", "json")
	var r statusview.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Schema != statusview.Schema || r.OK || r.Namespace != "team-a" || len(r.Classes) != 1 || len(r.Ingresses) != 1 {
		t.Fatalf("report %+v", r)
	}
	var member *statusview.Problem
	for i, p := range r.Problems {
		if p.Kind == "AnycastClass" && p.Member == "east" {
			member = &r.Problems[i]
		}
	}
	if member == nil || member.Reason != "Unreachable" || !strings.Contains(member.Message, "connection refused") {
		t.Errorf("no problem for the unreachable member east: %+v", r.Problems)
	}
	if m := r.Classes[0].Members[0]; m.Name != "east" || m.Reachable == nil || *m.Reachable {
		t.Errorf("the unreachable member is not first: %+v", r.Classes[0].Members)
	}
	var raw map[string]interface{}
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"apiVersion", "kind", "metadata", "items"} {
		if _, ok := raw[k]; ok {
			t.Errorf("the output carries the raw objects' %q", k)
		}
	}
	// YAML is the same structure.
	_, y, _ := runStatus(fileDeps(src), "-n", "team-a", "-o", "yaml")
	var ry statusview.Report
	if err := yaml.UnmarshalStrict([]byte(y), &ry); err != nil || ry.Schema != r.Schema || len(ry.Problems) != len(r.Problems) {
		t.Errorf("yaml: %v %+v", err, ry)
	}
}

// TestStatusColor: colour only on a terminal, never with NO_COLOR set or TERM=dumb
// unless --color=always; never in json.
func TestStatusColor(t *testing.T) {
	src := loadFileSource(t, filepath.Join("testdata", "status", "unreachable-member.objects.yaml"))
	const esc = "\x1b["
	for _, tc := range []struct {
		terminal bool
		env      map[string]string
		args     []string
		color    bool
	}{
		{false, nil, nil, false},
		{true, nil, nil, true},
		{true, map[string]string{"NO_COLOR": "1"}, nil, false},
		{true, map[string]string{"TERM": "dumb"}, nil, false},
		{true, nil, []string{"--color=never"}, false},
		{false, nil, []string{"--color=always"}, true},
		{true, nil, []string{"-o", "json"}, false},
	} {
		deps := fileDeps(src)
		deps.isTerminal = func(io.Writer) bool { return tc.terminal }
		deps.getenv = func(k string) string { return tc.env[k] }
		code, out, _ := runStatus(deps, append([]string{"-n", "team-a"}, tc.args...)...)
		if code != 0 || strings.Contains(out, esc) != tc.color {
			t.Errorf("terminal %v env %v args %v: exit %d, colour %v, want %v", tc.terminal, tc.env, tc.args, code, strings.Contains(out, esc), tc.color)
		}
		if tc.color && !strings.Contains(out, "\x1b[31mno (Unreachable)\x1b[0m") {
			t.Errorf("the unreachable member is not red:\n%s", out)
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer counted as a terminal")
	}
}

// TestStatusClassForbidden: a namespace viewer who may not read the cluster's classes
// still sees the ingresses, and is told why the class is missing; for all namespaces,
// where the classes are the point, it is an error.
func TestStatusClassForbidden(t *testing.T) {
	src := loadFileSource(t, filepath.Join("testdata", "status", "all-healthy.objects.yaml"))
	src.forbidden = true
	code, out, errs := runStatus(fileDeps(src), "-n", "team-a")
	if code != 0 || !strings.Contains(errs, "AnycastClass fabric not shown: you may not read it") ||
		strings.Contains(out, "CLASS fabric") || !strings.Contains(out, "INGRESS team-a/web  Ready") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	code, _, errs = runStatus(fileDeps(src), "-A")
	if code != 1 || !strings.Contains(errs, "reading the AnycastClasses is forbidden") || !strings.Contains(errs, "anycast-operator-viewer") {
		t.Errorf("-A: exit %d, stderr %q", code, errs)
	}
}

// TestStatusConnectErrors: no kubeconfig at all, and an API server that does not answer,
// exit 1 saying so, through the real API client.
func TestStatusConnectErrors(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "absent"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	code, out, errs := runStatus(defaultStatusDeps(), "-n", "team-a")
	if code != 1 || out != "" || !strings.Contains(errs, "no kubeconfig: set KUBECONFIG, pass --kubeconfig, or run inside a cluster") {
		t.Errorf("no kubeconfig: exit %d, stderr %q", code, errs)
	}

	// A port nothing listens on: taken, then released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + ln.Addr().String()
	_ = ln.Close()
	kc := writeKubeconfig(t, func(c *clientcmdapi.Config) {
		c.Clusters["west-cluster"].Server = server
		c.Clusters["west-cluster"].CertificateAuthorityData = nil
		c.Clusters["west-cluster"].InsecureSkipTLSVerify = true
	})
	code, out, errs = runStatus(defaultStatusDeps(), "--kubeconfig", kc, "-n", "team-a", "--request-timeout", "5s")
	if code != 1 || out != "" || !strings.Contains(errs, "cannot reach the API server at "+server) || !strings.Contains(errs, "connection refused") {
		t.Errorf("unreachable: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runStatus(defaultStatusDeps(), "--kubeconfig", kc, "--context", "north")
	if code != 1 || !strings.Contains(errs, `context "north"`) {
		t.Errorf("unknown context: exit %d, stderr %q", code, errs)
	}
}

// TestStatusIsASubcommandAndAPlugin: `anycast-operator status` reaches the command, and
// so does the binary run through a link named kubectl-anycast (kubectl's plugin lookup).
func TestStatusIsASubcommandAndAPlugin(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"status", "-o", "xml"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown output format") {
		t.Errorf("anycast-operator status: exit %d, %q", code, errb.String())
	}
	if !isPlugin("/usr/local/bin/kubectl-anycast") || !isPlugin("kubectl-anycast.exe") || isPlugin("/usr/local/bin/anycast-operator") || isPlugin("kubectl-anycastx") {
		t.Error("isPlugin")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), pluginName)
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "-n", "team-a", "-o", "xml")
	cmd.Env = append(os.Environ(), "STATUS_TEST_RUN_MAIN=1")
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(b), `status: unknown output format "xml"`) {
		t.Errorf("kubectl-anycast -o xml: %v\n%s", err, b)
	}
}

// TestMain runs main itself when asked, so that a test can run the test binary through
// a link named kubectl-anycast.
func TestMain(m *testing.M) {
	if os.Getenv("STATUS_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestStatusAPIServer runs the command against a real API server (envtest) holding the
// recorded objects, their status written through the status subresource and their
// generations as recorded: its json is the goldens' (the API path reads what the file
// path reads); it finds the context's namespace, says when an ingress is not found, and
// works with the viewer role's get and list alone. A namespace viewer sees the ingresses
// without the classes; a user with no role is told it is forbidden.
func TestStatusAPIServer(t *testing.T) {
	env, err := testenv.StartBare("hub")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c := env.Client
	src := loadFileSource(t, filepath.Join("testdata", "status", "not-ready-ingress.objects.yaml"))
	for _, ns := range []string{"team-a", "team-b", "empty"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range src.classes {
		rec := src.classes[i]
		obj := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: rec.Name}, Spec: *rec.Spec.DeepCopy()}
		atGeneration(t, c, obj, rec.Generation, func(n int) { obj.Spec.GatewayClassName = fmt.Sprintf("%s-%d", rec.Spec.GatewayClassName, n) },
			func() { obj.Spec = *rec.Spec.DeepCopy() })
		obj.Status = *rec.Status.DeepCopy()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("class %s status: %v", obj.Name, err)
		}
	}
	for i := range src.ingresses {
		rec := src.ingresses[i]
		obj := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Name: rec.Name, Namespace: rec.Namespace}, Spec: *rec.Spec.DeepCopy()}
		atGeneration(t, c, obj, rec.Generation, func(n int) { obj.Spec.Listeners[0].Port = int32(8000 + n) },
			func() { obj.Spec = *rec.Spec.DeepCopy() })
		obj.Status = *rec.Status.DeepCopy()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("ingress %s status: %v", obj.Name, err)
		}
	}

	admin := kubeconfigFile(t, env.Kubeconfig(), "team-a")
	deps := defaultStatusDeps()
	deps.now = func() time.Time { return statusNow }
	for _, g := range []struct {
		golden string
		args   []string
	}{
		{"not-ready-ingress", nil}, // the context's namespace
		{"not-ready-ingress-by-name", []string{"web"}},
		{"all-namespaces", []string{"-A"}},
		{"empty-namespace", []string{"-n", "empty"}},
	} {
		for _, format := range []string{"json", "txt"} {
			args := append([]string{"--kubeconfig", admin}, g.args...)
			if format == "json" {
				args = append(args, "-o", "json")
			}
			code, out, errs := runStatus(deps, args...)
			want, err := os.ReadFile(filepath.Join("testdata", "status", g.golden+"."+format))
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 || errs != "" || out != string(want) {
				t.Errorf("%v: exit %d, stderr %q, output differs from %s.%s:\n%s", args, code, errs, g.golden, format, statusDiff(string(want), out))
			}
		}
	}
	code, _, errs := runStatus(deps, "--kubeconfig", admin, "nope")
	if code != 1 || !strings.Contains(errs, `AnycastIngress "nope" not found in namespace "team-a" (on the API server at https://127.0.0.1:`) {
		t.Errorf("not found: exit %d, stderr %q", code, errs)
	}

	// The roles people get (config/rbac/user_roles.yaml): the viewer ClusterRole bound
	// cluster-wide reads everything; bound in team-a only, the ingresses of team-a.
	roles, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "user_roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(roles), "\n---\n") {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &role); err != nil {
			t.Fatal(err)
		}
	}
	viewerRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "anycast-operator-viewer"}
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "network-team"}, RoleRef: viewerRef,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "netops"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "team-a-viewer", Namespace: "team-a"}, RoleRef: viewerRef,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}); err != nil {
		t.Fatal(err)
	}
	user := func(name string) string {
		u, err := env.Environment().AddUser(envtest.User{Name: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := u.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		return kubeconfigFile(t, b, "team-a")
	}
	netops, alice, nobody := user("netops"), user("alice"), user("nobody")
	want, _ := os.ReadFile(filepath.Join("testdata", "status", "all-namespaces.json"))
	// RBAC bindings reach the authorizer's cache shortly after they are written.
	testenv.Eventually(t, "netops reads everything with the viewer role", 10*time.Second, func() error {
		code, out, errs := runStatus(deps, "--kubeconfig", netops, "-A", "-o", "json")
		if code != 0 || out != string(want) {
			return fmt.Errorf("exit %d, stderr %q\n%s", code, errs, statusDiff(string(want), out))
		}
		return nil
	})
	code, out, errs := runStatus(deps, "--kubeconfig", alice)
	if code != 0 || !strings.Contains(errs, "AnycastClass fabric not shown: you may not read it") || strings.Contains(out, "CLASS fabric") ||
		!strings.Contains(out, "INGRESS team-a/web  NOT READY (Degraded)") || !strings.Contains(out, "INGRESS team-a/api  Ready") {
		t.Errorf("alice in team-a: exit %d, stderr %q\n%s", code, errs, out)
	}
	code, _, errs = runStatus(deps, "--kubeconfig", alice, "-n", "team-b")
	if code != 1 || !strings.Contains(errs, "reading the AnycastIngresses of namespace team-b is forbidden") {
		t.Errorf("alice in team-b: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runStatus(deps, "--kubeconfig", nobody, "-A")
	if code != 1 || !strings.Contains(errs, "forbidden") || !strings.Contains(errs, "anycast-operator-viewer") {
		t.Errorf("nobody: exit %d, stderr %q", code, errs)
	}
}

// atGeneration creates obj and changes its spec until the API server has counted the
// recorded generation, then puts the recorded spec back (one more generation), so that
// generation and observedGeneration relate as recorded.
func atGeneration(t *testing.T, c client.Client, obj client.Object, generation int64, change func(n int), restore func()) {
	t.Helper()
	ctx := context.Background()
	if generation > 1 {
		change(0)
	}
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("%s: %v", obj.GetName(), err)
	}
	for n := 1; obj.GetGeneration() < generation; n++ {
		if obj.GetGeneration() == generation-1 {
			restore()
		} else {
			change(n)
		}
		if err := c.Update(ctx, obj); err != nil {
			t.Fatalf("%s: %v", obj.GetName(), err)
		}
	}
}

// kubeconfigFile writes a kubeconfig whose current context selects namespace ns.
func kubeconfigFile(t *testing.T, kubeconfig []byte, ns string) string {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPluginArgs: `kubectl anycast status -n ns web` is `kubectl anycast -n ns web`, and an
// ingress named status stays reachable.
func TestPluginArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"status", "-n", "ns", "web"}, []string{"-n", "ns", "web"}},
		{[]string{"-n", "ns", "web"}, []string{"-n", "ns", "web"}},
		{[]string{"status", "status"}, []string{"status"}},
		{nil, nil},
	} {
		if got := pluginArgs(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("pluginArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
