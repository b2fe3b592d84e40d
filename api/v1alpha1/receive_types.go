package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReceiveMode says which routes a member's nodes accept from its peers.
// +kubebuilder:validation:Enum=None;Filtered;All
type ReceiveMode string

const (
	// ReceiveNone: the nodes learn nothing from their peers (MetalLB's own behaviour). A
	// member sets it to opt out of a class-wide receive.
	ReceiveNone ReceiveMode = "None"
	// ReceiveFiltered: the nodes learn the routes inside prefixes, and only those.
	ReceiveFiltered ReceiveMode = "Filtered"
	// ReceiveAll: the nodes learn every route their peers send.
	ReceiveAll ReceiveMode = "All"
)

// ReceiveRoutes says what a member's nodes learn from its peers over the BGP sessions
// MetalLB opens to them (no second session is opened): for a node whose default route
// leads elsewhere (a management network), a route to the clients through the TOR keeps
// the answers to a VIP on the path the requests came in by. MetalLB in frr-k8s mode
// receives through an FRRConfiguration that joins MetalLB's sessions; in frr mode
// through its bgpextras ConfigMap, which FRR applies only to sessions established after
// it exists; native mode cannot receive. docs/receiving-routes.md explains when it is
// needed and how each mode does it.
// +kubebuilder:validation:XValidation:rule="(has(self.mode) ? self.mode : 'Filtered') != 'Filtered' || (has(self.prefixes) && size(self.prefixes) > 0)",message="mode Filtered needs prefixes: the routes the nodes may learn"
// +kubebuilder:validation:XValidation:rule="(has(self.mode) ? self.mode : 'Filtered') == 'Filtered' || !has(self.prefixes)",message="prefixes are only used with mode Filtered"
type ReceiveRoutes struct {
	// mode is Filtered (default: the routes inside prefixes), All (every route the peers
	// send) or None (nothing; a member uses it to opt out of the class's setting).
	// +kubebuilder:default=Filtered
	// +optional
	Mode ReceiveMode `json:"mode,omitempty"`

	// prefixes are the routes the nodes may learn (mode Filtered): each prefix, and with
	// le or ge the more specific routes inside it. A prefix applies to the peers of its
	// address family: a session carries only its own family.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Prefixes []ReceivePrefix `json:"prefixes,omitempty"`
}

// ReceivePrefix is one prefix the nodes may learn, with the lengths of the routes inside
// it that match (as a prefix-list entry: prefix, ge, le). Without le and ge only the
// prefix itself matches.
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.prefix) || !has(self.le) || self.le >= cidr(self.prefix).prefixLength()",message="le must be at least the prefix's length"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.prefix) || !has(self.ge) || self.ge > cidr(self.prefix).prefixLength()",message="ge must be longer than the prefix's length (a ge equal to it changes nothing: leave it out)"
// +kubebuilder:validation:XValidation:rule="!has(self.le) || !has(self.ge) || self.ge <= self.le",message="ge must not exceed le"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.prefix) || !has(self.le) || self.le <= (cidr(self.prefix).ip().family() == 4 ? 32 : 128)",message="le must not exceed the address family's length (32 for IPv4, 128 for IPv6)"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.prefix) || !has(self.ge) || self.ge <= (cidr(self.prefix).ip().family() == 4 ? 32 : 128)",message="ge must not exceed the address family's length (32 for IPv4, 128 for IPv6)"
type ReceivePrefix struct {
	// prefix is a CIDR, IPv4 or IPv6, written with its host bits zero.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="prefix must be a CIDR such as 10.20.0.0/16 or 2001:db8::/32"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="prefix must be written with its host bits zero, e.g. 10.20.0.0/16 rather than 10.20.0.1/16"
	Prefix string `json:"prefix"`

	// le also matches the routes inside prefix up to this length.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	LE *int32 `json:"le,omitempty"`

	// ge also matches the routes inside prefix from this length on (up to le, or to the
	// family's longest when le is unset); longer than the prefix.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	GE *int32 `json:"ge,omitempty"`
}

// ReceiveOf is what member m's nodes learn from its peers: the member's own setting, else
// the class's, with the path of the field it comes from. It returns nil for nothing (no
// setting, or mode None).
func (c *AnycastClass) ReceiveOf(m *ClusterMember) (r *ReceiveRoutes, field string) {
	r, field = c.Spec.Receive, "spec.receive"
	if m.Receive != nil {
		r, field = m.Receive, "spec.clusters["+m.Name+"].receive"
	}
	if r == nil || r.Mode == ReceiveNone {
		return nil, field
	}
	return r, field
}

// EffectiveMode is the mode with the API default applied.
func (r *ReceiveRoutes) EffectiveMode() ReceiveMode {
	if r.Mode == "" {
		return ReceiveFiltered
	}
	return r.Mode
}

// ConditionSpeakerSessionsEstablished is True when every BGP session the speakers of the
// frr-k8s members report to the class's peers is Established (frr-k8s BGPSessionState
// objects). Absent while no member reports any (no frr-k8s member, or frr-k8s too old to
// publish them).
const ConditionSpeakerSessionsEstablished = "SpeakerSessionsEstablished"

// Reasons of SpeakerSessionsEstablished.
const (
	// ReasonNoSessionToTOR: on some member none of the speakers' sessions to its peers is
	// Established: it cannot be carrying traffic, and the health gate treats it as
	// unhealthy.
	ReasonNoSessionToTOR Reason = "NoSessionToTOR"
	// ReasonSpeakerSessionsDown: some sessions are not Established, but every member has at
	// least one that is.
	ReasonSpeakerSessionsDown Reason = "SpeakerSessionsDown"
)

// MaxSpeakerNodesNamed bounds how many nodes a speaker session's message names.
const MaxSpeakerNodesNamed = 8

// SpeakerSessionStatus is the speakers' own view of their BGP sessions to one peer of a
// member, as frr-k8s reports it per node (BGPSessionState objects): the other side of
// the watcher's sessions.
type SpeakerSessionStatus struct {
	// peer is the class's name of the peer.
	Peer string `json:"peer"`
	// address of the peer.
	Address string `json:"address"`
	// vrf of the sessions, if any.
	// +optional
	VRF string `json:"vrf,omitempty"`
	// bgpState is the sessions' BGP state when every node agrees; otherwise the least
	// advanced one among the nodes (Idle, Connect, Active, OpenSent, OpenConfirm,
	// Established): Established means every node's session is up.
	BGPState string `json:"bgpState"`
	// bfdState is the sessions' BFD state when every node agrees ("N/A" without BFD);
	// otherwise the first node's that is not up.
	// +optional
	BFDState string `json:"bfdState,omitempty"`
	// nodes is how many nodes report a session to the peer.
	Nodes int32 `json:"nodes"`
	// established is how many of those sessions are Established.
	Established int32 `json:"established"`
	// since is when bgpState (or the number of established sessions) last changed, as the
	// operator saw it.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// message names the nodes whose session is not Established, with their state (at most
	// MaxSpeakerNodesNamed).
	// +optional
	Message string `json:"message,omitempty"`
}
