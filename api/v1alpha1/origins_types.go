package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionOriginsExplained is True when every path the watcher holds inside the class
// pools is explained by an ingress: its prefix is an ingress's VIP, and its origin AS is a
// member the ingress has programmed and asks to advertise the VIP. False lists what is not
// (status.unexpectedOrigins). Absent without a watcher. The operator only reports: it
// never withdraws or changes an advertisement because of it, and Ready does not depend on
// it (a leak elsewhere in the fabric does not stop the class from serving).
const ConditionOriginsExplained = "OriginsExplained"

// Reasons of OriginsExplained.
const (
	// ReasonNoneUnexpected: no path in the pools is unexplained (OriginsExplained=True).
	ReasonNoneUnexpected Reason = "NoneUnexpected"
	// ReasonUnexpectedOrigins: the routers carry paths no ingress explains.
	ReasonUnexpectedOrigins Reason = "UnexpectedOrigins"
)

// OriginKind says why no ingress explains a path.
// +kubebuilder:validation:Enum=UnknownOrigin;Unowned;Drained;NotProgrammed
type OriginKind string

// The kinds of unexpected origins. When several apply, the first listed here is reported.
const (
	// OriginUnknown: the path's origin AS is no member's ASN (nor a peer's localASN): a
	// route from outside the class, a hijack, or an aggregate (origin AS 0: the path ends
	// in an AS_SET, or a router originates it itself).
	OriginUnknown OriginKind = "UnknownOrigin"
	// OriginUnowned: a member originates a prefix in the pools that is no ingress's
	// address: a VIP whose ingress was deleted and that the member still announces, or a
	// leak.
	OriginUnowned OriginKind = "Unowned"
	// OriginDrained: a member originates an ingress's VIP that the ingress asks it to
	// withdraw (drained, or withdrawn by the health gate; a drain by prepending is
	// expected and not reported).
	OriginDrained OriginKind = "Drained"
	// OriginNotProgrammed: a member originates an ingress's VIP although it is not one of
	// the ingress's members (status.clusters), so the operator never asked it to.
	OriginNotProgrammed OriginKind = "NotProgrammed"
)

// MaxUnexpectedOrigins bounds status.unexpectedOrigins; the OriginsExplained message and
// the anycast_unexpected_origins metric count them all.
const MaxUnexpectedOrigins = 32

// UnexpectedOrigin is one prefix and origin AS the routers carry inside the class pools
// that no ingress explains.
type UnexpectedOrigin struct {
	// prefix the routers carry, inside a pool of the class.
	Prefix string `json:"prefix"`
	// originAS is the last AS of the path (0: an AS_SET, or a path the router originates
	// itself).
	OriginAS int64 `json:"originAS"`
	// kind is why no ingress explains it: UnknownOrigin, Unowned, Drained or NotProgrammed.
	Kind OriginKind `json:"kind"`
	// member whose ASN is the origin AS, if any.
	// +optional
	Member string `json:"member,omitempty"`
	// ingress (namespace/name) whose address the prefix is, if any.
	// +optional
	Ingress string `json:"ingress,omitempty"`
	// seenBy are the watcher sessions and BMP routers that carry the path (at most 8).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	SeenBy []string `json:"seenBy,omitempty"`
	// since is when the operator first found the path unexplained.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}
