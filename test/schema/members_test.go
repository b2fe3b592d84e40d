package schema_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// maxMembers is the most members a class (and an ingress's clusters, drain and a
// service's runsOn) may name.
const maxMembers = 64

// members lists n members as the class holds them: one hub, the others spokes with
// kubeconfigs, each with its own ASN and a peer.
func members(n int) []interface{} {
	out := make([]interface{}, 0, n)
	for i := range n {
		m := map[string]interface{}{
			"name": fmt.Sprintf("site-%02d", i), "asn": int64(65001 + i),
			"peers": []interface{}{map[string]interface{}{"name": "tor", "address": fmt.Sprintf("10.%d.63.254", i), "asn": int64(64001 + i)}},
		}
		if i == 0 {
			m["interconnect"] = "hub"
		} else {
			m["kubeconfigSecretRef"] = map[string]interface{}{"name": fmt.Sprintf("site-%02d-kubeconfig", i)}
		}
		out = append(out, m)
	}
	return out
}

func names(n int) []interface{} {
	out := make([]interface{}, 0, n)
	for i := range n {
		out = append(out, fmt.Sprintf("site-%02d", i))
	}
	return out
}

// TestMembersUpToTheLimit: a class of 64 members is accepted with every one of its rules
// evaluated (the distinct-ASN rule compares every pair: its cost stays within the API
// server's budget), and so is an ingress naming all of them in clusters, drain and a
// service's runsOn; one more is refused, naming the field and the limit.
func TestMembersUpToTheLimit(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, ctx, "validation")

	class := object(t, validClass, "many-members", "")
	if err := unstructured.SetNestedSlice(class.Object, members(maxMembers), "spec", "clusters"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, class); err != nil {
		t.Fatalf("a class of %d members refused: %v", maxMembers, err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, class) })

	// The rules still hold at that size: two members with one ASN are refused.
	dup := members(maxMembers)
	dup[maxMembers-1].(map[string]interface{})["asn"] = int64(65001)
	bad := object(t, validClass, "many-members-same-asn", "")
	_ = unstructured.SetNestedSlice(bad.Object, dup, "spec", "clusters")
	if err := env.Client.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "ASNs must be distinct") {
		_ = env.Client.Delete(ctx, bad)
		t.Errorf("duplicate ASN among %d members: %v", maxMembers, err)
	}

	over := object(t, validClass, "too-many-members", "")
	_ = unstructured.SetNestedSlice(over.Object, members(maxMembers+1), "spec", "clusters")
	if err := env.Client.Create(ctx, over); err == nil || !strings.Contains(err.Error(), "spec.clusters") || !strings.Contains(err.Error(), fmt.Sprint(maxMembers)) {
		_ = env.Client.Delete(ctx, over)
		t.Errorf("a class of %d members: %v, want refused naming spec.clusters and %d", maxMembers+1, err, maxMembers)
	}

	ing := object(t, validIngress, "many-members", `spec: {services: [{name: backend, port: 8080, selector: app=backend}]}`)
	_ = unstructured.SetNestedSlice(ing.Object, names(maxMembers), "spec", "clusters")
	_ = unstructured.SetNestedSlice(ing.Object, names(maxMembers-1), "spec", "drain")
	svcs, _, _ := unstructured.NestedSlice(ing.Object, "spec", "services")
	svcs[0].(map[string]interface{})["runsOn"] = names(maxMembers)
	_ = unstructured.SetNestedSlice(ing.Object, svcs, "spec", "services")
	if err := env.Client.Create(ctx, ing); err != nil {
		t.Fatalf("an ingress naming %d members refused: %v", maxMembers, err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, ing) })

	for _, field := range []string{"clusters", "drain"} {
		o := object(t, validIngress, "too-many-"+field, "")
		_ = unstructured.SetNestedSlice(o.Object, names(maxMembers+1), "spec", field)
		if err := env.Client.Create(ctx, o); err == nil || !strings.Contains(err.Error(), "spec."+field) {
			_ = env.Client.Delete(ctx, o)
			t.Errorf("an ingress with %d %s: %v, want refused naming spec.%s", maxMembers+1, field, err, field)
		}
	}
}
