package controller

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

type recordedEvent struct{ typ, reason, action, note string }

type fakeRecorder struct{ events []recordedEvent }

func (f *fakeRecorder) Eventf(_ runtime.Object, _ runtime.Object, typ, reason, action, note string, args ...interface{}) {
	f.events = append(f.events, recordedEvent{typ, reason, action, fmt.Sprintf(note, args...)})
}

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: typ + " says " + reason}
}

// TestEmitTransitions: the conditions that appear or turn True in one status write share
// one Normal event, led by Ready's reason; a condition first appearing False with a
// settling reason joins it; a condition turning False is a Warning of its own; nothing
// that did not change is repeated.
func TestEmitTransitions(t *testing.T) {
	ing := &v1alpha1.AnycastIngress{}
	rec := &fakeRecorder{}
	first := []metav1.Condition{
		cond("Accepted", metav1.ConditionTrue, ReasonAccepted),
		cond("Programmed", metav1.ConditionTrue, ReasonProgrammed),
		cond("Healthy", metav1.ConditionFalse, ReasonPending),
		cond("Ready", metav1.ConditionFalse, ReasonPending),
	}
	emitTransitions(rec, ing, nil, first)
	if len(rec.events) != 1 {
		t.Fatalf("a new ingress coming up: %d events %v, want one Normal", len(rec.events), rec.events)
	}
	if e := rec.events[0]; e.typ != corev1.EventTypeNormal || e.reason != ReasonPending || e.action != "Accepted,Programmed,Healthy,Ready" {
		t.Errorf("combined event %+v", e)
	}

	rec.events = nil
	second := []metav1.Condition{first[0], first[1],
		cond("Healthy", metav1.ConditionFalse, "AllMembersUnhealthy"),
		cond("Ready", metav1.ConditionFalse, "AllMembersUnhealthy"),
	}
	emitTransitions(rec, ing, first, second)
	if len(rec.events) != 2 || rec.events[0].typ != corev1.EventTypeWarning || rec.events[1].typ != corev1.EventTypeWarning {
		t.Fatalf("two conditions turning to a failure: %v, want two Warnings", rec.events)
	}
	if rec.events[0].reason != "AllMembersUnhealthy" || rec.events[0].action != "Healthy" {
		t.Errorf("warning %+v", rec.events[0])
	}

	rec.events = nil
	emitTransitions(rec, ing, second, second)
	if len(rec.events) != 0 {
		t.Errorf("nothing changed, yet %v", rec.events)
	}

	rec.events = nil
	emitTransitions(rec, ing, nil, []metav1.Condition{cond("Accepted", metav1.ConditionFalse, ReasonAddressInUse)})
	if len(rec.events) != 1 || rec.events[0].typ != corev1.EventTypeWarning {
		t.Errorf("a new ingress refused at once must warn: %v", rec.events)
	}
}
