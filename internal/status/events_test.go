package status

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

func cond(typ string, st metav1.ConditionStatus, reason v1alpha1.Reason) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: string(reason), Message: typ + " says " + string(reason)}
}

// TestEvents: the conditions that appear or turn True in one status write share
// one Normal event, led by Ready's reason; a condition first appearing False with a
// settling reason joins it; a condition turning False is a Warning of its own; nothing
// that did not change is repeated.
func TestEvents(t *testing.T) {
	first := []metav1.Condition{
		cond("Accepted", metav1.ConditionTrue, v1alpha1.ReasonAccepted),
		cond("Programmed", metav1.ConditionTrue, v1alpha1.ReasonProgrammed),
		cond("Healthy", metav1.ConditionFalse, v1alpha1.ReasonPending),
		cond("Ready", metav1.ConditionFalse, v1alpha1.ReasonPending),
	}
	events := Events(nil, first)
	if len(events) != 1 {
		t.Fatalf("a new ingress coming up: %d events %v, want one Normal", len(events), events)
	}
	if e := events[0]; e.Type != corev1.EventTypeNormal || e.Reason != string(v1alpha1.ReasonPending) || e.Action != "Accepted,Programmed,Healthy,Ready" {
		t.Errorf("combined event %+v", e)
	}

	second := []metav1.Condition{first[0], first[1],
		cond("Healthy", metav1.ConditionFalse, "AllMembersUnhealthy"),
		cond("Ready", metav1.ConditionFalse, "AllMembersUnhealthy"),
	}
	events = Events(first, second)
	if len(events) != 2 || events[0].Type != corev1.EventTypeWarning || events[1].Type != corev1.EventTypeWarning {
		t.Fatalf("two conditions turning to a failure: %v, want two Warnings", events)
	}
	if events[0].Reason != "AllMembersUnhealthy" || events[0].Action != "Healthy" {
		t.Errorf("warning %+v", events[0])
	}

	events = Events(second, second)
	if len(events) != 0 {
		t.Errorf("nothing changed, yet %v", events)
	}

	events = Events(nil, []metav1.Condition{cond("Accepted", metav1.ConditionFalse, "AddressInUse")})
	if len(events) != 1 || events[0].Type != corev1.EventTypeWarning {
		t.Errorf("a new ingress refused at once must warn: %v", events)
	}
}
