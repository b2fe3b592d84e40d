package controller

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
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
// the same cluster and gives its MetalLB another ASN or the same peer (render.ClassConflicts).
func classConflicts(ctx context.Context, c client.Reader, class *v1alpha1.AnycastClass) ([]render.Problem, error) {
	older, err := olderClasses(ctx, c, class)
	if err != nil {
		return nil, err
	}
	return render.ClassConflicts(class, older), nil
}

// sessionConflicts lists the watcher sessions of class that an older class already holds
// (render.SessionConflicts).
func sessionConflicts(ctx context.Context, c client.Reader, class *v1alpha1.AnycastClass) (map[string]string, error) {
	if class.Spec.Watcher == nil {
		return nil, nil
	}
	older, err := olderClasses(ctx, c, class)
	if err != nil {
		return nil, err
	}
	return render.SessionConflicts(class, older), nil
}
