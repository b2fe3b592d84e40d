package apply

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestDesiredDigestTellsValuesApart: the digest changes with any value, its type, a key,
// the order of a list, the split of objects between leaves and the rest, and the prune
// scope; it does not change with the order of a map's keys.
func TestDesiredDigestTellsValuesApart(t *testing.T) {
	obj := func(spec map[string]interface{}) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{"kind": "X", "spec": spec}}
	}
	digest := func(leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, ns string) [32]byte {
		d, ok := desiredDigest(leaves, objects, kinds, ns)
		if !ok {
			t.Fatal("not digested")
		}
		return d
	}
	one := func(spec map[string]interface{}) [32]byte {
		return digest(nil, []*unstructured.Unstructured{obj(spec)}, nil, "")
	}
	base := map[string]interface{}{"a": "1", "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 1.5}
	same := map[string]interface{}{"e": 1.5, "d": nil, "c": true, "b": []interface{}{int64(1), "x"}, "a": "1"}
	if one(base) != one(same) {
		t.Error("the order of a map's keys changed the digest")
	}
	for name, other := range map[string]map[string]interface{}{
		"a value":         {"a": "2", "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 1.5},
		"a type":          {"a": int64(1), "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 1.5},
		"a key":           {"A": "1", "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 1.5},
		"a list's order":  {"a": "1", "b": []interface{}{"x", int64(1)}, "c": true, "d": nil, "e": 1.5},
		"a bool":          {"a": "1", "b": []interface{}{int64(1), "x"}, "c": false, "d": nil, "e": 1.5},
		"null and absent": {"a": "1", "b": []interface{}{int64(1), "x"}, "c": true, "e": 1.5},
		"a float":         {"a": "1", "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 2.5},
		"strings joined":  {"a": "1b", "b": []interface{}{int64(1), "x"}, "c": true, "d": nil, "e": 1.5},
	} {
		if one(base) == one(other) {
			t.Errorf("%s: the digest did not change", name)
		}
	}
	o := []*unstructured.Unstructured{obj(base)}
	if digest(o, nil, nil, "") == digest(nil, o, nil, "") {
		t.Error("a leaf and an object digest alike")
	}
	kinds := []schema.GroupVersionKind{{Kind: "Secret", Version: "v1"}}
	if digest(nil, o, kinds, "") == digest(nil, o, nil, "") || digest(nil, o, nil, "ns") == digest(nil, o, nil, "") {
		t.Error("the prune scope does not reach the digest")
	}
}
