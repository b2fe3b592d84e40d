package clusters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// fakeAPIServer answers what a probe asks: /version, and the resource lists of the API
// groups the operator writes, less those removed. It counts the requests by path.
type fakeAPIServer struct {
	mu      sync.Mutex
	counts  map[string]int
	removed map[string]bool // group/version paths that answer 404 (a CRD uninstalled)
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.counts[r.URL.Path]++
	gone := f.removed[r.URL.Path]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/version" {
		_ = json.NewEncoder(w).Encode(map[string]string{"major": "1", "minor": "36", "gitVersion": "v1.36.3"})
		return
	}
	for _, api := range requiredAPIs {
		if r.URL.Path != "/apis/"+api.gv.String() || gone {
			continue
		}
		list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: api.gv.String()}
		for _, k := range api.kinds {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: strings.ToLower(k) + "s", Kind: k, Namespaced: true, Verbs: []string{"get", "list"}})
		}
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound})
}

func (f *fakeAPIServer) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[path]
}

// TestProbeAsksForTheAPIGroupsOnlyNowAndThen: a member that answers is asked for its
// version at every probe, and for the API groups the operator writes once per
// APICheckInterval only (they were four of a probe's five requests, per member, with
// nothing to do); a group that goes away is still found within that interval, and at
// once when a write asks for a probe (ProbeNow).
func TestProbeAsksForTheAPIGroupsOnlyNowAndThen(t *testing.T) {
	srv := &fakeAPIServer{counts: map[string]int{}, removed: map[string]bool{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: ts.URL, QPS: -1}) // as the registry's: not throttled
	if err != nil {
		t.Fatal(err)
	}
	r := &Remote{ProbeInterval: 20 * time.Millisecond, APICheckInterval: 500 * time.Millisecond, Log: logr.Discard()}
	c := &conn{ref: "test/kubeconfig", dc: dc, kick: make(chan struct{}, 1), health: Health{OK: true, Reason: ReasonReachable}}
	stop := startProbeLoop(r, c)

	time.Sleep(1200 * time.Millisecond)
	versions, groups := srv.count("/version"), srv.count("/apis/metallb.io/v1beta1")
	// About 60 probes in 1.2 s, of which two or three full ones (one per 500 ms).
	if versions < 20 {
		t.Fatalf("only %d probes in 1.2 s at a 20 ms interval", versions)
	}
	if groups < 1 || groups > 4 {
		t.Errorf("the API groups were asked for %d times over %d probes; want once per APICheckInterval (2 or 3 times)", groups, versions)
	}
	if h := c.getHealth(); !h.OK {
		t.Fatalf("health %+v; want OK", h)
	}

	// A CRD uninstalled: found at the next check of the groups, within the interval.
	srv.mu.Lock()
	srv.removed["/apis/metallb.io/v1beta2"] = true
	srv.mu.Unlock()
	waitHealth(t, c, time.Second, func(h Health) bool {
		return !h.OK && h.Reason == ReasonMissingCRDs && strings.Contains(h.Message, "BGPPeer")
	})
	// While it is missing, every probe asks for the groups again (the member is not OK),
	// so that its return is seen at the next probe.
	before := srv.count("/apis/metallb.io/v1beta2")
	time.Sleep(400 * time.Millisecond)
	if n := srv.count("/apis/metallb.io/v1beta2") - before; n < 5 {
		t.Errorf("a member missing CRDs had its groups asked for %d times in 400 ms (20 ms interval); want every probe", n)
	}
	stop()

	// ProbeNow (a write found the member unreachable) probes the groups too, whatever
	// the interval: with an interval of an hour, only the kick can find the change.
	srv.mu.Lock()
	delete(srv.removed, "/apis/metallb.io/v1beta2")
	srv.removed["/apis/gateway.networking.k8s.io/v1"] = true
	srv.mu.Unlock()
	r = &Remote{ProbeInterval: 20 * time.Millisecond, APICheckInterval: time.Hour, Log: logr.Discard()}
	c = &conn{ref: "test/kubeconfig", dc: dc, kick: make(chan struct{}, 1), health: Health{OK: true, Reason: ReasonReachable}}
	defer startProbeLoop(r, c)()
	time.Sleep(200 * time.Millisecond)
	if h := c.getHealth(); !h.OK {
		t.Fatalf("the groups were asked for although the interval is an hour: %+v", h)
	}
	c.probeNow()
	waitHealth(t, c, time.Second, func(h Health) bool {
		return !h.OK && h.Reason == ReasonMissingCRDs && strings.Contains(h.Message, "Gateway API")
	})
}

// startProbeLoop runs r's probe loop for c until the returned stop is called.
func startProbeLoop(r *Remote, c *conn) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.probeLoop(ctx, c) }()
	return func() { cancel(); <-done }
}

func waitHealth(t *testing.T, c *conn, timeout time.Duration, ok func(Health) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok(c.getHealth()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("health still %+v after %s", c.getHealth(), timeout)
}
