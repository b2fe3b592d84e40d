package render

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
)

// Reasons of the problems render reports. They become condition reasons, so they are
// CamelCase and stable.
const (
	// ReasonUnsupportedByMode: a member's MetalLB mode cannot do what is asked.
	ReasonUnsupportedByMode = "UnsupportedByMetalLBMode"
	// ReasonAddressNotInPool: the VIP is outside every class pool.
	ReasonAddressNotInPool = "AddressNotInPool"
	// ReasonAddressNotAllocated: no spec.address and no allocated address yet.
	ReasonAddressNotAllocated = "AddressNotAllocated"
	// ReasonUnknownCluster: a cluster name that the class does not have.
	ReasonUnknownCluster = "UnknownCluster"
	// ReasonNoServingCluster: every selected cluster is drained.
	ReasonNoServingCluster = "NoServingCluster"
	// ReasonNamespaceNotAllowed: the class does not admit the ingress namespace.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonPasswordSecretNotFound: a peer's password Secret or key is missing on the hub.
	ReasonPasswordSecretNotFound = "PasswordSecretNotFound"
	// ReasonInvalidSpec: something the API schema rejects (seen when rendering files that
	// never went through an API server).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonInvalidRoute: a route does not fit the listener it attaches to (a TLS
	// passthrough route with a path, a gRPC match or no SNI hostname).
	ReasonInvalidRoute = "InvalidRoute"
	// ReasonPeerConflict: another class already configures the member's MetalLB in a way
	// this one contradicts (another ASN, or the same BGP peer).
	ReasonPeerConflict = "PeerConflict"
)

// Problem is one reason why something is not rendered. A Problem with a Cluster applies to
// that member only (nothing is rendered there); without one it applies to every member.
type Problem struct {
	// Reason is a CamelCase word, used as a condition reason.
	Reason string `json:"reason"`
	// Field is the path of the offending field, e.g. spec.clusters[east].peers[tor].bfd.
	Field string `json:"field,omitempty"`
	// Cluster is the member the problem applies to, if only one.
	Cluster string `json:"cluster,omitempty"`
	// Message says what is wrong and what to do, for a person.
	Message string `json:"message"`
}

func (p Problem) Error() string {
	if p.Cluster != "" {
		return fmt.Sprintf("%s: cluster %s: %s", p.Reason, p.Cluster, p.Message)
	}
	return p.Reason + ": " + p.Message
}

// Summary joins problems into one message for a condition or an error.
func Summary(ps []Problem) string {
	msgs := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Cluster != "" {
			msgs = append(msgs, "cluster "+p.Cluster+": "+p.Message)
		} else {
			msgs = append(msgs, p.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// checkClass finds what stops the class from being rendered: problems for every member
// (global) and refusals per member.
func checkClass(c *v1alpha1.AnycastClass, obs *Observed, checkSecrets bool) (global []Problem, perCluster map[string][]Problem) {
	perCluster = map[string][]Problem{}
	secrets := obs.Secrets
	for _, p := range obs.ClassConflicts {
		perCluster[p.Cluster] = append(perCluster[p.Cluster], p)
	}
	if _, err := ipam.ParsePools(c.Spec.Pools); err != nil || len(c.Spec.Pools) == 0 {
		msg := "spec.pools needs at least one CIDR"
		if err != nil {
			msg = err.Error()
		}
		global = append(global, Problem{Reason: ReasonInvalidSpec, Field: "spec.pools", Message: msg})
	}
	if (c.Spec.GatewayClassName == "") == (c.Spec.GatewayClass == nil) {
		global = append(global, Problem{Reason: ReasonInvalidSpec, Field: "spec.gatewayClassName",
			Message: "exactly one of spec.gatewayClassName and spec.gatewayClass must be set"})
	}
	if len(c.Spec.Clusters) == 0 {
		global = append(global, Problem{Reason: ReasonInvalidSpec, Field: "spec.clusters", Message: "spec.clusters needs at least one member"})
	}
	for i := range c.Spec.Clusters {
		m := &c.Spec.Clusters[i]
		perCluster[m.Name] = append(perCluster[m.Name], modeRefusalsForMember(m)...)
		perCluster[m.Name] = append(perCluster[m.Name], receiveRefusals(c, m)...)
		for _, p := range m.Peers {
			if _, err := netip.ParseAddr(p.Address); err != nil {
				perCluster[m.Name] = append(perCluster[m.Name], Problem{Reason: ReasonInvalidSpec, Cluster: m.Name,
					Field: fmt.Sprintf("spec.clusters[%s].peers[%s].address", m.Name, p.Name), Message: fmt.Sprintf("peer %s: %q is not an IP address", p.Name, p.Address)})
			}
			if checkSecrets && p.PasswordSecretRef != nil {
				if _, ok := secrets[SecretKey(p.PasswordSecretRef, "password")]; !ok {
					perCluster[m.Name] = append(perCluster[m.Name], Problem{Reason: ReasonPasswordSecretNotFound, Cluster: m.Name,
						Field:   fmt.Sprintf("spec.clusters[%s].peers[%s].passwordSecretRef", m.Name, p.Name),
						Message: fmt.Sprintf("peer %s: the BGP password Secret %s has no key %q in the operator's namespace; create it, the peer is not configured without it", p.Name, p.PasswordSecretRef.Name, keyOr(p.PasswordSecretRef.Key, "password"))})
				}
			}
		}
	}
	for name, ps := range perCluster {
		if len(ps) == 0 {
			delete(perCluster, name)
		}
	}
	return global, perCluster
}

// checkIngress finds what stops the ingress from being rendered, given a class that
// passed checkClass's global checks.
func checkIngress(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, obs *Observed) (global []Problem, perCluster map[string][]Problem) {
	perCluster = map[string][]Problem{}
	if ing.Spec.ClassName != c.Name {
		global = append(global, Problem{Reason: ReasonInvalidSpec, Field: "spec.className",
			Message: fmt.Sprintf("the ingress names class %q but was rendered with class %q", ing.Spec.ClassName, c.Name)})
	}
	if p := checkNamespace(c, obs.NamespaceLabels); p != nil {
		global = append(global, *p)
	}

	pools, _ := ipam.ParsePools(c.Spec.Pools)
	vip, p := effectiveAddress(ing, obs)
	switch {
	case p != nil:
		global = append(global, *p)
	case !ipam.Contains(pools, vip):
		global = append(global, Problem{Reason: ReasonAddressNotInPool, Field: "spec.address",
			Message: fmt.Sprintf("address %s is not a usable address of the class %s pools (%s)", vip, c.Name, strings.Join(c.Spec.Pools, ", "))})
	}

	known := map[string]bool{}
	for _, m := range c.Spec.Clusters {
		known[m.Name] = true
	}
	unknown := func(field string, names []string) {
		for _, n := range names {
			if !known[n] {
				global = append(global, Problem{Reason: ReasonUnknownCluster, Field: field,
					Message: fmt.Sprintf("%s names cluster %q, which class %s does not have (it has %s)", field, n, c.Name, strings.Join(clusterNames(c), ", "))})
			}
		}
	}
	global = append(global, checkRoutes(ing)...)
	global = append(global, checkCertificates(c, ing, obs)...)
	unknown("spec.clusters", ing.Spec.Clusters)
	unknown("spec.drain", ing.Spec.Drain)
	for _, s := range ing.Spec.Services {
		unknown(fmt.Sprintf("spec.services[%s].runsOn", s.Name), s.RunsOn)
	}
	selected := SelectedClusters(c, ing)
	serving := 0
	for _, m := range selected {
		if !contains(ing.Spec.Drain, m) {
			serving++
		}
	}
	if len(selected) > 0 && serving == 0 {
		global = append(global, Problem{Reason: ReasonNoServingCluster, Field: "spec.drain",
			Message: "spec.drain names every selected cluster; at least one must keep serving the VIP (delete the ingress to stop serving it)"})
	}

	if vip.IsValid() {
		for _, name := range selected {
			if m := c.Member(name); m != nil {
				perCluster[name] = append(perCluster[name], modeRefusalsForIngress(m, ing, vip)...)
				perCluster[name] = append(perCluster[name], overlapRefusals(c, ing, name, vip, obs)...)
				if len(perCluster[name]) == 0 {
					delete(perCluster, name)
				}
			}
		}
	}
	return global, perCluster
}

// checkNamespace applies the class's allowedNamespaces to the ingress namespace.
func checkNamespace(c *v1alpha1.AnycastClass, nsLabels map[string]string) *Problem {
	an := c.Spec.AllowedNamespaces
	if an == nil || an.From == "" || an.From == v1alpha1.NamespacesFromAll {
		return nil
	}
	sel, err := selectorOf(an.Selector)
	if err != nil {
		return &Problem{Reason: ReasonNamespaceNotAllowed, Field: "spec.className",
			Message: fmt.Sprintf("class %s has an invalid allowedNamespaces.selector (%v); no namespace is admitted until it is fixed", c.Name, err)}
	}
	if !sel.Matches(labels.Set(nsLabels)) {
		return &Problem{Reason: ReasonNamespaceNotAllowed, Field: "spec.className",
			Message: fmt.Sprintf("class %s only admits namespaces matching %s; label this namespace or use another class", c.Name, sel.String())}
	}
	return nil
}

// selectorOf is metav1.LabelSelectorAsSelector with an error that does not depend on map
// order: that function walks matchLabels in map order, so which invalid label it names
// changed from one render to the next (found by FuzzRender), and a status message must not
// flap. The first invalid label in key order, then the first invalid expression, is named.
func selectorOf(ls *metav1.LabelSelector) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err == nil {
		return sel, nil
	}
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		one := &metav1.LabelSelector{MatchLabels: map[string]string{k: ls.MatchLabels[k]}}
		if _, e := metav1.LabelSelectorAsSelector(one); e != nil {
			return nil, e
		}
	}
	for _, r := range ls.MatchExpressions {
		one := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{r}}
		if _, e := metav1.LabelSelectorAsSelector(one); e != nil {
			return nil, e
		}
	}
	return nil, err
}

// effectiveAddress is spec.address, or the allocated address.
func effectiveAddress(ing *v1alpha1.AnycastIngress, obs *Observed) (netip.Addr, *Problem) {
	s := ing.Spec.Address
	field := "spec.address"
	if s == "" {
		s, field = obs.Address, "status.address"
	}
	if s == "" {
		return netip.Addr{}, &Problem{Reason: ReasonAddressNotAllocated, Field: "spec.address",
			Message: "spec.address is unset and no address has been allocated from the class pools yet"}
	}
	a, ok := ipam.ParseVIP(s)
	if !ok {
		return netip.Addr{}, &Problem{Reason: ReasonInvalidSpec, Field: field, Message: fmt.Sprintf("%s %q is not an IP address", field, s)}
	}
	return a, nil
}

// SelectedClusters are the members the ingress selects, in class order.
func SelectedClusters(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) []string {
	var out []string
	for _, m := range c.Spec.Clusters {
		if len(ing.Spec.Clusters) == 0 || contains(ing.Spec.Clusters, m.Name) {
			out = append(out, m.Name)
		}
	}
	return out
}

func clusterNames(c *v1alpha1.AnycastClass) []string {
	out := make([]string, 0, len(c.Spec.Clusters))
	for _, m := range c.Spec.Clusters {
		out = append(out, m.Name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}

// ProblemOf is the Problem of an address refusal (nil for none).
func ProblemOf(r *ipam.Refusal) *Problem {
	if r == nil {
		return nil
	}
	return &Problem{Reason: r.Reason, Field: r.Field, Message: r.Message}
}

// checkRoutes refuses routes that do not fit their listener. A TLS listener passes the
// connection through unopened, chosen by SNI alone: its routes have no paths, no gRPC
// matches, and need a hostname (the route's, or the listener's) for the TLSRoute.
func checkRoutes(ing *v1alpha1.AnycastIngress) []Problem {
	listeners := ing.Spec.Listeners
	if len(listeners) == 0 {
		listeners = DefaultListeners
	}
	names := map[string]bool{}
	for _, l := range listeners {
		names[l.Name] = true
	}
	var out []Problem
	for _, r := range ing.Spec.Routes {
		field := fmt.Sprintf("spec.routes[%s]", r.Name)
		if r.Listener != "" && !names[r.Listener] {
			out = append(out, Problem{Reason: ReasonInvalidSpec, Field: field + ".listener",
				Message: fmt.Sprintf("route %s names listener %q, which spec.listeners does not have", r.Name, r.Listener)})
			continue
		}
		if r.GRPC != nil && (pathOr(r.PathPrefix) != "/" || r.RewritePrefix != "") {
			out = append(out, Problem{Reason: ReasonInvalidRoute, Field: field + ".grpc",
				Message: fmt.Sprintf("route %s is a gRPC route, which matches services and methods, not paths: remove pathPrefix and rewritePrefix", r.Name)})
		}
		if !onTLSListener(r, listeners) {
			continue
		}
		on := "a TLS listener"
		if r.Listener != "" {
			on = "TLS listener " + r.Listener
		}
		switch {
		case r.GRPC != nil:
			out = append(out, Problem{Reason: ReasonInvalidRoute, Field: field + ".grpc",
				Message: fmt.Sprintf("route %s attaches to %s, which passes TLS through unopened, so it cannot match gRPC calls: attach it to an HTTP or HTTPS listener", r.Name, on)})
		case pathOr(r.PathPrefix) != "/" || r.RewritePrefix != "":
			out = append(out, Problem{Reason: ReasonInvalidRoute, Field: field + ".pathPrefix",
				Message: fmt.Sprintf("route %s attaches to %s, which passes TLS through unopened and routes by SNI hostname only: remove pathPrefix and rewritePrefix, or attach it to an HTTPS listener", r.Name, on)})
		case len(routeHostnames(r, listeners)) == 0:
			out = append(out, Problem{Reason: ReasonInvalidRoute, Field: field + ".hostnames",
				Message: fmt.Sprintf("route %s attaches to %s, which routes by SNI hostname: give the route hostnames, or the listener a hostname", r.Name, on)})
		}
	}
	return out
}
