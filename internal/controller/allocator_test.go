package controller

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// TestIndexedResolveMatchesList: the informer-fed index decides exactly as Resolve over
// the class's list, on random classes of ingresses with colliding spec addresses, status
// addresses from earlier allocations, equal creation times, deletions and a pool small
// enough to run out. Statuses are written back between passes, as the controller does.
func TestIndexedResolveMatchesList(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	classes := map[string]*v1alpha1.AnycastClass{
		"a": {ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/29"}}},
		"b": {ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/30", "fd00::/126"}}},
	}
	addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "fd00::1", "::ffff:10.0.0.2"}
	decisions := 0
	for scenario := 0; scenario < 300; scenario++ {
		n := 1 + rng.Intn(12)
		all := make([]v1alpha1.AnycastIngress, n)
		for i := range all {
			ing := &all[i]
			ing.Namespace = fmt.Sprintf("ns%d", rng.Intn(2))
			ing.Name = fmt.Sprintf("ing%d", i)
			ing.Spec.ClassName = "a"
			if rng.Intn(3) == 0 {
				ing.Spec.ClassName = "b"
			}
			ing.CreationTimestamp = metav1.NewTime(base.Add(time.Duration(rng.Intn(4)) * time.Second))
			if rng.Intn(3) == 0 {
				ing.Spec.Address = addrs[rng.Intn(len(addrs))]
			}
			if rng.Intn(4) == 0 {
				ing.Status.Address = addrs[rng.Intn(len(addrs))]
			}
			if rng.Intn(8) == 0 {
				now := metav1.NewTime(base)
				ing.DeletionTimestamp = &now
			}
		}
		indexed, listed := NewAllocator(), NewAllocator()
		for i := range all {
			indexed.observe(&all[i])
		}
		for pass := 0; pass < 3; pass++ {
			for _, i := range rng.Perm(n) {
				ing := &all[i]
				if ing.DeletionTimestamp != nil {
					continue
				}
				class := classes[ing.Spec.ClassName]
				var ofClass []v1alpha1.AnycastIngress
				for _, o := range all {
					if o.Spec.ClassName == class.Name {
						ofClass = append(ofClass, o)
					}
				}
				got, gotProblem := indexed.ResolveIndexed(class, ing)
				want, wantProblem := listed.Resolve(class, ing, ofClass)
				if got != want || fmt.Sprint(gotProblem) != fmt.Sprint(wantProblem) {
					t.Fatalf("scenario %d pass %d, %s/%s: indexed %v %v, listed %v %v", scenario, pass, ing.Namespace, ing.Name, got, gotProblem, want, wantProblem)
				}
				decisions++
				// The status write the controller makes, seen by the informer (sometimes
				// not yet: the reservation must cover it).
				if rng.Intn(2) == 0 {
					ing.Status.Address = ""
					if got.IsValid() {
						ing.Status.Address = got.String()
					}
					indexed.observe(ing)
				}
			}
			// Now and then an ingress goes away.
			if i := rng.Intn(n); rng.Intn(3) == 0 && all[i].DeletionTimestamp == nil {
				now := metav1.NewTime(base)
				all[i].DeletionTimestamp = &now
				indexed.observe(&all[i])
			}
		}
	}
	if decisions < 1000 {
		t.Fatalf("only %d decisions compared", decisions)
	}
}

// TestIndexForgets: a deleted ingress's address is free again; one whose address moved
// holds only the new one.
func TestIndexForgets(t *testing.T) {
	class := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/30"}}}
	old := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "old", CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a", Address: "10.0.0.1"}}
	young := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "young", CreationTimestamp: metav1.NewTime(time.Unix(2, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a", Address: "10.0.0.1"}}
	a := NewAllocator()
	a.observe(old)
	a.observe(young)
	if _, p := a.ResolveIndexed(class, young); p == nil || p.Reason != ReasonAddressInUse {
		t.Fatalf("young while old holds 10.0.0.1: %v; want AddressInUse", p)
	}
	moved := old.DeepCopy()
	moved.Spec.Address = "10.0.0.2"
	a.observe(moved)
	if addr, p := a.ResolveIndexed(class, young); p != nil || addr != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("young after old moved: %v %v; want 10.0.0.1", addr, p)
	}
	key := k8stypes.NamespacedName{Namespace: moved.Namespace, Name: moved.Name}
	a.forget(key)
	a.Release(key)
	free := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "free", CreationTimestamp: metav1.NewTime(time.Unix(3, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a"}}
	a.observe(free)
	if addr, p := a.ResolveIndexed(class, free); p != nil || addr != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("after old was deleted: %v %v; want 10.0.0.2 (10.0.0.1 is young's)", addr, p)
	}
}
