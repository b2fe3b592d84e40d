package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// TestSetLinkedReasons: Linked carries the reason of the worst member (a Site in Error,
// then a refused redemption, then links on their way), the hub's own Site error is
// reported on the hub, and every member's link state is in its status.
func TestSetLinkedReasons(t *testing.T) {
	class := &v1alpha1.AnycastClass{Spec: v1alpha1.AnycastClassSpec{Clusters: []v1alpha1.ClusterMember{
		{Name: "west", Interconnect: v1alpha1.InterconnectHub}, {Name: "east"}, {Name: "north"},
	}}}
	ing := &v1alpha1.AnycastIngress{Spec: v1alpha1.AnycastIngressSpec{Services: []v1alpha1.CrossClusterService{{Name: "backend", RunsOn: []string{"east"}}}}}
	siteErr := linkState{LinkError, ReasonSiteError, "the Skupper Site west is in Error: skupper-router is not owned by skupper site \"u\""}
	failed := linkState{LinkError, ReasonRedemptionFailed, "redemption failed"}
	cases := []struct {
		name       string
		links      map[string]linkState
		status     metav1.ConditionStatus
		reason     string
		hubLink    string
		mentioning string
	}{
		{"all ready", map[string]linkState{"east": {State: LinkReady}, "north": {State: LinkReady}}, metav1.ConditionTrue, "Linked", LinkReady, ""},
		{"one pending", map[string]linkState{"east": {State: LinkReady}, "north": linkPending("issuing the access token")}, metav1.ConditionFalse, ReasonLinkPending, LinkReady, "north (issuing the access token)"},
		{"not observed", map[string]linkState{"east": {State: LinkReady}}, metav1.ConditionFalse, ReasonLinkPending, LinkReady, "north (not observed yet)"},
		{"refused beats pending", map[string]linkState{"east": failed, "north": linkPending("x")}, metav1.ConditionFalse, ReasonRedemptionFailed, LinkReady, "east (redemption failed)"},
		{"site error beats refused", map[string]linkState{"east": failed, "north": {LinkError, ReasonSiteError, "the Skupper Site north is in Error: boom"}}, metav1.ConditionFalse, ReasonSiteError, LinkReady, "north (the Skupper Site north is in Error: boom)"},
		{"the hub's Site", map[string]linkState{"west": siteErr, "east": siteErr, "north": siteErr}, metav1.ConditionFalse, ReasonSiteError, LinkError, "is not owned by skupper site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := &status.Observation{Generation: 1, Skupper: skupperObservation(class, ing, networkReport{Links: tc.links})}
			for _, m := range []string{"west", "east", "north"} {
				obs.Members = append(obs.Members, status.Member{Name: m, Outcome: status.Programmed})
			}
			i := &v1alpha1.AnycastIngress{Status: status.Ingress(obs).Status}
			c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionLinked)
			if c == nil || c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.mentioning) {
				t.Fatalf("Linked = %+v, want %s/%s mentioning %q", c, tc.status, tc.reason, tc.mentioning)
			}
			if i.Status.Clusters[0].Link != tc.hubLink {
				t.Errorf("hub link %q, want %q", i.Status.Clusters[0].Link, tc.hubLink)
			}
			for _, cs := range i.Status.Clusters[1:] {
				want := LinkPending
				if st, ok := tc.links[cs.Name]; ok {
					want = st.State
				}
				if cs.Link != want {
					t.Errorf("%s link %q, want %q", cs.Name, cs.Link, want)
				}
			}
		})
	}
}

// TestMovedEndpoints: a Link is stale when the hub Site reports endpoints and the Link
// points at none of them; no endpoints at all (the hub's router address is away for a
// moment) is no reason to relink.
func TestMovedEndpoints(t *testing.T) {
	ep := func(host, port string) skupperv2.Endpoint { return skupperv2.Endpoint{Host: host, Port: port} }
	link := skupperv2.Link{Spec: skupperv2.LinkSpec{Endpoints: []skupperv2.Endpoint{ep("198.18.0.10", "55671"), ep("198.18.0.10", "45671")}}}
	for _, tc := range []struct {
		name string
		hub  *skupperv2.Site
		want bool
	}{
		{"no hub Site", nil, false},
		{"no endpoints", &skupperv2.Site{}, false},
		{"same", &skupperv2.Site{Status: skupperv2.SiteStatus{Endpoints: []skupperv2.Endpoint{ep("198.18.0.10", "55671")}}}, false},
		{"moved", &skupperv2.Site{Status: skupperv2.SiteStatus{Endpoints: []skupperv2.Endpoint{ep("198.18.0.11", "55671"), ep("198.18.0.11", "45671")}}}, true},
		{"other port", &skupperv2.Site{Status: skupperv2.SiteStatus{Endpoints: []skupperv2.Endpoint{ep("198.18.0.10", "443")}}}, true},
	} {
		s := &spokeLink{hubSite: tc.hub}
		if got := s.movedEndpoints([]skupperv2.Link{link}); got != tc.want {
			t.Errorf("%s: movedEndpoints = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOwnedBySite: only Links Skupper made for the spoke's own Site count as the
// operator's.
func TestOwnedBySite(t *testing.T) {
	ref := func(kind, api, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, APIVersion: api, Name: name}}
	}
	if !ownedBySite(ref("Site", "skupper.io/v2alpha1", "east"), "east") {
		t.Error("the spoke's Site not recognised")
	}
	for _, refs := range [][]metav1.OwnerReference{nil, ref("Site", "skupper.io/v2alpha1", "north"), ref("Site", "example.com/v1", "east"), ref("Deployment", "apps/v1", "east")} {
		if ownedBySite(refs, "east") {
			t.Errorf("%v taken for the spoke's Site", refs)
		}
	}
}
