package controller

import (
	"testing"
	"time"
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
			if got := w.slow("m1"); got != tc.slow {
				t.Errorf("slow after an apply left behind after %s ended after %s: %t, want %t", tc.leftAfter, tc.took, got, tc.slow)
			}
			if w.slow("m2") {
				t.Errorf("another member is slow")
			}
		})
	}
}

// The probe's round trip alone makes a member slow above slowProbe, whatever its applies.
func TestSlowByProbe(t *testing.T) {
	var w memberWork
	w.sawLatency("m1", 300*time.Millisecond)
	if w.slow("m1") {
		t.Errorf("a 300 ms probe made the member slow")
	}
	w.sawLatency("m1", 2*time.Second)
	if !w.slow("m1") {
		t.Errorf("a 2 s probe did not make the member slow")
	}
	w.keptUp("m1")
	if !w.slow("m1") {
		t.Errorf("an apply in time cleared what the probe says")
	}
}
