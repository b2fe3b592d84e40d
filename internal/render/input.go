// Package render turns an AnycastClass, optionally one of its AnycastIngresses, and what the
// operator observed into the objects each member cluster must hold. It is pure: no client,
// no clock, no randomness. The same Input struct feeds the controller, the golden tests
// (testdata/*.in.yaml -> *.out.yaml) and the `anycast-operator render` command.
package render

import (
	"fmt"

	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// Input is everything one render needs.
//
// With Ingress nil, Render returns the class-scoped objects (BGP peers, BFD profiles, peer
// password Secrets, the GatewayClass). With Ingress set, it returns that ingress's objects
// and, when the ingress uses cross-cluster services, the Skupper network objects of its
// namespace.
type Input struct {
	// Class is the AnycastClass, with API defaults applied or not: render treats unset
	// fields as their documented defaults.
	Class v1alpha1.AnycastClass `json:"class"`
	// Ingress is the AnycastIngress to render, if any.
	Ingress *v1alpha1.AnycastIngress `json:"ingress,omitempty"`
	// Observed is what the controller read from the hub and the members.
	Observed Observed `json:"observed,omitempty"`
}

// Observed is the state, read by the controller, that rendering depends on.
type Observed struct {
	// Address is the VIP allocated to the ingress when spec.address is unset.
	Address string `json:"address,omitempty"`

	// NamespaceLabels are the labels of the ingress namespace on the hub; they decide
	// whether a class with allowedNamespaces.from=Selector admits the ingress. Nil means the
	// namespace was not read, which only the class-scoped render may do.
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`

	// Secrets holds the values of the hub Secrets the class refers to for peer passwords,
	// keyed "<secret name>/<key>". A peer whose password is missing here is refused on its
	// member rather than rendered without authentication.
	Secrets map[string]string `json:"secrets,omitempty"`

	// Certificates are the hub's Secrets that the ingress's listeners name in
	// tls.certificateRefs, keyed by Secret name (in the ingress namespace), read when the
	// class copies certificates from the hub. A name missing here does not exist on the hub.
	Certificates map[string]CertificateSecret `json:"certificates,omitempty"`

	// Skupper is the linking state of the ingress namespace.
	Skupper SkupperObserved `json:"skupper,omitempty"`

	// ClassConflicts are refusals the controller found by comparing the class with the
	// other classes that share a member (an older class wins): MetalLB configures one BGP
	// speaker per node, so two classes cannot give it different ASNs or the same peer.
	ClassConflicts []Problem `json:"classConflicts,omitempty"`

	// Members is what the controller read on each member, keyed by member name. A member
	// missing here was not read (the render command, or a member that is down): nothing
	// is refused for what could not be seen.
	Members map[string]MemberObserved `json:"members,omitempty"`

	// HealthWithdrawn lists the members whose advertisement of this ingress's VIP the
	// health gate withdraws (the controller decides, with its hold-down and the rule that
	// the last advertising member is never withdrawn).
	HealthWithdrawn []string `json:"healthWithdrawn,omitempty"`

	// AwaitingHealth lists the members that have not advertised the VIP yet and are not
	// healthy yet: a member's first advertisement waits for its health (see the health
	// gate), since MetalLB would announce the VIP as soon as the Service has it.
	AwaitingHealth []string `json:"awaitingHealth,omitempty"`
}

// MemberObserved is what one member holds that rendering depends on.
type MemberObserved struct {
	// Pools are the MetalLB IPAddressPools on the member, every one of them, ours or not:
	// MetalLB rejects its whole configuration when two pools overlap, so a VIP pool that
	// would overlap one of them is refused on that member instead of applied.
	Pools []PoolObserved `json:"pools,omitempty"`
}

// PoolObserved is one IPAddressPool on a member.
type PoolObserved struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Addresses as the pool writes them: CIDRs or "first-last" ranges.
	Addresses []string `json:"addresses"`
	// Class is the AnycastClass whose ingress owns the pool, when the operator made it.
	// The pools of one class never overlap (each holds one VIP, and the allocator gives a
	// VIP to one ingress at a time, reporting AddressInUse to the others), and the pool of
	// an ingress that just gave its VIP up may still be seen for a moment.
	Class string `json:"class,omitempty"`
}

// CertificateSecret is one hub Secret a listener names.
type CertificateSecret struct {
	// Type is the Secret's type; only kubernetes.io/tls is copied.
	Type string `json:"type"`
	// Data is the Secret's data (tls.crt, tls.key, and ca.crt when present).
	Data map[string][]byte `json:"data,omitempty"`
	// Forbidden: the operator may not read Secrets in the ingress namespace on the hub.
	Forbidden bool `json:"forbidden,omitempty"`
}

// SkupperObserved is what the hub and the spokes report about linking, for one namespace.
type SkupperObserved struct {
	// HubSiteEndpoints is true when the hub's Site reports status.endpoints. Tokens are only
	// issued after that: the real Skupper controller spends a grant's redemption even when
	// it fails for lack of endpoints.
	HubSiteEndpoints bool `json:"hubSiteEndpoints,omitempty"`

	// Grants is the state of the grant for each spoke, keyed by spoke name.
	Grants map[string]GrantObserved `json:"grants,omitempty"`
}

// GrantObserved is one spoke's grant as the hub's Skupper controller filled it.
type GrantObserved struct {
	// Attempt numbers the grant: a failed redemption spends a grant, so the controller moves
	// to a fresh one (a new name) instead of retrying it.
	Attempt int `json:"attempt,omitempty"`
	// URL, Code and CA are the grant's status fields; a token is rendered only when all
	// three are set.
	URL  string `json:"url,omitempty"`
	Code string `json:"code,omitempty"`
	CA   string `json:"ca,omitempty"`
	// Issued is true when the spoke already holds the token for this credential: it stays
	// rendered even while the hub Site has no endpoints (it was presented already).
	Issued bool `json:"issued,omitempty"`
}

// SecretKey is the key of Observed.Secrets for a Secret reference.
func SecretKey(ref *v1alpha1.SecretKeyReference, defaultKey string) string {
	key := ref.Key
	if key == "" {
		key = defaultKey
	}
	return ref.Name + "/" + key
}

// ParseInput reads an Input from YAML or JSON, strictly: an unknown or misspelt field is an
// error rather than a silently ignored setting.
func ParseInput(b []byte) (Input, error) {
	var in Input
	if err := yaml.UnmarshalStrict(b, &in); err != nil {
		return Input{}, fmt.Errorf("reading render input: %w", err)
	}
	return in, nil
}
