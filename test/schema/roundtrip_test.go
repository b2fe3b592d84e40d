package schema_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// TestGoldenOutputsRoundTrip creates every object of every golden output in a real API
// server with the upstream CRDs, reads it back and requires every field it sent to come
// back unchanged: a field the schema prunes, a value it rewrites, or a validation error
// fails the test.
func TestGoldenOutputsRoundTrip(t *testing.T) {
	outs, err := filepath.Glob("../../internal/render/testdata/*.out.yaml")
	if err != nil || len(outs) < 12 {
		t.Fatalf("want at least 12 golden outputs, found %d (%v)", len(outs), err)
	}
	ctx := context.Background()
	objects := 0
	for _, path := range outs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out render.Output
		if err := yaml.UnmarshalStrict(b, &out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".out.yaml")
		for _, co := range out.Clusters {
			t.Run(name+"/"+co.Name, func(t *testing.T) {
				applier := &apply.Applier{Client: env.Client, Reader: env.Client}
				for _, obj := range co.Objects {
					ensureNamespace(t, ctx, obj.GetNamespace())
					if _, err := applier.Apply(ctx, obj); err != nil {
						t.Errorf("%s %s/%s rejected by the API server: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
						continue
					}
					objects++
					live := &unstructured.Unstructured{}
					live.SetGroupVersionKind(obj.GroupVersionKind())
					if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
						t.Fatal(err)
					}
					if missing := apply.Missing(live.Object, obj.Object, ""); len(missing) > 0 {
						t.Errorf("%s %s/%s: the API server pruned or changed %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), missing)
					}
				}
				// Names repeat across cases: remove this cluster's objects before the next.
				for _, obj := range co.Objects {
					deleteAndWait(t, ctx, obj)
				}
			})
		}
	}
	if objects == 0 {
		t.Fatal("no object was round-tripped")
	}
	t.Logf("%d objects from %d golden files round-tripped", objects, len(outs))
}

func ensureNamespace(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if name == "" {
		return
	}
	err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func deleteAndWait(t *testing.T, ctx context.Context, obj *unstructured.Unstructured) {
	t.Helper()
	if err := env.Client.Delete(ctx, obj.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(obj.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s %s was not deleted", obj.GetKind(), obj.GetName())
}
