package schema_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// bmpOnly replaces the base class's watcher with a BMP collector alone.
const bmpOnly = `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: tor-west, address: 10.0.63.254}]}}}`

// TestBMPValidation: the watcher's BMP collector (spec.watcher.bmp) as the API server
// checks it: a BMP-only watcher needs no asn or routerID (sessions do), routers need their
// own names and addresses (a connection is matched by source address; a path names a router
// or a session), and limits and ports stay in range. Defaults fill what is left out.
func TestBMPValidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, change string
		want         []string
	}{
		{"empty-watcher", `spec: {watcher: {asn: null, routerID: null, sessions: null}}`, []string{"spec.watcher", "the watcher needs sessions, bmp or both"}},
		{"sessions-without-asn", `spec: {watcher: {asn: null}}`, []string{"spec.watcher", "asn and routerID are required with sessions"}},
		{"router-named-like-session", `spec: {watcher: {bmp: {routers: [{name: core, address: 10.0.63.254}]}}}`, []string{"spec.watcher", "a BMP router cannot have a session's name"}},
		{"router-address-twice", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: a, address: "2001:db8::1"}, {name: b, address: "2001:db8:0::1"}]}}}`, []string{"spec.watcher.bmp.routers", "each router needs its own address"}},
		{"router-name-twice", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: a, address: 10.0.0.1}, {name: a, address: 10.0.0.2}]}}}`, []string{"spec.watcher.bmp.routers[1]", "Duplicate value"}},
		{"router-address-not-ip", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: a, address: tor-west.example}]}}}`, []string{"spec.watcher.bmp.routers[0].address", "IPv4 or IPv6"}},
		{"no-routers", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: []}}}`, []string{"spec.watcher.bmp.routers"}},
		{"listen-not-ip", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {listenAddress: any, routers: [{name: a, address: 10.0.0.1}]}}}`, []string{"spec.watcher.bmp.listenAddress"}},
		{"port-zero", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {port: 0, routers: [{name: a, address: 10.0.0.1}]}}}`, []string{"spec.watcher.bmp.port"}},
		{"max-prefixes-zero", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: a, address: 10.0.0.1, maxPrefixes: 0}]}}}`, []string{"spec.watcher.bmp.routers[0].maxPrefixes"}},
		{"max-peers-above-1024", `spec: {watcher: {asn: null, routerID: null, sessions: null, bmp: {routers: [{name: a, address: 10.0.0.1, maxPeers: 1025}]}}}`, []string{"spec.watcher.bmp.routers[0].maxPeers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, validClass, "bmp-"+tc.name, tc.change)
			err := env.Client.Create(ctx, obj)
			if err == nil {
				_ = env.Client.Delete(ctx, obj)
				t.Fatalf("the API server accepted an invalid class")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}

	// Valid: BMP alone, and BMP beside sessions; defaults applied.
	for name, change := range map[string]string{
		"bmp-only":         bmpOnly,
		"bmp-and-sessions": `spec: {watcher: {bmp: {listenAddress: "::", port: 1790, routers: [{name: tor-west, address: 10.0.63.254, maxPrefixes: 100, maxPeers: 4}]}}}`,
	} {
		obj := object(t, validClass, name, change)
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s rejected: %v", name, err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })
	}
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("anycast.dev/v1alpha1")
	got.SetKind("AnycastClass")
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bmp-only"}, got); err != nil {
		t.Fatal(err)
	}
	port, _, _ := unstructured.NestedInt64(got.Object, "spec", "watcher", "bmp", "port")
	routers, _, _ := unstructured.NestedSlice(got.Object, "spec", "watcher", "bmp", "routers")
	r := routers[0].(map[string]interface{})
	if port != 11019 || r["maxPrefixes"] != int64(10000) || r["maxPeers"] != int64(64) {
		t.Errorf("defaults not applied: port %d, router %v", port, r)
	}
}
