package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// Output is what every member must hold for one Input.
type Output struct {
	// Problems stop the render everywhere: no member gets anything.
	Problems []Problem `json:"problems,omitempty"`
	// Clusters are the members in scope, in class order.
	Clusters []ClusterOutput `json:"clusters,omitempty"`
	// Watcher is the class's BGP watcher as the operator starts it (class renders).
	Watcher *Watcher `json:"watcher,omitempty"`
	// WatcherProblems stop the watcher only (the members are programmed regardless).
	WatcherProblems []Problem `json:"watcherProblems,omitempty"`
}

// ClusterOutput is what one member must hold.
type ClusterOutput struct {
	// Name of the member.
	Name string `json:"name"`
	// Refusals stop the render on this member: Objects is empty, and the operator applies
	// nothing there (and prunes nothing, so what was working keeps working).
	Refusals []Problem `json:"refusals,omitempty"`
	// Drained is true when the ingress or the class drains this member.
	Drained bool `json:"drained,omitempty"`
	// Advertisement is what the member's MetalLB does with the VIP (ingress renders).
	Advertisement *Advertisement `json:"advertisement,omitempty"`
	// Notices are what the platform team should know about the member that stops nothing
	// (class renders): they go to the class status and to events.
	Notices []Notice `json:"notices,omitempty"`
	// Objects to apply, in apply order.
	Objects []*unstructured.Unstructured `json:"objects,omitempty"`
}

// Cluster returns the output of one member, or nil.
func (o *Output) Cluster(name string) *ClusterOutput {
	for i := range o.Clusters {
		if o.Clusters[i].Name == name {
			return &o.Clusters[i]
		}
	}
	return nil
}

// Refused reports whether any member was refused.
func (o *Output) Refused() bool {
	for _, c := range o.Clusters {
		if len(c.Refusals) > 0 {
			return true
		}
	}
	return false
}

// AllProblems lists the global problems and every member's refusals.
func (o *Output) AllProblems() []Problem {
	out := append([]Problem(nil), o.Problems...)
	for _, c := range o.Clusters {
		out = append(out, c.Refusals...)
	}
	return out
}

// Render computes everything in scope of in, merged per member, as the CLI and the golden
// tests show it: the class's objects, and with an ingress, the ingress's objects and, when
// it uses cross-cluster services, its namespace's Skupper network. Whatever stops the
// render is reported as Problems (nothing rendered) or per-member Refusals; it never fails.
func Render(in Input) *Output {
	c := &in.Class
	out := RenderClass(c, &in.Observed)
	if in.Ingress == nil || len(out.Problems) > 0 {
		return out
	}
	parts := []*Output{RenderIngress(c, in.Ingress, &in.Observed)}
	if NeedsSkupper(in.Ingress) {
		parts = append(parts, RenderSkupperNetwork(c, in.Ingress.Namespace, &in.Observed))
	}
	for _, p := range parts {
		out.Problems = append(out.Problems, p.Problems...)
		for _, pc := range p.Clusters {
			co := out.Cluster(pc.Name)
			co.Drained = co.Drained || pc.Drained
			if pc.Advertisement != nil {
				co.Advertisement = pc.Advertisement
			}
			co.Refusals = appendNew(co.Refusals, pc.Refusals...)
			if len(co.Refusals) > 0 {
				co.Objects = nil
				continue
			}
			co.Objects = append(co.Objects, pc.Objects...)
			sortObjects(co.Objects)
		}
	}
	return out
}

// RenderClass computes the class-scoped objects of every member: BGP peers, BFD profiles,
// peer password Secrets, what the nodes learn from their peers (spec.receive) and the
// GatewayClass.
func RenderClass(c *v1alpha1.AnycastClass, obs *Observed) *Output {
	global, perCluster := checkClass(c, obs, true)
	out := &Output{Problems: global}
	if len(global) > 0 {
		return out
	}
	out.Watcher, out.WatcherProblems = RenderWatcher(c, obs.Secrets)
	for i := range c.Spec.Clusters {
		m := &c.Spec.Clusters[i]
		co := ClusterOutput{Name: m.Name, Refusals: perCluster[m.Name]}
		if len(co.Refusals) == 0 {
			co.Objects = append(co.Objects, classMetalLB(c, m, obs.Secrets)...)
			co.Objects = append(co.Objects, classReceive(c, m)...)
			co.Objects = append(co.Objects, classGatewayClass(c)...)
			co.Notices = memberNotices(c, m)
			sortObjects(co.Objects)
		}
		out.Clusters = append(out.Clusters, co)
	}
	return out
}

// RenderIngress computes one ingress's objects on each member it selects: the VIP's pool
// and advertisement, the Gateway, the routes, and Skupper connectors and listeners.
func RenderIngress(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, obs *Observed) *Output {
	// A member the class itself cannot be rendered on cannot carry the ingress either: its
	// advertisement would name peers that do not exist there. Secrets are the class's
	// business; the ingress does not need them.
	classGlobal, classRefusals := checkClass(c, obs, false)
	if len(classGlobal) > 0 {
		return &Output{Problems: classGlobal}
	}
	global, perCluster := checkIngress(c, ing, obs)
	if len(global) > 0 {
		return &Output{Problems: global}
	}
	out := &Output{}
	vip, _ := effectiveAddress(ing, obs)
	for _, name := range SelectedClusters(c, ing) {
		m := c.Member(name)
		adv := MemberAdvertisement(c, ing, name, obs)
		co := ClusterOutput{Name: name, Advertisement: &adv, Drained: adv.Reason == ReasonDrained || adv.Reason == ReasonClusterDrained}
		co.Refusals = append(append(co.Refusals, classRefusals[name]...), perCluster[name]...)
		co.Refusals = append(co.Refusals, prependRefusals(m, adv)...)
		if len(co.Refusals) == 0 {
			co.Objects = append(co.Objects, ingressMetalLB(c, m, ing, vip, adv)...)
			co.Objects = append(co.Objects, ingressGateway(c, ing, name, vip)...)
			co.Objects = append(co.Objects, certificateCopies(c, ing, name, obs)...)
			co.Objects = append(co.Objects, ingressSkupper(c, ing, name)...)
			sortObjects(co.Objects)
		}
		out.Clusters = append(out.Clusters, co)
	}
	return out
}

// RenderSkupperNetwork computes the Skupper objects one namespace shares across every
// member of the class: Sites, the hub's grants and the spokes' tokens.
func RenderSkupperNetwork(c *v1alpha1.AnycastClass, namespace string, obs *Observed) *Output {
	global, classRefusals := checkClass(c, obs, false)
	out := &Output{Problems: global}
	if len(global) > 0 {
		return out
	}
	for i := range c.Spec.Clusters {
		m := &c.Spec.Clusters[i]
		co := ClusterOutput{Name: m.Name, Refusals: classRefusals[m.Name]}
		if len(co.Refusals) == 0 {
			co.Objects = namespaceSkupper(c, namespace, m, &obs.Skupper)
			sortObjects(co.Objects)
		}
		out.Clusters = append(out.Clusters, co)
	}
	return out
}

// appendNew appends the problems not already in list.
func appendNew(list []Problem, ps ...Problem) []Problem {
	for _, p := range ps {
		dup := false
		for _, q := range list {
			if p == q {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, p)
		}
	}
	return list
}
