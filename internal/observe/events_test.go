package observe

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLatestEventBreaksTiesByRevision: core events carry times to the second; of two in
// the same second, the one written last (the higher resourceVersion) is the latest,
// whatever order the list returns them in.
func TestLatestEventBreaksTiesByRevision(t *testing.T) {
	sec := metav1.NewTime(time.Unix(1000, 0))
	older := corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "svc.zz", ResourceVersion: "99"}, LastTimestamp: sec, Message: "not allowed in config"}
	newer := corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "svc.aa", ResourceVersion: "100"}, LastTimestamp: sec, Message: "not compatible"}
	for _, order := range [][]corev1.Event{{older, newer}, {newer, older}} {
		if got := latestEvent(order).Message; got != "not compatible" {
			t.Fatalf("latest of %v: %q", []string{order[0].Message, order[1].Message}, got)
		}
	}
	later := corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "svc.00", ResourceVersion: "1"}, LastTimestamp: metav1.NewTime(time.Unix(1001, 0)), Message: "a second later"}
	if got := latestEvent([]corev1.Event{later, newer, older}).Message; got != "a second later" {
		t.Fatalf("a later second wins over revisions: %q", got)
	}
}
