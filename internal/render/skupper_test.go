package render

import "testing"

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
