package apicount

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		method, url string
		want        Request
	}{
		{"GET", "/api/v1/namespaces/anycast-system/secrets/east", Request{Verb: "get", Resource: "secrets", Namespace: "anycast-system", Name: "east"}},
		{"GET", "/api/v1/namespaces?labelSelector=x", Request{Verb: "list", Resource: "namespaces"}},
		{"POST", "/api/v1/namespaces", Request{Verb: "create", Resource: "namespaces"}},
		{"GET", "/api/v1/namespaces/hello", Request{Verb: "get", Resource: "namespaces", Name: "hello"}},
		{"GET", "/apis/anycast.dev/v1alpha1/anycastingresses?watch=true", Request{Verb: "watch", Group: "anycast.dev", Resource: "anycastingresses"}},
		{"GET", "/apis/anycast.dev/v1alpha1/anycastingresses?watch=1&sendInitialEvents=true", Request{Verb: "watch", Group: "anycast.dev", Resource: "anycastingresses", InitialEvents: true}},
		{"PATCH", "/apis/anycast.dev/v1alpha1/namespaces/a/anycastingresses/x/status", Request{Verb: "patch", Group: "anycast.dev", Resource: "anycastingresses", Namespace: "a", Name: "x", Subresource: "status"}},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/anycast-system/leases/l", Request{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "anycast-system", Name: "l"}},
		{"DELETE", "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/p", Request{Verb: "delete", Group: "metallb.io", Resource: "ipaddresspools", Namespace: "metallb-system", Name: "p"}},
		{"GET", "/apis/metallb.io/v1beta1", Request{Verb: "get", Resource: "/apis/metallb.io/v1beta1"}},
	} {
		got := Parse("hub", httptest.NewRequest(tc.method, tc.url, nil))
		tc.want.Cluster = "hub"
		if got != tc.want {
			t.Errorf("%s %s: got %+v, want %+v", tc.method, tc.url, got, tc.want)
		}
	}
}

type ok struct{}

func (ok) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200}, nil
}

func TestCounterAndBlock(t *testing.T) {
	var c Counter
	rt := c.Wrap("east", ok{})
	for _, m := range []string{"GET", "PATCH", "PATCH"} {
		if _, err := rt.RoundTrip(httptest.NewRequest(m, "/apis/anycast.dev/v1alpha1/namespaces/a/anycastingresses/x/status", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Total() != 3 || c.Writes() != 2 || c.PerObject(Request.Write)["a/x"] != 2 {
		t.Fatalf("counts %d %d %v", c.Total(), c.Writes(), c.PerObject(Request.Write))
	}
	c.Block("east", true)
	if _, err := rt.RoundTrip(httptest.NewRequest("GET", "/api/v1/namespaces", nil)); err == nil {
		t.Fatal("a blocked request passed")
	}
	c.Block("east", false)
	c.Reset()
	if c.Total() != 0 || len(c.Breakdown(Request.String)) != 0 {
		t.Fatal("reset")
	}
}
