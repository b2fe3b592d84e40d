package controller

import (
	"context"
	"strings"

	"github.com/anycast-operator/anycast-operator/internal/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

func joinNames(names []string) string { return strings.Join(names, ", ") }

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

// emitTransitions records the events of a status change (status.Events).
func emitTransitions(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	emit(rec, obj, status.Events(before, after))
}

func emit(rec events.EventRecorder, obj runtime.Object, evs []status.Event) {
	if rec == nil {
		return
	}
	for _, e := range evs {
		rec.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

// addFinalizer adds the cleanup finalizer with an optimistic-lock patch: a merge patch
// replaces the whole finalizer list, so it must not be computed from a stale copy.
func addFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	orig := obj.DeepCopyObject().(client.Object)
	if !controllerutil.AddFinalizer(obj, Finalizer) {
		return nil
	}
	return c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
}

// removeFinalizer removes the cleanup finalizer, with the same care.
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	orig := obj.DeepCopyObject().(client.Object)
	if !controllerutil.RemoveFinalizer(obj, Finalizer) {
		return nil
	}
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}
