package packaging

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestCertificateRBACIsPerNamespace: the HTTPS listeners' certificates are granted per
// namespace, on the hub (certificates.namespaces: read, and the operator watches them) and
// on a spoke (spoke.certificateNamespaces: the copies), through a real authorizer; no other
// namespace's Secrets and no cluster-wide list come with them. "*" on the hub is the one
// explicit way to grant them cluster-wide.
func TestCertificateRBACIsPerNamespace(t *testing.T) {
	for _, ns := range []string{"certs-hub", "certs-spoke", "certs-metallb", "shop", "elsewhere"} {
		ensureNamespace(t, ns, nil)
	}

	hub := mustRender(t, "certs", "certs-hub", map[string]any{"metallb": map[string]any{"namespace": "certs-metallb"}, "certificates": map[string]any{"namespaces": []any{"shop"}}})
	applyObjects(t, hub.Objects(t))
	if args := deploymentArgs(t, hub, "certs-anycast-operator"); !strings.Contains(args, "--certificate-namespaces=shop") {
		t.Errorf("the operator is not told to watch the namespace: %s", args)
	}
	hubSA := serviceAccount("certs-hub", "certs-anycast-operator")
	for _, v := range []string{"get", "list", "watch"} {
		if a := (access{Verb: v, Resource: "secrets", Namespace: "shop"}); !allowed(t, hubSA, a) {
			t.Errorf("hub: %s denied", a)
		}
	}
	for _, a := range []access{
		{Verb: "get", Resource: "secrets", Namespace: "elsewhere"},
		{Verb: "list", Resource: "secrets"},
		{Verb: "create", Resource: "secrets", Namespace: "shop"},
		{Verb: "delete", Resource: "secrets", Namespace: "shop"},
	} {
		if allowed(t, hubSA, a) {
			t.Errorf("hub: %s allowed", a)
		}
	}

	spoke := mustRender(t, "certs", "certs-spoke", map[string]any{"role": "spoke", "metallb": map[string]any{"namespace": "certs-metallb"}, "spoke": map[string]any{"certificateNamespaces": []any{"shop"}}})
	applyObjects(t, spoke.Objects(t))
	spokeSA := serviceAccount("certs-spoke", "certs-anycast-operator")
	for _, v := range writeVerbs {
		if a := (access{Verb: v, Resource: "secrets", Namespace: "shop"}); !allowed(t, spokeSA, a) {
			t.Errorf("spoke: %s denied; the hub writes its certificate copies there", a)
		}
	}
	for _, a := range []access{
		{Verb: "get", Resource: "secrets", Namespace: "elsewhere"},
		{Verb: "get", Resource: "secrets", Namespace: "certs-spoke"}, // its own token
		{Verb: "list", Resource: "secrets"},
	} {
		if allowed(t, spokeSA, a) {
			t.Errorf("spoke: %s allowed", a)
		}
	}

	// "*": a ClusterRole reading Secrets, and the operator watching every namespace.
	all := mustRender(t, "certs", "certs-hub", map[string]any{"certificates": map[string]any{"namespaces": []any{"*"}}})
	role := find(t, all.Objects(t), "ClusterRole", "certs-anycast-operator-certificates")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	if len(rules) != 1 || toString(rules[0]) != "secrets get list watch" {
		t.Errorf("the cluster-wide grant: %v", rules)
	}
	if args := deploymentArgs(t, all, "certs-anycast-operator"); !strings.Contains(args, "--certificate-namespaces=*") {
		t.Errorf("args %s", args)
	}
	for _, o := range all.Objects(t) {
		if o.GetKind() == "Role" && strings.HasSuffix(o.GetName(), "-certificates") {
			t.Errorf("with \"*\" no per-namespace Role is made: %s/%s", o.GetNamespace(), o.GetName())
		}
	}
}

func TestCertificateValuesAreChecked(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"bad hub namespace":       {"certificates": map[string]any{"namespaces": []any{"Shop_1"}}},
		"unknown key":             {"certificates": map[string]any{"namespace": []any{"shop"}}},
		"wildcard on a spoke":     {"role": "spoke", "spoke": map[string]any{"certificateNamespaces": []any{"*"}}},
		"duplicate spoke entries": {"role": "spoke", "spoke": map[string]any{"certificateNamespaces": []any{"shop", "shop"}}},
	} {
		if _, err := renderChart("anycast-operator", "anycast-system", values); err == nil {
			t.Errorf("%s: values %v were accepted", name, values)
		}
	}
}

func deploymentArgs(t *testing.T, r *release, name string) string {
	t.Helper()
	d := find(t, r.Objects(t), "Deployment", name)
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatal("no containers")
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return strings.Join(args, " ")
}

// toString is a rule's resources and verbs, in order.
func toString(v any) string {
	m, _ := v.(map[string]any)
	var parts []string
	for _, k := range []string{"resources", "verbs"} {
		if s, ok := m[k].([]any); ok {
			for _, x := range s {
				parts = append(parts, x.(string))
			}
		}
	}
	return strings.Join(parts, " ")
}
