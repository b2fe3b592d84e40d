package schemacheck_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/test/schemacheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// The API server is started once, on first use, and stopped by TestMain.
var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		_ = env.Stop()
	}
	os.Exit(code)
}

func apiServer(t testing.TB) *testenv.Env {
	t.Helper()
	envOnce.Do(func() {
		env, envErr = testenv.Start("schemacheck")
		if envErr != nil {
			return
		}
		for _, ns := range []string{"hello-world", "metallb-system"} {
			if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				envErr = err
				return
			}
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

// serverVerdict creates obj with dryRun and fieldValidation=Strict and returns the field
// paths the API server refused (nil when it accepted), plus the raw error.
func serverVerdict(t testing.TB, e *testenv.Env, obj *unstructured.Unstructured) ([]string, error) {
	t.Helper()
	err := e.Client.Create(context.Background(), obj.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict"))
	if err == nil {
		return nil, nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("not an API error: %v", err)
	}
	st := status.Status()
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if f == "" {
			f = "<nil>"
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			add(c.Field)
		}
	}
	// Strict decoding errors are a BadRequest naming the fields in the message.
	if apierrors.IsBadRequest(err) && strings.Contains(st.Message, "strict decoding error") {
		for _, part := range strings.Split(st.Message, `unknown field "`)[1:] {
			add(part[:strings.Index(part, `"`)])
		}
	}
	if len(out) == 0 {
		add("<no cause>")
	}
	sort.Strings(out)
	return out, err
}

// TestAgreesWithAPIServer submits every case to a real kube-apiserver (v1.36, the same
// CRDs installed) and requires the same verdict offline, on the same field paths.
func TestAgreesWithAPIServer(t *testing.T) {
	c := all(t)
	e := apiServer(t)
	for _, tc := range cases {
		if tc.offlineOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			obj := parse(t, tc.base, tc.change)
			want, serr := serverVerdict(t, e, obj)
			got := fieldsOf(c.Validate(obj))
			if pathsOf(got) != pathsOf(want) {
				t.Fatalf("offline refused [%s], the API server [%s] (%v)", pathsOf(got), pathsOf(want), serr)
			}
			if (len(tc.paths) == 0) != (serr == nil) {
				t.Fatalf("the case expects valid=%v, the API server says %v", len(tc.paths) == 0, serr)
			}
		})
	}
}

// describe is a short form of a verdict for messages.
func describe(paths []string) string {
	if len(paths) == 0 {
		return "accepted"
	}
	return fmt.Sprintf("refused on [%s]", pathsOf(paths))
}

// TestMutantsAgreeWithAPIServer mutates the valid objects of every family with the
// Mutator the fuzz tests use (fixed seeds, so the run is reproducible) and requires the
// offline verdict to equal the API server's, field path for field path. It is what makes
// "schemacheck accepts it" stand for "the API server accepts it" in the fuzz tests.
func TestMutantsAgreeWithAPIServer(t *testing.T) {
	c := all(t)
	e := apiServer(t)
	n := 600
	if testing.Short() {
		n = 100
	}
	var valid []testCase
	for _, tc := range cases {
		if len(tc.paths) == 0 {
			valid = append(valid, tc)
		}
	}
	accepted, refused := 0, 0
	rng := rand.New(rand.NewPCG(8, 8))
	for i := 0; i < n; i++ {
		tc := valid[i%len(valid)]
		data := make([]byte, 8+rng.IntN(40))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		obj := parse(t, tc.base, "")
		ns := obj.GetNamespace()
		schemacheck.NewMutator(data).Mutate(c, obj)
		// The namespace is the request's (the URL's), not the schema's business.
		obj.SetNamespace(ns)
		want, serr := serverVerdict(t, e, obj)
		got := fieldsOf(c.Validate(obj))
		if pathsOf(got) != pathsOf(want) {
			b, _ := json.Marshal(obj.Object)
			t.Errorf("mutant %d of %s (data %x): offline %s, the API server %s (%v)\n%s", i, tc.name, data, describe(got), describe(want), serr, b)
			continue
		}
		if serr == nil {
			accepted++
		} else {
			refused++
		}
	}
	t.Logf("%d mutants: %d accepted and %d refused by both", n, accepted, refused)
	if accepted == 0 || refused == 0 {
		t.Errorf("the mutants should include accepted and refused objects")
	}
}
