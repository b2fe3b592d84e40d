package schemacheck_test

import (
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/anycast-operator/anycast-operator/test/schemacheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var (
	loadOnce sync.Once
	checker  *schemacheck.Checker
	loadErr  error
)

// all loads every CRD the operator touches: ours, MetalLB's, Gateway API's and Skupper's.
func all(t testing.TB) *schemacheck.Checker {
	t.Helper()
	loadOnce.Do(func() {
		dirs, err := testenv.CRDPaths()
		if err != nil {
			loadErr = err
			return
		}
		checker, loadErr = schemacheck.Load(dirs...)
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return checker
}

// fieldsOf lists the distinct field paths of errs, sorted ("<nil>" for the root).
func fieldsOf(errs field.ErrorList) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range errs {
		f := e.Field
		if f == "" {
			f = "<nil>"
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func TestLoadsEveryFamily(t *testing.T) {
	c := all(t)
	want := []string{
		"anycast.dev/v1alpha1, Kind=AnycastClass", "anycast.dev/v1alpha1, Kind=AnycastIngress",
		"metallb.io/v1beta2, Kind=BGPPeer", "metallb.io/v1beta1, Kind=IPAddressPool", "metallb.io/v1beta1, Kind=BGPAdvertisement", "metallb.io/v1beta1, Kind=BFDProfile",
		"gateway.networking.k8s.io/v1, Kind=Gateway", "gateway.networking.k8s.io/v1, Kind=HTTPRoute", "gateway.networking.k8s.io/v1, Kind=GatewayClass",
		"skupper.io/v2alpha1, Kind=Site", "skupper.io/v2alpha1, Kind=AccessToken", "skupper.io/v2alpha1, Kind=AccessGrant", "skupper.io/v2alpha1, Kind=Listener", "skupper.io/v2alpha1, Kind=Connector",
	}
	have := map[string]bool{}
	for _, gvk := range c.Kinds() {
		have[gvk.String()] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s not loaded", w)
		}
	}
}

// TestCases checks each case offline: valid objects pass, invalid ones fail on exactly
// the expected field paths.
func TestCases(t *testing.T) {
	c := all(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := parse(t, tc.base, tc.change)
			errs := c.Validate(obj)
			got := fieldsOf(errs)
			want := append([]string(nil), tc.paths...)
			sort.Strings(want)
			if pathsOf(got) != pathsOf(want) {
				t.Fatalf("errors on [%s], want [%s]:\n%v", pathsOf(got), pathsOf(want), errs.ToAggregate())
			}
		})
	}
}

// TestDefaults: CRD defaults are applied as the API server applies them.
func TestDefaults(t *testing.T) {
	c := all(t)
	cls := parse(t, classYAML, "")
	if err := c.Default(cls); err != nil {
		t.Fatal(err)
	}
	if ns, _, _ := unstructured.NestedString(cls.Object, "spec", "metallbNamespace"); ns != "metallb-system" {
		t.Errorf("spec.metallbNamespace defaulted to %q", ns)
	}
	clusters, _, _ := unstructured.NestedSlice(cls.Object, "spec", "clusters")
	east := clusters[1].(map[string]interface{})
	if east["interconnect"] != "spoke" || east["metallbMode"] != "frr-k8s" {
		t.Errorf("cluster defaults not applied: %v", east)
	}
	gw := parse(t, gatewayYAML, "")
	if err := c.Default(gw); err != nil {
		t.Fatal(err)
	}
	listeners, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	from, _, _ := unstructured.NestedString(listeners[0].(map[string]interface{}), "allowedRoutes", "namespaces", "from")
	if from != "Same" {
		t.Errorf("Gateway listener allowedRoutes.namespaces.from defaulted to %q, want Same", from)
	}
	if err := c.Default(&unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Nothing"}}); err == nil {
		t.Error("defaulting an unknown kind should fail")
	}
}

// TestPruneReportsUnknownFields: the paths the API server would drop.
func TestPruneReportsUnknownFields(t *testing.T) {
	c := all(t)
	obj := parse(t, ingressYAML, `{spec: {adress: x, listeners: [{name: http, port: 80, tls: {}, extra: 1}]}, metadata: {bogus: 1}}`)
	unknown, err := c.Prune(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(unknown, ","); !strings.Contains(got, "spec.adress") || !strings.Contains(got, "spec.listeners[0].extra") || !strings.Contains(got, "metadata.bogus") {
		t.Errorf("unknown fields %v", unknown)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "adress"); ok {
		t.Error("spec.adress was not pruned")
	}
	if errs := c.ValidateLenient(parse(t, ingressYAML, `spec: {adress: x}`)); len(errs) != 0 {
		t.Errorf("lenient validation should ignore unknown fields: %v", errs)
	}
}

// TestValidateDoesNotMutate: Validate works on a copy.
func TestValidateDoesNotMutate(t *testing.T) {
	c := all(t)
	obj := parse(t, classYAML, `spec: {unknown: 1}`)
	before := obj.DeepCopy()
	_ = c.Validate(obj)
	if !equalJSON(before.Object, obj.Object) {
		t.Error("Validate changed its argument")
	}
}

// TestUnknownAndBuiltinKinds: built-in kinds get ObjectMeta checks; unknown CRD kinds fail.
func TestUnknownAndBuiltinKinds(t *testing.T) {
	c := all(t)
	secret := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]interface{}{"name": "ok", "namespace": "metallb-system"},
	}}
	if errs := c.Validate(secret); len(errs) != 0 {
		t.Errorf("valid Secret: %v", errs)
	}
	secret.SetName("Not_Valid")
	if errs := c.Validate(secret); len(errs) == 0 {
		t.Error("a Secret with an invalid name passed")
	}
	other := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]interface{}{"name": "w"}}}
	if errs := c.Validate(other); len(errs) == 0 {
		t.Error("an unknown kind passed")
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := schemacheck.Load(t.TempDir()); err == nil {
		t.Error("an empty directory loaded")
	}
	if _, err := schemacheck.Load("/does/not/exist"); err == nil {
		t.Error("a missing directory loaded")
	}
	dirs, err := testenv.CRDPaths()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schemacheck.Load(dirs[0], dirs[0]); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same CRD loaded twice: %v", err)
	}
}
