package apply

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMissingFindsPrunedAndChangedFields(t *testing.T) {
	want := map[string]interface{}{
		"spec": map[string]interface{}{
			"myASN":  int64(65001),
			"peers":  []interface{}{"a", "b"},
			"nested": map[string]interface{}{"keep": true, "pruned": "x"},
		},
	}
	got := map[string]interface{}{
		"metadata": map[string]interface{}{"uid": "added by the server"},
		"spec": map[string]interface{}{
			"myASN":   float64(65001), // another decoder's number type: equal
			"peers":   []interface{}{"a", "c"},
			"nested":  map[string]interface{}{"keep": true},
			"default": "added by the server",
		},
	}
	missing := Missing(got, want, "")
	wantPaths := []string{".spec.nested.pruned", ".spec.peers[1]"}
	if len(missing) != 2 {
		t.Fatalf("Missing = %v, want %v", missing, wantPaths)
	}
	for _, p := range wantPaths {
		found := false
		for _, m := range missing {
			found = found || m == p
		}
		if !found {
			t.Errorf("Missing = %v, lacks %s", missing, p)
		}
	}
	if !Contains(got, map[string]interface{}{"spec": map[string]interface{}{"myASN": 65001}}) {
		t.Error("an equal subset should be contained")
	}
	if Contains(got, map[string]interface{}{"spec": map[string]interface{}{"peers": []interface{}{"a"}}}) {
		t.Error("a list of another length is not contained")
	}
}

func TestHashIgnoresItsOwnAnnotation(t *testing.T) {
	a := map[string]interface{}{"metadata": map[string]interface{}{"name": "x"}}
	b := map[string]interface{}{"metadata": map[string]interface{}{"name": "x", "annotations": map[string]interface{}{HashAnnotation: "old"}}}
	ua, ub := toU(a), toU(b)
	if Hash(ua) != Hash(ub) {
		t.Error("the hash annotation must not feed the hash")
	}
	if reflect.DeepEqual(Hash(ua), Hash(toU(map[string]interface{}{"metadata": map[string]interface{}{"name": "y"}}))) {
		t.Error("different objects must hash differently")
	}
}

func toU(m map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}
