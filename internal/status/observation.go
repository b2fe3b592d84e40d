// Package status computes an AnycastIngress's status from what one reconcile observed. It
// is pure: no client, no clock (Now is an input), no metrics. The controller observes,
// renders and applies, then hands everything it saw to Ingress and writes the result; the
// same Observation struct, with yaml tags, feeds the golden tests (testdata/*.in.yaml ->
// *.out.yaml, regenerated with -update).
//
// Why per-member fields rather than per-member conditions: what the status says of a
// member is mostly not a yes/no (the advertisement it is asked to make, the state the
// routers report and since when, the Skupper link state), kubectl and the ArgoCD health
// checks read those fields directly, and the ingress-level conditions already summarise
// them with a reason and a message that names each member. Per-member conditions would
// repeat the fields in a second shape.
package status

import (
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Observation is everything one reconcile of an ingress observed.
type Observation struct {
	// Generation is the ingress's metadata.generation.
	Generation int64 `json:"generation"`
	// Now is the reconcile's time.
	Now metav1.Time `json:"now"`
	// Previous is the status the API server holds (the memory of the hold-downs and the
	// transition times).
	Previous v1alpha1.AnycastIngressStatus `json:"previous,omitempty"`

	// NotAccepted stops everything: the class is missing or being deleted, the address
	// cannot be had, or the spec cannot be rendered anywhere. Nothing of this generation is
	// applied; members keep what was applied before.
	NotAccepted *render.Problem `json:"notAccepted,omitempty"`

	// Address is the VIP the ingress uses.
	Address string `json:"address,omitempty"`
	// Members are the selected members, in class order.
	Members []Member `json:"members,omitempty"`

	// Skupper is the linking of the ingress namespace; nil when the ingress reaches no
	// service over Skupper.
	Skupper *Skupper `json:"skupper,omitempty"`
	// Gate is the health gate's decision; nil when the gate is off.
	Gate *Gate `json:"gate,omitempty"`
	// Watcher is what the routers carry; nil without a watcher.
	Watcher *Watcher `json:"watcher,omitempty"`
}

// Outcome is how programming one member went.
type Outcome string

// Outcomes, from best to worst: the worst names the Programmed condition's reason.
const (
	Programmed  Outcome = "Programmed"
	Refused     Outcome = "Refused"     // render refused the member: nothing applied there
	Unavailable Outcome = "Unavailable" // the member cannot be reached
	Conflict    Outcome = "Conflict"    // an object of that name is someone else's
	Rejected    Outcome = "Rejected"    // applied, but the member's MetalLB rejects its configuration
	Failed      Outcome = "Failed"      // the member's API failed
)

var outcomeRank = map[Outcome]int{Programmed: 0, Refused: 1, Unavailable: 2, Conflict: 3, Rejected: 4, Failed: 5}

// Member is what one reconcile saw of one selected member.
type Member struct {
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	// Message says what went wrong (refusals, the member's unavailability, conflicts).
	Message string `json:"message,omitempty"`
	// Refusals are render's refusals of this member (Outcome Refused).
	Refusals []render.Problem `json:"refusals,omitempty"`
	// Drained is true when the ingress or the class drains the member.
	Drained bool `json:"drained,omitempty"`
	// Advertisement is what the member's MetalLB is asked to do with the VIP this
	// generation (ignored for a refused member: it keeps what it was told before).
	Advertisement *render.Advertisement `json:"advertisement,omitempty"`
	// AnnouncingNodes is MetalLB's own count of nodes announcing the VIP.
	AnnouncingNodes *int32 `json:"announcingNodes,omitempty"`
	// Certificates are the HTTPS listeners' certificates as the member serves them.
	Certificates []v1alpha1.MemberCertificateStatus `json:"certificates,omitempty"`
}

// Skupper is the linking of the ingress namespace to the interconnect hub.
type Skupper struct {
	// Hub is the hub member ("" when the class has none).
	Hub string `json:"hub,omitempty"`
	// Single is true for a class of one member: nothing to link.
	Single bool `json:"single,omitempty"`
	// Links are the spokes' links, by member.
	Links map[string]Link `json:"links,omitempty"`
}

// Link is one member's link state: Pending, Ready or Error, with the reason of
// Linked=False it stands for (LinkPending, RedemptionFailed, SiteError) and what is
// awaited or wrong. The hub appears only when its Site is in error.
type Link struct {
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Gate is the health gate's outcome (health.Gate) with each member's verdict.
type Gate struct {
	// Members are the gate's decisions, in member order.
	Members []health.Decision `json:"members"`
	// Verdicts are the messages of the unhealthy verdicts, by member.
	Verdicts map[string]string `json:"verdicts,omitempty"`
	// AllUnhealthy: every serving, advertising member is unhealthy (all kept).
	AllUnhealthy bool `json:"allUnhealthy,omitempty"`
}

// Watcher is what the watcher's sessions carry for the VIP.
type Watcher struct {
	// MemberASNs maps each member of the class to its ASN (origins name members by it).
	MemberASNs map[string]uint32 `json:"memberASNs"`
	// Paths are the paths to the VIP.
	Paths []Path `json:"paths,omitempty"`
	// Sessions are the watcher's sessions of the class.
	Sessions []Session `json:"sessions,omitempty"`
}

// Path is one path to the VIP as a session received it, or a router reported it over
// BMP (Session is then the router's name, Peer and PeerAS its neighbour that sent the path,
// RIB the router's table: PrePolicy, PostPolicy or LocRIB).
type Path struct {
	Session     string     `json:"session"`
	Peer        netip.Addr `json:"peer,omitzero"`
	PeerAS      uint32     `json:"peerAS,omitempty"`
	RIB         string     `json:"rib,omitempty"`
	NextHop     netip.Addr `json:"nextHop"`
	ASPath      []uint32   `json:"asPath,omitempty"`
	OriginAS    uint32     `json:"originAS,omitempty"`
	Communities []string   `json:"communities,omitempty"`
	Since       time.Time  `json:"since,omitempty"`
}

// Session is one watcher session's state, as far as the verdicts depend on it.
type Session struct {
	Name        string `json:"name"`
	Established bool   `json:"established,omitempty"`
	// Synced: the session holds the router's whole table (for the VIP's pool), so a
	// missing path is evidence.
	Synced bool `json:"synced,omitempty"`
	// SyncIn is how long until an unsynced session counts as synced.
	SyncIn metav1.Duration `json:"syncIn,omitempty"`
	// Retained: the router is restarting gracefully and its last table stands for it.
	Retained bool `json:"retained,omitempty"`
}

// Result is the status to write and when to look again (0: only on the next event).
type Result struct {
	Status  v1alpha1.AnycastIngressStatus `json:"status"`
	Requeue metav1.Duration               `json:"requeue,omitempty"`
}
