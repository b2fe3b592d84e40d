package render

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// What a member's nodes learn from its peers (spec.receive), per MetalLB mode:
//
//   - frr-k8s: an FRRConfiguration (frrk8s.metallb.io/v1beta1) in MetalLB's namespace,
//     where MetalLB's frr-k8s runs unless told otherwise, naming the same router (the
//     member's ASN, the peer's VRF) and the same neighbours as MetalLB's own per-node
//     FRRConfiguration. frr-k8s merges configurations by router and neighbour, so the
//     session stays MetalLB's, one per peer; it refuses the merge when a neighbour's
//     session settings differ (port, source address, password, BFD profile, multihop,
//     timers), so those are written exactly as MetalLB writes them for the peer.
//   - frr: MetalLB's bgpextras ConfigMap, appended verbatim to the FRR configuration:
//     MetalLB writes `route-map <peer>-in deny 20` for every neighbour, and the extras turn
//     that entry into a permit matching the prefixes. FRR applies it only to sessions
//     established after it exists.
//   - native: refused; MetalLB's own speaker cannot install received routes.

// ReasonInvalidReceiveFilter: a receive prefix no peer of the member can send.
const ReasonInvalidReceiveFilter = "InvalidReceiveFilter"

// GVKs of the objects receive renders.
var (
	GVKFRRConfiguration = schema.GroupVersionKind{Group: "frrk8s.metallb.io", Version: "v1beta1", Kind: "FRRConfiguration"}
	GVKConfigMap        = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

// BGPExtrasName is the ConfigMap MetalLB's frr mode appends to its FRR configuration (in
// MetalLB's namespace, key BGPExtrasKey). MetalLB reads one, so one class per member can
// own it; another's is a name conflict, left untouched.
const (
	BGPExtrasName = "bgpextras"
	BGPExtrasKey  = "extras"
)

// ReceiveConfigName names the FRRConfiguration of a class's peers without node selectors;
// ReceivePeerConfigName the one per node selector of a peer that has them.
func ReceiveConfigName(class string) string { return class + "-receive" }

// ReceivePeerConfigName is the FRRConfiguration of one node selector of a peer.
func ReceivePeerConfigName(class, peer string, selector int) string {
	return fmt.Sprintf("%s-receive-%s-%d", class, peer, selector)
}

// familyBits is the longest prefix of an address family.
func familyBits(p netip.Prefix) int { return p.Addr().BitLen() }

// familyName names an address family in messages.
func familyName(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// receivePrefixProblem says why a receive prefix is not a prefix-list entry a peer could
// match (the API's validation, again, for inputs that never went through an API server):
// mask length < ge <= le <= the family's length. frr-k8s refuses a le or ge shorter than
// the prefix or ge above le, and FRR 8.4 drops such an entry from its configuration
// without a word (seen with Debian's FRR 8.4.4); a ge equal to the prefix's length
// changes nothing (older FRR releases refuse it), so it is refused as a mistake.
func receivePrefixProblem(rp v1alpha1.ReceivePrefix) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(rp.Prefix)
	if err != nil {
		return p, fmt.Sprintf("%q is not a CIDR", rp.Prefix)
	}
	if p.Masked() != p {
		return p, fmt.Sprintf("%s has host bits set; write it as %s", rp.Prefix, p.Masked())
	}
	bits, length := familyBits(p), p.Bits()
	switch {
	case rp.LE != nil && int(*rp.LE) < length:
		return p, fmt.Sprintf("%s le %d: le is shorter than the prefix itself (/%d), so nothing inside it matches", p, *rp.LE, length)
	case rp.LE != nil && int(*rp.LE) > bits:
		return p, fmt.Sprintf("%s le %d: an %s route is at most /%d", p, *rp.LE, familyName(p), bits)
	case rp.GE != nil && int(*rp.GE) <= length:
		return p, fmt.Sprintf("%s ge %d: ge must be longer than the prefix (/%d); leave it out to match the prefix itself", p, *rp.GE, length)
	case rp.GE != nil && int(*rp.GE) > bits:
		return p, fmt.Sprintf("%s ge %d: an %s route is at most /%d", p, *rp.GE, familyName(p), bits)
	case rp.LE != nil && rp.GE != nil && *rp.GE > *rp.LE:
		return p, fmt.Sprintf("%s ge %d le %d: ge exceeds le, so nothing matches", p, *rp.GE, *rp.LE)
	}
	return p, ""
}

// peerFamily is the address family of a peer's session (an invalid address is refused
// elsewhere).
func peerIs4(p *v1alpha1.Peer) bool {
	a, err := netip.ParseAddr(p.Address)
	return err == nil && a.Unmap().Is4()
}

// receiveRefusals lists why member m cannot receive what the class asks: its MetalLB mode
// cannot, or a prefix no peer of the member can send (not a prefix-list entry at all, or of
// an address family none of its sessions carries).
func receiveRefusals(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember) []Problem {
	r, field := c.ReceiveOf(m)
	if r == nil {
		return nil
	}
	if m.Mode() == v1alpha1.MetalLBModeNative {
		return []Problem{{Reason: ReasonUnsupportedByMode, Cluster: m.Name, Field: field,
			Message: fmt.Sprintf("%s asks the nodes of %s to learn routes from their peers, which MetalLB in native mode cannot do; run MetalLB in frr-k8s mode on %s, or set spec.clusters[%s].receive.mode None", field, m.Name, m.Name, m.Name)}}
	}
	if r.EffectiveMode() != v1alpha1.ReceiveFiltered {
		return nil
	}
	var v4, v6 bool
	for i := range m.Peers {
		if peerIs4(&m.Peers[i]) {
			v4 = true
		} else {
			v6 = true
		}
	}
	var out []Problem
	for i, rp := range r.Prefixes {
		p, why := receivePrefixProblem(rp)
		if why == "" && len(m.Peers) > 0 && !(p.Addr().Is4() && v4 || p.Addr().Is6() && v6) {
			why = fmt.Sprintf("%s is %s but every peer of %s is %s: a session carries only its own address family, so no peer can send it; list it on a member with an %s peer only (spec.clusters[].receive)",
				p, familyName(p), m.Name, map[bool]string{true: "IPv6", false: "IPv4"}[v6], familyName(p))
		}
		if why != "" {
			out = append(out, Problem{Reason: ReasonInvalidReceiveFilter, Cluster: m.Name, Field: fmt.Sprintf("%s.prefixes[%d]", field, i), Message: why})
		}
	}
	return out
}

// classReceive renders what makes member m's nodes learn routes from its peers: an
// FRRConfiguration (frr-k8s mode) or the bgpextras ConfigMap (frr mode). Nothing without a
// receive setting or peers; receiveRefusals has refused the member if the mode cannot.
func classReceive(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember) []*unstructured.Unstructured {
	r, _ := c.ReceiveOf(m)
	if r == nil || len(m.Peers) == 0 {
		return nil
	}
	switch m.Mode() {
	case v1alpha1.MetalLBModeFRRK8s:
		return frrConfigurations(c, m, r)
	case v1alpha1.MetalLBModeFRR:
		return []*unstructured.Unstructured{bgpExtras(c, m, r)}
	}
	return nil
}

// receiveNotices are what the platform team should know about m's receive setting.
func receiveNotices(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember) []Notice {
	r, field := c.ReceiveOf(m)
	if r == nil || len(m.Peers) == 0 || m.Mode() != v1alpha1.MetalLBModeFRR {
		return nil
	}
	return []Notice{{Reason: NoticeReceiveNeedsSessionReset, Message: fmt.Sprintf("%s is written to MetalLB's %s ConfigMap on %s, which FRR applies only to BGP sessions established after it exists: reset each session that was up before (for example `clear bgp <node address>` on the peer) for the nodes to learn the routes; MetalLB's frr-k8s mode has no such limit", field, BGPExtrasName, m.Name)}}
}

// The part of frr-k8s v0.0.21's FRRConfiguration API (frrk8s.metallb.io/v1beta1) the
// operator writes. Its Go module cannot be required here: the MetalLB version this
// project pins requires a newer frr-k8s that the module proxy does not serve. Field names
// and JSON tags are frr-k8s's.
type frrConfigurationSpec struct {
	BGP          frrBGP                `json:"bgp"`
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
}

type frrBGP struct {
	Routers     []frrRouter     `json:"routers"`
	BFDProfiles []frrBFDProfile `json:"bfdProfiles,omitempty"`
}

type frrRouter struct {
	ASN       uint32        `json:"asn"`
	VRF       string        `json:"vrf,omitempty"`
	Neighbors []frrNeighbor `json:"neighbors"`
}

type frrNeighbor struct {
	ASN                   uint32           `json:"asn"`
	Address               string           `json:"address"`
	SourceAddress         string           `json:"sourceaddress,omitempty"`
	Port                  *uint16          `json:"port,omitempty"`
	PasswordSecret        *frrSecretRef    `json:"passwordSecret,omitempty"`
	HoldTime              *metav1.Duration `json:"holdTime,omitempty"`
	KeepaliveTime         *metav1.Duration `json:"keepaliveTime,omitempty"`
	ConnectTime           *metav1.Duration `json:"connectTime,omitempty"`
	EBGPMultiHop          bool             `json:"ebgpMultiHop,omitempty"`
	BFDProfile            string           `json:"bfdProfile,omitempty"`
	EnableGracefulRestart bool             `json:"enableGracefulRestart,omitempty"`
	ToReceive             frrReceive       `json:"toReceive"`
}

type frrSecretRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type frrReceive struct {
	Allowed frrAllowedIn `json:"allowed"`
}

type frrAllowedIn struct {
	Mode     string              `json:"mode"`
	Prefixes []frrPrefixSelector `json:"prefixes,omitempty"`
}

type frrPrefixSelector struct {
	Prefix string `json:"prefix"`
	LE     uint32 `json:"le,omitempty"`
	GE     uint32 `json:"ge,omitempty"`
}

type frrBFDProfile struct {
	Name             string  `json:"name"`
	ReceiveInterval  *uint32 `json:"receiveInterval,omitempty"`
	TransmitInterval *uint32 `json:"transmitInterval,omitempty"`
	DetectMultiplier *uint32 `json:"detectMultiplier,omitempty"`
	EchoInterval     *uint32 `json:"echoInterval,omitempty"`
	EchoMode         *bool   `json:"echoMode,omitempty"`
	PassiveMode      *bool   `json:"passiveMode,omitempty"`
	MinimumTTL       *uint32 `json:"minimumTtl,omitempty"`
}

// frrConfigurations renders the FRRConfigurations of m's peers: one for the peers that
// every node peers with, one per node selector of the others, so that a node joins the
// sessions MetalLB opens there and no other.
func frrConfigurations(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, r *v1alpha1.ReceiveRoutes) []*unstructured.Unstructured {
	var everywhere []*v1alpha1.Peer
	var out []*unstructured.Unstructured
	for i := range m.Peers {
		p := &m.Peers[i]
		if len(p.NodeSelectors) == 0 {
			everywhere = append(everywhere, p)
			continue
		}
		for j := range p.NodeSelectors {
			out = append(out, frrConfiguration(c, m, r, ReceivePeerConfigName(c.Name, p.Name, j), []*v1alpha1.Peer{p}, &p.NodeSelectors[j]))
		}
	}
	if len(everywhere) > 0 {
		out = append(out, frrConfiguration(c, m, r, ReceiveConfigName(c.Name), everywhere, nil))
	}
	return out
}

func frrConfiguration(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, r *v1alpha1.ReceiveRoutes, name string, peers []*v1alpha1.Peer, sel *metav1.LabelSelector) *unstructured.Unstructured {
	ns := MetalLBNamespace(c)
	spec := frrConfigurationSpec{NodeSelector: sel, BGP: frrBGP{Routers: []frrRouter{}}}
	routers := map[string]int{}
	profiles := map[string]bool{}
	for _, p := range peers {
		// One router per VRF: MetalLB's is keyed by (ASN, VRF), and frr-k8s merges ours into
		// it by VRF, refusing a different ASN.
		i, ok := routers[p.VRF]
		if !ok {
			i = len(spec.BGP.Routers)
			routers[p.VRF] = i
			spec.BGP.Routers = append(spec.BGP.Routers, frrRouter{ASN: uint32(m.ASN), VRF: p.VRF})
		}
		// No source address: MetalLB's frr-k8s backend (v0.16) does not pass the peer's
		// to frr-k8s, and frr-k8s refuses to merge neighbours whose source addresses
		// differ.
		n := frrNeighbor{
			ASN: uint32(p.ASN), Address: p.Address,
			ConnectTime: p.ConnectTime, EBGPMultiHop: p.EBGPMultiHop, EnableGracefulRestart: p.EnableGracefulRestart,
			ToReceive: frrReceive{Allowed: allowedIn(r, p)},
		}
		if p.Port != nil {
			n.Port = ptrU16(uint16(*p.Port))
		}
		n.HoldTime, n.KeepaliveTime = metallbTimers(p.HoldTime, p.KeepaliveTime)
		if p.PasswordSecretRef != nil {
			// The copy MetalLB reads (classMetalLB renders it); MetalLB passes the same
			// reference to frr-k8s when both run in its namespace, and frr-k8s compares
			// the passwords the references resolve to.
			n.PasswordSecret = &frrSecretRef{Name: PasswordSecretName(c.Name, p.Name), Namespace: ns}
		}
		if p.BFD != nil {
			// frr-k8s wants the profile a neighbour names in the same FRRConfiguration, and
			// a profile of the same name in two configurations to be equal: MetalLB's is
			// the BFDProfile classMetalLB renders.
			n.BFDProfile = bfdProfileName(c.Name, p.BFD)
			if !profiles[n.BFDProfile] {
				profiles[n.BFDProfile] = true
				s := p.BFD
				spec.BGP.BFDProfiles = append(spec.BGP.BFDProfiles, frrBFDProfile{Name: n.BFDProfile,
					ReceiveInterval: u32(s.ReceiveInterval), TransmitInterval: u32(s.TransmitInterval), DetectMultiplier: u32(s.DetectMultiplier),
					EchoInterval: u32(s.EchoInterval), EchoMode: s.EchoMode, PassiveMode: s.PassiveMode, MinimumTTL: u32(s.MinimumTTL)})
			}
		}
		spec.BGP.Routers[i].Neighbors = append(spec.BGP.Routers[i].Neighbors, n)
	}
	specMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&spec)
	if err != nil {
		panic(fmt.Sprintf("render: converting an FRRConfiguration: %v", err))
	}
	pruneEmpty(specMap)
	u := &unstructured.Unstructured{Object: map[string]interface{}{"spec": specMap}}
	u.SetGroupVersionKind(GVKFRRConfiguration)
	u.SetName(name)
	u.SetNamespace(ns)
	u.SetLabels(owner.Class(c.Name).Labels())
	return u
}

// allowedIn is what a neighbour accepts: everything, or the prefixes of its session's
// address family.
func allowedIn(r *v1alpha1.ReceiveRoutes, p *v1alpha1.Peer) frrAllowedIn {
	if r.EffectiveMode() == v1alpha1.ReceiveAll {
		return frrAllowedIn{Mode: "all"}
	}
	in := frrAllowedIn{Mode: "filtered", Prefixes: []frrPrefixSelector{}}
	for _, rp := range sameFamily(r.Prefixes, peerIs4(p)) {
		in.Prefixes = append(in.Prefixes, frrPrefixSelector{Prefix: rp.Prefix, LE: u32v(rp.LE), GE: u32v(rp.GE)})
	}
	return in
}

// sameFamily keeps the prefixes of one address family.
func sameFamily(ps []v1alpha1.ReceivePrefix, is4 bool) []v1alpha1.ReceivePrefix {
	var out []v1alpha1.ReceivePrefix
	for _, rp := range ps {
		if p, err := netip.ParsePrefix(rp.Prefix); err == nil && p.Addr().Is4() == is4 {
			out = append(out, rp)
		}
	}
	return out
}

// metallbTimers are the hold and keepalive times MetalLB gives the session: it fills the
// one that is unset from the other (keepalive a third of the hold time), and frr-k8s wants
// both or neither.
func metallbTimers(hold, keepalive *metav1.Duration) (*metav1.Duration, *metav1.Duration) {
	switch {
	case hold != nil && keepalive == nil:
		return hold, &metav1.Duration{Duration: hold.Duration / 3}
	case hold == nil && keepalive != nil:
		return &metav1.Duration{Duration: keepalive.Duration * 3}, keepalive
	}
	return hold, keepalive
}

// bgpExtras renders MetalLB's bgpextras ConfigMap for m's peers (frr mode).
func bgpExtras(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, r *v1alpha1.ReceiveRoutes) *unstructured.Unstructured {
	var b strings.Builder
	fmt.Fprintf(&b, "! anycast-operator, AnycastClass %s: the routes the nodes of %s learn from their peers.\n", c.Name, m.Name)
	b.WriteString("! FRR applies this only to sessions established after it exists.\n")
	for i := range m.Peers {
		p := &m.Peers[i]
		// MetalLB names a neighbour's inbound route-map <address>[-<vrf>]-in.
		routeMap := p.Address
		if p.VRF != "" {
			routeMap += "-" + p.VRF
		}
		routeMap += "-in"
		if r.EffectiveMode() == v1alpha1.ReceiveAll {
			fmt.Fprintf(&b, "route-map %s permit 20\n", routeMap)
			continue
		}
		ip, list := "ip", fmt.Sprintf("anycast-%s-%s-in", c.Name, p.Name)
		if !peerIs4(p) {
			ip = "ipv6"
		}
		prefixes := sameFamily(r.Prefixes, peerIs4(p))
		for j, rp := range prefixes {
			fmt.Fprintf(&b, "%s prefix-list %s seq %d permit %s", ip, list, 5*(j+1), rp.Prefix)
			if rp.GE != nil {
				fmt.Fprintf(&b, " ge %d", *rp.GE)
			}
			if rp.LE != nil {
				fmt.Fprintf(&b, " le %d", *rp.LE)
			}
			b.WriteString("\n")
		}
		if len(prefixes) == 0 {
			// No prefix of this session's family: MetalLB's deny stays.
			continue
		}
		fmt.Fprintf(&b, "route-map %s permit 20\n match %s address prefix-list %s\n", routeMap, ip, list)
	}
	return toUnstructured(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: BGPExtrasName, Namespace: MetalLBNamespace(c), Labels: owner.Class(c.Name).Labels()},
		Data:       map[string]string{BGPExtrasKey: b.String()},
	}, GVKConfigMap)
}

func ptrU16(v uint16) *uint16 { return &v }

func u32v(p *int32) uint32 {
	if p == nil {
		return 0
	}
	return uint32(*p)
}
