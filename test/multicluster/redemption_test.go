package multicluster_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/testenv"
)

// TestFailedRedemptionRecovers: the hub's router loses its endpoints just as east redeems
// its token. As with the real Skupper controller the redemption fails and spends the
// grant; the operator does not retry the spent token but issues a fresh grant and token
// once the endpoints are back, and ends Linked=True.
func TestFailedRedemptionRecovers(t *testing.T) {
	ns := namespace(t, "redeem")
	backendOn(t, ns, east)
	skupper.DropEndpointsAtNextRedemption("east")
	t.Cleanup(func() { skupper.SetHubEndpoints(true) })
	attempts0, failures0 := skupper.Stats("east")

	create(t, west.Client, class("redeem", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "redeem", "192.168.155.157", withBackendOn("east")))

	// The first redemption fails and spends the grant.
	ing := waitIngress(t, ns, "hello", "link error reported", func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionLinked, metav1.ConditionFalse, ""); err != nil {
			return err
		}
		if cs := clusterStatus(i, "east"); cs == nil || (cs.Link != "Error" && cs.Link != "Pending") {
			return fmt.Errorf("east link %+v", cs)
		}
		_, failures := skupper.Stats("east")
		if failures == failures0 {
			return fmt.Errorf("no failed redemption yet")
		}
		return nil
	})
	t.Logf("while the hub has no endpoints: %s", conditionMessage(ing.Status.Conditions, v1alpha1.ConditionLinked))
	// No token is retried while the hub cannot answer.
	testenv.Eventually(t, "a fresh grant replaces the spent one", converge, func() error {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(render.GVKAccessGrant.GroupVersion().WithKind("AccessGrantList"))
		if err := west.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var attempts []int
		for _, g := range list.Items {
			if a, ok := render.ParseGrantAttempt("redeem", "east", g.GetName()); ok && g.GetDeletionTimestamp() == nil {
				attempts = append(attempts, a)
			}
		}
		if len(attempts) != 1 || attempts[0] < 1 {
			return fmt.Errorf("east's grants are at attempts %v, want one fresh grant", attempts)
		}
		return nil
	})
	skupper.SetHubEndpoints(true)
	waitIngress(t, ns, "hello", "Linked after recovery", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	// A token the hub had already told the operator about may still have been issued in
	// the moment before its Site reported the endpoints gone, and fail too, as with the
	// real controller. What must hold: every failure was answered by a fresh grant and
	// token (one more redemption than failures, the last one successful), and no token was
	// ever presented twice.
	attempts, failures := skupper.Stats("east")
	if failures-failures0 < 1 || attempts-attempts0 != failures-failures0+1 {
		t.Errorf("redemptions %d (failed %d): want exactly one more redemption than failures", attempts-attempts0, failures-failures0)
	}
	if retried := skupper.RetriedTokens(); len(retried) > 0 {
		t.Errorf("spent tokens were presented again: %v", retried)
	}
	t.Logf("%d redemptions, %d failed, before Linked", attempts-attempts0, failures-failures0)
}

// TestChangedGrantReplacesToken: when the hub re-issues a grant (new code or CA), the
// spoke's token is replaced by one carrying the new credential, never edited in place.
func TestChangedGrantReplacesToken(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "regrant")
	backendOn(t, ns, east)
	create(t, west.Client, class("regrant", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "regrant", "192.168.155.158", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))

	grant := testenv.Get(t, west.Client, render.GVKAccessGrant, ns, render.GrantName("regrant", "east", 0))
	old := render.GrantObserved{URL: str(grant, "status", "url"), Code: str(grant, "status", "code"), CA: str(grant, "status", "ca")}
	oldToken := render.TokenName("regrant", "west", old)
	if testenv.Get(t, east.Client, render.GVKAccessToken, ns, oldToken) == nil {
		t.Fatal("no token before the change")
	}
	// The hub re-issues the grant: a new code, and a fresh redemption.
	renewed := old
	renewed.Code = old.Code + "-renewed"
	_ = unstructured.SetNestedField(grant.Object, renewed.Code, "status", "code")
	_ = unstructured.SetNestedField(grant.Object, int64(0), "status", "redemptions")
	if err := west.Client.Status().Update(ctx, grant); err != nil {
		t.Fatal(err)
	}
	newToken := render.TokenName("regrant", "west", renewed)
	testenv.Eventually(t, "the token is replaced", converge, func() error {
		tok := testenv.Get(t, east.Client, render.GVKAccessToken, ns, newToken)
		if tok == nil {
			return fmt.Errorf("no token for the new code yet")
		}
		if str(tok, "spec", "code") != renewed.Code {
			return fmt.Errorf("new token carries another code")
		}
		if testenv.Get(t, east.Client, render.GVKAccessToken, ns, oldToken) != nil {
			return fmt.Errorf("the old token is still there")
		}
		return nil
	})
	waitIngress(t, ns, "hello", "Linked again", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
}
