package render

import (
	"fmt"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// AdvertisementMode is what a member's MetalLB is asked to do with the VIP.
type AdvertisementMode string

// Advertisement modes.
const (
	// Advertise: a BGPAdvertisement to the member's peers.
	Advertise AdvertisementMode = "Advertise"
	// Prepend: a BGPAdvertisement with the member's ASN prepended: routers keep the path
	// as a backup but prefer the others.
	Prepend AdvertisementMode = "Prepend"
	// Withdraw: no BGPAdvertisement; MetalLB withdraws the VIP. The pool, Gateway and
	// routes stay, so coming back is immediate.
	Withdraw AdvertisementMode = "Withdraw"
)

// DefaultPrependCount is how often a prepend drain repeats the member's ASN.
const DefaultPrependCount = 3

// Advertisement is the decision for one member.
type Advertisement struct {
	Mode AdvertisementMode `json:"mode"`
	// Prepend is the number of prepended ASNs in Prepend mode.
	Prepend int `json:"prepend,omitempty"`
	// Reason says why the member does not simply advertise: "Drained" (the ingress's
	// spec.drain), "ClusterDrained" (the class drains the member), "Unhealthy" or
	// "AwaitingHealth".
	Reason string `json:"reason,omitempty"`
	// Field is the spec field that asked for a drain, for refusals.
	Field string `json:"-"`
}

// Reasons of Advertisement.Reason.
const (
	ReasonDrained        = "Drained"
	ReasonClusterDrained = "ClusterDrained"
	ReasonUnhealthy      = "Unhealthy"
	// ReasonAwaitingHealth: the member has not advertised the VIP yet and waits until it
	// is healthy for the first time.
	ReasonAwaitingHealth = "AwaitingHealth"
)

// MemberAdvertisement decides what member does with the VIP of ing: a drain (the class's
// maintenance drain first, then the ingress's spec.drain) in its mode, else a health
// withdrawal the controller decided, else advertise.
func MemberAdvertisement(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, member string, obs *Observed) Advertisement {
	m := c.Member(member)
	if m != nil && m.Drain != nil {
		a := fromPolicy(m.Drain, ReasonClusterDrained)
		a.Field = fmt.Sprintf("spec.clusters[%s].drain", member)
		return a
	}
	if contains(ing.Spec.Drain, member) {
		policy := ing.Spec.DrainPolicy
		if policy == nil {
			policy = &v1alpha1.DrainPolicy{}
		}
		a := fromPolicy(policy, ReasonDrained)
		a.Field = "spec.drainPolicy.mode"
		return a
	}
	if contains(obs.HealthWithdrawn, member) {
		return Advertisement{Mode: Withdraw, Reason: ReasonUnhealthy}
	}
	if contains(obs.AwaitingHealth, member) {
		return Advertisement{Mode: Withdraw, Reason: ReasonAwaitingHealth}
	}
	return Advertisement{Mode: Advertise}
}

func fromPolicy(p *v1alpha1.DrainPolicy, reason string) Advertisement {
	if p.Mode == v1alpha1.DrainPrepend {
		n := DefaultPrependCount
		if p.PrependCount != nil {
			n = int(*p.PrependCount)
		}
		return Advertisement{Mode: Prepend, Prepend: n, Reason: reason}
	}
	return Advertisement{Mode: Withdraw, Reason: reason}
}
