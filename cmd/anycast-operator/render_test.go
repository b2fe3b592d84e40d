package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
)

func runRender(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"render"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const class = `apiVersion: anycast.dev/v1alpha1
kind: AnycastClass
metadata: {name: dc}
spec:
  pools: ["192.168.155.0/24"]
  gatewayClassName: envoy
  clusters:
  - name: west
    asn: 65001
    interconnect: hub
    peers: [{name: tor, address: 10.0.63.254, asn: 64001, passwordSecretRef: {name: tor-md5}}]
  - name: east
    asn: 65002
    metallbMode: native
    kubeconfigSecretRef: {name: east}
    peers: [{name: tor, address: 10.1.63.254, asn: 64002}]
`

func TestRenderSamples(t *testing.T) {
	code, out, errOut := runRender(t, "-f", "../../config/samples/anycast_v1alpha1_anycastclass.yaml", "-f", "../../config/samples/anycast_v1alpha1_anycastingress.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"# cluster: west", "# cluster: east", "kind: BGPPeer", "kind: BFDProfile", "kind: IPAddressPool",
		"kind: BGPAdvertisement", "kind: Gateway", "kind: HTTPRoute", "kind: Site", "kind: AccessGrant", "kind: Connector", "kind: Listener",
		"metallb.io/loadBalancerIPs: 192.168.155.151"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRenderOneClusterAndAllocation(t *testing.T) {
	f := writeFile(t, class+`---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: a, namespace: apps}
spec: {className: dc, clusters: [west]}
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: b, namespace: apps}
spec: {className: dc, clusters: [west]}
`)
	code, out, errOut := runRender(t, "-f", f, "--cluster", "west")
	if code == 0 {
		t.Fatalf("the class refers to a password Secret render cannot read; want a non-zero exit")
	}
	if !strings.Contains(errOut, "PasswordSecretNotFound") || !strings.Contains(errOut, "tor-md5") {
		t.Errorf("stderr should name the missing Secret: %s", errOut)
	}
	if strings.Contains(out, "# cluster: east") {
		t.Error("--cluster west printed east's objects")
	}
	for _, want := range []string{"192.168.155.1/32", "192.168.155.2/32"} {
		if !strings.Contains(out, want) {
			t.Errorf("allocation: output lacks %s", want)
		}
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown field", `apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: x, namespace: apps}
spec: {className: dc, adress: 192.168.155.1}
`, `unknown field "adress"`},
		{"missing class", `apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: x, namespace: apps}
spec: {className: nope}
`, `names class "nope"`},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "render reads AnycastClass, AnycastIngress and the Secrets"},
		{"address in use", class + `---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: a, namespace: apps}
spec: {className: dc, address: 192.168.155.5}
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: b, namespace: apps}
spec: {className: dc, address: 192.168.155.5}
`, "already used by AnycastIngress apps/a"},
		{"native refusal", class + `---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: a, namespace: apps}
spec: {className: dc, address: 192.168.155.5, advertisement: {communities: ["large:1:2:3"]}}
`, "UnsupportedByMetalLBMode: cluster east"},
		{"outside pool", class + `---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: a, namespace: apps}
spec: {className: dc, address: 10.9.9.9}
`, "AddressNotInPool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runRender(t, "-f", writeFile(t, tc.doc))
			if code == 0 {
				t.Fatal("want a non-zero exit")
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q lacks %q", errOut, tc.want)
			}
		})
	}
	if code, _, _ := runRender(t); code != 2 {
		t.Errorf("no -f: exit %d, want 2", code)
	}
}

func TestRenderRedactsSecrets(t *testing.T) {
	in := writeFile(t, `class:
  metadata: {name: dc}
  spec:
    pools: ["192.168.155.0/24"]
    gatewayClassName: envoy
    clusters:
    - {name: west, asn: 65001, peers: [{name: tor, address: 10.0.63.254, asn: 64001, passwordSecretRef: {name: tor-md5}}]}
observed:
  secrets: {tor-md5/password: hunter2-test-only}
`)
	code, out, errOut := runRender(t, "-f", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "aHVudGVyMi") || !strings.Contains(out, "<redacted") {
		t.Fatalf("the password must be redacted by default:\n%s", out)
	}
	_, out, _ = runRender(t, "-f", in, "--show-secrets")
	if !strings.Contains(out, "aHVudGVyMi10ZXN0LW9ubHk=") {
		t.Fatalf("--show-secrets should print the base64 value:\n%s", out)
	}
}

// TestRenderCertificateCopies: for a class that copies certificates from the hub, the
// Secret manifests given beside the ingress are what the hub holds: east gets the copy
// (data redacted), the Gateway names it; without the Secret the ingress is refused.
func TestRenderCertificateCopies(t *testing.T) {
	pair := certs.Valid(t, "shop.example.com", 24*time.Hour)
	manifests := `apiVersion: anycast.dev/v1alpha1
kind: AnycastClass
metadata: {name: dc}
spec:
  pools: ["192.168.155.0/24"]
  gatewayClassName: envoy
  clusters:
  - {name: west, asn: 65001, peers: [{name: tor, address: 10.0.63.254, asn: 64001}]}
  - {name: east, asn: 65002, kubeconfigSecretRef: {name: east}, peers: [{name: tor, address: 10.1.63.254, asn: 64002}]}
---
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: shop, namespace: shop}
spec:
  className: dc
  listeners: [{name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [shop-tls]}}]
`
	secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: shop-tls, namespace: shop}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
`, base64.StdEncoding.EncodeToString(pair.Cert), base64.StdEncoding.EncodeToString(pair.Key))

	code, out, errOut := runRender(t, "-f", writeFile(t, manifests+"---\n"+secret), "--cluster", "east")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name: shop.shop-tls", "type: kubernetes.io/tls", "<redacted: use --show-secrets>"} {
		if !strings.Contains(out, want) {
			t.Errorf("east's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, base64.StdEncoding.EncodeToString(pair.Key)) {
		t.Error("the key is printed without --show-secrets")
	}

	code, _, errOut = runRender(t, "-f", writeFile(t, manifests))
	if code == 0 || !strings.Contains(errOut, "CertificateNotFound") || !strings.Contains(errOut, "shop/shop-tls") {
		t.Errorf("without the Secret: exit %d, stderr %s; want a refusal naming it", code, errOut)
	}
}
