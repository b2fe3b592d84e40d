package multicluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// refusedLists makes the API server of the member reached through the "late-kubeconfig"
// Secret (north, under another name) refuse to list or watch MetalLB BGPPeers while it is
// set (an informer may list through a watch that sends the initial objects), as
// a spoke whose RBAC lacks the rule would: the member's cache cannot sync.
var refusedLists atomic.Bool

const lateRef = "late-kubeconfig/kubeconfig"

// wrapMembers is the operator's WrapTransport in this package.
func wrapMembers(cluster string, rt http.RoundTripper) http.RoundTripper {
	if cluster != lateRef {
		return rt
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if refusedLists.Load() && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/bgppeers") {
			body := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"Forbidden","code":403,` +
				`"details":{"group":"metallb.io","kind":"bgppeers"},` +
				`"message":"bgppeers.metallb.io is forbidden: User \"spoke\" cannot list resource \"bgppeers\" in API group \"metallb.io\" in the namespace \"metallb-system\""}`
			return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestMemberIsProgrammedOnceItsCacheHasSynced: a member whose cache cannot read one of the
// kinds every reconcile reads is not programmed by its class or its ingresses, which say
// why (Connecting, the class with the list's error), instead of each reconcile waiting for
// the cache and failing after the member's timeout (the class then called the member
// reachable and valid); the other member is programmed meanwhile; once the cache syncs,
// the class and its ingresses are told at once and program it.
func TestMemberIsProgrammedOnceItsCacheHasSynced(t *testing.T) {
	ctx := context.Background()
	refusedLists.Store(true)
	t.Cleanup(func() { refusedLists.Store(false) })
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late-kubeconfig", Namespace: operatorNamespace},
		Data: map[string][]byte{"kubeconfig": north.Kubeconfig()}}
	create(t, west.Client, secret)
	cls := class("late", member("west", 65001, v1alpha1.InterconnectHub), member("late", 65004, v1alpha1.InterconnectSpoke))
	cls.Spec.Clusters[1].KubeconfigSecretRef = &v1alpha1.SecretKeyReference{Name: "late-kubeconfig"}
	create(t, west.Client, cls)
	t.Cleanup(func() {
		_ = west.Client.Delete(ctx, cls)
		testenv.Eventually(t, "class late deleted", converge, func() error {
			if err := west.Client.Get(ctx, client.ObjectKeyFromObject(cls), &v1alpha1.AnycastClass{}); err == nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
		_ = west.Client.Delete(ctx, secret)
	})

	waitClass(t, "late", "member late Connecting, saying which list fails", converge, func(c *v1alpha1.AnycastClass) error {
		m := classMember(c, "late")
		if m == nil || m.Reachable || m.Reason != "Connecting" {
			return fmt.Errorf("member late: %+v", m)
		}
		if err := mentions(m.Message, "reading the member's objects", "BGPPeer", "forbidden"); err != nil {
			return err
		}
		return testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionClustersReachable, metav1.ConditionFalse, "")
	})
	ns := namespace(t, "late")
	ing := ingress(ns, "hello", "late", "192.168.155.180")
	create(t, west.Client, ing)
	t.Cleanup(func() { // before the class's (cleanups run last first): a class in use is not deleted
		_ = west.Client.Delete(ctx, ing)
		testenv.Eventually(t, "ingress deleted", converge, func() error {
			if err := west.Client.Get(ctx, client.ObjectKeyFromObject(ing), &v1alpha1.AnycastIngress{}); err == nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
	})
	waitIngress(t, ns, "hello", "late Connecting, west programmed", func(i *v1alpha1.AnycastIngress) error {
		if cs := i.Status.Cluster("west"); cs == nil || !cs.Programmed {
			return fmt.Errorf("west: %+v", cs)
		}
		cs := i.Status.Cluster("late")
		if cs == nil || cs.Programmed {
			return fmt.Errorf("late: %+v", cs)
		}
		return mentions(cs.Message, "Connecting", "reading the member's objects")
	})
	if left := testenv.Owned(t, north.Client, owner.Class("late")); len(left) != 0 {
		t.Errorf("%d objects of class late written on its member before its cache synced", len(left))
	}
	if left := testenv.Owned(t, north.Client, owner.Ingress("late", ns, "hello")); len(left) != 0 {
		t.Errorf("%d objects of the ingress written on late before its cache synced", len(left))
	}
	if c := classMember(waitClass(t, "late", "west programmed meanwhile", converge, func(*v1alpha1.AnycastClass) error { return nil }), "west"); c == nil || !c.Reachable {
		t.Errorf("west must not wait for late: %+v", c)
	}

	refusedLists.Store(false)
	released := time.Now()
	// The refused informer retries with client-go's backoff, which reaches 30 to 60 s
	// after the minute or so of refusals above: the wait allows for it.
	waitClass(t, "late", "member late programmed", 2*time.Minute, func(c *v1alpha1.AnycastClass) error {
		if m := classMember(c, "late"); m == nil || !m.Reachable {
			return fmt.Errorf("member late: %+v", m)
		}
		return nil
	})
	t.Logf("member late reachable %s after its lists were allowed (the reflector's backoff, then the sync's notice)", time.Since(released).Round(10*time.Millisecond))
	testenv.Eventually(t, "the class's peer on late", converge, func() error {
		if testenv.Get(t, north.Client, render.GVKBGPPeer, mlbNS, render.PeerName("late", "tor")) == nil {
			return fmt.Errorf("no BGPPeer of class late on north")
		}
		return nil
	})
	waitIngress(t, ns, "hello", "programmed on late", func(i *v1alpha1.AnycastIngress) error {
		if cs := i.Status.Cluster("late"); cs == nil || !cs.Programmed {
			return fmt.Errorf("late: %+v", cs)
		}
		return nil
	})
	if testenv.Get(t, north.Client, render.GVKGateway, ns, "hello") == nil {
		t.Error("the ingress's Gateway is missing on late once programmed")
	}
}
