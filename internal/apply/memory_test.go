package apply_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// countingLists counts the lists of Secrets that reach the API server.
type countingLists struct {
	client.Reader
	secrets *atomic.Int32
}

func (r countingLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if u, ok := list.(*unstructured.UnstructuredList); ok && u.GetKind() == "SecretList" {
		r.secrets.Add(1)
	}
	return r.Reader.List(ctx, list, opts...)
}

func secret(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.GVKSecret)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(ref.Labels())
	u.Object["stringData"] = map[string]interface{}{"password": name}
	return u
}

func secretExists(t *testing.T, ns, name string) bool {
	t.Helper()
	return testenv.Get(t, env.Client, render.GVKSecret, ns, name) != nil
}

// TestPruneMemorySkipsUnchangedLists: an ApplyAll that keeps the same Secrets as the last
// successful prune does not list them again; one that keeps others lists and prunes; an
// ApplyAll stopped before its prune (an object refused) leaves nothing remembered, so the
// Secret it created is pruned by the next call even when that call keeps what the one
// before the failure kept; and an entry older than the TTL is not trusted.
func TestPruneMemorySkipsUnchangedLists(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-memory"
	mustNamespace(t, ns)
	var lists atomic.Int32
	now := time.Now()
	memory := &apply.PruneMemory{TTL: time.Minute, Now: func() time.Time { return now }}
	a := &apply.Applier{Client: env.Client, Reader: countingLists{ownedOnly{env.Client}, &lists}, LiveReader: env.Client, Memory: memory}
	kinds := []schema.GroupVersionKind{render.GVKIPAddressPool, render.GVKSecret}
	applyAll := func(o ...*unstructured.Unstructured) error {
		_, err := a.ApplyAll(ctx, ref, o, kinds, ns)
		return err
	}

	if err := applyAll(secret(ns, "a")); err != nil {
		t.Fatal(err)
	}
	if n := lists.Load(); n != 1 {
		t.Fatalf("the first ApplyAll listed Secrets %d times, want 1", n)
	}
	for range 3 {
		if err := applyAll(secret(ns, "a")); err != nil {
			t.Fatal(err)
		}
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("ApplyAll keeping the same Secret listed them %d times in all, want 1 (the first)", n)
	}

	// Another set: listed, and the surplus pruned.
	if err := applyAll(secret(ns, "b")); err != nil {
		t.Fatal(err)
	}
	if n := lists.Load(); n != 2 {
		t.Errorf("ApplyAll keeping another Secret listed %d times in all, want 2", n)
	}
	if secretExists(t, ns, "a") || !secretExists(t, ns, "b") {
		t.Fatalf("after keeping only b: a exists %v, b exists %v", secretExists(t, ns, "a"), secretExists(t, ns, "b"))
	}

	// Stopped before its prune: c is created, then an invalid pool stops the call.
	bad := pool(ns, "Not_A_Valid_Name", nil, map[string]interface{}{"addresses": []interface{}{"10.9.2.1/32"}})
	if err := applyAll(secret(ns, "b"), secret(ns, "c"), bad); err == nil {
		t.Fatal("the invalid pool was not refused")
	}
	if !secretExists(t, ns, "c") {
		t.Fatal("c was not created before the refused pool")
	}
	// Back to keeping b alone, what the last successful prune kept: c must still go.
	if err := applyAll(secret(ns, "b")); err != nil {
		t.Fatal(err)
	}
	if secretExists(t, ns, "c") {
		t.Error("the Secret of a call stopped before its prune was never pruned: the memory trusted an entry that call had made stale")
	}

	// Unchanged, but the entry is older than the TTL: listed again.
	before := lists.Load()
	if err := applyAll(secret(ns, "b")); err != nil {
		t.Fatal(err)
	}
	if lists.Load() != before {
		t.Errorf("an unchanged ApplyAll within the TTL listed Secrets")
	}
	now = now.Add(2 * time.Minute)
	if err := applyAll(secret(ns, "b")); err != nil {
		t.Fatal(err)
	}
	if lists.Load() != before+1 {
		t.Errorf("an ApplyAll after the TTL did not list Secrets (%d lists, want %d)", lists.Load(), before+1)
	}

	// Prune on its own (deletion) never trusts the memory.
	before = lists.Load()
	if _, err := a.Prune(ctx, ref, kinds, nil, ns); err != nil {
		t.Fatal(err)
	}
	if lists.Load() != before+1 || secretExists(t, ns, "b") {
		t.Errorf("Prune skipped the list (%d lists, want %d) or left b", lists.Load(), before+1)
	}
}
