package health

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
)

func served(secret, from string, p certs.Pair) ServedCertificate {
	return ParseCertificate(secret, from, p.Cert)
}

func TestParseCertificate(t *testing.T) {
	now := time.Now()
	leaf := certs.New(t, "shop.example.com", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	other := certs.Valid(t, "ca.example.com", time.Hour)

	c := ParseCertificate("shop-tls", "shop.shop-tls", leaf.Cert)
	if c.Problem != "" || c.Fingerprint != leaf.Fingerprint || !c.NotAfter.Equal(leaf.NotAfter) || !c.NotBefore.Equal(leaf.NotBefore) {
		t.Fatalf("parsed %+v; want fingerprint %s, not after %s", c, leaf.Fingerprint, leaf.NotAfter)
	}
	// A chain: the leaf is the first certificate; a key block before it is skipped.
	chain := append(append(append([]byte{}, leaf.Key...), leaf.Cert...), other.Cert...)
	if c := ParseCertificate("shop-tls", "shop-tls", chain); c.Fingerprint != leaf.Fingerprint {
		t.Errorf("a chain's fingerprint is %s; want the leaf's %s", c.Fingerprint, leaf.Fingerprint)
	}
	for name, crt := range map[string][]byte{"empty": nil, "garbage": []byte("not a certificate"), "key only": leaf.Key,
		"broken DER": []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		if c := ParseCertificate("s", "s", crt); c.Problem != CertificateInvalid || c.Detail == "" || c.Fingerprint != "" {
			t.Errorf("%s: got %+v; want Invalid with a detail", name, c)
		}
	}
}

func TestJudgeCertificatesAgainstTheHub(t *testing.T) {
	now := time.Now()
	hub := certs.New(t, "shop.example.com", now.Add(-time.Hour), now.Add(60*24*time.Hour))
	old := certs.New(t, "shop.example.com", now.Add(-80*24*time.Hour), now.Add(10*24*time.Hour))
	p := CertificatePolicy{Now: now, MinValidity: 24 * time.Hour, WarnBefore: 14 * 24 * time.Hour,
		Reference: map[string]ServedCertificate{"shop-tls": served("shop-tls", "shop-tls", hub)}}
	got := JudgeCertificates(p, map[string][]ServedCertificate{
		"west":  {served("shop-tls", "shop-tls", hub)},
		"east":  {served("shop-tls", "shop.shop-tls", old)},
		"north": {{Secret: "shop-tls", ServedFrom: "shop.shop-tls", Problem: CertificateMissing}},
		"south": {{Secret: "shop-tls", ServedFrom: "shop.shop-tls", Problem: CertificateUnreadable, Detail: "add web to spoke.certificateNamespaces"}},
	})
	if v := got["west"]; len(v.Problems) != 0 || v.Certificates[0].Problem != "" {
		t.Errorf("west serves the hub's certificate: %+v", v)
	}
	east := got["east"]
	if len(east.Problems) != 1 || east.Certificates[0].Problem != CertificateDiffers {
		t.Fatalf("east serves a stale certificate: %+v", east)
	}
	for _, want := range []string{ShortFingerprint(old.Fingerprint), ShortFingerprint(hub.Fingerprint), "shop.shop-tls", old.NotAfter.UTC().Format(time.RFC3339)} {
		if !strings.Contains(east.Problems[0], want) {
			t.Errorf("east's problem %q does not name %s", east.Problems[0], want)
		}
	}
	if v := got["north"]; len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "does not exist") {
		t.Errorf("north misses its copy: %+v", v)
	}
	if v := got["south"]; len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "spoke.certificateNamespaces") {
		t.Errorf("south cannot be read: %+v", v)
	}
}

func TestJudgeCertificatesOfMembersWithTheirOwnIssuers(t *testing.T) {
	now := time.Now()
	renewed := certs.New(t, "shop.example.com", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	stale := certs.New(t, "shop.example.com", now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour))
	p := CertificatePolicy{Now: now, MinValidity: 24 * time.Hour, WarnBefore: 14 * 24 * time.Hour}
	got := JudgeCertificates(p, map[string][]ServedCertificate{
		"west": {served("shop-tls", "shop-tls", stale)},
		"east": {served("shop-tls", "shop-tls", renewed)},
	})
	// The most recently issued certificate is the reference: the other member is the one
	// whose issuer has not renewed yet.
	if v := got["east"]; len(v.Problems) != 0 {
		t.Errorf("east serves the newest certificate: %v", v.Problems)
	}
	if v := got["west"]; len(v.Problems) != 1 || v.Certificates[0].Problem != CertificateDiffers || !strings.Contains(v.Problems[0], ShortFingerprint(renewed.Fingerprint)) {
		t.Errorf("west serves an older certificate: %+v", v)
	}
	// Both the same: nobody differs.
	got = JudgeCertificates(p, map[string][]ServedCertificate{
		"west": {served("shop-tls", "shop-tls", renewed)}, "east": {served("shop-tls", "shop-tls", renewed)},
	})
	if len(got["west"].Problems)+len(got["east"].Problems) != 0 {
		t.Errorf("the same certificate on both: %+v", got)
	}
}

func TestJudgeCertificatesExpiry(t *testing.T) {
	now := time.Now()
	p := CertificatePolicy{Now: now, MinValidity: 24 * time.Hour, WarnBefore: 14 * 24 * time.Hour}
	for _, c := range []struct {
		name        string
		left        time.Duration
		problem     string
		unhealthy   bool
		mentionDays bool
	}{
		{"fine", 60 * 24 * time.Hour, "", false, false},
		{"within warnBefore", 10 * 24 * time.Hour, CertificateExpiringSoon, false, false},
		{"within minValidity", 12 * time.Hour, CertificateExpiring, true, true},
		{"expired", -time.Hour, CertificateExpiring, true, true},
	} {
		pair := certs.New(t, "shop.example.com", now.Add(-24*time.Hour), now.Add(c.left))
		v := JudgeCertificates(p, map[string][]ServedCertificate{"west": {served("shop-tls", "shop-tls", pair)}})["west"]
		if v.Certificates[0].Problem != c.problem || (len(v.Problems) > 0) != c.unhealthy {
			t.Errorf("%s: problem %q, problems %v; want %q, unhealthy %v", c.name, v.Certificates[0].Problem, v.Problems, c.problem, c.unhealthy)
		}
		if c.mentionDays && !strings.Contains(v.Problems[0], "minValidity 24h0m0s") {
			t.Errorf("%s: %q does not name the threshold", c.name, v.Problems[0])
		}
	}
}

func TestEvaluateWithCertificateProblems(t *testing.T) {
	in := Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{lbService(vip.String())},
		Endpoints:    map[string][]Endpoint{"hello-world/hello-lb": {{Ready: true, Node: "node-1"}}},
		Certificates: []string{"serves certificate SHA256:aaaa"}}
	v := Evaluate(in)
	if v.Healthy || v.NoSessionOnly || !strings.Contains(v.Message(), "SHA256:aaaa") {
		t.Errorf("a member with a certificate problem: %+v", v)
	}
}
