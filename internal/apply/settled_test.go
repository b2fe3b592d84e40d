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
	changedLabels(settled, owner.Ingress("c", "apply-test", "other").Labels())
	changedLabels(settled, map[string]string{"app": "not-ours"})
	if n := applyAll(desired("10.9.5.1/32")); n != 0 {
		t.Fatalf("a change of another owner's object unsettled this one (%d reads)", n)
	}

	// Someone edits the pool; its change is reported: the next call repairs it.
	live1 := live(t, ns, "vip")
	_ = unstructured.SetNestedStringSlice(live1.Object, []string{"10.9.5.99/32"}, "spec", "addresses")
	if err := env.Client.Update(ctx, live1); err != nil {
		t.Fatal(err)
	}
	settled.Changed(nil, live1)
	if n := applyAll(desired("10.9.5.1/32")); n == 0 {
		t.Fatal("an ApplyAll after a reported change read nothing")
	}
	if got, _, _ := unstructured.NestedStringSlice(live(t, ns, "vip").Object, "spec", "addresses"); len(got) != 1 || got[0] != "10.9.5.1/32" {
		t.Fatalf("the edited pool was not repaired: %v", got)
	}
	if n := applyAll(desired("10.9.5.1/32")); n != 0 {
		t.Fatalf("settled again after the repair, yet the call made %d reads", n)
	}

	// Other desired objects: applied. The event of that write is the applier's own: the
	// owner stays settled; a later version is someone else's change.
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a changed render read nothing")
	}
	written := live(t, ns, "vip")
	if got, _, _ := unstructured.NestedStringSlice(written.Object, "spec", "addresses"); len(got) != 1 || got[0] != "10.9.5.2/32" {
		t.Fatalf("the changed render was not applied: %v", got)
	}
	settled.Changed(nil, written)
	if n := applyAll(desired("10.9.5.2/32")); n != 0 {
		t.Fatalf("the event of the applier's own write unsettled its owner (%d reads)", n)
	}
	later := written.DeepCopy()
	later.SetResourceVersion(written.GetResourceVersion() + "0")
	settled.Changed(nil, later)
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a version the applier did not write left its owner settled")
	}

	// A status update (same generation, labels and annotations) is not a change; a spec
	// update (another generation) is.
	status := written.DeepCopy()
	status.SetResourceVersion("1")
	status.Object["status"] = map[string]interface{}{"seen": true}
	if written.GetGeneration() == 0 {
		t.Fatal("the pool has no generation")
	}
	settled.Changed(written, status)
	if n := applyAll(desired("10.9.5.2/32")); n != 0 {
		t.Fatalf("a status update unsettled its owner (%d reads)", n)
	}
	spec := status.DeepCopy()
	spec.SetGeneration(written.GetGeneration() + 1)
	settled.Changed(status, spec)
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a spec update left its owner settled")
	}
	labelled := written.DeepCopy()
	l := written.GetLabels() // a copy
	l["team"] = "red"
	labelled.SetLabels(l)
	labelled.SetResourceVersion("2")
	applyAll(desired("10.9.5.2/32"))
	settled.Changed(written, labelled)
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a label update left its owner settled")
	}

	// A deletion is never taken for an own write, even at the version last written.
	applyAll(desired("10.9.5.2/32"))
	current := live(t, ns, "vip")
	settled.Changed(nil, current)
	if n := applyAll(desired("10.9.5.2/32")); n != 0 {
		t.Fatalf("not settled before the deletion (%d reads)", n)
	}
	settled.Deleted(current)
	if n := applyAll(desired("10.9.5.2/32")); n == 0 {
		t.Fatal("a deletion at the version last written left its owner settled")
	}

	// The event of a write that arrives before the write's answer is still the
	// applier's own: the call settles.
	a.Client = echoing{Client: env.Client, settled: settled}
	if n := applyAll(desired("10.9.5.3/32")); n == 0 {
		t.Fatal("a changed render read nothing")
	}
	if n := applyAll(desired("10.9.5.3/32")); n != 0 {
		t.Fatalf("a call whose own write's event came first did not settle (%d reads)", n)
	}
	a.Client = env.Client

	// A change reported while a call runs: that call does not settle.
	changes := 0
	a.Reader = countingReads{Reader: ownedOnly{env.Client}, reads: &reads, during: func() {
		if changes == 0 {
			changedLabels(settled, ref.Labels())
		}
		changes++
	}}
	changedLabels(settled, ref.Labels())
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

// changedLabels reports a change of an object carrying labels.
func changedLabels(s *apply.Settled, labels map[string]string) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.GVKIPAddressPool)
	u.SetName("changed")
	u.SetLabels(labels)
	s.Changed(nil, u)
}

// echoing reports each write's result as an event before the applier sees the answer:
// an event that overtakes its write's answer.
type echoing struct {
	client.Client
	settled *apply.Settled
}

func (c echoing) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := c.Client.Create(ctx, obj, opts...)
	if err == nil {
		c.settled.Changed(nil, obj.DeepCopyObject().(client.Object))
	}
	return err
}

func (c echoing) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	err := c.Client.Patch(ctx, obj, patch, opts...)
	if err == nil {
		c.settled.Changed(nil, obj.DeepCopyObject().(client.Object))
	}
	return err
}
