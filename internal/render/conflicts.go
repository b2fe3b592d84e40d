package render

import (
	"fmt"
	"net/netip"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// ClassConflicts returns, per member of class, the refusal when one of the older classes
// reaches the same cluster (the same kubeconfig reference, or both the local cluster) and
// gives its MetalLB another ASN or the same peer. Classes share more than their members'
// API servers: MetalLB runs one BGP speaker per node, and its FRR modes refuse a
// configuration where peers on one node have different local ASNs or where one peer is
// defined twice. Every class knows only itself, so these contradictions are found by
// comparing with the others, and the younger class yields.
func ClassConflicts(class *v1alpha1.AnycastClass, older []v1alpha1.AnycastClass) []Problem {
	var out []Problem
	for _, m := range class.Spec.Clusters {
		if len(m.Peers) == 0 {
			continue
		}
		ref := memberRef(m.KubeconfigSecretRef)
	others:
		for _, o := range older {
			for _, om := range o.Spec.Clusters {
				if memberRef(om.KubeconfigSecretRef) != ref || len(om.Peers) == 0 {
					continue
				}
				if om.ASN != m.ASN && shareVRF(m.Peers, om.Peers) {
					out = append(out, Problem{Reason: ReasonPeerConflict, Cluster: m.Name,
						Field:   fmt.Sprintf("spec.clusters[%s].asn", m.Name),
						Message: fmt.Sprintf("class %s already peers from this cluster (its member %s) with ASN %d; MetalLB's speakers on a node have one ASN, so %s cannot use %d there (in the same VRF): use the same ASN, or another VRF", o.Name, om.Name, om.ASN, m.Name, m.ASN)})
					break others
				}
				for _, p := range m.Peers {
					for _, op := range om.Peers {
						if samePeer(p, op) {
							out = append(out, Problem{Reason: ReasonPeerConflict, Cluster: m.Name,
								Field:   fmt.Sprintf("spec.clusters[%s].peers[%s]", m.Name, p.Name),
								Message: fmt.Sprintf("class %s already defines the BGP peer %s on this cluster (its member %s, peer %s); MetalLB refuses a peer defined twice: share one class for this cluster's routers", o.Name, p.Address, om.Name, op.Name)})
							break others
						}
					}
				}
			}
		}
	}
	return out
}

// shareVRF: MetalLB runs one BGP instance per VRF, so two ASNs clash only when both
// members have a peer in the same VRF (the default one is "").
func shareVRF(a, b []v1alpha1.Peer) bool {
	for _, p := range a {
		for _, q := range b {
			if p.VRF == q.VRF {
				return true
			}
		}
	}
	return false
}

func samePeer(a, b v1alpha1.Peer) bool {
	aa, err1 := netip.ParseAddr(a.Address)
	ba, err2 := netip.ParseAddr(b.Address)
	port := func(p *int32) int32 {
		if p == nil {
			return 179
		}
		return *p
	}
	return err1 == nil && err2 == nil && aa == ba && port(a.Port) == port(b.Port) && a.VRF == b.VRF
}

// SessionConflicts lists the watcher sessions of class that one of the older classes
// already holds (the same router from the same, or an unspecified, local address): a
// router accepts one session per address pair.
func SessionConflicts(class *v1alpha1.AnycastClass, older []v1alpha1.AnycastClass) map[string]string {
	if class.Spec.Watcher == nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range class.Spec.Watcher.Sessions {
		for _, o := range older {
			if o.Spec.Watcher == nil {
				continue
			}
			for _, os := range o.Spec.Watcher.Sessions {
				if os.Address == s.Address && (os.LocalAddress == s.LocalAddress || os.LocalAddress == "" || s.LocalAddress == "") {
					out[s.Name] = fmt.Sprintf("class %s already peers with %s (its session %s); a router holds one session per address pair: give this session another localAddress, or verify this class's VIPs through that class's session", o.Name, s.Address, os.Name)
				}
			}
		}
	}
	return out
}

// memberRef identifies the cluster a member is reached through: its kubeconfig
// reference, or "" for the cluster the operator runs in.
func memberRef(ref *v1alpha1.SecretKeyReference) string {
	if ref == nil {
		return ""
	}
	return ref.Name + "/" + keyOr(ref.Key, "kubeconfig")
}
