// Package argocd holds the ArgoCD health checks of anycast.dev objects (Lua, in ArgoCD's
// resource_customizations layout: <group>/<kind>/health.lua, health_test.yaml, testdata/)
// and runs them the way ArgoCD does: with gopher-lua, the object in the global `obj`, and
// only the base, table, string and math libraries open.
package argocd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// healthTests is ArgoCD's health_test.yaml format.
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

var kinds = []string{"AnycastClass", "AnycastIngress"}

// minSamples is the least number of status samples each kind's check is tested on.
const minSamples = 6

func TestHealthChecks(t *testing.T) {
	for _, kind := range kinds {
		dir := filepath.Join("anycast.dev", kind)
		script := readFile(t, filepath.Join(dir, "health.lua"))
		var tests healthTests
		if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(dir, "health_test.yaml")), &tests); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", dir, err)
		}
		if len(tests.Tests) < minSamples {
			t.Errorf("%s: %d samples, want at least %d", kind, len(tests.Tests), minSamples)
		}
		verdicts := map[string]int{}
		for _, tc := range tests.Tests {
			tc := tc
			t.Run(kind+"/"+tc.InputPath, func(t *testing.T) {
				obj := readObject(t, filepath.Join(dir, tc.InputPath))
				if obj["kind"] != kind {
					t.Fatalf("sample kind %v, want %s", obj["kind"], kind)
				}
				status, message, err := runHealth(string(script), obj)
				if err != nil {
					t.Fatal(err)
				}
				if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
					t.Errorf("got %s %q\nwant %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
				}
				verdicts[status]++
			})
		}
		for _, v := range []string{"Healthy", "Progressing", "Degraded"} {
			if verdicts[v] == 0 {
				t.Errorf("%s: no sample has the verdict %s", kind, v)
			}
		}
	}
}

// TestEverySampleIsCovered fails when a testdata file is not listed in health_test.yaml.
func TestEverySampleIsCovered(t *testing.T) {
	for _, kind := range kinds {
		dir := filepath.Join("anycast.dev", kind)
		var tests healthTests
		if err := yaml.Unmarshal(readFile(t, filepath.Join(dir, "health_test.yaml")), &tests); err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, tc := range tests.Tests {
			listed[filepath.Clean(tc.InputPath)] = true
		}
		files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
		for _, f := range files {
			rel, _ := filepath.Rel(dir, f)
			if !listed[rel] {
				t.Errorf("%s is not listed in %s/health_test.yaml", f, dir)
			}
		}
	}
}

// TestScriptsAreIdentical: one script serves both kinds, so the two copies ArgoCD's layout
// needs must not drift.
func TestScriptsAreIdentical(t *testing.T) {
	a := readFile(t, filepath.Join("anycast.dev", kinds[0], "health.lua"))
	for _, k := range kinds[1:] {
		if b := readFile(t, filepath.Join("anycast.dev", k, "health.lua")); !bytes.Equal(a, b) {
			t.Errorf("anycast.dev/%s/health.lua differs from anycast.dev/%s/health.lua: keep them identical", k, kinds[0])
		}
	}
}

// TestHealthIsTotal feeds malformed objects that ArgoCD may still hand over (no metadata,
// conditions without type, odd values): the script must answer, never raise.
func TestHealthIsTotal(t *testing.T) {
	script := string(readFile(t, filepath.Join("anycast.dev", "AnycastIngress", "health.lua")))
	for name, obj := range map[string]map[string]any{
		"empty":               {},
		"no metadata":         {"kind": "AnycastIngress", "status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}},
		"condition sans type": {"kind": "AnycastIngress", "metadata": map[string]any{"generation": int64(1)}, "status": map[string]any{"conditions": []any{map[string]any{"status": "True"}}}},
		"ready sans reason":   {"kind": "AnycastClass", "metadata": map[string]any{"generation": int64(1)}, "status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False"}}}},
		"accepted sans reason": {"kind": "AnycastClass", "metadata": map[string]any{"generation": int64(1)}, "status": map[string]any{"conditions": []any{
			map[string]any{"type": "Accepted", "status": "False"}, map[string]any{"type": "Ready", "status": "False"}}}},
	} {
		status, _, err := runHealth(script, obj)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch status {
		case "Healthy", "Progressing", "Degraded":
		default:
			t.Errorf("%s: status %q", name, status)
		}
	}
}

// runHealth runs a health script as ArgoCD's Lua VM does (argo-cd util/lua): a state
// without the os, io and package libraries, the object in the global obj, a time limit, and
// a returned table with status and message.
func runHealth(script string, obj map[string]any) (status, message string, err error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	st, ok := ret.RawGetString("status").(lua.LString)
	if !ok {
		return "", "", fmt.Errorf("the returned table has no string status")
	}
	msg, ok := ret.RawGetString("message").(lua.LString)
	if !ok {
		return "", "", fmt.Errorf("the returned table has no string message")
	}
	return string(st), string(msg), nil
}

// toLua converts a decoded JSON value as ArgoCD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case nil:
		return lua.LNil
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
}

func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON(readFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var obj map[string]any
	// The apimachinery decoder gives int64 for integers, as an unstructured object has.
	if err := json.Unmarshal(j, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
