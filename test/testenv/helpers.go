package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Eventually polls f until it returns nil; it fails the test with f's last error once
// timeout has passed. It waits for convergence; it does not measure speed.
func Eventually(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
}

// ConditionIs checks that a condition has the status and reason ("" for any) and
// describes the given generation.
func ConditionIs(conds []metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return fmt.Errorf("no %s condition yet (have %v)", typ, conds)
	}
	if c.ObservedGeneration != generation {
		return fmt.Errorf("%s describes generation %d, want %d", typ, c.ObservedGeneration, generation)
	}
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

// Get reads an object of any kind; nil when absent.
func Get(t testing.TB, c client.Client, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Owned lists every live object of every rendered kind owned by ref on a cluster.
func Owned(t testing.TB, c client.Client, ref owner.Ref) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, gvk := range render.AllKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(context.Background(), list, client.MatchingLabelsSelector{Selector: ref.Selector()}); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			if list.Items[i].GetDeletionTimestamp() == nil {
				out = append(out, &list.Items[i])
			}
		}
	}
	return out
}

// DeleteClass deletes an AnycastClass and its ingresses and waits until the class is gone
// (its finalizer removes its objects and stops its watcher). Tests that give classes
// watcher sessions to one router call it between them: a router holds one session per
// address pair, and the operator refuses a second class's session to it.
func DeleteClass(t testing.TB, c client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	list := &v1alpha1.AnycastIngressList{}
	_ = c.List(ctx, list)
	for i := range list.Items {
		if list.Items[i].Spec.ClassName == name {
			_ = c.Delete(ctx, &list.Items[i])
		}
	}
	_ = c.Delete(ctx, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name}})
	Eventually(t, "class "+name+" gone", 90*time.Second, func() error {
		err := c.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.AnycastClass{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
}
