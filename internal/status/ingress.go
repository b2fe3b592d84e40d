package status

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Values of status.clusters[] fields.
const (
	HealthHealthy   = "Healthy"
	HealthUnhealthy = "Unhealthy"

	RouterAdvertised = "Advertised"
	RouterPrepended  = "Prepended"
	RouterWithdrawn  = "Withdrawn"

	LinkNotApplicable = "n/a"
	LinkPending       = "Pending"
	LinkReady         = "Ready"
	LinkError         = "Error"
)

// PendingDeadline is how long a new ingress may wait for its first healthy member before
// that is reported as an error: a Gateway that is never programmed is one.
const PendingDeadline = 5 * time.Minute

// Ingress computes the status of an ingress from what a reconcile observed, and when to
// look again for what nobody notifies (a hold-down, a syncing watcher, a new ingress's
// deadline).
func Ingress(obs *Observation) Result {
	st := *obs.Previous.DeepCopy()
	st.ObservedGeneration = obs.Generation
	st.Address = obs.Address
	conds := Conditions{List: &st.Conditions, Generation: obs.Generation, Now: obs.Now}
	if p := obs.NotAccepted; p != nil {
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.Reason(p.Reason), p.Message)
		if c := conds.Get(v1alpha1.ConditionProgrammed); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != obs.Generation {
			conds.Set(v1alpha1.ConditionProgrammed, false, v1alpha1.ReasonNotAccepted, "nothing of this generation is applied until the ingress is accepted; members keep what was applied before")
		}
		conds.Ready([]string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed}, nil)
		return Result{Status: st}
	}

	prev := map[string]v1alpha1.IngressClusterStatus{}
	for _, cs := range obs.Previous.Clusters {
		prev[cs.Name] = cs
	}
	st.Clusters = make([]v1alpha1.IngressClusterStatus, 0, len(obs.Members))
	for _, m := range obs.Members {
		st.Clusters = append(st.Clusters, v1alpha1.IngressClusterStatus{
			Name: m.Name, Programmed: m.Outcome == Programmed, Drained: m.Drained, Message: m.Message, AnnouncingNodes: m.AnnouncingNodes,
			Certificates: m.Certificates,
		})
	}
	allRefused := setAccepted(conds, obs)
	setProgrammed(conds, obs)
	setLinked(conds, &st, obs)
	requeue := setHealthy(conds, &st, obs, prev)
	requeue = minPositive(requeue, setAdvertised(conds, &st, obs, prev))
	if allRefused {
		explainRefusedEverywhere(conds)
	}
	// Ready follows what the routers carry when a watcher can tell, and the health of the
	// members when the gate is on.
	conds.Ready([]string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed, v1alpha1.ConditionLinked},
		[]string{v1alpha1.ConditionAdvertised, v1alpha1.ConditionDrained, v1alpha1.ConditionHealthy})
	return Result{Status: st, Requeue: metav1.Duration{Duration: requeue}}
}

// setAccepted says whether some members refuse the ingress, and reports whether all do.
func setAccepted(conds Conditions, obs *Observation) (allRefused bool) {
	var refusals []render.Problem
	allRefused = len(obs.Members) > 0
	for _, m := range obs.Members {
		refusals = append(refusals, m.Refusals...)
		allRefused = allRefused && m.Outcome == Refused
	}
	switch {
	case allRefused:
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.Reason(refusals[0].Reason), render.Summary(refusals)+"; every selected member refuses the ingress, so nothing of this generation is applied anywhere (members keep what was applied before)")
	case len(refusals) > 0:
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.Reason(refusals[0].Reason), render.Summary(refusals)+"; the other members are programmed")
	default:
		conds.Set(v1alpha1.ConditionAccepted, true, v1alpha1.ReasonAccepted, "")
	}
	return allRefused
}

// setProgrammed summarises the members: Programmed only when every selected member holds
// every object. The reason names the worst thing that happened.
func setProgrammed(conds Conditions, obs *Observation) {
	var pending []string
	worst := Programmed
	for _, m := range obs.Members {
		if m.Outcome == Programmed {
			continue
		}
		pending = append(pending, m.Name+" ("+m.Message+")")
		if outcomeRank[m.Outcome] > outcomeRank[worst] {
			worst = m.Outcome
		}
	}
	summary := fmt.Sprintf("%d of %d members programmed", len(obs.Members)-len(pending), len(obs.Members))
	if len(pending) > 0 {
		summary += "; not programmed: " + strings.Join(pending, ", ")
	}
	reason := map[Outcome]v1alpha1.Reason{
		Programmed:  v1alpha1.ReasonProgrammed,
		Refused:     v1alpha1.ReasonPartiallyProgrammed,
		Unavailable: v1alpha1.ReasonMemberUnavailable,
		Conflict:    v1alpha1.ReasonNameConflict,
		Rejected:    v1alpha1.ReasonMetalLBConfigRejected,
		Failed:      v1alpha1.ReasonApplyFailed,
	}[worst]
	conds.Set(v1alpha1.ConditionProgrammed, len(pending) == 0, reason, summary)
}

// explainRefusedEverywhere says what is true of an ingress every selected member refuses:
// nothing of this generation was applied anywhere, so nothing is on its way either.
func explainRefusedEverywhere(conds Conditions) {
	const why = "every selected member refuses the ingress (see Accepted), so nothing of this generation is applied"
	conds.Set(v1alpha1.ConditionProgrammed, false, v1alpha1.ReasonNotAccepted, "nothing is programmed: "+why)
	if c := conds.Get(v1alpha1.ConditionHealthy); c != nil && c.Status != metav1.ConditionTrue {
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonNotAccepted, "no member serves this generation: "+why)
	}
	if c := conds.Get(v1alpha1.ConditionAdvertised); c != nil && c.Status == metav1.ConditionFalse {
		conds.Set(v1alpha1.ConditionAdvertised, false, v1alpha1.ReasonNotAccepted, "the routers carry no path of the VIP, and none is on its way: "+why)
	}
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func sortedJoin(s []string) string {
	sort.Strings(s)
	return strings.Join(s, ", ")
}
