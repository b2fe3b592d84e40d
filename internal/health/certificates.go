package health

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
	"time"
)

// Certificate problems, as the status names them. The first four make the member
// unhealthy; ExpiringSoon is a warning only.
const (
	CertificateMissing      = "Missing"
	CertificateUnreadable   = "Unreadable"
	CertificateInvalid      = "Invalid"
	CertificateDiffers      = "Differs"
	CertificateExpiring     = "Expiring"
	CertificateExpiringSoon = "ExpiringSoon"
)

// ServedCertificate is one HTTPS listener's certificate as one member serves it.
type ServedCertificate struct {
	// Secret is the Secret the listener names; ServedFrom the one the member's Gateway
	// uses (the operator's copy, or Secret itself).
	Secret, ServedFrom string
	// Problem is set by reading (Missing, Unreadable, Invalid) and by JudgeCertificates.
	Problem string
	// Detail says why it is Unreadable or Invalid.
	Detail string
	// Fingerprint is the SHA-256 of the leaf certificate's DER, in hex.
	Fingerprint         string
	NotBefore, NotAfter time.Time
}

// ParseCertificate reads the leaf (the first certificate) of a kubernetes.io/tls Secret's
// tls.crt. The key is not looked at: the data goes nowhere but into the fingerprint.
func ParseCertificate(secret, servedFrom string, tlsCrt []byte) ServedCertificate {
	sc := ServedCertificate{Secret: secret, ServedFrom: servedFrom}
	var block *pem.Block
	for rest := tlsCrt; ; {
		if block, rest = pem.Decode(rest); block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		sc.Problem, sc.Detail = CertificateInvalid, "tls.crt holds no PEM certificate"
		return sc
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		sc.Problem, sc.Detail = CertificateInvalid, "tls.crt's first certificate does not parse: "+err.Error()
		return sc
	}
	sum := sha256.Sum256(cert.Raw)
	sc.Fingerprint, sc.NotBefore, sc.NotAfter = hex.EncodeToString(sum[:]), cert.NotBefore, cert.NotAfter
	return sc
}

// ShortFingerprint is how messages name a certificate: "SHA256:" and its first 12 hex
// digits (what people compare by eye; the status has all 64).
func ShortFingerprint(fp string) string {
	if len(fp) > 12 {
		fp = fp[:12]
	}
	return "SHA256:" + fp
}

// CertificatePolicy is how a class judges its members' certificates.
type CertificatePolicy struct {
	Now                     time.Time
	MinValidity, WarnBefore time.Duration
	// Reference is, per Secret, the certificate every member must serve: the hub's when
	// the class copies certificates from the hub. Without one (each member has its own
	// issuer) the reference is the most recently issued certificate among the members: the
	// others are the ones an issuer has not renewed yet.
	Reference map[string]ServedCertificate
}

// CertificateVerdict is one member's certificates, each with its problem, and the
// problems that make the member unhealthy, as sentences naming the fingerprints.
type CertificateVerdict struct {
	Certificates []ServedCertificate
	Problems     []string
}

// JudgeCertificates judges every member's certificates against the reference, and their
// expiry against the policy. A member that serves a different certificate than the others
// is the one a client reaches by chance (the core router's hash decides), so it is
// unhealthy: the gate withdraws it under its usual rules and never withdraws the last.
func JudgeCertificates(p CertificatePolicy, members map[string][]ServedCertificate) map[string]CertificateVerdict {
	ref := map[string]ServedCertificate{}
	for s, c := range p.Reference {
		ref[s] = c
	}
	if p.Reference == nil {
		names := make([]string, 0, len(members))
		for m := range members {
			names = append(names, m)
		}
		sort.Strings(names) // ties go the same way every time
		for _, m := range names {
			for _, c := range members[m] {
				if c.Fingerprint == "" {
					continue
				}
				if r, ok := ref[c.Secret]; !ok || c.NotBefore.After(r.NotBefore) {
					ref[c.Secret] = c
				}
			}
		}
	}
	out := map[string]CertificateVerdict{}
	for m, certs := range members {
		var v CertificateVerdict
		for _, c := range certs {
			switch r, hasRef := ref[c.Secret]; {
			case c.Problem == CertificateMissing:
				v.Problems = append(v.Problems, fmt.Sprintf("certificate Secret %s does not exist on this member", c.ServedFrom))
			case c.Problem == CertificateUnreadable:
				v.Problems = append(v.Problems, fmt.Sprintf("certificate Secret %s cannot be read on this member: %s", c.ServedFrom, c.Detail))
			case c.Problem == CertificateInvalid:
				v.Problems = append(v.Problems, fmt.Sprintf("certificate Secret %s is not usable: %s", c.ServedFrom, c.Detail))
			case hasRef && r.Fingerprint != "" && c.Fingerprint != r.Fingerprint:
				c.Problem = CertificateDiffers
				v.Problems = append(v.Problems, fmt.Sprintf("serves certificate %s (not after %s) from Secret %s, the others %s (not after %s)",
					ShortFingerprint(c.Fingerprint), stamp(c.NotAfter), c.ServedFrom, ShortFingerprint(r.Fingerprint), stamp(r.NotAfter)))
			case c.NotAfter.Sub(p.Now) < p.MinValidity:
				c.Problem = CertificateExpiring
				v.Problems = append(v.Problems, fmt.Sprintf("certificate %s from Secret %s expires at %s, sooner than the class's minValidity %s",
					ShortFingerprint(c.Fingerprint), c.ServedFrom, stamp(c.NotAfter), p.MinValidity))
			case c.NotAfter.Sub(p.Now) < p.WarnBefore:
				c.Problem = CertificateExpiringSoon
			}
			v.Certificates = append(v.Certificates, c)
		}
		out[m] = v
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
