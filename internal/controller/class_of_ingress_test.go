package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/lookup"
)

// TestClassOfIngressSettles: a hundred ingresses of one class created at once, with the
// controller's own queue, hand the class one request, a moment later, not a hundred; an
// ingress moved to another class brings both classes.
func TestClassOfIngressSettles(t *testing.T) {
	ctx := context.Background()
	q := priorityqueue.New[reconcile.Request]("class-of-ingress-test")
	defer q.ShutDown()
	const settle = 300 * time.Millisecond
	h := classOfIngress(settle)
	ing := func(name, class string) *v1alpha1.AnycastIngress {
		return &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: v1alpha1.AnycastIngressSpec{ClassName: class}}
	}

	start := time.Now()
	for i := range 100 {
		h.Create(ctx, event.CreateEvent{Object: ing(fmt.Sprintf("i%03d", i), "a")}, q)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("%d requests ready at once after the creates; want none before the class settles", n)
	}
	item, _ := q.Get() // blocks until the request is ready
	if waited := time.Since(start); waited < settle*8/10 {
		t.Errorf("the class was handed out %s after the creates; want about %s", waited, settle)
	}
	if item != lookup.ClassRequest("a") {
		t.Errorf("handed out %v; want class a", item)
	}
	q.Done(item)
	time.Sleep(settle + 100*time.Millisecond)
	if n := q.Len(); n != 0 {
		t.Errorf("%d more requests after the first; want the hundred creates to make one", n)
	}

	// A delete and an update (the class name of either side) are handed out too.
	h.Update(ctx, event.UpdateEvent{ObjectOld: ing("x", "a"), ObjectNew: ing("x", "b")}, q)
	h.Delete(ctx, event.DeleteEvent{Object: ing("y", "c")}, q)
	got := map[reconcile.Request]bool{}
	for range 3 {
		item, _ := q.Get()
		got[item] = true
		q.Done(item)
	}
	for _, c := range []string{"a", "b", "c"} {
		if !got[lookup.ClassRequest(c)] {
			t.Errorf("class %s not handed out after the update and the delete (got %v)", c, got)
		}
	}
}
