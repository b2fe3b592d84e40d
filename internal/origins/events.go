package origins

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// Events are the Warning events of a status write: one per entry that appeared, or whose
// kind changed (a drained member's VIP whose ingress was then deleted is now Unowned).
func Events(before, after []v1alpha1.UnexpectedOrigin) []status.Event {
	var out []status.Event
	for _, e := range after {
		i := slices.IndexFunc(before, func(b v1alpha1.UnexpectedOrigin) bool { return b.Prefix == e.Prefix && b.OriginAS == e.OriginAS })
		if i >= 0 && before[i].Kind == e.Kind {
			continue
		}
		out = append(out, status.Event{Type: corev1.EventTypeWarning, Reason: string(v1alpha1.ReasonUnexpectedOrigins),
			Action: v1alpha1.ConditionOriginsExplained, Note: status.Truncate(Describe(e)+"; reported only, nothing is withdrawn", 1000)})
	}
	return out
}

// IngressChanged says whether an ingress update changes what Find reads of it (its
// status address and what it asks of each member), so that the class looks again.
func IngressChanged(old, cur client.Object) bool {
	o, ok1 := old.(*v1alpha1.AnycastIngress)
	n, ok2 := cur.(*v1alpha1.AnycastIngress)
	return !ok1 || !ok2 || inputsOf(o) != inputsOf(n)
}

func inputsOf(ing *v1alpha1.AnycastIngress) string {
	var b strings.Builder
	b.WriteString(ing.Status.Address)
	for _, cs := range ing.Status.Clusters {
		b.WriteString("|" + cs.Name + "," + cs.Advertisement)
		if cs.Drained {
			b.WriteString(",drained")
		}
	}
	return b.String()
}
