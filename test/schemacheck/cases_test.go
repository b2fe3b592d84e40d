package schemacheck_test

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// A valid object of each family the operator writes or reads, and invalid variants whose
// refusal comes from each layer of validation: OpenAPI (types, required, enum, pattern,
// bounds, formats), list types, ObjectMeta, and CEL rules. Each invalid case names the
// field paths the API server reports.

const ingressYAML = `
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: hello, namespace: hello-world}
spec:
  className: datacenter
  address: 192.168.155.151
  clusters: [west, east]
  listeners:
  - {name: http, port: 80}
  routes:
  - {name: r, listener: http, backend: {service: s, port: 8080}}
`

const classYAML = `
apiVersion: anycast.dev/v1alpha1
kind: AnycastClass
metadata: {name: datacenter}
spec:
  pools: ["192.168.155.0/24"]
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
`

const bgpPeerYAML = `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: datacenter-tor, namespace: metallb-system}
spec: {myASN: 65001, peerASN: 64001, peerAddress: 10.0.63.254}
`

const poolYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: hello-world.hello, namespace: metallb-system}
spec:
  addresses: [192.168.155.151/32]
  autoAssign: false
  serviceAllocation: {namespaces: [hello-world]}
`

const advertisementYAML = `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: hello-world.hello, namespace: metallb-system}
spec:
  ipAddressPools: [hello-world.hello]
  peers: [datacenter-tor]
  communities: ["64512:1"]
  localPref: 100
`

const gatewayYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: hello, namespace: hello-world}
spec:
  gatewayClassName: envoy
  addresses: [{type: IPAddress, value: 192.168.155.151}]
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.apps.example.com"}
`

const routeYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hello.backend, namespace: hello-world}
spec:
  parentRefs: [{name: hello}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: backend, port: 8080}]
`

const siteYAML = `
apiVersion: skupper.io/v2alpha1
kind: Site
metadata: {name: west, namespace: hello-world}
spec: {linkAccess: default}
`

const listenerYAML = `
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata: {name: backend, namespace: hello-world}
spec: {routingKey: hello-world.backend, host: backend, port: 8080}
`

type testCase struct {
	name, base, change string
	// paths are the field paths of the expected errors; empty means valid.
	paths []string
	// offlineOnly cases cannot be sent as a request as they are (an object without a
	// namespace is posted to its URL's namespace).
	offlineOnly bool
}

var cases = []testCase{
	// Valid objects of every family.
	{name: "ingress", base: ingressYAML},
	{name: "class", base: classYAML},
	{name: "bgppeer", base: bgpPeerYAML},
	{name: "ipaddresspool", base: poolYAML},
	{name: "bgpadvertisement", base: advertisementYAML},
	{name: "gateway", base: gatewayYAML},
	{name: "httproute", base: routeYAML},
	{name: "skupper-site", base: siteYAML},
	{name: "skupper-listener", base: listenerYAML},

	// Ours: CEL rules, formats, bounds, list-map keys, metadata.
	{name: "ingress-address-not-ip", base: ingressYAML, change: `spec: {address: 192.168.155.999}`, paths: []string{"spec.address"}},
	{name: "ingress-drain-all", base: ingressYAML, change: `spec: {drain: [west, east]}`, paths: []string{"spec"}},
	{name: "ingress-duplicate-route", base: ingressYAML, change: `spec: {routes: [{name: r, backend: {service: s, port: 1}}, {name: r, backend: {service: t, port: 1}}]}`, paths: []string{"spec.routes[1]"}},
	{name: "ingress-listener-port", base: ingressYAML, change: `spec: {listeners: [{name: http, port: 0}]}`, paths: []string{"spec.listeners[0].port"}},
	{name: "ingress-no-namespace", base: ingressYAML, change: `metadata: {namespace: null}`, paths: []string{"metadata.namespace", "<nil>"}, offlineOnly: true},
	{name: "ingress-port-type", base: ingressYAML, change: `spec: {listeners: [{name: http, port: eighty}]}`, paths: []string{"spec.listeners[0].port", "<nil>"}},
	{name: "class-pool-host-bits", base: classYAML, change: `spec: {pools: ["192.168.155.1/24"]}`, paths: []string{"spec.pools[0]"}},
	{name: "class-asn-too-big", base: classYAML, change: `spec: {clusters: [{name: west, asn: 4294967296}]}`, paths: []string{"spec.clusters[0].asn"}},
	{name: "class-bad-mode", base: classYAML, change: `spec: {clusters: [{name: west, asn: 65001, metallbMode: gobgp}]}`, paths: []string{"spec.clusters[0].metallbMode", "<nil>"}},
	{name: "class-two-hubs", base: classYAML, change: `spec: {clusters: [{name: west, asn: 65001, interconnect: hub}, {name: east, asn: 65002, interconnect: hub, kubeconfigSecretRef: {name: k}}]}`, paths: []string{"spec.clusters"}},
	{name: "class-name-not-label", base: classYAML, change: `metadata: {name: data.center}`, paths: []string{"<nil>"}},
	{name: "class-name-uppercase", base: classYAML, change: `metadata: {name: DataCenter}`, paths: []string{"metadata.name", "<nil>"}},

	// MetalLB.
	{name: "bgppeer-no-asn", base: bgpPeerYAML, change: `spec: {myASN: null}`, paths: []string{"spec.myASN", "<nil>"}},
	{name: "bgppeer-asn-string", base: bgpPeerYAML, change: `spec: {peerASN: "64001"}`, paths: []string{"spec.peerASN", "<nil>"}},
	{name: "bgppeer-port-too-big", base: bgpPeerYAML, change: `spec: {peerPort: 70000}`, paths: []string{"spec.peerPort"}},
	{name: "pool-addresses-not-list", base: poolYAML, change: `spec: {addresses: 192.168.155.151/32}`, paths: []string{"spec.addresses"}},
	{name: "bgppeer-port-over-16384", base: bgpPeerYAML, change: `spec: {peerPort: 20000}`, paths: []string{"spec.peerPort"}},
	{name: "bgppeer-connect-time-fraction", base: bgpPeerYAML, change: `spec: {connectTime: 1500ms}`, paths: []string{"spec.connectTime"}},
	{name: "advertisement-localpref-over-int32", base: advertisementYAML, change: `spec: {localPref: 3000000000}`, paths: []string{"<nil>"}},
	{name: "advertisement-localpref-type", base: advertisementYAML, change: `spec: {localPref: high}`, paths: []string{"spec.localPref", "<nil>"}},

	// Gateway API: required, enum, pattern, bounds, CEL.
	{name: "gateway-no-class", base: gatewayYAML, change: `spec: {gatewayClassName: null}`, paths: []string{"spec.gatewayClassName", "<nil>"}},
	{name: "gateway-no-listeners", base: gatewayYAML, change: `spec: {listeners: []}`, paths: []string{"spec.listeners"}},
	{name: "gateway-listener-port", base: gatewayYAML, change: `spec: {listeners: [{name: http, port: 0, protocol: HTTP}]}`, paths: []string{"spec.listeners[0].port"}},
	{name: "gateway-listener-name", base: gatewayYAML, change: `spec: {listeners: [{name: "Not_A_Name", port: 80, protocol: HTTP}]}`, paths: []string{"spec.listeners[0].name"}},
	{name: "gateway-duplicate-listener", base: gatewayYAML, change: `spec: {listeners: [{name: http, port: 80, protocol: HTTP}, {name: http, port: 81, protocol: HTTP}]}`, paths: []string{"spec.listeners[1]", "spec.listeners"}},
	{name: "gateway-ip-address-value", base: gatewayYAML, change: `spec: {addresses: [{type: IPAddress, value: "not-an-ip"}]}`, paths: []string{"spec.addresses[0].value", "<nil>"}},
	{name: "gateway-http-with-tls", base: gatewayYAML, change: `spec: {listeners: [{name: http, port: 80, protocol: HTTP, tls: {mode: Terminate, certificateRefs: [{name: c}]}}]}`, paths: []string{"spec.listeners"}},
	{name: "gateway-infrastructure-annotation-key", base: gatewayYAML, change: `spec: {infrastructure: {annotations: {"not a key": "x"}}}`, paths: []string{"spec.infrastructure.annotations"}},
	{name: "httproute-path-type", base: routeYAML, change: `spec: {rules: [{matches: [{path: {type: Glob, value: /api}}]}]}`, paths: []string{"spec.rules[0].matches[0].path.type", "<nil>"}},
	{name: "httproute-path-not-absolute", base: routeYAML, change: `spec: {rules: [{matches: [{path: {type: PathPrefix, value: api}}]}]}`, paths: []string{"spec.rules[0].matches[0].path"}},

	// Skupper.
	{name: "skupper-listener-no-port", base: listenerYAML, change: `spec: {port: null}`, paths: []string{"spec.port"}},
	{name: "skupper-site-spec-type", base: siteYAML, change: `spec: {linkAccess: 1}`, paths: []string{"spec.linkAccess"}},

	// Unknown fields (refused under fieldValidation=Strict).
	{name: "unknown-field-ours", base: ingressYAML, change: `spec: {adress: 192.168.155.1}`, paths: []string{"spec.adress"}},
	{name: "unknown-field-metallb", base: poolYAML, change: `spec: {autoassign: true}`, paths: []string{"spec.autoassign"}},
}

func parse(t testing.TB, base, change string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(base), &u.Object); err != nil {
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

// merge overlays patch on dst like a JSON merge patch (null deletes; lists replace).
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

func pathsOf(fields []string) string { return strings.Join(fields, ", ") }

func equalJSON(a, b interface{}) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
