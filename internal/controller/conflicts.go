package controller

import (
	"context"
	"fmt"
	"net/netip"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Classes share more than their members' API servers: MetalLB runs one BGP speaker per
// node, and its FRR modes refuse a configuration where peers on the same node have
// different local ASNs or where one peer is defined twice; the embedded watcher can hold
// only one session per router and local address. Every class knows only itself, so these
// contradictions are found here, by comparing with the other classes, and the younger
// class (creation time, then name) yields.

// olderClasses lists the classes that take precedence over class.
func olderClasses(ctx context.Context, c client.Reader, class *v1alpha1.AnycastClass) ([]v1alpha1.AnycastClass, error) {
	list := &v1alpha1.AnycastClassList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	var out []v1alpha1.AnycastClass
	for _, o := range list.Items {
		if o.Name == class.Name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		if ipam.Older(ipam.AgeOf(&o), ipam.AgeOf(class)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// classConflicts returns, per member of class, the refusal when an older class reaches
// the same cluster (the same kubeconfig reference, or both the local cluster) and gives
// its MetalLB another ASN or the same peer.
func classConflicts(ctx context.Context, c client.Reader, class *v1alpha1.AnycastClass) ([]render.Problem, error) {
	older, err := olderClasses(ctx, c, class)
	if err != nil {
		return nil, err
	}
	var out []render.Problem
	for _, m := range class.Spec.Clusters {
		if len(m.Peers) == 0 {
			continue
		}
		ref := clusters.RefString(m.KubeconfigSecretRef)
	others:
		for _, o := range older {
			for _, om := range o.Spec.Clusters {
				if clusters.RefString(om.KubeconfigSecretRef) != ref || len(om.Peers) == 0 {
					continue
				}
				if om.ASN != m.ASN && shareVRF(m.Peers, om.Peers) {
					out = append(out, render.Problem{Reason: render.ReasonPeerConflict, Cluster: m.Name,
						Field:   fmt.Sprintf("spec.clusters[%s].asn", m.Name),
						Message: fmt.Sprintf("class %s already peers from this cluster (its member %s) with ASN %d; MetalLB's speakers on a node have one ASN, so %s cannot use %d there (in the same VRF): use the same ASN, or another VRF", o.Name, om.Name, om.ASN, m.Name, m.ASN)})
					break others
				}
				for _, p := range m.Peers {
					for _, op := range om.Peers {
						if samePeer(p, op) {
							out = append(out, render.Problem{Reason: render.ReasonPeerConflict, Cluster: m.Name,
								Field:   fmt.Sprintf("spec.clusters[%s].peers[%s]", m.Name, p.Name),
								Message: fmt.Sprintf("class %s already defines the BGP peer %s on this cluster (its member %s, peer %s); MetalLB refuses a peer defined twice: share one class for this cluster's routers", o.Name, p.Address, om.Name, op.Name)})
							break others
						}
					}
				}
			}
		}
	}
	return out, nil
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

// sessionConflicts lists the watcher sessions of class that an older class already holds
// (the same router from the same, or an unspecified, local address): a router accepts one
// session per address pair.
func sessionConflicts(ctx context.Context, c client.Reader, class *v1alpha1.AnycastClass) (map[string]string, error) {
	if class.Spec.Watcher == nil {
		return nil, nil
	}
	older, err := olderClasses(ctx, c, class)
	if err != nil {
		return nil, err
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
	return out, nil
}
