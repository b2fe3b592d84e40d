package status

import (
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// linkRank orders the reasons of Linked=False: the worst one names the condition.
var linkRank = map[string]int{string(v1alpha1.ReasonLinkPending): 1, string(v1alpha1.ReasonRedemptionFailed): 2, string(v1alpha1.ReasonSiteError): 3}

// setLinked summarises the Skupper links of the members an ingress selects.
func setLinked(conds Conditions, st *v1alpha1.AnycastIngressStatus, obs *Observation) {
	sk := obs.Skupper
	if sk == nil {
		for i := range st.Clusters {
			st.Clusters[i].Link = LinkNotApplicable
		}
		conds.Set(v1alpha1.ConditionLinked, true, v1alpha1.ReasonNoCrossCluster, "the ingress has no services reached over Skupper")
		return
	}
	var pending []string
	reason := ""
	for i := range st.Clusters {
		cs := &st.Clusters[i]
		l, ok := sk.Links[cs.Name]
		switch {
		case sk.Single:
			l = Link{State: LinkReady}
		case cs.Name == sk.Hub && !ok:
			// The hub is linked to itself; only its Site's errors are reported.
			l = Link{State: LinkReady}
		case !ok:
			l = Link{State: LinkPending, Reason: string(v1alpha1.ReasonLinkPending), Message: "not observed yet"}
		}
		cs.Link = l.State
		if l.State == LinkReady {
			continue
		}
		pending = append(pending, cs.Name+" ("+l.Message+")")
		r := l.Reason
		if r == "" {
			r = string(v1alpha1.ReasonLinkPending)
		}
		if linkRank[r] > linkRank[reason] {
			reason = r
		}
	}
	switch {
	case len(pending) == 0:
		conds.Set(v1alpha1.ConditionLinked, true, v1alpha1.ReasonLinked, "every member is linked to the hub")
	case reason == string(v1alpha1.ReasonLinkPending):
		conds.Set(v1alpha1.ConditionLinked, false, v1alpha1.ReasonLinkPending, "not linked yet: "+sortedJoin(pending))
	default:
		conds.Set(v1alpha1.ConditionLinked, false, v1alpha1.Reason(reason), "not linked: "+sortedJoin(pending))
	}
}
