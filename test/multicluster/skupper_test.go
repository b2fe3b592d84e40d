package multicluster_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestRemoteBackend: a route's backend runs on east only. On west and north Skupper (the
// fixture, which, like the real controller, creates a Listener's Service with a port named
// after the Listener and gets it refused by the API server when that name is not a DNS
// label) creates the Service the route points at. The members reaching the backend over
// Skupper are healthy although Skupper never reports selectedPods, and turn unhealthy,
// naming the cause, when east has no ready endpoints for it.
func TestRemoteBackend(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "remote")
	backendOn(t, ns, east)
	create(t, west.Client, threeClusters("remote"))
	create(t, west.Client, ingress(ns, "hello", "remote", "192.168.155.162", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Ready", condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ""))

	name := render.BindingName("hello", "backend")
	for cluster, env := range map[string]*testenv.Env{"west": west, "north": north} {
		testenv.Eventually(t, cluster+": the Listener's Service", converge, func() error {
			if msg := skupper.ListenerServiceError(cluster, ns, name); msg != "" {
				return fmt.Errorf("the API server refused the Listener's Service: %s", msg)
			}
			svc := &corev1.Service{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "backend"}, svc); err != nil {
				return err
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != name || svc.Spec.Ports[0].Port != 8080 {
				return fmt.Errorf("ports %+v, want one named %s on 8080", svc.Spec.Ports, name)
			}
			return nil
		})
	}
	for _, c := range []string{"west", "north"} {
		l := &skupperv2.Listener{}
		if err := clusterEnv(c).Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
			t.Fatal(err)
		}
		// Skupper's word for the Listener, whether or not its Service exists.
		if !meta.IsStatusConditionTrue(l.Status.Conditions, "Configured") {
			t.Errorf("%s: Listener not Configured: %+v", c, l.Status)
		}
	}
	co := &skupperv2.Connector{}
	if err := east.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, co); err != nil {
		t.Fatal(err)
	}
	if len(co.Status.SelectedPods) > 0 {
		t.Fatalf("the fixture wrote selectedPods, which the real controller never does")
	}

	// east loses its backend's endpoints: west and north cannot reach it either.
	setBackendReady(t, ns, east, false)
	ing := waitIngress(t, ns, "hello", "west unhealthy for the remote backend", func(i *v1alpha1.AnycastIngress) error {
		cs := i.Status.Cluster("west")
		if cs == nil || cs.Health != "Unhealthy" {
			return fmt.Errorf("west: %s", describeMembers(i))
		}
		return mentions(cs.HealthMessage, "east has no ready endpoints for Service backend")
	})
	t.Logf("west: %s", ing.Status.Cluster("west").HealthMessage)
	setBackendReady(t, ns, east, true)
	waitIngress(t, ns, "hello", "healthy again", func(i *v1alpha1.AnycastIngress) error {
		for _, c := range []string{"west", "north", "east"} {
			if cs := i.Status.Cluster(c); cs == nil || cs.Health != "Healthy" {
				return fmt.Errorf("%s", describeMembers(i))
			}
		}
		return nil
	})
}

// TestSiteErrorReported: a router ConfigMap left on east by an earlier Site puts east's new
// Site in Error, as Skupper does. The ingress says so per member (Linked=False, SiteError,
// with Skupper's message), not that it waits for the hub; it links once the leftover goes.
func TestSiteErrorReported(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "siteerror")
	backendOn(t, ns, east)
	leftover := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "skupper-router",
		Labels: map[string]string{"internal.skupper.io/router-config": ""}}}
	create(t, east.Client, leftover)
	create(t, west.Client, class("siteerror", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "siteerror", "192.168.155.163", withBackendOn("east")))
	ing := waitIngress(t, ns, "hello", "SiteError", func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionLinked, metav1.ConditionFalse, "SiteError"); err != nil {
			return err
		}
		if cs := i.Status.Cluster("east"); cs == nil || cs.Link != "Error" {
			return fmt.Errorf("east: %s", describeMembers(i))
		}
		return mentions(conditionMessage(i.Status.Conditions, v1alpha1.ConditionLinked), "east", "is not owned by skupper site")
	})
	t.Logf("Linked: %s", conditionMessage(ing.Status.Conditions, v1alpha1.ConditionLinked))
	if err := east.Client.Delete(ctx, leftover); err != nil {
		t.Fatal(err)
	}
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
}

func clusterEnv(name string) *testenv.Env {
	return map[string]*testenv.Env{"west": west, "east": east, "north": north}[name]
}

// setBackendReady marks every endpoint of the backend Service ready or not, as the
// EndpointSlice controller does when the pods' readiness changes.
func setBackendReady(t *testing.T, ns string, env *testenv.Env, ready bool) {
	t.Helper()
	slices := &discoveryv1.EndpointSliceList{}
	if err := env.Client.List(context.Background(), slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: "backend"}); err != nil {
		t.Fatal(err)
	}
	if len(slices.Items) == 0 {
		t.Fatal("no EndpointSlice for the backend")
	}
	for i := range slices.Items {
		s := &slices.Items[i]
		for j := range s.Endpoints {
			s.Endpoints[j].Conditions.Ready = &ready
		}
		if err := env.Client.Update(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}
