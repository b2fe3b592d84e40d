package controller

import (
	"testing"
	"time"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// A member left behind stays known as slow only when its apply went on long after: one
// that ended just after the others (a busy hub) is not left behind by the reconciles of
// the next minute.
func TestLeftBehindEndedKeepsOnlyTheSlow(t *testing.T) {
	for name, tc := range map[string]struct {
		leftAfter, took time.Duration
		slow            bool
	}{
		"ended just after it was left behind":      {leftAfter: 2 * time.Second, took: 2300 * time.Millisecond, slow: false},
		"ended within slowApply of being left":     {leftAfter: 2 * time.Second, took: 4 * time.Second, slow: false},
		"went on for its other creates (2 s each)": {leftAfter: 2 * time.Second, took: 8 * time.Second, slow: true},
		"left at once as known slow, then long":    {leftAfter: 300 * time.Millisecond, took: 6 * time.Second, slow: true},
	} {
		t.Run(name, func(t *testing.T) {
			var w memberWork
			w.markSlow("m1") // as programMembers does when it leaves a member behind
			w.leftBehindEnded("m1", tc.leftAfter, tc.took)
			if got := w.slow("m1", nil); got != tc.slow {
				t.Errorf("slow after an apply left behind after %s ended after %s: %t, want %t", tc.leftAfter, tc.took, got, tc.slow)
			}
			if w.slow("m2", nil) {
				t.Errorf("another member is slow")
			}
		})
	}
}

// The probe's round trip makes a member slow above slowProbe when it is also four times
// its peers', whatever its applies: a member loaded like the others is not slow.
func TestSlowByProbe(t *testing.T) {
	var w memberWork
	peers := []string{"hub", "m0", "m1", "m2"}
	w.sawLatency("hub", 0) // the hub's own cluster is not probed
	w.sawLatency("m0", 40*time.Millisecond)
	w.sawLatency("m1", 300*time.Millisecond)
	if w.slow("m1", peers) {
		t.Errorf("a 300 ms probe made the member slow")
	}
	w.sawLatency("m1", 2*time.Second)
	if !w.slow("m1", peers) {
		t.Errorf("a 2 s probe beside a 40 ms one did not make the member slow")
	}
	if !w.slow("m1", []string{"hub", "m1"}) {
		t.Errorf("a 2 s probe beside only the hub's own cluster (not probed) did not make the member slow")
	}
	w.keptUp("m1")
	if !w.slow("m1", peers) {
		t.Errorf("an apply in time cleared what the probe says")
	}
	// Every member's API server loaded alike: 1.2 to 1.6 s each.
	w.sawLatency("m0", 1200*time.Millisecond)
	w.sawLatency("m1", 1600*time.Millisecond)
	w.sawLatency("m2", 1400*time.Millisecond)
	for _, m := range peers[1:] {
		if w.slow(m, peers) {
			t.Errorf("%s is slow among members loaded alike", m)
		}
	}
}

// The hub's own cluster (no kubeconfig) is the one a reconcile never leaves behind.
func TestHubsOwn(t *testing.T) {
	class := &v1alpha1.AnycastClass{Spec: v1alpha1.AnycastClassSpec{Clusters: []v1alpha1.ClusterMember{
		{Name: "west"},
		{Name: "east", KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east-kubeconfig"}},
	}}}
	if !hubsOwn(class, "west") || hubsOwn(class, "east") || hubsOwn(class, "gone") {
		t.Errorf("hubsOwn: west %t, east %t, gone %t; want true, false, false", hubsOwn(class, "west"), hubsOwn(class, "east"), hubsOwn(class, "gone"))
	}
}
