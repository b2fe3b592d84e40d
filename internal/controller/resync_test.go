package controller_test

import (
	"context"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/controller"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
)

// countingClient counts every write that goes through it, status writes included.
type countingClient struct {
	client.Client
	writes atomic.Int64
}

func (c *countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	return c.Client.Create(ctx, o, opts...)
}
func (c *countingClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, o, opts...)
}
func (c *countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, o, p, opts...)
}
func (c *countingClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, o, opts...)
}
func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), n: &c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	n *atomic.Int64
}

func (s *countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Update(ctx, o, opts...)
}
func (s *countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// TestNoOpResyncWritesNothing reconciles a settled class and ingress again, through a
// client that counts writes, and requires zero writes and unmoved resourceVersions of the
// ingress, the class and every child.
func TestNoOpResyncWritesNothing(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	if err := gatewayfixture.ReadyBackend(ctx, env.Client, ns, "s", 80, 1); err != nil {
		t.Fatal(err)
	}
	create(t, localClass("resync"))
	create(t, ingress(ns, "hello", "resync", "192.168.155.80", func(i *v1alpha1.AnycastIngress) {
		i.Spec.Routes = []v1alpha1.Route{{Name: "r", Backend: v1alpha1.Backend{Service: "s", Port: 80}}}
		i.Spec.Advertisement = &v1alpha1.Advertisement{Communities: []string{"64512:1"}}
	}))
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitClassCondition(t, "resync", v1alpha1.ConditionReady, metav1.ConditionTrue, "")

	snapshot := func() map[string]string {
		rv := map[string]string{}
		for _, o := range append(owned(t, owner.Ingress("resync", ns, "hello")), owned(t, owner.Class("resync"))...) {
			rv[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
		rv["ingress"] = getIngress(t, ns, "hello").ResourceVersion
		c := &v1alpha1.AnycastClass{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "resync"}, c); err != nil {
			t.Fatal(err)
		}
		rv["class"] = c.ResourceVersion
		return rv
	}
	// Let the operator finish whatever the last events started.
	var before map[string]string
	eventually(t, "resourceVersions settle", func() error {
		before = snapshot()
		consistently(t, "settled", 500e6, func() error { return nil })
		after := snapshot()
		for k, v := range before {
			if after[k] != v {
				return errString("still moving: " + k)
			}
		}
		return nil
	})
	if len(before) < 6 {
		t.Fatalf("expected the ingress, the class and at least four children, got %v", before)
	}

	counting := &countingClient{Client: mgr.GetClient()}
	// EndpointSlices are read per namespace, as the operator's own local member reads them.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	slices := &clusters.Slices{Config: mgr.GetConfig(), HTTPClient: mgr.GetHTTPClient(), Mapper: mgr.GetRESTMapper(), Scheme: mgr.GetScheme()}
	go func() { _ = slices.Start(sctx) }()
	members := &clusters.Remote{Hub: counting, Namespace: operatorNamespace, Local: &clusters.Member{Client: counting, Reader: slices.Reader(counting), LiveReader: mgr.GetAPIReader()}}
	ir := &controller.IngressReconciler{Client: counting, Members: members, Allocator: controller.NewAllocator()}
	if err := ir.Allocator.Watch(ctx, mgr.GetCache()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the address index holds every ingress", func() error {
		if !ir.Allocator.IndexSynced() {
			return errString("not yet")
		}
		return nil
	})
	cr := &controller.ClassReconciler{Client: counting, Members: members, Namespace: operatorNamespace}
	for i := 0; i < 3; i++ {
		if _, err := ir.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "hello"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: "resync"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.writes.Load(); n != 0 {
		t.Fatalf("a no-op resync made %d writes", n)
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s moved from resourceVersion %s to %s", k, v, after[k])
		}
	}

	// Control: the same counter sees a reconcile's writes. The running operator ignores
	// status-only changes, so a tampered status is repaired by our reconcile alone.
	ing := getIngress(t, ns, "hello")
	ing.Status.Conditions = nil
	if err := env.Client.Status().Update(ctx, ing); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a tampered status costs a write", func() error {
		if _, err := ir.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "hello"}}); err != nil {
			return err
		}
		if counting.writes.Load() == 0 {
			return errString("no write counted yet")
		}
		return nil
	})
	waitIngressCondition(t, ns, "hello", v1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

type errString string

func (e errString) Error() string { return string(e) }
