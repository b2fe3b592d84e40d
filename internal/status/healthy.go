package status

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// setHealthy writes each member's verdict and what it is asked to do with the VIP, and
// the Healthy condition. It returns when to look again (a new ingress's pending
// deadline), or 0.
func setHealthy(conds Conditions, st *v1alpha1.AnycastIngressStatus, obs *Observation, prev map[string]v1alpha1.IngressClusterStatus) time.Duration {
	g := obs.Gate
	decisions := map[string]health.Decision{}
	if g != nil {
		for _, d := range g.Members {
			decisions[d.Name] = d
		}
	}
	for i := range st.Clusters {
		cs := &st.Clusters[i]
		m := obs.Members[i]
		switch {
		case m.Outcome == Refused:
			// Nothing of this generation was applied there: the member still does what it
			// was last told (a refused prepend drain must not read as prepended).
			cs.Advertisement, cs.WithdrawnReason = prev[cs.Name].Advertisement, prev[cs.Name].WithdrawnReason
		case m.Advertisement != nil:
			cs.Advertisement, cs.WithdrawnReason = string(m.Advertisement.Mode), m.Advertisement.Reason
		}
		d, ok := decisions[cs.Name]
		if !ok {
			continue
		}
		cs.Health, cs.HealthMessage = HealthHealthy, ""
		if !d.Healthy {
			cs.Health, cs.HealthMessage = HealthUnhealthy, g.Verdicts[cs.Name]
		}
		since := metav1.NewTime(d.Since.Truncate(time.Second))
		cs.HealthSince = &since
	}
	if g == nil {
		conds.Remove(v1alpha1.ConditionHealthy)
		return 0
	}
	var unhealthy, withdrawn, awaiting []string
	anyHealthy := false
	for _, d := range g.Members {
		anyHealthy = anyHealthy || d.Healthy
		if !d.Healthy {
			unhealthy = append(unhealthy, d.Name+" ("+g.Verdicts[d.Name]+")")
		}
		switch {
		case d.Awaiting:
			awaiting = append(awaiting, d.Name)
		case d.Withdraw:
			withdrawn = append(withdrawn, d.Name)
		}
	}
	// A new ingress's gateways take a moment to be programmed: until a member has been
	// healthy once, "every member unhealthy" is the ingress coming up, not an outage,
	// for up to PendingDeadline.
	starting := true
	for _, p := range prev {
		starting = starting && p.Health != HealthHealthy
	}
	now := obs.Now.Time
	if c := conds.Get(v1alpha1.ConditionHealthy); c != nil && (c.Reason != string(v1alpha1.ReasonPending) || now.Sub(c.LastTransitionTime.Time) > PendingDeadline) {
		starting = false
	}
	list := strings.Join(unhealthy, ", ")
	nothingServes := len(awaiting) > 0 && !anyHealthy
	switch {
	case (g.AllUnhealthy || nothingServes) && starting:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonPending,
			"waiting for the members to serve the VIP for the first time (a member advertises it once healthy): "+list)
		return PendingDeadline - now.Sub(conds.Get(v1alpha1.ConditionHealthy).LastTransitionTime.Time) + time.Second
	case nothingServes:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonNoMemberHealthy,
			"no member has been healthy yet, so none advertises the VIP (a member's first advertisement waits for its health): "+list)
	case g.AllUnhealthy:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonAllMembersUnhealthy,
			"every serving member is unhealthy, so every one keeps advertising (withdrawing them all would black-hole the VIP): "+list)
	case len(withdrawn) > 0:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonMembersWithdrawn, "withdrawn from the VIP until healthy for the hold-down: "+list)
	case len(awaiting) > 0:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonMembersAwaitingHealth, "not advertising until healthy for the first time: "+list)
	case len(unhealthy) > 0:
		conds.Set(v1alpha1.ConditionHealthy, false, v1alpha1.ReasonMembersUnhealthy, "unhealthy, withdrawn if it lasts: "+list)
	default:
		conds.Set(v1alpha1.ConditionHealthy, true, v1alpha1.ReasonAllMembersHealthy, "every serving member can serve the VIP")
	}
	return 0
}

// HealthWithdrawn reports whether a member's status says the gate withdrew it.
func HealthWithdrawn(cs v1alpha1.IngressClusterStatus) bool {
	return cs.Advertisement == string(render.Withdraw) && cs.WithdrawnReason == render.ReasonUnhealthy
}
