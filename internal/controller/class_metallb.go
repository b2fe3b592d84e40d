package controller

import (
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/observe"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// setMetalLBConfigValid sets the class's MetalLBConfigValid condition from its members'
// verdicts. It is absent while no member publishes one (MetalLB before v0.15.3), so it
// never holds a class back that cannot be judged.
func setMetalLBConfigValid(conds status.Conditions, statuses []v1alpha1.ClusterStatus) {
	var rejected, silent []string
	judged := 0
	for _, st := range statuses {
		switch {
		case !st.Reachable || st.Removed:
		case st.MetalLB == observe.MetalLBInvalid:
			judged++
			rejected = append(rejected, st.Name+": "+st.MetalLBMessage)
		case st.MetalLB == observe.MetalLBValid:
			judged++
		default:
			silent = append(silent, st.Name)
		}
	}
	switch {
	case judged == 0:
		conds.Remove(v1alpha1.ConditionMetalLBConfigValid)
	case len(rejected) > 0:
		conds.Set(v1alpha1.ConditionMetalLBConfigValid, false, v1alpha1.Reason(observe.ReasonMetalLBConfigRejected),
			"MetalLB rejects its whole configuration and keeps its last good one, so no change reaches the routers there: "+joinNames(rejected))
	default:
		msg := "every member's MetalLB accepts its configuration"
		if len(silent) > 0 {
			msg += "; no verdict published by " + joinNames(silent) + " (MetalLB before v0.15.3, or not running)"
		}
		conds.Set(v1alpha1.ConditionMetalLBConfigValid, true, v1alpha1.Reason(ReasonMetalLBConfigValid), msg)
	}
}

// setSpeakerSessions sets SpeakerSessionsEstablished from what frr-k8s reports of the
// speakers' sessions (observe.SpeakersCondition); absent while no member reports any.
func setSpeakerSessions(conds status.Conditions, statuses []v1alpha1.ClusterStatus) {
	present, ok, reason, msg := observe.SpeakersCondition(statuses)
	if !present {
		conds.Remove(v1alpha1.ConditionSpeakerSessionsEstablished)
		return
	}
	conds.Set(v1alpha1.ConditionSpeakerSessionsEstablished, ok, reason, msg)
}

// previous is a member's entry in the class status before this reconcile (zero if none).
func previous(statuses []v1alpha1.ClusterStatus, name string) v1alpha1.ClusterStatus {
	for _, p := range statuses {
		if p.Name == name {
			return p
		}
	}
	return v1alpha1.ClusterStatus{}
}

// ReasonMetalLBConfigValid: every member that publishes a verdict accepts its
// configuration.
const ReasonMetalLBConfigValid = "MetalLBConfigValid"
