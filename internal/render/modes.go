package render

import (
	"fmt"
	"net/netip"
	"strings"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// MetalLB validates its configuration per BGP mode, and a rejected configuration only
// shows in the speaker's log. So the operator refuses, in status, what a member's mode
// cannot do, and renders nothing for that member. The lists below are what MetalLB v0.16's
// native mode rejects, as the real MetalLB v0.16 was seen to; the FRR modes (frr, frr-k8s)
// accept them all.

// modeRefusalsForMember lists the class fields of one member its mode rejects.
func modeRefusalsForMember(m *v1alpha1.ClusterMember) []Problem {
	mode := m.Mode()
	if mode != v1alpha1.MetalLBModeNative {
		return nil
	}
	var out []Problem
	refuse := func(peer, field, what string) {
		out = append(out, Problem{
			Reason:  ReasonUnsupportedByMode,
			Cluster: m.Name,
			Field:   fmt.Sprintf("spec.clusters[%s].peers[%s].%s", m.Name, peer, field),
			Message: fmt.Sprintf("peer %s sets %s (%s), which MetalLB in %s mode does not support; remove it or run MetalLB in frr or frr-k8s mode on %s", peer, field, what, mode, m.Name),
		})
	}
	for _, p := range m.Peers {
		// MetalLB's native speaker formats "host:port" without brackets, so it cannot
		// even dial an IPv6 peer ("too many colons in address"); it then replaces the
		// member's working sessions with the dead one.
		if a, err := netip.ParseAddr(p.Address); err == nil && a.Unmap().Is6() {
			refuse(p.Name, "address", "an IPv6 peer address, which the native speaker cannot dial")
		}
		if a, err := netip.ParseAddr(p.SourceAddress); err == nil && a.Unmap().Is6() {
			refuse(p.Name, "sourceAddress", "an IPv6 source address, which the native speaker cannot use")
		}
		if p.BFD != nil {
			refuse(p.Name, "bfd", "BFD")
		}
		if p.KeepaliveTime != nil {
			refuse(p.Name, "keepaliveTime", "keepalive timer")
		}
		if p.ConnectTime != nil {
			refuse(p.Name, "connectTime", "connect timer")
		}
		if p.VRF != "" {
			refuse(p.Name, "vrf", "VRF")
		}
		if p.EnableGracefulRestart {
			refuse(p.Name, "enableGracefulRestart", "graceful restart")
		}
		if p.LocalASN != nil {
			refuse(p.Name, "localASN", "local ASN override")
		}
	}
	return out
}

// modeRefusalsForIngress lists the ingress fields one member's mode rejects.
func modeRefusalsForIngress(m *v1alpha1.ClusterMember, ing *v1alpha1.AnycastIngress, vip netip.Addr) []Problem {
	mode := m.Mode()
	if mode != v1alpha1.MetalLBModeNative {
		return nil
	}
	var out []Problem
	if vip.Is6() {
		out = append(out, Problem{
			Reason: ReasonUnsupportedByMode, Cluster: m.Name, Field: "spec.address",
			Message: fmt.Sprintf("the IPv6 VIP %s cannot be advertised by MetalLB in %s mode on %s; use an FRR mode there or leave %s out of spec.clusters", vip, mode, m.Name, m.Name),
		})
	}
	if ing.Spec.Advertisement != nil {
		for _, c := range ing.Spec.Advertisement.Communities {
			if strings.HasPrefix(c, "large:") {
				out = append(out, Problem{
					Reason: ReasonUnsupportedByMode, Cluster: m.Name, Field: "spec.advertisement.communities",
					Message: fmt.Sprintf("the large community %s cannot be sent by MetalLB in %s mode on %s; use a standard community or an FRR mode", c, mode, m.Name),
				})
			}
		}
	}
	return out
}

// prependRefusals refuses a prepend drain on a member whose MetalLB cannot prepend: in
// MetalLB v0.16 only the frr-k8s backend accepts BGPAdvertisement.asPathPrepend; the frr
// and native backends reject the whole configuration.
func prependRefusals(m *v1alpha1.ClusterMember, adv Advertisement) []Problem {
	if adv.Mode != Prepend || m.Mode() == v1alpha1.MetalLBModeFRRK8s {
		return nil
	}
	return []Problem{{
		Reason: ReasonUnsupportedByMode, Cluster: m.Name, Field: adv.Field,
		Message: fmt.Sprintf("%s asks for a prepend drain of %s, but MetalLB in %s mode cannot prepend (only its frr-k8s backend supports asPathPrepend); use mode withdraw, or run MetalLB in frr-k8s mode on %s", adv.Field, m.Name, m.Mode(), m.Name),
	}}
}

// Notice is what the platform team should know about a member that stops nothing: the
// class status lists its message (status.clusters[].notices) and a Normal event with its
// reason tells it once.
type Notice struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Reasons of notices (event reasons, not condition reasons).
const (
	// NoticeReceiveNeedsSessionReset: frr mode applies spec.receive only to sessions
	// established after it.
	NoticeReceiveNeedsSessionReset = "ReceiveNeedsSessionReset"
	// NoticeMetalLBModeDeprecated: the member runs MetalLB's bundled FRR, deprecated
	// upstream.
	NoticeMetalLBModeDeprecated = "MetalLBModeDeprecated"
)

// memberNotices are what the platform team should know about member m.
func memberNotices(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember) []Notice {
	var out []Notice
	if m.Mode() == v1alpha1.MetalLBModeFRR {
		out = append(out, Notice{Reason: NoticeMetalLBModeDeprecated, Message: fmt.Sprintf("%s runs MetalLB in frr mode (its bundled FRR), which MetalLB deprecated in 0.16 in favour of frr-k8s, its default backend: plan the move to frr-k8s (metallbMode frr-k8s, once MetalLB there runs with frr-k8s); frr mode keeps working meanwhile", m.Name)})
	}
	return append(out, receiveNotices(c, m)...)
}

// NoticeMessages are the messages of notices, as the class status lists them.
func NoticeMessages(ns []Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Message)
	}
	return out
}

// NewNotices are the notices whose message before does not list: those to tell again.
func NewNotices(before []string, now []Notice) []Notice {
	var out []Notice
	for _, n := range now {
		if !contains(before, n.Message) {
			out = append(out, n)
		}
	}
	return out
}
