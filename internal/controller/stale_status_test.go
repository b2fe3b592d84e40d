package controller_test

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/controller"
	"github.com/anycast-operator/anycast-operator/internal/scheme"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// laggingClient reads one ingress from a snapshot while it is set, as a cache that has
// not caught up with the last writes would; everything else goes to the API server.
type laggingClient struct {
	client.Client
	mu    sync.Mutex
	key   types.NamespacedName
	stale *v1alpha1.AnycastIngress
}

func (c *laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	stale := c.stale
	c.mu.Unlock()
	if ing, ok := obj.(*v1alpha1.AnycastIngress); ok && stale != nil && key == c.key {
		stale.DeepCopyInto(ing)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *laggingClient) lagAt(ing *v1alpha1.AnycastIngress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale = ing
}

// TestStatusWrittenPastALaggingCache reproduces a status that never healed: a reconcile
// compared its new status with a cached copy that predated its own previous write, found
// them equal, and skipped the write; the API server kept the newer, now wrong status, and
// since status writes do not trigger a reconcile, nothing corrected it (seen as Ready=True
// with no address after an operator restart). The reconciler is driven by hand on an API
// server of its own, with a client that lags behind one write.
func TestStatusWrittenPastALaggingCache(t *testing.T) {
	env2, err := testenv.Start("stale")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env2.Stop() })
	ctx := context.Background()
	direct, err := client.New(env2.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "app", Name: "hello"}
	if err := direct.Create(ctx, ingress("app", "hello", "later", "192.168.155.151")); err != nil {
		t.Fatal(err)
	}
	lag := &laggingClient{Client: direct, key: key}
	r := &controller.IngressReconciler{Client: lag, Allocator: controller.NewAllocator()}
	reconcile := func(want string) *v1alpha1.AnycastIngress {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
		got := &v1alpha1.AnycastIngress{}
		if err := direct.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if err := conditionIs(got.Status.Conditions, got.Generation, v1alpha1.ConditionAccepted, metav1.ConditionFalse, want); err != nil {
			t.Fatalf("the API server holds: %v", err)
		}
		return got
	}

	// 1. No class: ClassNotFound. The cache will lag at this state.
	snapshot := reconcile(string(v1alpha1.ReasonClassNotFound))

	// 2. The class appears, being deleted (a finalizer holds it): ClassDeleting is written.
	class := localClass("later")
	class.Finalizers = []string{"test.anycast.dev/hold"}
	if err := direct.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	if err := direct.Delete(ctx, class); err != nil {
		t.Fatal(err)
	}
	reconcile(string(v1alpha1.ReasonClassDeleting))

	// 3. The class is gone. The cache still shows the status of step 1, which equals the
	// status this reconcile computes: the API server must still get ClassNotFound.
	if err := direct.Get(ctx, client.ObjectKeyFromObject(class), class); err != nil {
		t.Fatal(err)
	}
	class.Finalizers = nil
	if err := direct.Update(ctx, class); err != nil {
		t.Fatal(err)
	}
	lag.lagAt(snapshot)
	reconcile(string(v1alpha1.ReasonClassNotFound))
}
