// Package fuzz holds what the fuzz targets share: the CRD checkers (ours, and the upstream
// MetalLB, Gateway API and Skupper ones) and the conversions between the typed API objects
// and the unstructured form schemacheck validates. The targets themselves live next to
// the code they exercise:
//
//   - FuzzRender (internal/render/fuzz_test.go): any render input whose class and ingress
//     the CRD accepts renders without panic, deterministically, and every object it
//     renders passes its upstream schema (strictly: no field the API server would drop).
//   - FuzzValidation (cmd/anycast-operator/fuzz_test.go): nothing the CRD accepts makes
//     the controller's pure checks (allocation, class and ingress rendering) or the
//     `render` command crash.
//
// `make fuzz` runs each for FUZZTIME; `go test` runs them over their seed corpora
// (testdata/fuzz/<target> beside each target, plus the golden inputs).
package fuzz

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/schemacheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var (
	once           sync.Once
	ours, upstream *schemacheck.Checker
	loadErr        error
)

// Checkers returns a checker of this project's CRDs and one of every CRD the renderer
// writes to (MetalLB, frr-k8s, Gateway API, Skupper), loaded once per process. The directories are
// those test/testenv installs into envtest; this package finds them itself so that
// fuzz binaries (built with coverage instrumentation) do not pull in envtest and
// client-go's informers.
func Checkers(tb testing.TB) (*schemacheck.Checker, *schemacheck.Checker) {
	tb.Helper()
	once.Do(func() {
		var root, metallb, gateway, skupper string
		if root, loadErr = testenv.RepoRoot(); loadErr != nil {
			return
		}
		if metallb, loadErr = moduleDir(root, "go.universe.tf/metallb"); loadErr != nil {
			return
		}
		if gateway, loadErr = moduleDir(root, "sigs.k8s.io/gateway-api"); loadErr != nil {
			return
		}
		if skupper, loadErr = skupperDir(root); loadErr != nil {
			return
		}
		var frrk8s string
		if frrk8s, loadErr = testenv.FRRK8sCRDDir(); loadErr != nil {
			return
		}
		if ours, loadErr = schemacheck.Load(filepath.Join(root, "config", "crd", "bases")); loadErr != nil {
			return
		}
		upstream, loadErr = schemacheck.Load(
			filepath.Join(metallb, "config", "crd", "bases"),
			frrk8s,
			filepath.Join(gateway, "config", "crd", "standard"),
			skupper)
	})
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return ours, upstream
}

func moduleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir, nil
	}
	if b, err := exec.Command("go", "mod", "download", module).CombinedOutput(); err != nil {
		return "", fmt.Errorf("locating module %s: %v: %s", module, err, b)
	}
	out, err = cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// skupperDir is SKUPPER_CRDS, ../shared/crds/skupper or bin/skupper-crds, as testenv.
func skupperDir(root string) (string, error) {
	for _, d := range []string{os.Getenv("SKUPPER_CRDS"), filepath.Join(root, "..", "shared", "crds", "skupper"), filepath.Join(root, "bin", "skupper-crds")} {
		if d == "" {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(m) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("no Skupper CRDs: set SKUPPER_CRDS or run `make skupper-crds`")
}

// Class converts an AnycastClass to the unstructured object a client would send.
func Class(c *v1alpha1.AnycastClass) *unstructured.Unstructured {
	return toUnstructured(c, "AnycastClass")
}

// Ingress converts an AnycastIngress to the unstructured object a client would send.
func Ingress(i *v1alpha1.AnycastIngress) *unstructured.Unstructured {
	return toUnstructured(i, "AnycastIngress")
}

func toUnstructured(obj runtime.Object, kind string) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]interface{}); ok {
		delete(md, "creationTimestamp")
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	return u
}

// Typed converts an object the API accepted back into its Go type, as the controller's
// cache decodes it. An error means the CRD accepts what the Go types cannot hold: the
// controller would never see the object.
func Typed(u *unstructured.Unstructured, into runtime.Object) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	// As client-go's JSON decoding: case-sensitive, integers kept, unknown fields dropped.
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, into); err != nil {
		return fmt.Errorf("decoding %s as %T: %w", u.GetKind(), into, err)
	}
	return nil
}
