package ipam

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

func key(ing *v1alpha1.AnycastIngress) types.NamespacedName {
	return types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
}

// TestResolveInvariants drives the index on random classes of ingresses with colliding
// spec addresses, status addresses from earlier allocations, equal creation times,
// deletions and pools small enough to run out, in random order, with statuses written
// back (or not yet seen) between passes, as the controller does. In every pass no two
// live ingresses of a class get one address, a contested spec address goes to the
// oldest claimant, and an ingress keeps the address it was given.
func TestResolveInvariants(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	classes := map[string]*v1alpha1.AnycastClass{
		"a": {ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/29"}}},
		"b": {ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/30", "fd00::/126"}}},
	}
	addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "fd00::1", "::ffff:10.0.0.2"}
	decisions := 0
	for scenario := 0; scenario < 3000; scenario++ {
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
		}
		x := IndexOf(all)
		given := map[types.NamespacedName]netip.Addr{}
		for pass := 0; pass < 3; pass++ {
			got := map[string]types.NamespacedName{} // class/addr -> holder this pass
			for _, i := range rng.Perm(n) {
				ing := &all[i]
				if ing.DeletionTimestamp != nil {
					continue
				}
				addr, refusal := x.Resolve(classes[ing.Spec.ClassName], ing)
				decisions++
				if refusal != nil {
					if refusal.Reason == "" || refusal.Message == "" {
						t.Fatalf("scenario %d: refusal without reason or message: %+v", scenario, refusal)
					}
					if refusal.Reason == ReasonAddressInUse {
						// An older live claimant must really exist.
						older := false
						for j := range all {
							o := &all[j]
							if j != i && o.DeletionTimestamp == nil && o.Spec.ClassName == ing.Spec.ClassName && Older(AgeOf(o), AgeOf(ing)) {
								if h := HoldingOf(o); h.Addr.IsValid() && h.Addr == mustVIP(ing.Spec.Address) {
									older = true
								}
							}
						}
						if !older {
							t.Fatalf("scenario %d pass %d: %s refused AddressInUse with no older holder of %s", scenario, pass, key(ing), ing.Spec.Address)
						}
					}
					continue
				}
				ck := ing.Spec.ClassName + "/" + addr.String()
				if other, taken := got[ck]; taken {
					for j := range all {
						t.Logf("%s class=%s created=%v spec=%q status=%q deleting=%v", key(&all[j]), all[j].Spec.ClassName, all[j].CreationTimestamp.Unix(), all[j].Spec.Address, all[j].Status.Address, all[j].DeletionTimestamp != nil)
					}
					t.Fatalf("scenario %d pass %d: %s and %s both got %s", scenario, pass, other, key(ing), addr)
				}
				got[ck] = key(ing)
				if prev, ok := given[key(ing)]; ok && prev != addr && ing.Spec.Address == "" {
					for j := range all {
						t.Logf("%s class=%s created=%v spec=%q status=%q deleting=%v", key(&all[j]), all[j].Spec.ClassName, all[j].CreationTimestamp.Unix(), all[j].Spec.Address, all[j].Status.Address, all[j].DeletionTimestamp != nil)
					}
					t.Fatalf("scenario %d pass %d: %s moved from %s to %s", scenario, pass, key(ing), prev, addr)
				}
				given[key(ing)] = addr
				// The status write the controller makes, seen by the informer (sometimes
				// not yet: the reservation must cover it).
				if rng.Intn(2) == 0 {
					ing.Status.Address = addr.String()
					x.Observe(key(ing), HoldingOf(ing))
				}
			}
			// Now and then an ingress goes away.
			if i := rng.Intn(n); rng.Intn(3) == 0 && all[i].DeletionTimestamp == nil {
				now := metav1.NewTime(base)
				all[i].DeletionTimestamp = &now
				x.Forget(key(&all[i]))
				x.Release(key(&all[i]))
				delete(given, key(&all[i]))
			}
		}
	}
	if decisions < 1000 {
		t.Fatalf("only %d decisions", decisions)
	}
}

func mustVIP(s string) netip.Addr {
	a, _ := ParseVIP(s)
	return a
}

// TestIndexForgets: a deleted ingress's address is free again; one whose address moved
// holds only the new one.
func TestIndexForgets(t *testing.T) {
	class := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.AnycastClassSpec{Pools: []string{"10.0.0.0/30"}}}
	old := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "old", CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a", Address: "10.0.0.1"}}
	young := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "young", CreationTimestamp: metav1.NewTime(time.Unix(2, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a", Address: "10.0.0.1"}}
	x := NewIndex()
	x.Observe(key(old), HoldingOf(old))
	x.Observe(key(young), HoldingOf(young))
	if _, r := x.Resolve(class, young); r == nil || r.Reason != ReasonAddressInUse {
		t.Fatalf("young while old holds 10.0.0.1: %v; want AddressInUse", r)
	}
	if h := x.Holders("a", netip.MustParseAddr("10.0.0.1")); len(h) != 2 {
		t.Fatalf("holders of 10.0.0.1: %v", h)
	}
	moved := old.DeepCopy()
	moved.Spec.Address = "10.0.0.2"
	x.Observe(key(moved), HoldingOf(moved))
	if addr, r := x.Resolve(class, young); r != nil || addr != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("young after old moved: %v %v; want 10.0.0.1", addr, r)
	}
	x.Forget(key(moved))
	x.Release(key(moved))
	free := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "free", CreationTimestamp: metav1.NewTime(time.Unix(3, 0))},
		Spec: v1alpha1.AnycastIngressSpec{ClassName: "a"}}
	x.Observe(key(free), HoldingOf(free))
	if addr, r := x.Resolve(class, free); r != nil || addr != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("after old was deleted: %v %v; want 10.0.0.2 (10.0.0.1 is young's)", addr, r)
	}
}

// TestOlder: creation time first, then namespace, then name.
func TestOlder(t *testing.T) {
	t1, t2 := metav1.NewTime(time.Unix(1, 0)), metav1.NewTime(time.Unix(2, 0))
	cases := []struct {
		a, b Age
		want bool
	}{
		{Age{t1, "z", "z"}, Age{t2, "a", "a"}, true},
		{Age{t2, "a", "a"}, Age{t1, "z", "z"}, false},
		{Age{t1, "a", "z"}, Age{t1, "b", "a"}, true},
		{Age{t1, "a", "a"}, Age{t1, "a", "b"}, true},
		{Age{t1, "a", "a"}, Age{t1, "a", "a"}, false},
	}
	for _, c := range cases {
		if got := Older(c.a, c.b); got != c.want {
			t.Errorf("Older(%v, %v) = %v", c.a, c.b, got)
		}
	}
}
