package render

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	mlbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	mlbv1beta2 "go.universe.tf/metallb/api/v1beta2"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// DefaultMetalLBNamespace is where MetalLB runs unless the class says otherwise.
const DefaultMetalLBNamespace = "metallb-system"

// MetalLBNamespace is the namespace MetalLB runs in on the class's members.
func MetalLBNamespace(c *v1alpha1.AnycastClass) string {
	if c.Spec.MetalLBNamespace != "" {
		return c.Spec.MetalLBNamespace
	}
	return DefaultMetalLBNamespace
}

// PeerName is the name of the BGPPeer rendered for a class peer.
func PeerName(class, peer string) string { return class + "-" + peer }

// PasswordSecretName is the name of the basic-auth Secret holding a peer's password on a
// member.
func PasswordSecretName(class, peer string) string { return class + "-" + peer + "-bgp-password" }

// bfdProfileName names the profile shared by every peer of a class with equal settings.
func bfdProfileName(class string, s *v1alpha1.BFDSettings) string {
	return class + "-bfd-" + shortHash(s)
}

// classMetalLB renders a member's BGP peers, their BFD profiles and password Secrets.
func classMetalLB(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, secrets map[string]string) []*unstructured.Unstructured {
	ns := MetalLBNamespace(c)
	labels := owner.Class(c.Name).Labels()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	var out []*unstructured.Unstructured
	profiles := map[string]*v1alpha1.BFDSettings{}
	for i := range m.Peers {
		p := &m.Peers[i]
		spec := mlbv1beta2.BGPPeerSpec{
			MyASN:                 uint32(m.ASN),
			ASN:                   uint32(p.ASN),
			Address:               p.Address,
			SrcAddress:            p.SourceAddress,
			HoldTime:              p.HoldTime,
			KeepaliveTime:         p.KeepaliveTime,
			ConnectTime:           p.ConnectTime,
			NodeSelectors:         p.NodeSelectors,
			EBGPMultiHop:          p.EBGPMultiHop,
			VRFName:               p.VRF,
			EnableGracefulRestart: p.EnableGracefulRestart,
		}
		if p.Port != nil {
			spec.Port = uint16(*p.Port)
		}
		if p.LocalASN != nil {
			spec.LocalASN = uint32(*p.LocalASN)
		}
		if p.BFD != nil {
			name := bfdProfileName(c.Name, p.BFD)
			profiles[name] = p.BFD
			spec.BFDProfile = name
		}
		if p.PasswordSecretRef != nil {
			secretName := PasswordSecretName(c.Name, p.Name)
			spec.PasswordSecret = corev1.SecretReference{Name: secretName, Namespace: ns}
			out = append(out, toUnstructured(&corev1.Secret{
				ObjectMeta: meta(secretName),
				// MetalLB reads peer passwords from basic-auth Secrets, key "password".
				Type: corev1.SecretTypeBasicAuth,
				Data: map[string][]byte{corev1.BasicAuthPasswordKey: []byte(secrets[SecretKey(p.PasswordSecretRef, "password")])},
			}, GVKSecret))
		}
		out = append(out, toUnstructured(&mlbv1beta2.BGPPeer{ObjectMeta: meta(PeerName(c.Name, p.Name)), Spec: spec}, GVKBGPPeer))
	}
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := profiles[n]
		out = append(out, toUnstructured(&mlbv1beta1.BFDProfile{ObjectMeta: meta(n), Spec: mlbv1beta1.BFDProfileSpec{
			ReceiveInterval:  u32(s.ReceiveInterval),
			TransmitInterval: u32(s.TransmitInterval),
			DetectMultiplier: u32(s.DetectMultiplier),
			EchoInterval:     u32(s.EchoInterval),
			EchoMode:         s.EchoMode,
			PassiveMode:      s.PassiveMode,
			MinimumTTL:       u32(s.MinimumTTL),
		}}, GVKBFDProfile))
	}
	return out
}

// PoolName is the name of the IPAddressPool (and BGPAdvertisement) of an ingress.
func PoolName(namespace, ingress string) string { return ingressObjectName(namespace, ingress) }

// ingressMetalLB renders the VIP's pool and, unless the member withdraws it, its
// advertisement to the member's peers (with the member's ASN prepended in a prepend
// drain).
func ingressMetalLB(c *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, ing *v1alpha1.AnycastIngress, vip netip.Addr, adv Advertisement) []*unstructured.Unstructured {
	ns := MetalLBNamespace(c)
	name := PoolName(ing.Namespace, ing.Name)
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: owner.Ingress(c.Name, ing.Namespace, ing.Name).Labels()}
	out := []*unstructured.Unstructured{toUnstructured(&mlbv1beta1.IPAddressPool{
		ObjectMeta: meta,
		Spec: mlbv1beta1.IPAddressPoolSpec{
			Addresses: []string{netip.PrefixFrom(vip, vip.BitLen()).String()},
			// Only a Service that asks for this pool by name gets the VIP, only in the
			// namespace where the Gateway's Service lives, and only the Service labelled
			// for this ingress's Gateway: nothing else can take it by accident.
			AutoAssign: ptr.To(false),
			AllocateTo: &mlbv1beta1.ServiceAllocation{
				Namespaces:       []string{GatewayServiceNamespace(c, ing)},
				ServiceSelectors: []metav1.LabelSelector{{MatchLabels: GatewayServiceLabels(ing)}},
			},
		},
	}, GVKIPAddressPool)}
	if adv.Mode == Withdraw {
		return out
	}
	spec := mlbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{name}}
	for _, p := range m.Peers {
		spec.Peers = append(spec.Peers, PeerName(c.Name, p.Name))
	}
	if a := ing.Spec.Advertisement; a != nil {
		spec.Communities = a.Communities
		if a.LocalPref != nil {
			spec.LocalPref = uint32(*a.LocalPref)
		}
	}
	if adv.Mode == Prepend {
		spec.AsPathPrepend = uint8(adv.Prepend)
	}
	out = append(out, toUnstructured(&mlbv1beta1.BGPAdvertisement{ObjectMeta: meta, Spec: spec}, GVKBGPAdvertisement))
	return out
}

func u32(p *int32) *uint32 {
	if p == nil {
		return nil
	}
	return ptr.To(uint32(*p))
}
