package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/skupperlink"
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
	siteErr := skupperlink.Link{State: status.LinkError, Reason: skupperlink.ReasonSiteError, Message: "the Skupper Site west is in Error: skupper-router is not owned by skupper site \"u\""}
	failed := skupperlink.Link{State: status.LinkError, Reason: skupperlink.ReasonRedemptionFailed, Message: "redemption failed"}
	cases := []struct {
		name       string
		links      map[string]skupperlink.Link
		status     metav1.ConditionStatus
		reason     string
		hubLink    string
		mentioning string
	}{
		{"all ready", map[string]skupperlink.Link{"east": {State: status.LinkReady}, "north": {State: status.LinkReady}}, metav1.ConditionTrue, "Linked", status.LinkReady, ""},
		{"one pending", map[string]skupperlink.Link{"east": {State: status.LinkReady}, "north": pending("issuing the access token")}, metav1.ConditionFalse, skupperlink.ReasonLinkPending, status.LinkReady, "north (issuing the access token)"},
		{"not observed", map[string]skupperlink.Link{"east": {State: status.LinkReady}}, metav1.ConditionFalse, skupperlink.ReasonLinkPending, status.LinkReady, "north (not observed yet)"},
		{"refused beats pending", map[string]skupperlink.Link{"east": failed, "north": pending("x")}, metav1.ConditionFalse, skupperlink.ReasonRedemptionFailed, status.LinkReady, "east (redemption failed)"},
		{"site error beats refused", map[string]skupperlink.Link{"east": failed, "north": {State: status.LinkError, Reason: skupperlink.ReasonSiteError, Message: "the Skupper Site north is in Error: boom"}}, metav1.ConditionFalse, skupperlink.ReasonSiteError, status.LinkReady, "north (the Skupper Site north is in Error: boom)"},
		{"the hub's Site", map[string]skupperlink.Link{"west": siteErr, "east": siteErr, "north": siteErr}, metav1.ConditionFalse, skupperlink.ReasonSiteError, status.LinkError, "is not owned by skupper site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := &status.Observation{Generation: 1, Skupper: skupperObservation(class, ing, skupperlink.Report{Links: tc.links})}
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
				want := status.LinkPending
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

func pending(msg string) skupperlink.Link {
	return skupperlink.Link{State: status.LinkPending, Reason: skupperlink.ReasonLinkPending, Message: msg}
}
