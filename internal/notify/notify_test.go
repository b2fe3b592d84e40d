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
	}, notify.IngressEvent.IsRefresh)
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
	// A new ingress (as the controller's own watch queues it), one ingress's event, and
	// one ingress's report (a refresh too).
	n.Notify(notify.IngressRefresh(types.NamespacedName{Namespace: "ns", Name: "report"}))
	q.Add(req("new"))
	n.Notify(notify.Ingress(types.NamespacedName{Namespace: "ns", Name: "watched"}))
	for q.Len() < 103 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]bool{}
	for range 2 {
		item, _ := q.Get()
		got[item.Name] = true
		q.Done(item)
	}
	if !got["new"] || !got["watched"] {
		t.Errorf("the first two handed out were %v; want the new ingress and the single ingress's event before the class's 100 refreshes and the report", got)
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

// TestRefreshGateQueuesWaitingRefreshesItself: a refresh turned back is queued again by
// the gate, at the refresh priority, when it may go in: when the new work that held it
// ends, or, while new work goes on, once MaxDelay has passed since the last refresh. Here
// nothing else queues it (a reconcile would also ask for a late retry, a safety net).
func TestRefreshGateQueuesWaitingRefreshesItself(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxDelay time.Duration
		// endWork ends the new work once the refresh is parked.
		endWork bool
	}{
		{"the new work ends", time.Hour, true},
		{"MaxDelay passes under new work", 100 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &notify.RefreshGate{MaxDelay: tc.maxDelay}
			q := g.NewQueue("gate-test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]()).(priorityqueue.PriorityQueue[reconcile.Request])
			defer q.ShutDown()
			type handed struct {
				req      reconcile.Request
				priority int
			}
			out := make(chan handed, 10)
			go func() {
				for {
					item, p, shutdown := q.GetWithPriority()
					if shutdown {
						return
					}
					out <- handed{item, p}
				}
			}()
			next := func(what string) handed {
				t.Helper()
				select {
				case h := <-out:
					return h
				case <-time.After(10 * time.Second):
					t.Fatalf("the queue handed nothing out: %s", what)
				}
				return handed{}
			}
			q.Add(req("new"))
			work, ok := g.Enter(next("new work").req)
			if !ok {
				t.Fatal("new work was held back")
			}
			q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(notify.RefreshPriority)}, req("r1"), req("r2"))
			first := next("first refresh")
			done, ok := g.Enter(first.req)
			if !ok {
				t.Fatal("the first refresh was turned back (none ran for long)")
			}
			second := next("second refresh")
			if _, ok := g.Enter(second.req); ok {
				t.Fatal("a second refresh went in beside the first")
			}
			q.Done(second.req)
			done()
			q.Done(first.req)
			if tc.endWork {
				select {
				case h := <-out:
					t.Fatalf("%s was queued again while new work ran, within MaxDelay", h.req.Name)
				case <-time.After(100 * time.Millisecond):
				}
				work()
			}
			h := next("the parked refresh, queued again by the gate")
			if h.req != second.req || h.priority != notify.RefreshPriority {
				t.Fatalf("handed out %s at priority %d, want %s at the refresh priority", h.req.Name, h.priority, second.req.Name)
			}
			release, ok := g.Enter(h.req)
			if !ok {
				t.Fatalf("%s, queued again by the gate, was turned back", h.req.Name)
			}
			release()
			q.Done(h.req)
			if !tc.endWork {
				work()
			}
		})
	}
}

func keys(m map[string]func()) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
