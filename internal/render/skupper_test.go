package render

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

func TestGrantNamesRoundTrip(t *testing.T) {
	for _, spoke := range []string{"east", "east-2", "e"} {
		for _, attempt := range []int{0, 1, 12} {
			name := GrantName("dc", spoke, attempt)
			got, ok := ParseGrantAttempt("dc", spoke, name)
			if !ok || got != attempt {
				t.Errorf("ParseGrantAttempt(%q) = %d %v, want %d", name, got, ok, attempt)
			}
		}
	}
	// A spoke named like another spoke's attempt never matches it.
	if _, ok := ParseGrantAttempt("dc", "east", GrantName("dc", "east-2", 0)); ok {
		t.Error("east-2's grant parsed as one of east's")
	}
	if _, ok := ParseGrantAttempt("dc", "east", "dc-east.x"); ok {
		t.Error("a non-numeric attempt parsed")
	}
}

func TestTokenNameFollowsTheCredential(t *testing.T) {
	a := GrantObserved{URL: "https://h/1", Code: "c1", CA: "ca"}
	b := a
	b.Code = "c2"
	c := a
	c.CA = "other"
	if TokenName("dc", "west", a) == TokenName("dc", "west", b) || TokenName("dc", "west", a) == TokenName("dc", "west", c) {
		t.Error("a new code or CA must give a new token name")
	}
	if TokenName("dc", "west", a) != TokenName("dc", "west", a) {
		t.Error("token names must be stable")
	}
}

// TestBindingNamesAreServicePortNames: Skupper names the Service port of a Listener after
// the Listener, and the API server refuses a port name that is not a DNS-1123 label (the
// dotted "<ingress>.<service>" was refused: "must not contain dots"). Every name is a label,
// unique per namespace and stable.
func TestBindingNamesAreServicePortNames(t *testing.T) {
	long := strings.Repeat("a", 240) + ".example"
	cases := [][2]string{
		{"hello", "backend"}, {"a-b", "c"}, {"a", "b-c"}, {"hello.world", "api"}, {"hello-world", "api"},
		{long, "backend"}, {long, "backend-2"}, {long + "x", "backend"}, {"x", strings.Repeat("s", 63)},
		{"Hello", "backend"}, {"a", "b"},
	}
	seen := map[string][2]string{}
	for _, c := range cases {
		name := BindingName(c[0], c[1])
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("BindingName(%q, %q) = %q: not a Service port name: %v", c[0], c[1], name, errs)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("BindingName(%q, %q) = %q, the name of %q too", c[0], c[1], name, other)
		}
		seen[name] = c
		if BindingName(c[0], c[1]) != name {
			t.Errorf("BindingName(%q, %q) is not stable", c[0], c[1])
		}
	}
	if got := BindingName("hello", "backend"); !strings.HasPrefix(got, "hello-backend-") {
		t.Errorf("BindingName(hello, backend) = %q: the name should stay readable", got)
	}
}

func TestIsTokenName(t *testing.T) {
	name := TokenName("dc", "west", GrantObserved{URL: "https://h/1", Code: "c", CA: "ca"})
	if !IsTokenName("dc", "west", name) {
		t.Errorf("IsTokenName(%q) = false", name)
	}
	for _, other := range []string{"dc-west", "dc-west-1234567", "dc-west-123456789", "dc-west-1234567g", "dc-east-12345678", "xdc-west-12345678"} {
		if IsTokenName("dc", "west", other) {
			t.Errorf("IsTokenName(%q) = true", other)
		}
	}
}

// TestIssuedTokenStays: a token the spoke already holds is rendered while the hub Site has
// no endpoints (deleting it would make the next one a spent credential presented again);
// a token not issued yet waits for the endpoints.
func TestIssuedTokenStays(t *testing.T) {
	class := &v1alpha1.AnycastClass{Spec: v1alpha1.AnycastClassSpec{Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy",
		Clusters: []v1alpha1.ClusterMember{
			{Name: "west", ASN: 65001, Interconnect: v1alpha1.InterconnectHub},
			{Name: "east", ASN: 65002, Interconnect: v1alpha1.InterconnectSpoke, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "east"}},
		}}}
	class.Name = "dc"
	g := GrantObserved{URL: "https://h/1", Code: "c", CA: "ca"}
	for _, tc := range []struct {
		issued, endpoints, want bool
	}{{false, false, false}, {false, true, true}, {true, false, true}, {true, true, true}} {
		g.Issued = tc.issued
		out := RenderSkupperNetwork(class, "ns", &Observed{Skupper: SkupperObserved{HubSiteEndpoints: tc.endpoints, Grants: map[string]GrantObserved{"east": g}}})
		if len(out.Problems) > 0 {
			t.Fatalf("problems: %v", out.Problems)
		}
		got := false
		for _, co := range out.Clusters {
			for _, o := range co.Objects {
				if co.Name == "east" && o.GetKind() == "AccessToken" && o.GetName() == TokenName("dc", "west", g) {
					got = true
				}
			}
		}
		if got != tc.want {
			t.Errorf("issued=%v endpoints=%v: token rendered %v, want %v", tc.issued, tc.endpoints, got, tc.want)
		}
	}
}
