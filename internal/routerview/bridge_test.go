package routerview

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/notify"
)

type noHolders struct{}

func (noHolders) Holders(string, netip.Addr) []types.NamespacedName { return nil }

// TestPathChangesReachTheClass: a change of paths alone (no session, no counter) brings
// the class back, so it can report a path no ingress explains (a prefix nobody holds
// reaches no ingress at all).
func TestPathChangesReachTheClass(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan bgp.Change)
	classes := notify.New[notify.ClassEvent]()
	q := workqueue.NewTypedRateLimitingQueue[reconcile.Request](workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	src := classes.Source(func(_ context.Context, c notify.ClassEvent) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: string(c)}}}
	})
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	b := &Bridge{Changes: changes, Addresses: noHolders{}, Classes: classes, Ingresses: notify.New[notify.IngressEvent]()}
	go func() { _ = b.Start(ctx) }()

	changes <- bgp.Change{Class: "dc", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.155.200/32")}, ReceivedAt: time.Now()}
	got := make(chan reconcile.Request, 1)
	go func() {
		r, _ := q.Get()
		got <- r
	}()
	select {
	case r := <-got:
		if r.Name != "dc" {
			t.Fatalf("request %v, want the class dc", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a path change never reached the class")
	}
}

// TestThrottle: the first hit runs at once; hits within the interval run once, at its
// end; a hit after that runs at once again. Keys are independent.
func TestThrottle(t *testing.T) {
	var th throttle
	var mu sync.Mutex
	runs := map[string]int{}
	ran := make(chan string, 10)
	act := func(k string) func() {
		return func() {
			mu.Lock()
			runs[k]++
			mu.Unlock()
			ran <- k
		}
	}
	count := func(k string) int {
		mu.Lock()
		defer mu.Unlock()
		return runs[k]
	}
	const every = 200 * time.Millisecond
	start := time.Now()
	th.hit("a", start, every, act("a"))
	if count("a") != 1 {
		t.Fatalf("the first hit did not run at once")
	}
	<-ran
	// Within the interval (the clock is the caller's: these are right after the first).
	for range 5 {
		th.hit("a", start.Add(time.Millisecond), every, act("a"))
	}
	th.hit("b", start.Add(time.Millisecond), every, act("b"))
	if count("b") != 1 || count("a") != 1 {
		t.Fatalf("runs %v: b must run at once, a's later hits must wait", runs)
	}
	<-ran
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the hits within the interval never ran")
	}
	if count("a") != 2 {
		t.Fatalf("a ran %d times, want 2 (five hits in one interval run once)", count("a"))
	}
	th.hit("a", time.Now().Add(time.Hour), every, act("a"))
	if count("a") != 3 {
		t.Errorf("a hit long after the last run must run at once")
	}
}
