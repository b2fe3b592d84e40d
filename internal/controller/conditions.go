package controller

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Condition reasons shared by both reconcilers.
const (
	ReasonAccepted            = "Accepted"
	ReasonProgrammed          = "Programmed"
	ReasonReady               = "Ready"
	ReasonClassNotFound       = "ClassNotFound"
	ReasonClassDeleting       = "ClassDeleting"
	ReasonNotAccepted         = "NotAccepted"
	ReasonPartiallyProgrammed = "PartiallyProgrammed"
	ReasonNameConflict        = "NameConflict"
	ReasonMemberUnavailable   = "MemberUnavailable"
	ReasonApplyFailed         = "ApplyFailed"
	ReasonAllReachable        = "AllReachable"
	ReasonUnreachable         = "Unreachable"
	ReasonInUse               = "InUse"
	ReasonNoWatcher           = "NoWatcher"
	// Reasons of settling conditions, named where they are also looked up.
	ReasonLinkPending           = "LinkPending"
	ReasonInvalidWatcher        = "InvalidWatcher"
	ReasonWatcherFailed         = "WatcherFailed"
	ReasonSessionConflict       = "SessionConflict"
	ReasonEstablished           = "Established"
	ReasonPending               = string(v1alpha1.ReasonPending)
	ReasonMembersAwaitingHealth = string(v1alpha1.ReasonMembersAwaitingHealth)
	ReasonSessionsDown          = "SessionsDown"
	ReasonWatcherNotEstablished = "WatcherNotEstablished"
)

func joinNames(names []string) string { return strings.Join(names, ", ") }

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

// truncateEvent keeps event notes under the events API limit of 1024 bytes.
func truncateEvent(s string) string { return truncate(s, 1000) }

// truncate keeps s within limit bytes, marking a cut with "...".
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return s[:limit-3] + "..."
}

// emitTransitions records an event for each condition whose status or reason changed: the
// transitions users care about (accepted, programmed, ready and their failures).
func emitTransitions(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	if rec == nil {
		return
	}
	// Every condition that turns False is a Warning of its own, with its reason; the
	// others that change in the same status write share one Normal event (a new ingress
	// becoming Accepted, Programmed, Linked and Ready is one piece of news, and one API
	// write rather than five).
	var normal []metav1.Condition
	for _, c := range after {
		prev := findCondition(before, c.Type)
		if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason {
			continue
		}
		if c.Status == metav1.ConditionFalse && (prev != nil || !settling[c.Reason]) {
			rec.Eventf(obj, nil, corev1.EventTypeWarning, c.Reason, c.Type, "%s", truncateEvent(conditionNote(c)))
			continue
		}
		normal = append(normal, c)
	}
	if len(normal) == 0 {
		return
	}
	lead := normal[0]
	types := make([]string, 0, len(normal))
	notes := make([]string, 0, len(normal))
	for _, c := range normal {
		if c.Type == "Ready" {
			lead = c
		}
		types = append(types, c.Type)
		notes = append(notes, conditionNote(c))
	}
	rec.Eventf(obj, nil, corev1.EventTypeNormal, lead.Reason, truncate(strings.Join(types, ","), 128), "%s", truncateEvent(strings.Join(notes, "; ")))
}

// settling are the reasons of a False condition that only says a new object is on its
// way (objects still being applied, a member connecting, a link coming up): when a
// condition first appears with one of them, it is news, not a warning.
var settling = map[string]bool{
	ReasonPending: true, ReasonPartiallyProgrammed: true, clusters.ReasonConnecting: true,
	render.ReasonAddressNotAllocated: true, ReasonLinkPending: true, ReasonNoWatcher: true,
	ReasonSessionsDown: true, ReasonWatcherNotEstablished: true, ReasonWatcherSyncing: true,
	ReasonMembersAwaitingHealth: true,
}

func conditionNote(c metav1.Condition) string {
	note := c.Type + " is " + string(c.Status)
	if c.Message != "" {
		note += ": " + c.Message
	}
	return note
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
