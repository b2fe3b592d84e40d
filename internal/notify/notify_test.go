package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
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

// TestRefreshGateHoldsBackRefreshesOnly: with the gate full, a refresh handed out by the
// queue is turned back, while new work, a request a real event raised above the refresh
// priority, and controller-runtime's own low priority (a start's first list) go through;
// a released slot lets the next refresh in once no new work runs, or once MaxDelay has
// passed since the last refresh went in.
func TestRefreshGateHoldsBackRefreshesOnly(t *testing.T) {
	now := time.Unix(1000, 0)
	g := &notify.RefreshGate{MaxDelay: time.Second, Now: func() time.Time { return now }}
	q := g.NewQueue("gate-test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]()).(priorityqueue.PriorityQueue[reconcile.Request])
	defer q.ShutDown()
	refresh := ptr.To(notify.RefreshPriority)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: refresh}, req("r1"), req("r2"), req("raised"))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req("listed"))
	q.Add(req("raised")) // a real event for a queued refresh
	q.Add(req("new"))

	got := map[string]func(){}
	turnedBack := map[string]bool{}
	for range 5 {
		item, _, _ := q.GetWithPriority()
		release, ok := g.Enter(item)
		if ok {
			got[item.Name] = release
		} else {
			turnedBack[item.Name] = true
		}
	}
	for _, name := range []string{"new", "raised", "listed"} {
		if got[name] == nil {
			t.Errorf("%s was held back by the gate", name)
		}
	}
	// The first refresh goes in although new work runs: none went in for long.
	if len(turnedBack) != 1 || (got["r1"] == nil) == (got["r2"] == nil) {
		t.Fatalf("one of r1, r2 should run and the other be turned back: ran %v, turned back %v", keys(got), turnedBack)
	}
	first, second := "r1", "r2"
	if got["r1"] == nil {
		first, second = "r2", "r1"
	}
	got[first]()
	q.Done(req(first))
	q.Done(req(second))

	// The slot is free, but new work runs and a refresh went in just now: wait.
	enter := func() (func(), bool) {
		q.AddWithOpts(priorityqueue.AddOpts{Priority: refresh}, req(second))
		item, _, _ := q.GetWithPriority()
		defer q.Done(item)
		return g.Enter(item)
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := enter(); ok {
		t.Fatalf("%s went in while new work ran, half a second after the last refresh", second)
	}
	// MaxDelay after the last refresh, it goes in even so.
	now = now.Add(500 * time.Millisecond)
	release, ok := enter()
	if !ok {
		t.Fatalf("%s was still turned back MaxDelay after the last refresh", second)
	}
	release()
	// With the new work done, a refresh goes in at once.
	now = now.Add(time.Millisecond)
	if _, ok := enter(); ok {
		t.Fatalf("%s went in while new work ran, a millisecond after the last refresh", second)
	}
	for _, name := range []string{"new", "raised", "listed"} {
		got[name]()
	}
	release, ok = enter()
	if !ok {
		t.Fatalf("%s was turned back with no new work running and the slot free", second)
	}
	release()
}

func keys(m map[string]func()) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
