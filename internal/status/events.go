package status

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Event is an event a status write records on its object.
type Event struct {
	// Type is Normal or Warning.
	Type string
	// Reason is the reason of the condition the event is about.
	Reason string
	// Action names the conditions that changed ("Accepted,Programmed").
	Action string
	// Note says what changed, within the events API's limit.
	Note string
}

// Events are the events of a status change: the transitions users care about (accepted,
// programmed, ready and their failures). Every condition that turns False is a Warning of
// its own, with its reason; the others that change in the same status write share one
// Normal event (a new ingress becoming Accepted, Programmed, Linked and Ready is one piece
// of news, and one API write rather than five).
func Events(before, after []metav1.Condition) []Event {
	var out []Event
	var normal []metav1.Condition
	for _, c := range after {
		prev := meta.FindStatusCondition(before, c.Type)
		if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason {
			continue
		}
		if c.Status == metav1.ConditionFalse && (prev != nil || !settling[v1alpha1.Reason(c.Reason)]) {
			out = append(out, Event{Type: corev1.EventTypeWarning, Reason: c.Reason, Action: c.Type, Note: Truncate(conditionNote(c), eventNoteLimit)})
			continue
		}
		normal = append(normal, c)
	}
	if len(normal) == 0 {
		return out
	}
	lead := normal[0]
	types := make([]string, 0, len(normal))
	notes := make([]string, 0, len(normal))
	for _, c := range normal {
		if c.Type == v1alpha1.ConditionReady {
			lead = c
		}
		types = append(types, c.Type)
		notes = append(notes, conditionNote(c))
	}
	return append(out, Event{Type: corev1.EventTypeNormal, Reason: lead.Reason,
		Action: Truncate(strings.Join(types, ","), 128), Note: Truncate(strings.Join(notes, "; "), eventNoteLimit)})
}

// eventNoteLimit keeps event notes under the events API limit of 1024 bytes.
const eventNoteLimit = 1000

// settling are the reasons of a False condition that only says a new object is on its
// way (objects still being applied, a member connecting, a link coming up): when a
// condition first appears with one of them, it is news, not a warning.
var settling = map[v1alpha1.Reason]bool{
	v1alpha1.ReasonPending: true, v1alpha1.ReasonPartiallyProgrammed: true, v1alpha1.ReasonConnecting: true,
	render.ReasonAddressNotAllocated: true, v1alpha1.ReasonLinkPending: true, v1alpha1.ReasonNoWatcher: true,
	v1alpha1.ReasonSessionsDown: true, v1alpha1.ReasonWatcherNotEstablished: true, v1alpha1.ReasonWatcherSyncing: true,
	v1alpha1.ReasonMembersAwaitingHealth: true,
}

func conditionNote(c metav1.Condition) string {
	note := c.Type + " is " + string(c.Status)
	if c.Message != "" {
		note += ": " + c.Message
	}
	return note
}
