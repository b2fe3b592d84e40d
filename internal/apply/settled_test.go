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
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// countingReads counts every read (Get or List) of the applier's reader, and runs during,
// when set, in the middle of each Get: a change arriving while a call runs.
type countingReads struct {
	client.Reader
	reads  *atomic.Int32
	during func()
}

func (r countingReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.reads.Add(1)
	if r.during != nil {
		r.during()
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r countingReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.reads.Add(1)
	return r.Reader.List(ctx, list, opts...)
}

// TestSettledSkipsOnlyWhatNothingChanged: an ApplyAll that found its owner's objects as
// desired makes the next one with the same objects read nothing, until a change of one of
// that owner's objects is reported, the desired objects differ, the entry is older than
// the TTL, or a prune forgot it. A change reported while a call runs keeps that call from
// settling; a kind whose changes are not observed never settles; another owner's change
// leaves this one settled.
func TestSettledSkipsOnlyWhatNothingChanged(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-settled"
	mustNamespace(t, ns)
	var reads atomic.Int32
	now := time.Now()
	settled := &apply.Settled{TTL: time.Minute, Now: func() time.Time { return now }}
	reader := countingReads{Reader: ownedOnly{env.Client}, reads: &reads}
	a := &apply.Applier{Client: env.Client, Reader: reader, LiveReader: env.Client, Settled: settled}
	kinds := []schema.GroupVersionKind{render.GVKIPAddressPool}
	desired := func(addr string) *unstructured.Unstructured {
		return pool(ns, "vip", nil, map[string]interface{}{"addresses": []interface{}{addr}})
	}
	// applyAll reports how many reads the call made.
	applyAll := func(o ...*unstructured.Unstructured) int32 {
		t.Helper()
		before := reads.Load()
		if _, err := a.ApplyAll(ctx, ref, o, kinds, ""); err != nil {
			t.Fatal(err)
		}
		return reads.Load() - before
	}

	// Not observed yet: nothing settles.
	applyAll(desired("10.9.5.1/32"))
	if n := applyAll(desired("10.9.5.1/32")); n == 0 {
		t.Fatal("an ApplyAll of a kind whose changes are not observed read nothing")
	}
	settled.Observe(render.GVKIPAddressPool)
	if n := applyAll(desired("10.9.5.1/32")); n == 0 {
		t.Fatal("the first ApplyAll after Observe read nothing: nothing had settled yet")
	}
	if n := applyAll(desired("10.9.5.1/32")); n != 0 {
		t.Fatalf("a settled, unchanged ApplyAll made %d reads, want 0", n)
	}

	// Another owner's object changed: still settled.
	settled.Changed(owner.Ingress("c", "apply-test", "other").Labels())
	settled.Changed(map[string]string{"app": "not-ours"})
	if n := applyAll(desired("10.9.5.1/32")); n != 0 {
		t.Fatalf("a change of another owner's object unsettled this one (%d reads)", n)
	}

	// Someone edits the pool; its change is reported: the next call repairs it.
	live1 := live(t, ns, "vip")
	_ = unstructured.SetNestedStringSlice(live1.Object, []string{"10.9.5.99/32"}, "spec", "addresses")
	if err := env.Client.Update(ctx, live1); err != nil {
		t.Fatal(err)
	}
	settled.Changed(live1.GetLabels())
	if n := applyAll(desired("10.9.5.1/32")); n == 0 {
		t.Fatal("an ApplyAll after a reported change read nothing")
	}
	if got, _, _ := unstructured.NestedStringSlice(live(t, ns, "vip").Object, "spec", "addresses"); len(got) != 1 || got[0] != "10.9.5.1/32" {
		t.Fatalf("the edited pool was not repaired: %v", got)
	}
	if n := applyAll(desired("10.9.5.1/32")); n != 0 {
		t.Fatalf("settled again after the repair, yet the call made %d reads", n)
	}

	// Other desired objects: applied.
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a changed render read nothing")
	}
	if got, _, _ := unstructured.NestedStringSlice(live(t, ns, "vip").Object, "spec", "addresses"); len(got) != 1 || got[0] != "10.9.5.2/32" {
		t.Fatalf("the changed render was not applied: %v", got)
	}

	// A change reported while a call runs: that call does not settle.
	changes := 0
	a.Reader = countingReads{Reader: ownedOnly{env.Client}, reads: &reads, during: func() {
		if changes == 0 {
			settled.Changed(ref.Labels())
		}
		changes++
	}}
	settled.Changed(ref.Labels())
	applyAll(desired("10.9.5.2/32"))
	a.Reader = reader
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a call during which a change arrived settled its owner: the next call read nothing")
	}
	if n := applyAll(desired("10.9.5.2/32")); n != 0 {
		t.Fatalf("the call after it should have settled (%d reads)", n)
	}

	// Older than the TTL: looked at again.
	now = now.Add(2 * time.Minute)
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("an entry older than the TTL was trusted")
	}

	// A prune forgets: the objects it removed are put back by the next call.
	if n := applyAll(desired("10.9.5.2/32")); n != 0 {
		t.Fatalf("not settled before the prune (%d reads)", n)
	}
	if _, err := a.Prune(ctx, ref, kinds, nil, ""); err != nil {
		t.Fatal(err)
	}
	if applyAll(desired("10.9.5.2/32")); live(t, ns, "vip") == nil {
		t.Fatal("the pool a prune removed was not created again: the prune left its owner settled")
	}

	// A Secret (never cached, its changes not reported) keeps the call from settling.
	withSecret := func() int32 {
		before := reads.Load()
		if _, err := a.ApplyAll(ctx, ref, []*unstructured.Unstructured{secret(ns, "s"), desired("10.9.5.2/32")}, append(kinds, render.GVKSecret), ns); err != nil {
			t.Fatal(err)
		}
		return reads.Load() - before
	}
	withSecret()
	if n := withSecret(); n == 0 {
		t.Fatal("an ApplyAll writing a Secret settled")
	}
}
