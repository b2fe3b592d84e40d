package status

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// Conditions builds the conditions of one status on top of the previous ones, so that
// lastTransitionTime moves only when a condition's status really changes. Every
// condition set is stamped with the generation it describes.
type Conditions struct {
	List       *[]metav1.Condition
	Generation int64
	// Now stamps new transitions (the zero time: the library's clock, for callers that
	// are not golden-tested).
	Now metav1.Time
}

// Set sets a condition to True or False.
func (c Conditions) Set(typ string, ok bool, reason v1alpha1.Reason, message string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	c.SetStatus(typ, s, reason, message)
}

// SetStatus sets a condition to any status (Unknown included).
func (c Conditions) SetStatus(typ string, status metav1.ConditionStatus, reason v1alpha1.Reason, message string) {
	cond := metav1.Condition{
		Type: typ, Status: status, Reason: string(reason), Message: TruncateMessage(message), ObservedGeneration: c.Generation,
	}
	if prev := meta.FindStatusCondition(*c.List, typ); (prev == nil || prev.Status != status) && !c.Now.IsZero() {
		cond.LastTransitionTime = c.Now
	}
	meta.SetStatusCondition(c.List, cond)
}

// Remove drops a condition.
func (c Conditions) Remove(typ string) { meta.RemoveStatusCondition(c.List, typ) }

// IsTrue reports whether a condition is True.
func (c Conditions) IsTrue(typ string) bool { return meta.IsStatusConditionTrue(*c.List, typ) }

// Get returns a condition, or nil.
func (c Conditions) Get(typ string) *metav1.Condition { return meta.FindStatusCondition(*c.List, typ) }

// Ready sets Ready from the given conditions: True when all are True, otherwise False with
// the reason and message of the first that is not. optional conditions count only while
// present (Advertised without a watcher, Drained while nothing is drained).
func (c Conditions) Ready(required, optional []string) {
	types := append([]string(nil), required...)
	for _, t := range optional {
		if c.Get(t) != nil {
			types = append(types, t)
		}
	}
	for _, t := range types {
		cond := c.Get(t)
		if cond == nil || cond.Status != metav1.ConditionTrue {
			reason, msg := v1alpha1.ReasonPending, t+" is not reported yet"
			if cond != nil {
				reason, msg = v1alpha1.Reason(cond.Reason), t+": "+cond.Message
			}
			c.Set(v1alpha1.ConditionReady, false, reason, msg)
			return
		}
	}
	c.Set(v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, "")
}

// TruncateMessage keeps condition messages under the API limit of 32768 bytes with room
// to spare.
func TruncateMessage(s string) string { return Truncate(s, 4096) }

// Truncate keeps s within limit bytes, marking a cut with "...".
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return s[:limit-3] + "..."
}
