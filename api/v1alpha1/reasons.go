package v1alpha1

// Reason is the reason of a condition of an AnycastIngress or an AnycastClass: a CamelCase
// word that says why the condition has its status. docs/troubleshooting.md explains each
// one: what it means, what to check, what to do.
type Reason string

// Reasons of conditions that are True.
const (
	ReasonAccepted          Reason = "Accepted"
	ReasonProgrammed        Reason = "Programmed"
	ReasonReady             Reason = "Ready"
	ReasonLinked            Reason = "Linked"
	ReasonNoCrossCluster    Reason = "NoCrossClusterServices"
	ReasonAdvertised        Reason = "Advertised"
	ReasonWithdrawn         Reason = "Withdrawn"
	ReasonAllMembersHealthy Reason = "AllMembersHealthy"
)

// Reasons of conditions that are not True, by what they concern.
const (
	// The ingress as a whole.
	ReasonClassNotFound Reason = "ClassNotFound"
	ReasonClassDeleting Reason = "ClassDeleting"
	ReasonNotAccepted   Reason = "NotAccepted"
	ReasonPending       Reason = "Pending"

	// Programming the members.
	ReasonPartiallyProgrammed   Reason = "PartiallyProgrammed"
	ReasonMemberUnavailable     Reason = "MemberUnavailable"
	ReasonNameConflict          Reason = "NameConflict"
	ReasonMetalLBConfigRejected Reason = "MetalLBConfigRejected"
	ReasonApplyFailed           Reason = "ApplyFailed"

	// Skupper links.
	ReasonLinkPending      Reason = "LinkPending"
	ReasonRedemptionFailed Reason = "RedemptionFailed"
	ReasonSiteError        Reason = "SiteError"

	// The routers' view (the watcher).
	ReasonWatcherNotEstablished Reason = "WatcherNotEstablished"
	ReasonWatcherSyncing        Reason = "WatcherSyncing"
	ReasonWithdrawalPending     Reason = "WithdrawalPending"
	ReasonNotAdvertised         Reason = "NotAdvertised"
	ReasonDegraded              Reason = "Degraded"
	ReasonStillAdvertised       Reason = "StillAdvertised"

	// The health gate.
	ReasonAllMembersUnhealthy   Reason = "AllMembersUnhealthy"
	ReasonMembersWithdrawn      Reason = "MembersWithdrawn"
	ReasonMembersUnhealthy      Reason = "MembersUnhealthy"
	ReasonMembersAwaitingHealth Reason = "MembersAwaitingHealth"
	ReasonNoMemberHealthy       Reason = "NoMemberHealthy"
)

// Reasons of an AnycastClass's conditions and of its members' reachability.
const (
	// A member's API server (status.clusters[].reason).
	ReasonAllReachable Reason = "AllReachable"
	ReasonUnreachable  Reason = "Unreachable"
	ReasonConnecting   Reason = "Connecting"
	// The class is still used by ingresses (its deletion waits for them).
	ReasonInUse Reason = "InUse"

	// The watcher's sessions and BMP routers (SessionsEstablished).
	ReasonEstablished     Reason = "Established"
	ReasonNoWatcher       Reason = "NoWatcher"
	ReasonSessionsDown    Reason = "SessionsDown"
	ReasonSessionConflict Reason = "SessionConflict"
	ReasonInvalidWatcher  Reason = "InvalidWatcher"
	ReasonWatcherFailed   Reason = "WatcherFailed"
	ReasonBMPListenFailed Reason = "BMPListenFailed"
)
