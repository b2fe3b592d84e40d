// Package sweep removes what the operator left on a member whose owner is gone: an object
// of an ingress or class deleted while the member could not be reached. It runs on the
// leader, every few minutes and whenever a member comes back.
package sweep

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Sweeper removes, from every reachable member, objects this operator wrote whose owner
// is gone: an ingress or class deleted while the member was down, a member that left a
// class while unreachable. Owner references cannot cross clusters, so this is what the
// garbage collector does for single-cluster operators.
//
// It only deletes what it is sure of: the owner's absence is confirmed against the hub's
// API server (not a cache that may still be filling), and the delete is preconditioned on
// the object's UID.
type Sweeper struct {
	// Hub reads owners from the cache; HubLive confirms an absence.
	Hub, HubLive client.Reader
	// Targets lists the clusters to sweep.
	Targets func(context.Context) []clusters.SweepTarget
	// Interval between sweeps; a member that recovers is swept at once via Trigger.
	Interval time.Duration
	Log      logr.Logger

	trigger chan struct{}
}

// New returns a sweeper; add it to the manager (it runs on the leader only).
func New(hub, hubLive client.Reader, targets func(context.Context) []clusters.SweepTarget, interval time.Duration, log logr.Logger) *Sweeper {
	return &Sweeper{Hub: hub, HubLive: hubLive, Targets: targets, Interval: interval, Log: log, trigger: make(chan struct{}, 1)}
}

// Trigger asks for a sweep now (a member became reachable again).
func (s *Sweeper) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// NeedLeaderElection makes only the leader sweep.
func (s *Sweeper) NeedLeaderElection() bool { return true }

// Start runs sweeps until ctx ends.
func (s *Sweeper) Start(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.trigger:
		}
		n, err := s.SweepOnce(ctx)
		if err != nil {
			s.Log.Info("sweep incomplete; retrying at the next one", "error", err.Error())
		}
		if n > 0 {
			s.Log.Info("removed orphaned objects from members", "deleted", n)
		}
	}
}

// SweepOnce sweeps every reachable member once and returns how many objects it deleted.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	deleted := 0
	var firstErr error
	for _, t := range s.Targets(ctx) {
		mctx, cancel := context.WithTimeout(ctx, 2*clusters.MemberTimeout)
		n, err := s.sweepMember(mctx, t)
		cancel()
		deleted += n
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("member %s: %w", t.Ref, err)
		}
	}
	return deleted, firstErr
}

func (s *Sweeper) sweepMember(ctx context.Context, t clusters.SweepTarget) (int, error) {
	deleted := 0
	// Namespaces holding objects of ingresses: where certificate copies may be too.
	ingressNamespaces := map[string]bool{}
	for _, gvk := range render.AllKinds {
		if render.LiveOnly(gvk) {
			continue // only in MetalLB namespaces, handled with the class below
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := t.Member.Reader.List(ctx, list, client.MatchingLabelsSelector{Selector: owner.Managed()}); err != nil {
			if isNoMatch(err) {
				continue
			}
			return deleted, err
		}
		for i := range list.Items {
			if ref, ok := owner.FromLabels(list.Items[i].GetLabels()); ok && ref.Kind == owner.KindIngress {
				ingressNamespaces[list.Items[i].GetNamespace()] = true
			}
		}
		n, err := s.sweepOrphans(ctx, t, gvk, list.Items)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	// Certificate copies (Secrets) are never cached and may be listed only where the spoke
	// grants it (spoke.certificateNamespaces): they are looked for, live, in the
	// namespaces that hold objects of ingresses on members reached by kubeconfig; where
	// Secrets may not be listed, none can have been written.
	if len(t.Refs) == 0 || slices.Contains(t.Refs, "") {
		return deleted, nil // the hub's own cluster gets no copies
	}
	for ns := range ingressNamespaces {
		// Metadata only: the sweep needs names, owners and UIDs, never the keys.
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(render.GVKSecret.GroupVersion().WithKind("SecretList"))
		if err := t.Member.LiveReader.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: owner.Managed()}); err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				continue
			}
			return deleted, err
		}
		items := make([]unstructured.Unstructured, len(list.Items))
		for i, m := range list.Items {
			items[i].SetNamespace(m.Namespace)
			items[i].SetName(m.Name)
			items[i].SetUID(m.UID)
			items[i].SetLabels(m.Labels)
			if m.DeletionTimestamp != nil {
				items[i].SetDeletionTimestamp(m.DeletionTimestamp)
			}
		}
		n, err := s.sweepOrphans(ctx, t, render.GVKSecret, items)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// sweepOrphans deletes the items whose owner is gone.
func (s *Sweeper) sweepOrphans(ctx context.Context, t clusters.SweepTarget, gvk schema.GroupVersionKind, items []unstructured.Unstructured) (int, error) {
	deleted := 0
	for i := range items {
		obj := &items[i]
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		orphan, err := s.isOrphan(ctx, t, obj)
		if err != nil {
			return deleted, err
		}
		if !orphan {
			continue
		}
		obj.SetGroupVersionKind(gvk)
		uid := obj.GetUID()
		if err := t.Member.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return deleted, err
		}
		s.Log.Info("deleted an orphaned object", "member", t.Ref, "kind", gvk.Kind, "namespace", obj.GetNamespace(), "name", obj.GetName())
		deleted++
	}
	return deleted, nil
}

// isOrphan decides whether the owner of obj on member t is gone. The cache says "maybe";
// the live hub API server decides.
func (s *Sweeper) isOrphan(ctx context.Context, t clusters.SweepTarget, obj *unstructured.Unstructured) (bool, error) {
	ref, ok := owner.FromLabels(obj.GetLabels())
	if !ok {
		return false, nil
	}
	for _, reader := range []client.Reader{s.Hub, s.HubLive} {
		alive, err := ownerAlive(ctx, reader, t, ref)
		if err != nil || alive {
			return false, err
		}
	}
	return true, nil
}

// ownerAlive reports whether ref still wants objects on member t.
func ownerAlive(ctx context.Context, r client.Reader, t clusters.SweepTarget, ref owner.Ref) (bool, error) {
	class := &v1alpha1.AnycastClass{}
	if err := r.Get(ctx, types.NamespacedName{Name: ref.Class}, class); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	members := membersByRefs(class, t.Refs)
	if len(members) == 0 {
		return false, nil
	}
	switch ref.Kind {
	case owner.KindClass:
		return true, nil
	case owner.KindIngress:
		ing := &v1alpha1.AnycastIngress{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, ing); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if ing.Spec.ClassName != class.Name {
			return false, nil
		}
		for _, name := range render.SelectedClusters(class, ing) {
			if members[name] {
				return true, nil
			}
		}
		return false, nil
	case owner.KindSkupperNetwork:
		list := &v1alpha1.AnycastIngressList{}
		if err := r.List(ctx, list, client.InNamespace(ref.Namespace), client.UnsafeDisableDeepCopy); err != nil { // read only
			return false, err
		}
		for i := range list.Items {
			if list.Items[i].Spec.ClassName == class.Name && render.NeedsSkupper(&list.Items[i]) {
				return true, nil
			}
		}
		return false, nil
	}
	return true, nil // an owner kind this version does not know: leave it alone
}

// membersByRefs finds the class members reached through any of the kubeconfig
// references of one cluster ("" for the local cluster).
func membersByRefs(class *v1alpha1.AnycastClass, refs []string) map[string]bool {
	out := map[string]bool{}
	for _, m := range class.Spec.Clusters {
		for _, ref := range refs {
			if clusters.RefString(m.KubeconfigSecretRef) == ref {
				out[m.Name] = true
			}
		}
	}
	return out
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }
