// Package membercheck compares what the member clusters of a class hold with what its
// hub objects render to: every object the operator wrote (listed by its labels) must be
// one the class or one of its current ingresses renders, with the content last rendered
// (the desired-hash annotation), and every rendered object must be there. A difference
// is a missing object, an orphan (labelled object nobody renders: a leftover of a killed
// operator, a duplicate under another name) or a stale object.
//
// It supports what the scale and resilience tests use: classes without peer passwords
// and ingresses without cross-cluster services (no Skupper network).
package membercheck

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Report is the comparison of one class's members.
type Report struct {
	// Objects counts the labelled objects of the class found per member.
	Objects map[string]int
	// Missing, Orphans and Stale list "<member>: <kind> <namespace>/<name>".
	Missing, Orphans, Stale []string
}

// OK reports whether every member holds exactly what the hub renders.
func (r *Report) OK() bool { return len(r.Missing)+len(r.Orphans)+len(r.Stale) == 0 }

func (r *Report) Error() string {
	var b strings.Builder
	for _, l := range []struct {
		what string
		ids  []string
	}{{"missing", r.Missing}, {"orphaned", r.Orphans}, {"stale", r.Stale}} {
		if len(l.ids) == 0 {
			continue
		}
		shown := l.ids
		if len(shown) > 10 {
			shown = shown[:10]
		}
		fmt.Fprintf(&b, "%d %s (%s%s); ", len(l.ids), l.what, strings.Join(shown, ", "), map[bool]string{true: ", ...", false: ""}[len(l.ids) > 10])
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// Check compares the members of the class named class: hub reads the class, its ingresses
// and their namespaces; members maps each member name to a client of that cluster.
// Ingresses being deleted, or whose status has no address yet, must not exist: Check is
// meant for a converged state.
func Check(ctx context.Context, hub client.Client, class string, members map[string]client.Client) (*Report, error) {
	cls := &v1alpha1.AnycastClass{}
	if err := hub.Get(ctx, types.NamespacedName{Name: class}, cls); err != nil {
		return nil, err
	}
	for _, m := range cls.Spec.Clusters {
		for _, p := range m.Peers {
			if p.PasswordSecretRef != nil {
				return nil, fmt.Errorf("membercheck does not read peer password Secrets (peer %s/%s)", m.Name, p.Name)
			}
		}
	}
	want := map[string]map[string]string{} // member -> id -> hash
	add := func(out *render.Output) {
		for _, co := range out.Clusters {
			if want[co.Name] == nil {
				want[co.Name] = map[string]string{}
			}
			for _, o := range co.Objects {
				want[co.Name][id(o)] = apply.Hash(o)
			}
		}
	}
	add(render.RenderClass(cls, &render.Observed{}))
	list := &v1alpha1.AnycastIngressList{}
	if err := hub.List(ctx, list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		ing := &list.Items[i]
		if ing.Spec.ClassName != class {
			continue
		}
		if ing.DeletionTimestamp != nil || ing.Status.Address == "" {
			return nil, fmt.Errorf("ingress %s/%s has not converged (deleting or no address)", ing.Namespace, ing.Name)
		}
		if render.NeedsSkupper(ing) {
			return nil, fmt.Errorf("membercheck does not render Skupper networks (ingress %s/%s)", ing.Namespace, ing.Name)
		}
		ns := &corev1.Namespace{}
		if err := hub.Get(ctx, types.NamespacedName{Name: ing.Namespace}, ns); err != nil {
			return nil, err
		}
		add(render.RenderIngress(cls, ing, &render.Observed{Address: ing.Status.Address, NamespaceLabels: ns.Labels}))
	}

	rep := &Report{Objects: map[string]int{}}
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		have, err := Owned(ctx, members[name], class)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		rep.Objects[name] = len(have)
		seen := map[string]bool{}
		for _, o := range have {
			k := id(o)
			seen[k] = true
			h, ok := want[name][k]
			switch {
			case !ok:
				rep.Orphans = append(rep.Orphans, name+": "+k)
			case o.GetAnnotations()[apply.HashAnnotation] != h:
				rep.Stale = append(rep.Stale, name+": "+k)
			}
		}
		for k := range want[name] {
			if !seen[k] {
				rep.Missing = append(rep.Missing, name+": "+k)
			}
		}
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Orphans)
	sort.Strings(rep.Stale)
	return rep, nil
}

// Owned lists every object of every rendered kind that carries the operator's labels for
// class on one cluster (objects being deleted excluded).
func Owned(ctx context.Context, c client.Client, class string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	sel := client.MatchingLabels{owner.ManagedByLabel: owner.ManagedByValue, owner.ClassLabel: class}
	for _, gvk := range render.AllKinds {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, l, sel); err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		for i := range l.Items {
			if l.Items[i].GetDeletionTimestamp() == nil {
				out = append(out, &l.Items[i])
			}
		}
	}
	return out, nil
}

func id(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}
