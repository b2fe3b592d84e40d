package render

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// TestInvalidSelectorMessageIsStable: a class whose allowedNamespaces selector has several
// invalid labels gets the same message on every render, naming the first in key order
// (metav1.LabelSelectorAsSelector alone names whichever map iteration meets first).
func TestInvalidSelectorMessageIsStable(t *testing.T) {
	c := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "dc"}, Spec: v1alpha1.AnycastClassSpec{
		AllowedNamespaces: &v1alpha1.AllowedNamespaces{From: v1alpha1.NamespacesFromSelector, Selector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"${x}": "a", "anycast:": "", "ok": "yes", "z!": "b", "bad key": "c"},
		}},
	}}
	first := checkNamespace(c, nil)
	if first == nil || !strings.Contains(first.Message, `"$`) {
		t.Fatalf("problem %+v; want one naming the first invalid key in order, ${x}", first)
	}
	for i := 0; i < 50; i++ {
		if p := checkNamespace(c, nil); p == nil || p.Message != first.Message {
			t.Fatalf("render %d: %+v; want the same message as the first: %q", i, p, first.Message)
		}
	}
}
