package schema_test

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const validClass = `
apiVersion: anycast.dev/v1alpha1
kind: AnycastClass
metadata: {name: CASE}
spec:
  pools: ["192.168.155.0/24", "2001:db8:155::/64"]
  gatewayClassName: envoy
  clusters:
  - name: west
    asn: 65001
    interconnect: hub
    peers:
    - {name: tor, address: 10.0.63.254, asn: 64001, holdTime: 9s, keepaliveTime: 3s}
  - name: east
    asn: 65002
    kubeconfigSecretRef: {name: east-kubeconfig}
    peers:
    - {name: tor, address: 10.1.63.254, asn: 64002}
  watcher:
    asn: 64999
    routerID: 192.168.8.99
    sessions:
    - {name: core, address: 192.168.8.100, asn: 64666}
`

const validIngress = `
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: CASE, namespace: validation}
spec:
  className: datacenter
  address: 192.168.155.151
  clusters: [west, east]
  listeners:
  - {name: http, port: 80}
  routes:
  - {name: r, listener: http, backend: {service: s, port: 8080}}
`

// mutate applies a JSON-merge-style change given as YAML to a parsed object.
func object(t *testing.T, base, name, change string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(base, "CASE", name)), &u.Object); err != nil {
		t.Fatal(err)
	}
	if change != "" {
		var patch map[string]interface{}
		if err := yaml.Unmarshal([]byte(change), &patch); err != nil {
			t.Fatalf("bad change %q: %v", change, err)
		}
		merge(u.Object, patch)
	}
	return u
}

// merge overlays patch on dst like a JSON merge patch (null deletes).
func merge(dst, patch map[string]interface{}) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, pm)
				continue
			}
		}
		dst[k] = v
	}
}

// TestValidationRejects creates invalid objects and requires the API server to refuse each
// one with a message that names the offending field.
func TestValidationRejects(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, ctx, "validation")
	cases := []struct {
		name, base, change string
		want               []string // substrings of the error: the field path and the reason
	}{
		{"pool-not-cidr", validClass, `spec: {pools: ["192.168.155.0"]}`, []string{"spec.pools", "CIDR"}},
		{"pool-host-bits", validClass, `spec: {pools: ["192.168.155.1/24"]}`, []string{"spec.pools", "host bits"}},
		{"no-pools", validClass, `spec: {pools: []}`, []string{"spec.pools"}},
		{"asn-zero", validClass, `spec: {clusters: [{name: west, asn: 0}]}`, []string{"spec.clusters[0].asn"}},
		{"asn-too-big", validClass, `spec: {clusters: [{name: west, asn: 4294967296}]}`, []string{"spec.clusters[0].asn"}},
		{"duplicate-cluster", validClass, `spec: {clusters: [{name: west, asn: 65001}, {name: west, asn: 65002, kubeconfigSecretRef: {name: k}}]}`, []string{"spec.clusters[1]", "Duplicate value"}},
		{"duplicate-peer", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1}, {name: tor, address: 10.0.0.2, asn: 1}]}]}`, []string{"spec.clusters[0].peers[1]", "Duplicate value"}},
		{"peer-address", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: tor.example.com, asn: 1}]}]}`, []string{"spec.clusters[0].peers[0].address", "IPv4 or IPv6"}},
		{"peer-port", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, port: 70000}]}]}`, []string{"spec.clusters[0].peers[0].port"}},
		{"peer-port-above-metallb", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, port: 16385}]}]}`, []string{"spec.clusters[0].peers[0].port", "16384"}},
		{"connect-time-fraction", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, connectTime: 1500ms}]}]}`, []string{"spec.clusters[0].peers[0].connectTime", "whole number of seconds"}},
		{"hold-time-too-short", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, holdTime: 2s}]}]}`, []string{"spec.clusters[0].peers[0].holdTime", "3s"}},
		{"hold-time-not-duration", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, holdTime: nine}]}]}`, []string{"spec.clusters[0].peers[0].holdTime"}},
		{"keepalive-over-hold", validClass, `spec: {clusters: [{name: west, asn: 65001, peers: [{name: tor, address: 10.0.0.1, asn: 1, holdTime: 9s, keepaliveTime: 10s}]}]}`, []string{"spec.clusters[0].peers[0]", "keepaliveTime must be lower than holdTime"}},
		{"two-hubs", validClass, `spec: {clusters: [{name: west, asn: 65001, interconnect: hub}, {name: east, asn: 65002, interconnect: hub, kubeconfigSecretRef: {name: k}}]}`, []string{"spec.clusters", "at most one cluster may be the interconnect hub"}},
		{"no-hub", validClass, `spec: {clusters: [{name: west, asn: 65001}, {name: east, asn: 65002, kubeconfigSecretRef: {name: k}}]}`, []string{"spec.clusters", "exactly one cluster with interconnect: hub"}},
		{"two-local", validClass, `spec: {clusters: [{name: west, asn: 65001, interconnect: hub}, {name: east, asn: 65002}]}`, []string{"spec.clusters", "kubeconfigSecretRef"}},
		{"same-asn", validClass, `spec: {clusters: [{name: west, asn: 65001, interconnect: hub}, {name: east, asn: 65001, kubeconfigSecretRef: {name: k}}]}`, []string{"spec.clusters", "ASNs must be distinct"}},
		{"bad-mode", validClass, `spec: {clusters: [{name: west, asn: 65001, metallbMode: gobgp}]}`, []string{"spec.clusters[0].metallbMode", "Unsupported value"}},
		{"router-access-on-spoke", validClass, `spec: {clusters: [{name: west, asn: 65001, interconnect: hub}, {name: east, asn: 65002, kubeconfigSecretRef: {name: k}, routerAccess: {type: route}}]}`, []string{"spec.clusters[1]", "routerAccess is only used on the hub"}},
		{"gateway-class-both", validClass, `spec: {gatewayClass: {controllerName: example.com/gw}}`, []string{"spec", "exactly one of gatewayClassName and gatewayClass"}},
		{"gateway-class-none", validClass, `spec: {gatewayClassName: null}`, []string{"spec", "exactly one of gatewayClassName and gatewayClass"}},
		{"selector-missing", validClass, `spec: {allowedNamespaces: {from: Selector}}`, []string{"spec.allowedNamespaces", "selector is required"}},
		{"watcher-router-id-v6", validClass, `spec: {watcher: {asn: 64999, routerID: "2001:db8::1", sessions: [{name: core, address: 192.168.8.100, asn: 64666}]}}`, []string{"spec.watcher.routerID", "IPv4"}},
		{"watcher-multihop", validClass, `spec: {watcher: {asn: 64999, routerID: 192.168.8.99, sessions: [{name: core, address: 192.168.8.100, asn: 64666, multihop: 256}]}}`, []string{"spec.watcher.sessions[0].multihop"}},
		{"receive-filtered-without-prefixes", validClass, `spec: {receive: {mode: Filtered}}`, []string{"spec.receive", "mode Filtered needs prefixes"}},
		{"receive-all-with-prefixes", validClass, `spec: {receive: {mode: All, prefixes: [{prefix: 10.20.0.0/16}]}}`, []string{"spec.receive", "prefixes are only used with mode Filtered"}},
		{"receive-prefix-not-cidr", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0}]}}`, []string{"spec.receive.prefixes[0].prefix", "CIDR"}},
		{"receive-prefix-host-bits", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.1/16}]}}`, []string{"spec.receive.prefixes[0].prefix", "host bits"}},
		{"receive-le-beyond-ipv4", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, le: 33}]}}`, []string{"spec.receive.prefixes[0]", "le must not exceed the address family's length"}},
		{"receive-ge-beyond-ipv4", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, ge: 40}]}}`, []string{"spec.receive.prefixes[0]", "ge must not exceed the address family's length"}},
		{"receive-le-beyond-ipv6", validClass, `spec: {receive: {prefixes: [{prefix: "2001:db8::/32", le: 129}]}}`, []string{"spec.receive.prefixes[0].le"}},
		{"receive-le-shorter-than-prefix", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, le: 8}]}}`, []string{"spec.receive.prefixes[0]", "le must be at least the prefix's length"}},
		{"receive-ge-not-longer", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, ge: 16}]}}`, []string{"spec.receive.prefixes[0]", "ge must be longer than the prefix's length"}},
		{"receive-ge-above-le", validClass, `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, ge: 28, le: 24}]}}`, []string{"spec.receive.prefixes[0]", "ge must not exceed le"}},
		{"member-receive-bad-mode", validClass, `spec: {clusters: [{name: west, asn: 65001, receive: {mode: Some}}]}`, []string{"spec.clusters[0].receive.mode", "Unsupported value"}},
		{"class-name-not-label", validClass, `metadata: {name: data.center}`, []string{"metadata.name must be a DNS label"}},
		{"address-not-ip", validIngress, `spec: {address: 192.168.155.999}`, []string{"spec.address", "IPv4 or IPv6"}},
		{"address-not-canonical", validIngress, `spec: {address: "2001:0db8::0001"}`, []string{"spec.address", "canonical"}},
		{"drain-unknown", validIngress, `spec: {drain: [north]}`, []string{"spec", "drain may only name clusters listed in clusters"}},
		{"drain-all", validIngress, `spec: {drain: [west, east]}`, []string{"spec", "drain cannot name every selected cluster"}},
		{"route-listener-unknown", validIngress, `spec: {routes: [{name: r, listener: https, backend: {service: s, port: 80}}]}`, []string{"spec", "a route's listener must name one of spec.listeners"}},
		{"listener-port", validIngress, `spec: {listeners: [{name: http, port: 0}]}`, []string{"spec.listeners[0].port"}},
		{"https-without-tls", validIngress, `spec: {listeners: [{name: https, protocol: HTTPS, port: 443}], routes: null}`, []string{"spec.listeners[0]", "HTTPS listener needs tls"}},
		{"listeners-clash", validIngress, `spec: {listeners: [{name: a, port: 80}, {name: b, port: 80}], routes: null}`, []string{"spec", "two listeners cannot share a port and hostname"}},
		{"bad-community", validIngress, `spec: {advertisement: {communities: ["70000:1"]}}`, []string{"spec.advertisement.communities[0]", "0..65535"}},
		{"bad-large-community", validIngress, `spec: {advertisement: {communities: ["large:1:2"]}}`, []string{"spec.advertisement.communities[0]"}},
		{"local-pref", validIngress, `spec: {advertisement: {localPref: -1}}`, []string{"spec.advertisement.localPref"}},
		{"local-pref-above-int32", validIngress, `spec: {advertisement: {localPref: 2147483648}}`, []string{"spec.advertisement.localPref", "2147483647"}},
		{"runs-on-unknown", validIngress, `spec: {services: [{name: b, port: 80, selector: app=b, runsOn: [north]}]}`, []string{"spec", "runsOn may only name clusters listed in clusters"}},
		{"duplicate-route", validIngress, `spec: {routes: [{name: r, backend: {service: s, port: 1}}, {name: r, backend: {service: t, port: 1}}]}`, []string{"spec.routes[1]", "Duplicate value"}},
		{"no-class", validIngress, `spec: {className: ""}`, []string{"spec.className"}},
		{"ingress-name-too-long", validIngress, `metadata: {name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}`, []string{"metadata.name must be a DNS label"}},
	}
	if len(cases) < 15 {
		t.Fatalf("the issue asks for at least 15 invalid objects, have %d", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, tc.base, "v-"+tc.name, tc.change)
			err := env.Client.Create(ctx, obj)
			if err == nil {
				_ = env.Client.Delete(ctx, obj)
				t.Fatalf("the API server accepted an invalid %s", obj.GetKind())
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
}

// TestValidObjectsAccepted: the base objects of the table and the samples shipped in
// config/samples are accepted, and CRD defaults fill what they leave out.
func TestValidObjectsAccepted(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, ctx, "validation")
	for _, obj := range []*unstructured.Unstructured{
		object(t, validClass, "valid-class", ""),
		object(t, validIngress, "valid-ingress", ""),
		// The bounds of receive prefixes are inclusive where FRR's are: le up to the
		// family's length, ge from one longer than the prefix.
		object(t, validClass, "valid-receive", `spec: {receive: {prefixes: [{prefix: 10.20.0.0/16, ge: 17, le: 32}, {prefix: 10.30.0.0/16, le: 16}, {prefix: "2001:db8::/32", ge: 48, le: 128}]}}`),
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("valid %s rejected: %v", obj.GetKind(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })
	}

	cls := &unstructured.Unstructured{}
	cls.SetAPIVersion("anycast.dev/v1alpha1")
	cls.SetKind("AnycastClass")
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "valid-class"}, cls); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"metallbNamespace": "metallb-system",
	} {
		if got, _, _ := unstructured.NestedString(cls.Object, "spec", path); got != want {
			t.Errorf("default spec.%s = %q, want %q", path, got, want)
		}
	}
	clusters, _, _ := unstructured.NestedSlice(cls.Object, "spec", "clusters")
	east := clusters[1].(map[string]interface{})
	if east["interconnect"] != "spoke" || east["metallbMode"] != "frr-k8s" {
		t.Errorf("cluster defaults not applied: %v", east)
	}

	for _, f := range []string{"../../config/samples/anycast_v1alpha1_anycastclass.yaml", "../../config/samples/anycast_v1alpha1_anycastingress.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if ns := obj.GetNamespace(); ns != "" {
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Errorf("sample %s rejected: %v", f, err)
			continue
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })
	}
}

// TestClassNameImmutable: moving an ingress to another class is refused.
func TestClassNameImmutable(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, ctx, "validation")
	obj := object(t, validIngress, "immutable", "")
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, obj) })
	_ = unstructured.SetNestedField(obj.Object, "other", "spec", "className")
	err := env.Client.Update(ctx, obj)
	if err == nil || !strings.Contains(err.Error(), "className is immutable") {
		t.Fatalf("want className is immutable, got %v", err)
	}
}
