package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/anycast-operator/anycast-operator/internal/notify"
)

func req(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
}

// TestRefreshesWaitBehindNewWork: a class's refresh (every ingress of the class, as when
// a member stops answering) is queued at low priority, so an ingress created after it is
// handed to a worker first; a single ingress's event keeps the normal priority.
func TestRefreshesWaitBehindNewWork(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := priorityqueue.New[reconcile.Request]("notify-test")
	defer q.ShutDown()

	n := notify.New[notify.IngressEvent]()
	src := n.SourceWithPriority(func(_ context.Context, e notify.IngressEvent) []reconcile.Request {
		if e.Class == "" {
			return []reconcile.Request{{NamespacedName: e.Ingress}}
		}
		var out []reconcile.Request
		for i := range 100 {
			out = append(out, req(fmt.Sprintf("old-%03d", i)))
		}
		return out
	}, func(e notify.IngressEvent) bool { return e.Class != "" })
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}

	n.Notify(notify.ClassIngresses("c"))
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if q.Len() != 100 {
		t.Fatalf("the class's refresh queued %d requests, want 100", q.Len())
	}
	// A new ingress (as the controller's own watch queues it) and one ingress's event.
	q.Add(req("new"))
	n.Notify(notify.Ingress(types.NamespacedName{Namespace: "ns", Name: "watched"}))
	for q.Len() < 102 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]bool{}
	for range 2 {
		item, _ := q.Get()
		got[item.Name] = true
		q.Done(item)
	}
	if !got["new"] || !got["watched"] {
		t.Errorf("the first two handed out were %v; want the new ingress and the single ingress's event before the class's 100 refreshes", got)
	}
}
