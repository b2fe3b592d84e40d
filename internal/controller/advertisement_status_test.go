package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// TestRefusedDrainKeepsTheAppliedAdvertisement: a prepend drain refused on a member
// (MetalLB's native mode cannot prepend) applies nothing there, so the member keeps
// advertising; its status must say Advertise, as it did, not the refused Prepend.
func TestRefusedDrainKeepsTheAppliedAdvertisement(t *testing.T) {
	ing := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "app", Generation: 2}}
	ing.Status.Clusters = []v1alpha1.IngressClusterStatus{{Name: "west", Programmed: true}, {Name: "east", Drained: true}}
	prev := map[string]v1alpha1.IngressClusterStatus{"west": {Name: "west", Advertisement: "Advertise"}, "east": {Name: "east", Advertisement: "Advertise"}}
	out := &render.Output{Clusters: []render.ClusterOutput{
		{Name: "west", Advertisement: &render.Advertisement{Mode: render.Advertise}},
		{Name: "east", Drained: true, Advertisement: &render.Advertisement{Mode: render.Prepend, Prepend: 3, Reason: render.ReasonDrained},
			Refusals: []render.Problem{{Reason: render.ReasonUnsupportedByMode, Cluster: "east", Message: "cannot prepend"}}},
	}}
	conds := conditionSet{conds: &ing.Status.Conditions, generation: ing.Generation}
	(&IngressReconciler{}).applyGateStatus(context.Background(), conds, ing, &v1alpha1.AnycastClass{}, gateResult{}, out, prev, time.Now())
	for _, cs := range ing.Status.Clusters {
		if cs.Advertisement != string(render.Advertise) || cs.WithdrawnReason != "" {
			t.Errorf("%s: advertisement %q (%q), want Advertise as applied", cs.Name, cs.Advertisement, cs.WithdrawnReason)
		}
	}
}
