package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/fuzz"
	"github.com/anycast-operator/anycast-operator/test/schemacheck"
)

// FuzzValidation: the CRD's validation (OpenAPI and CEL) and the controller's own checks
// agree, in that nothing the CRD accepts makes the controller crash. It generates an
// AnycastClass and one to three AnycastIngresses (schemacheck's Mutator over seed
// manifests), keeps the sets whose every object the CRD accepts, and runs, on the
// defaulted objects as the controller reads them:
//
//   - the allocator (ipam.Index.Resolve) for every ingress, twice, requiring a
//     valid address or a problem with a reason, never the same address for two
//     ingresses, the spec address when one is given, and the same answer the second time;
//   - render.RenderClass, render.RenderIngress with the allocated address and
//     render.RenderSkupperNetwork, requiring problems to carry a reason and message;
//   - the `render` command on the same manifests as a user wrote them, requiring exit
//     code 0 or 1 (never a panic or a usage error) and agreement with the pure pass: it
//     fails exactly when the allocator or a render reports a problem.
//
// The fuzz input is the manifests (multi-document YAML) and the Mutator's choices.
func FuzzValidation(f *testing.F) {
	for _, seed := range validationSeeds(f) {
		f.Add(seed, []byte{})
		f.Add(seed, []byte("\x07\x01\x02\x03\x04\x05\x06\x07\x08"))
		f.Add(seed, []byte("anycast-operator fuzz seed"))
	}
	ours, _ := fuzz.Checkers(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, manifests, choices []byte) {
		class, ingresses, ok := acceptedSet(t, ours, manifests, choices)
		if !ok {
			return
		}
		failed := pureChecks(t, class.typed, ingresses)
		code, stderr := renderCLI(t, dir, append([]*object{class}, ingresses...))
		if code != 0 && code != 1 {
			t.Fatalf("render exited %d: %s", code, stderr)
		}
		if (code == 1) != failed {
			t.Fatalf("render exited %d, the controller's checks say failed=%v:\n%s\nmanifests:\n%s", code, failed, stderr, manifestsOf(append([]*object{class}, ingresses...)))
		}
	})
}

// object is one generated manifest: as the user wrote it, and as the controller reads it
// (defaulted, typed).
type object struct {
	raw   *unstructured.Unstructured
	typed interface{}
}

// acceptedSet parses and mutates the manifests and keeps them when the CRD accepts all.
func acceptedSet(t *testing.T, ours *schemacheck.Checker, manifests, choices []byte) (*object, []*object, bool) {
	var class *object
	var ingresses []*object
	m := schemacheck.NewMutator(choices)
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, false
		}
		if u.Object == nil {
			continue
		}
		if m.Bool() {
			m.Mutate(ours, u)
		}
		if errs := ours.Validate(u); len(errs) > 0 {
			return nil, nil, false
		}
		defaulted := u.DeepCopy()
		if _, err := ours.Prune(defaulted); err != nil {
			return nil, nil, false
		}
		if err := ours.Default(defaulted); err != nil {
			return nil, nil, false
		}
		switch u.GetKind() {
		case "AnycastClass":
			if class != nil {
				return nil, nil, false
			}
			c := &v1alpha1.AnycastClass{}
			if err := fuzz.Typed(defaulted, c); err != nil {
				t.Fatalf("the CRD accepts an AnycastClass the Go type cannot hold: %v", err)
			}
			class = &object{raw: u, typed: c}
		case "AnycastIngress":
			i := &v1alpha1.AnycastIngress{}
			if err := fuzz.Typed(defaulted, i); err != nil {
				t.Fatalf("the CRD accepts an AnycastIngress the Go type cannot hold: %v", err)
			}
			ingresses = append(ingresses, &object{raw: u, typed: i})
		default:
			return nil, nil, false
		}
	}
	if class == nil || len(ingresses) == 0 || len(ingresses) > 4 {
		return nil, nil, false
	}
	// The command pairs ingresses with classes by name and refuses duplicates, as the API
	// server refuses two objects of one name.
	names := map[string]bool{}
	for _, o := range ingresses {
		i := o.typed.(*v1alpha1.AnycastIngress)
		if i.Spec.ClassName != class.typed.(*v1alpha1.AnycastClass).Name || names[i.Namespace+"/"+i.Name] {
			return nil, nil, false
		}
		names[i.Namespace+"/"+i.Name] = true
	}
	return class, ingresses, true
}

// pureChecks runs the controller's checks and reports whether any refused something.
func pureChecks(t *testing.T, classObj interface{}, ingressObjs []*object) (failed bool) {
	class := classObj.(*v1alpha1.AnycastClass)
	problems := func(what string, out *render.Output) {
		for _, p := range out.AllProblems() {
			failed = true
			if p.Reason == "" || p.Message == "" {
				t.Fatalf("%s: a problem without a reason or message: %+v", what, p)
			}
		}
	}
	problems("RenderClass", render.RenderClass(class, &render.Observed{}))

	all := make([]v1alpha1.AnycastIngress, 0, len(ingressObjs))
	for _, o := range ingressObjs {
		all = append(all, *o.typed.(*v1alpha1.AnycastIngress))
	}
	index := ipam.IndexOf(all)
	addrs := map[string]netip.Addr{}
	for pass := 0; pass < 2; pass++ {
		for i := range all {
			ing := &all[i]
			key := ing.Namespace + "/" + ing.Name
			addr, problem := index.Resolve(class, ing)
			if problem != nil {
				if problem.Reason == "" || problem.Message == "" {
					t.Fatalf("Resolve %s: a problem without a reason or message: %+v", key, problem)
				}
				if pass == 1 {
					if prev, ok := addrs[key]; ok {
						t.Fatalf("Resolve %s: %s the first time, refused the second: %s", key, prev, problem.Message)
					}
				}
				failed = failed || pass == 0
				continue
			}
			if !addr.IsValid() {
				t.Fatalf("Resolve %s: no problem and no address", key)
			}
			if ing.Spec.Address != "" && addr != netip.MustParseAddr(ing.Spec.Address).Unmap() {
				t.Fatalf("Resolve %s: spec.address %s, allocated %s", key, ing.Spec.Address, addr)
			}
			if pass == 1 && addrs[key] != addr {
				t.Fatalf("Resolve %s: %s the first time, %s the second", key, addrs[key], addr)
			}
			addrs[key] = addr
		}
	}
	byAddr := map[netip.Addr]string{}
	for key, a := range addrs {
		if other, dup := byAddr[a]; dup {
			t.Fatalf("%s and %s were both given %s", key, other, a)
		}
		byAddr[a] = key
	}
	for i := range all {
		ing := &all[i]
		addr, ok := addrs[ing.Namespace+"/"+ing.Name]
		if !ok {
			continue
		}
		obs := &render.Observed{Address: addr.String(), NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ing.Namespace}}
		problems("RenderIngress", render.RenderIngress(class, ing, obs))
		if render.NeedsSkupper(ing) {
			problems("RenderSkupperNetwork", render.RenderSkupperNetwork(class, ing.Namespace, obs))
		}
	}
	return failed
}

// renderCLI runs `anycast-operator render -f FILE` on the manifests as written.
func renderCLI(t *testing.T, dir string, objs []*object) (int, string) {
	p := filepath.Join(dir, "manifests.yaml")
	if err := os.WriteFile(p, []byte(manifestsOf(objs)), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"render", "-f", p}, &stdout, &stderr)
	return code, stderr.String()
}

func manifestsOf(objs []*object) string {
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o.raw.Object)
		if err != nil {
			panic(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// validationSeeds are the shipped samples and every golden render input, as manifests,
// and a set of several ingresses competing for addresses.
func validationSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	root := filepath.Join("..", "..")
	var sample []byte
	for _, f := range []string{"anycast_v1alpha1_anycastclass.yaml", "anycast_v1alpha1_anycastingress.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "config", "samples", f))
		if err != nil {
			tb.Fatal(err)
		}
		sample = append(append(sample, "\n---\n"...), b...)
	}
	seeds = append(seeds, sample)
	ins, _ := filepath.Glob(filepath.Join(root, "internal", "render", "testdata", "*.in.yaml"))
	sort.Strings(ins)
	for _, p := range ins {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		in, err := render.ParseInput(b)
		if err != nil || in.Ingress == nil {
			continue
		}
		c := fuzz.Class(&in.Class)
		i := fuzz.Ingress(in.Ingress)
		seeds = append(seeds, []byte(manifestsOf([]*object{{raw: c}, {raw: i}})))
	}
	competing := fmt.Sprintf(`%s
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: a, namespace: team-a}
spec: {className: datacenter}
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: b, namespace: team-b}
spec: {className: datacenter, address: 192.168.155.0}
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: c, namespace: team-a}
spec: {className: datacenter, address: 192.168.155.1}
`, strings.SplitN(string(sample), "\n---\n", 3)[1])
	return append(seeds, []byte(competing))
}

// TestValidationSeedsAreAccepted: every seed of FuzzValidation is a set the CRD accepts
// (a refused seed would fuzz nothing), and the command agrees with the controller on it.
func TestValidationSeedsAreAccepted(t *testing.T) {
	ours, _ := fuzz.Checkers(t)
	dir := t.TempDir()
	for i, seed := range validationSeeds(t) {
		class, ingresses, ok := acceptedSet(t, ours, seed, nil)
		if !ok {
			t.Errorf("seed %d is refused:\n%s", i, seed)
			continue
		}
		failed := pureChecks(t, class.typed, ingresses)
		code, stderr := renderCLI(t, dir, append([]*object{class}, ingresses...))
		if (code == 1) != failed || (code != 0 && code != 1) {
			t.Errorf("seed %d: render exited %d (%s), the controller's checks say failed=%v", i, code, stderr, failed)
		}
	}
}
