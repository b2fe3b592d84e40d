package skupperlink

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
)

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
