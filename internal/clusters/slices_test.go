package clusters_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.StartBare("clusters"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// slice makes an EndpointSlice of service in ns with one endpoint of the given readiness.
func slice(t *testing.T, ns, service string, ready bool) *discoveryv1.EndpointSlice {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: service + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.1.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}, NodeName: ptr.To("n1")}},
	}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func setReady(t *testing.T, s *discoveryv1.EndpointSlice, ready bool) {
	t.Helper()
	live := &discoveryv1.EndpointSlice{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, live); err != nil {
		t.Fatal(err)
	}
	live.Endpoints[0].Conditions.Ready = ptr.To(ready)
	if err := env.Client.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
}

// TestSlicesCacheOnlyNamespacesInUse: EndpointSlices are cached only in the namespaces
// read (an unrelated namespace's never are); the first read of a namespace waits for its
// sync, so it sees what is there (the health gate never judges an empty cache); a watch
// engaged before that namespace was first read gets its changes, and none of a namespace
// not in use; a list that names no namespace is refused; a namespace no longer needed is
// let go after its idle time, and read again later it starts anew.
func TestSlicesCacheOnlyNamespacesInUse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	used := slice(t, "slices-used", "web", true)
	other := slice(t, "slices-unrelated", "batch", true)

	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(env.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	needed := map[string]bool{"slices-used": true}
	s := &clusters.Slices{Config: env.Config, HTTPClient: hc, Mapper: mapper, Scheme: env.Scheme,
		Needed: func(context.Context) (map[string]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return map[string]bool{"slices-used": needed["slices-used"]}, nil
		},
		Every: 50 * time.Millisecond, IdleAfter: 200 * time.Millisecond}
	go func() { _ = s.Start(ctx) }()

	// A watch engaged before any namespace is read.
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	w := clusters.Watch{Object: &discoveryv1.EndpointSlice{}, Map: func(_ context.Context, _ clusters.Source, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}}
	}}
	if err := s.Source(w, clusters.Source{}).Start(ctx, q); err != nil {
		t.Fatal(err)
	}

	r := s.Reader(env.Client)
	eps, err := clusters.ServiceEndpoints(ctx, r, "slices-used", "web")
	if err != nil || len(eps) != 1 || !eps[0].Ready || eps[0].Node != "n1" {
		t.Fatalf("the first read of a namespace: %+v, %v; want the one ready endpoint on n1", eps, err)
	}
	if got := s.Namespaces(); len(got) != 1 || got[0] != "slices-used" {
		t.Errorf("cached namespaces %v, want only slices-used", got)
	}
	if err := r.List(ctx, &discoveryv1.EndpointSliceList{}); err == nil {
		t.Error("a list of EndpointSlices in every namespace was not refused")
	}

	// Events: the namespace in use, not the unrelated one.
	drain := func() map[string]bool {
		seen := map[string]bool{}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if q.Len() == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			item, _ := q.Get()
			seen[item.Namespace] = true
			q.Done(item)
			q.Forget(item)
		}
		return seen
	}
	drain() // the initial adds
	setReady(t, used, false)
	setReady(t, other, false)
	if seen := drain(); !seen["slices-used"] || seen["slices-unrelated"] {
		t.Errorf("events seen from %v; want slices-used only", seen)
	}
	eps, err = clusters.ServiceEndpoints(ctx, r, "slices-used", "web")
	if err != nil || len(eps) != 1 || eps[0].Ready {
		t.Errorf("after the endpoint went unready the cache says %+v, %v", eps, err)
	}

	// Still needed: kept however long nothing reads it.
	time.Sleep(500 * time.Millisecond)
	if got := s.Namespaces(); len(got) != 1 {
		t.Fatalf("a namespace still in use was let go: cached %v", got)
	}
	// No longer needed: let go once idle.
	mu.Lock()
	needed["slices-used"] = false
	mu.Unlock()
	testenv.Eventually(t, "the namespace no longer in use let go", 5*time.Second, func() error {
		if got := s.Namespaces(); len(got) != 0 {
			return fmt.Errorf("still cached: %v", got)
		}
		return nil
	})
	setReady(t, used, true)
	eps, err = clusters.ServiceEndpoints(ctx, r, "slices-used", "web")
	if err != nil || len(eps) != 1 || !eps[0].Ready {
		t.Errorf("read again after it was let go: %+v, %v; want the endpoint ready again", eps, err)
	}
}
