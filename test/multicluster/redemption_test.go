package multicluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestFailedRedemptionRecovers: the hub's router loses its endpoints just as east redeems
// its token, four times in a row, and they come back right after each failure. As with
// the real Skupper controller each redemption fails and spends its grant, and Skupper
// retries a failed token at once and on every resync. The operator removes a failed token
// at once and never presents its credential again; a fresh grant replaces it, whose token
// waits for the endpoints and the backoff. It ends Linked=True with one Link. (An operator
// that kept the spent token through its backoff, or deleted it while the hub had no
// endpoints and created it again when they came back, fails here.)
func TestFailedRedemptionRecovers(t *testing.T) {
	ns := namespace(t, "redeem")
	backendOn(t, ns, east)
	skupper.DropEndpointsAtNextRedemption("east")
	t.Cleanup(func() { skupper.SetHubEndpoints(true) })
	tokens0, failed0 := skupper.Stats("east")

	create(t, west.Client, class("redeem", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "redeem", "192.168.155.157", withBackendOn("east")))

	const failures = 4
	for n := 1; n <= failures; n++ {
		if n > 1 {
			// The endpoints come back just long enough for the next token to be presented.
			skupper.DropEndpointsAtNextRedemption("east")
			skupper.SetHubEndpoints(true)
		}
		ing := waitIngress(t, ns, "hello", fmt.Sprintf("failed redemption %d", n), func(i *v1alpha1.AnycastIngress) error {
			if _, failed := skupper.Stats("east"); failed-failed0 < n {
				return fmt.Errorf("%d failed redemptions so far, want %d", failed-failed0, n)
			}
			return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionLinked, metav1.ConditionFalse, "")
		})
		t.Logf("after failure %d: %s", n, conditionMessage(ing.Status.Conditions, v1alpha1.ConditionLinked))
		testenv.Eventually(t, "a fresh grant replaces the spent one", converge, func() error {
			attempts := grantAttempts(t, ns, "redeem", "east")
			if len(attempts) != 1 || attempts[0] < n {
				return fmt.Errorf("east's grants are at attempts %v, want one fresh grant at %d or later", attempts, n)
			}
			return nil
		})
		// A moment without endpoints, then they are back, before any backoff could end.
		time.Sleep(500 * time.Millisecond)
		skupper.SetHubEndpoints(true)
	}
	waitIngress(t, ns, "hello", "Linked after recovery", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	oneLink(t, east, ns, "redeem")
	// Every failed token was replaced by one fresh token, the last one redeemed.
	tokens, failed := skupper.Stats("east")
	if failed-failed0 != failures || tokens-tokens0 != failures+1 {
		t.Errorf("tokens presented %d (failed %d): want %d failed and one more token", tokens-tokens0, failed-failed0, failures)
	}
	noSpentCredentialAgain(t, ns)
}

// TestHubEndpointFlapsKeepTheToken: the hub Site loses its endpoints and gets them back,
// three times. The redeemed token stays (same object), no credential is presented twice,
// and east keeps exactly its one Link, Ready again after each flap.
func TestHubEndpointFlapsKeepTheToken(t *testing.T) {
	ns := namespace(t, "flaps")
	backendOn(t, ns, east)
	t.Cleanup(func() { skupper.SetHubEndpoints(true) })
	create(t, west.Client, class("flaps", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "flaps", "192.168.155.159", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	link := oneLink(t, east, ns, "flaps")
	token := tokenUID(t, east, ns, link.Spec.TLSCredentials)

	for i := 0; i < 3; i++ {
		skupper.SetHubEndpoints(false)
		// The Link goes down with the hub's router address, and the operator says so.
		waitIngress(t, ns, "hello", fmt.Sprintf("flap %d: not linked", i+1), condition(v1alpha1.ConditionLinked, metav1.ConditionFalse, ""))
		time.Sleep(time.Second) // a few reconciles without endpoints
		if got := tokenUID(t, east, ns, link.Spec.TLSCredentials); got != token {
			t.Fatalf("flap %d: the redeemed token was deleted (now %q)", i+1, got)
		}
		skupper.SetHubEndpoints(true)
		waitIngress(t, ns, "hello", fmt.Sprintf("flap %d: linked again", i+1), condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	}
	if got := oneLink(t, east, ns, "flaps"); got.UID != link.UID {
		t.Errorf("the Link was replaced (%s -> %s): the redeemed token should have served throughout", link.Name, got.Name)
	}
	noSpentCredentialAgain(t, ns)
}

// TestAnyFailuresLeaveOneLink is the acceptance of issue 14 for linking: after rounds of
// hub endpoint flaps, Link deletions and failed redemptions, the spoke holds exactly one
// Link to the hub, Ready, and no spent credential was ever presented again.
func TestAnyFailuresLeaveOneLink(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "anyfailure")
	backendOn(t, ns, east)
	t.Cleanup(func() { skupper.SetHubEndpoints(true) })
	create(t, west.Client, class("anyfailure", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "anyfailure", "192.168.155.165", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	for round := 1; round <= 3; round++ {
		// A flap of the hub's endpoints.
		skupper.SetHubEndpoints(false)
		waitIngress(t, ns, "hello", fmt.Sprintf("round %d: flap", round), condition(v1alpha1.ConditionLinked, metav1.ConditionFalse, ""))
		skupper.SetHubEndpoints(true)
		waitIngress(t, ns, "hello", fmt.Sprintf("round %d: linked after the flap", round), condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
		// The Link deleted, and the relink's first redemption failing.
		link := oneLink(t, east, ns, "anyfailure")
		_, failed0 := skupper.Stats("east")
		skupper.DropEndpointsAtNextRedemption("east")
		if err := east.Client.Delete(ctx, &link); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, fmt.Sprintf("round %d: a failed redemption", round), linkRecheckWait, func() error {
			if _, failed := skupper.Stats("east"); failed == failed0 {
				return fmt.Errorf("no failed redemption yet")
			}
			return nil
		})
		skupper.SetHubEndpoints(true)
		waitIngress(t, ns, "hello", fmt.Sprintf("round %d: linked again", round), condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	}
	oneLink(t, east, ns, "anyfailure")
	noSpentCredentialAgain(t, ns)
}

// TestHubRouterMovedRelinks: the hub's skupper-router Service comes back with another
// address (MetalLB re-addressing it after an outage): the Link east holds points at the old
// one and never comes up, so the operator relinks east with a fresh grant, and east ends
// with one Link, to the new address.
func TestHubRouterMovedRelinks(t *testing.T) {
	ns := namespace(t, "moved")
	backendOn(t, ns, east)
	t.Cleanup(func() { skupper.SetHubRouterHost("") })
	create(t, west.Client, class("moved", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "moved", "192.168.155.164", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	first := oneLink(t, east, ns, "moved")
	skupper.SetHubRouterHost("198.18.0.11")
	testenv.Eventually(t, "a Link to the new address", converge, func() error {
		l, err := linksOf(east, ns)
		if err != nil {
			return err
		}
		if len(l) != 1 || l[0].UID == first.UID || len(l[0].Spec.Endpoints) == 0 || l[0].Spec.Endpoints[0].Host != "198.18.0.11" {
			return fmt.Errorf("links %v", linkNames(l))
		}
		return nil
	})
	waitIngress(t, ns, "hello", "Linked again", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	oneLink(t, east, ns, "moved")
	noSpentCredentialAgain(t, ns)
}

// TestLinkLossRelinks: what Skupper made of a redeemed token goes away on the spoke. The
// Link is deleted: the operator notices (at the latest at its periodic look at Ready
// links: no event of its own tells it) and links again with a fresh grant, even when that
// first fresh redemption fails. The Secret is deleted: Skupper reports the Link in
// Error when it next configures it (its restart, here), and the operator relinks too.
// Each time east ends with exactly one Link, and no credential is presented twice.
func TestLinkLossRelinks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "relink")
	backendOn(t, ns, east)
	t.Cleanup(func() { skupper.SetHubEndpoints(true) })
	create(t, west.Client, class("relink", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "relink", "192.168.155.160", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	first := oneLink(t, east, ns, "relink")

	// The Link is deleted, and the first fresh redemption fails for want of endpoints.
	skupper.DropEndpointsAtNextRedemption("east")
	if err := east.Client.Delete(ctx, &first); err != nil {
		t.Fatal(err)
	}
	_, failed0 := skupper.Stats("east")
	testenv.Eventually(t, "the fresh redemption fails", linkRecheckWait, func() error {
		if _, failed := skupper.Stats("east"); failed == failed0 {
			return fmt.Errorf("no failed redemption yet")
		}
		return nil
	})
	skupper.SetHubEndpoints(true)
	waitIngress(t, ns, "hello", "Linked again", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	second := oneLink(t, east, ns, "relink")
	if second.Spec.TLSCredentials == first.Spec.TLSCredentials {
		t.Fatalf("still the first token's Link")
	}

	// The Secret is deleted under a configured Link: nothing shows until Skupper
	// configures the Link again.
	if err := east.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: second.Spec.TLSCredentials}}); err != nil {
		t.Fatal(err)
	}
	skupper.RestartController()
	testenv.Eventually(t, "a third Link", linkRecheckWait, func() error {
		l, err := linksOf(east, ns)
		if err != nil {
			return err
		}
		if len(l) != 1 || l[0].Spec.TLSCredentials == second.Spec.TLSCredentials {
			return fmt.Errorf("links %v", linkNames(l))
		}
		return nil
	})
	waitIngress(t, ns, "hello", "Linked a third time", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	oneLink(t, east, ns, "relink")
	noSpentCredentialAgain(t, ns)
}

// TestDeletedSpokeSiteRelinks: the spoke's Site is deleted. Skupper turns the redeemed
// token to Error "Already redeemed for a deleted site" and the garbage collector removes
// the Link and Secret the Site owned; the operator writes the Site again and links it with
// a fresh grant.
func TestDeletedSpokeSiteRelinks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "resite")
	backendOn(t, ns, east)
	create(t, west.Client, class("resite", member("west", 65001, v1alpha1.InterconnectHub), member("east", 65002, v1alpha1.InterconnectSpoke)))
	create(t, west.Client, ingress(ns, "hello", "resite", "192.168.155.161", withBackendOn("east")))
	waitIngress(t, ns, "hello", "Linked", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	first := oneLink(t, east, ns, "resite")
	site := &skupperv2.Site{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "east"}}
	if err := east.Client.Get(ctx, client.ObjectKeyFromObject(site), site); err != nil {
		t.Fatal(err)
	}
	if err := east.Client.Delete(ctx, site); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a new Site and a new Link", converge, func() error {
		s := &skupperv2.Site{}
		if err := east.Client.Get(ctx, client.ObjectKeyFromObject(site), s); err != nil {
			return err
		}
		if s.UID == site.UID {
			return fmt.Errorf("still the old Site")
		}
		l, err := linksOf(east, ns)
		if err != nil {
			return err
		}
		if len(l) != 1 || l[0].Spec.TLSCredentials == first.Spec.TLSCredentials {
			return fmt.Errorf("links %v", linkNames(l))
		}
		return nil
	})
	waitIngress(t, ns, "hello", "Linked again", condition(v1alpha1.ConditionLinked, metav1.ConditionTrue, ""))
	oneLink(t, east, ns, "resite")
	noSpentCredentialAgain(t, ns)
}

// TestChangedGrantReplacesToken: when the hub re-issues a grant (new code or CA), the
// spoke's token is replaced by one carrying the new credential, never edited in place, and
// the first token's Link goes once the new one has its own.
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
	unstructured.RemoveNestedField(grant.Object, "status", "redemptions")
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
	// The old token's Link can still be the only one for a moment (Linked is True on it)
	// until the new token's Link is written and the old one removed.
	testenv.Eventually(t, "the one Link left is the new token's", converge, func() error {
		if l := oneLink(t, east, ns, "regrant"); l.Spec.TLSCredentials != newToken {
			return fmt.Errorf("the Link left is %s's, want the new token's", l.Spec.TLSCredentials)
		}
		return nil
	})
}

// linkRecheckWait bounds a wait that starts with a change no event reports (a Link or its
// Secret deleted on a spoke): the operator's next look at a Ready link, plus the relink.
const linkRecheckWait = 30*time.Second + converge

// oneLink waits until the spoke holds exactly one Link owned by its Site, Ready, with its
// TLS Secret, and returns the Link. (The Secrets of abandoned tokens stay until their Site
// goes: the hub may not delete Secrets on a spoke.)
func oneLink(t *testing.T, env *testenv.Env, ns, class string) skupperv2.Link {
	t.Helper()
	var link skupperv2.Link
	testenv.Eventually(t, env.Name+": exactly one Link to the hub", converge, func() error {
		links, err := linksOf(env, ns)
		if err != nil {
			return err
		}
		if len(links) != 1 {
			return fmt.Errorf("%d Links: %v", len(links), linkNames(links))
		}
		link = links[0]
		if link.Status.Status != "Ready" {
			return fmt.Errorf("Link %s is %s: %s", link.Name, link.Status.Status, link.Status.Message)
		}
		if !render.IsTokenName(class, "west", link.Spec.TLSCredentials) {
			return fmt.Errorf("Link %s was not made for a token of class %s", link.Name, class)
		}
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: link.Spec.TLSCredentials}, &corev1.Secret{})
	})
	return link
}

// linksOf lists the Links of a namespace owned by a Site.
func linksOf(env *testenv.Env, ns string) ([]skupperv2.Link, error) {
	list := &skupperv2.LinkList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []skupperv2.Link
	for _, l := range list.Items {
		for _, o := range l.OwnerReferences {
			if o.Kind == "Site" {
				out = append(out, l)
				break
			}
		}
	}
	return out, nil
}

func linkNames(links []skupperv2.Link) []string {
	var out []string
	for _, l := range links {
		out = append(out, l.Name+"("+l.Status.Status+")")
	}
	return out
}

func tokenUID(t *testing.T, env *testenv.Env, ns, name string) types.UID {
	t.Helper()
	tok := &skupperv2.AccessToken{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tok); err != nil {
		if apierrors.IsNotFound(err) {
			return ""
		}
		t.Fatal(err)
	}
	return tok.UID
}

// grantAttempts lists the attempts of a spoke's grants on the hub.
func grantAttempts(t *testing.T, ns, class, spoke string) []int {
	t.Helper()
	list := &skupperv2.AccessGrantList{}
	if err := west.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	for _, g := range list.Items {
		if a, ok := render.ParseGrantAttempt(class, spoke, g.Name); ok && g.DeletionTimestamp == nil {
			attempts = append(attempts, a)
		}
	}
	return attempts
}

// noSpentCredentialAgain fails the test when, in the namespace, a credential was presented
// by a second token object, or a failed token was left for Skupper's resync to retry.
// (Skupper's own retry of a failed token, at once, is its doing and not counted.)
func noSpentCredentialAgain(t *testing.T, ns string) {
	t.Helper()
	for _, p := range skupper.Reissued() {
		if p.Namespace == ns {
			t.Errorf("credential presented again by token %s (%s): %s", p.Token, p.Cause, p.Result)
		}
	}
	for _, p := range skupper.ResyncRetries() {
		if p.Namespace == ns {
			t.Errorf("failed token %s left for Skupper's resync to retry: %s", p.Token, p.Result)
		}
	}
}
