package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
)

// HTTPS on the real stack: the ingress has an HTTPS listener whose certificate, made at
// lab start, is a Secret on the hub; the operator copies it to east (the class copies
// certificates from the hub, the default); both clusters' Traefik serve it. A third
// generator sends HTTPS requests to the VIP and checks, in every handshake, that the
// certificate it got is the hub's (labCerts.accept).
const (
	// HTTPSSecret is the hub's certificate Secret the HTTPS listener names.
	HTTPSSecret = "hello-tls"
	// TraefikEntryPointSecure is the port of Traefik's entry point "websecure", the HTTPS
	// listener's port.
	TraefikEntryPointSecure = 443
	httpsRate               = 20.0
	// policyName is the admission policy that makes east refuse its certificate copy.
	policyName = "anycast-lab-freeze-certificate"
)

// labCerts are the lab's certificates: the hub's, in order, and which fingerprints a
// client accepts now (the hub's, and during a rotation the one it replaces).
type labCerts struct {
	mu       sync.Mutex
	all      []certs.Pair
	accepted map[string]bool
}

func newCert() (certs.Pair, error) {
	now := time.Now()
	return certs.Make("*.apps.example.com", now.Add(-time.Minute), now.Add(90*24*time.Hour))
}

// current is the hub's certificate.
func (c *labCerts) current() certs.Pair {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all[len(c.all)-1]
}

// add makes p the hub's certificate; the previous one stays accepted until only is called.
func (c *labCerts) add(p certs.Pair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, p)
	if c.accepted == nil {
		c.accepted = map[string]bool{}
	}
	c.accepted[p.Fingerprint] = true
}

// only accepts the hub's current certificate alone.
func (c *labCerts) only() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accepted = map[string]bool{c.all[len(c.all)-1].Fingerprint: true}
}

// accept is the client's check of every handshake.
func (c *labCerts) accept(fp string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accepted[fp] {
		return nil
	}
	return fmt.Errorf("the server's certificate %s is not the hub's (%s)", health.ShortFingerprint(fp), health.ShortFingerprint(c.all[len(c.all)-1].Fingerprint))
}

// name is how the report names a certificate: its place in the lab and its fingerprint.
func (c *labCerts) name(fp string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.all {
		if p.Fingerprint == fp {
			return fmt.Sprintf("#%d %s", i+1, health.ShortFingerprint(fp))
		}
	}
	return health.ShortFingerprint(fp)
}

// createCertificate makes the lab's first certificate and its Secret on the hub.
func (l *Lab) createCertificate(ctx context.Context) error {
	p, err := newCert()
	if err != nil {
		return err
	}
	l.certs = &labCerts{}
	l.certs.add(p)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: IngressNamespace, Name: HTTPSSecret}, Type: corev1.SecretTypeTLS, Data: p.Data()}
	if err := l.west.Client.Create(ctx, s); err != nil {
		return fmt.Errorf("west: the certificate Secret: %w", err)
	}
	return nil
}

// rotateCertificate puts a new certificate in the hub's Secret, as an issuer renewing it
// would, and returns it.
func (l *Lab) rotateCertificate(ctx context.Context) (certs.Pair, error) {
	p, err := newCert()
	if err != nil {
		return p, err
	}
	l.certs.add(p)
	s := &corev1.Secret{}
	if err := l.west.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: HTTPSSecret}, s); err != nil {
		return p, err
	}
	s.Data = p.Data()
	return p, l.west.Client.Update(ctx, s)
}

var (
	gvkPolicy        = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"}
	gvkPolicyBinding = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"}
)

// freezeCopy makes east's API server refuse any change to its copy of the certificate: a
// ValidatingAdmissionPolicy, as a policy engine or a mistaken RBAC change would. It
// returns once a change is refused (policies take effect asynchronously).
func (l *Lab) freezeCopy(ctx context.Context) error {
	copyName := render.CertificateCopyName(IngressName, HTTPSSecret)
	policy := &unstructured.Unstructured{Object: map[string]interface{}{
		"metadata": map[string]interface{}{"name": policyName},
		"spec": map[string]interface{}{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]interface{}{"resourceRules": []interface{}{map[string]interface{}{
				"apiGroups": []interface{}{""}, "apiVersions": []interface{}{"v1"}, "operations": []interface{}{"UPDATE", "DELETE"}, "resources": []interface{}{"secrets"},
			}}},
			"validations": []interface{}{map[string]interface{}{
				"expression": fmt.Sprintf("oldObject.metadata.name != '%s'", copyName),
				"reason":     "Forbidden",
				"message":    "the lab's admission policy freezes east's certificate copy",
			}},
		},
	}}
	policy.SetGroupVersionKind(gvkPolicy)
	binding := &unstructured.Unstructured{Object: map[string]interface{}{
		"metadata": map[string]interface{}{"name": policyName},
		"spec":     map[string]interface{}{"policyName": policyName, "validationActions": []interface{}{"Deny"}},
	}}
	binding.SetGroupVersionKind(gvkPolicyBinding)
	for _, o := range []*unstructured.Unstructured{policy, binding} {
		if err := l.east.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("east: %s: %w", o.GetKind(), err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := &corev1.Secret{}
		if err := l.east.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: copyName}, s); err != nil {
			return fmt.Errorf("east: the certificate copy: %w", err)
		}
		err := l.east.Client.Update(ctx, s, client.DryRunAll)
		if apierrors.IsForbidden(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("east: the admission policy does not refuse changes to %s after 30 s (last: %v)", copyName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unfreezeCopy removes the policy.
func (l *Lab) unfreezeCopy(ctx context.Context) error {
	for _, gvk := range []schema.GroupVersionKind{gvkPolicyBinding, gvkPolicy} {
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(gvk)
		o.SetName(policyName)
		if err := l.east.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("east: %s: %w", gvk.Kind, err)
		}
	}
	return nil
}

// servesCertificate checks that the members report serving fp, healthy.
func (s *Snapshot) servesCertificate(fp string, clusters ...string) error {
	if s.Ingress == nil {
		return fmt.Errorf("no ingress")
	}
	for _, name := range clusters {
		c := s.Ingress.Status.Cluster(name)
		if c == nil {
			return fmt.Errorf("%s not in the status", name)
		}
		if len(c.Certificates) != 1 || c.Certificates[0].Fingerprint != fp || c.Certificates[0].Problem != "" {
			return fmt.Errorf("%s reports %+v, want %s", name, c.Certificates, health.ShortFingerprint(fp))
		}
	}
	return nil
}

// staleWithdrawn checks that east is unhealthy for its certificate, naming both
// fingerprints, and withdrawn.
func (s *Snapshot) staleWithdrawn(member, stale, hub string) error {
	if s.Ingress == nil {
		return fmt.Errorf("no ingress")
	}
	if c := s.Ingress.Status.Cluster(member); c != nil {
		if c.Health != "Unhealthy" || c.Advertisement != string(render.Withdraw) {
			return fmt.Errorf("%s: health %s, advertisement %s (%s)", member, c.Health, c.Advertisement, c.HealthMessage)
		}
		for _, want := range []string{health.ShortFingerprint(stale), health.ShortFingerprint(hub)} {
			if !strings.Contains(c.HealthMessage, want) {
				return fmt.Errorf("%s's health message %q does not name %s", member, c.HealthMessage, want)
			}
		}
		return nil
	}
	return fmt.Errorf("%s not in the status", member)
}

// httpsAnsweredWith checks that HTTPS requests started after since were answered by
// every cluster, at least min times each, all with the certificate fp.
func (t *labTraffic) httpsAnsweredWith(since time.Time, min int, fp string, clusters ...string) error {
	base := t.baseAfter(since)
	n := map[string]int{}
	for _, r := range t.https.Results() {
		if r.Start.Before(base) || !r.OK() {
			continue
		}
		if r.Fingerprint != fp {
			n = map[string]int{} // only a run of answers with fp counts
			continue
		}
		n[r.Cluster]++
	}
	for _, c := range clusters {
		if n[c] < min {
			return fmt.Errorf("HTTPS: %v answers with %s since %s, want %d from each of %v", n, health.ShortFingerprint(fp), base.Format("15:04:05.000"), min, clusters)
		}
	}
	return nil
}

// Rotation is what a certificate change on the hub looked like from the client.
type Rotation struct {
	// Converged is how long after the hub's Secret changed the last answer with the old
	// certificate came (zero: none came), per cluster.
	Converged map[string]time.Duration
	// Old and New count the answers with each, per cluster, from the change on.
	Old, New map[string]int
}

// rotation summarises the HTTPS answers from at on: old is the hub's previous certificate.
func (t *labTraffic) rotation(at time.Time, old, new string) Rotation {
	r := Rotation{Converged: map[string]time.Duration{}, Old: map[string]int{}, New: map[string]int{}}
	for _, res := range t.https.Results() {
		if res.Start.Before(at) || !res.OK() {
			continue
		}
		switch res.Fingerprint {
		case old:
			r.Old[res.Cluster]++
			if d := res.End.Sub(at); d > r.Converged[res.Cluster] {
				r.Converged[res.Cluster] = d
			}
		case new:
			r.New[res.Cluster]++
		}
	}
	return r
}

func (r Rotation) String() string {
	var parts []string
	for _, c := range []string{"west", "east"} {
		parts = append(parts, fmt.Sprintf("%s: %d answers with the old certificate (the last %s after the change), %d with the new", c, r.Old[c], fmtDur(r.Converged[c]), r.New[c]))
	}
	return strings.Join(parts, "; ")
}

// Walk-through checks of the certificate steps, by name (test/lab looks for them).
const (
	CheckCertStatus   = "status: west and east serve the hub's new certificate"
	CheckCertTraffic  = "traffic: west and east answer HTTPS with the hub's new certificate"
	CheckStaleStatus  = "status: east unhealthy for its stale certificate (both fingerprints named), withdrawn"
	CheckStaleTraffic = "traffic: only west answers HTTPS, with the hub's new certificate"
	CheckFixedStatus  = "status: east serves the hub's certificate again, both origins, Ready"
)

// certificateSteps are the real stack's HTTPS steps: a renewal on the hub under traffic
// (every answer must carry the hub's certificate, the old one until the members have the
// new one; no request may fail), then east refusing its copy (an admission policy) while
// the hub renews again (east is withdrawn for its stale certificate, west serves), then
// the policy removed (east takes the hub's certificate and serves again). both and
// onlyWest are the /hello traffic checks.
func certificateSteps(l *Lab, stepStart *time.Time, both, onlyWest []check) []walkStep {
	var old, renewed string
	var at time.Time
	rotate := func(ctx context.Context) error {
		old = l.certs.current().Fingerprint
		p, err := l.rotateCertificate(ctx)
		at, renewed = time.Now(), p.Fingerprint
		return err
	}
	// report records what the client saw of the step's renewal, prints it, and from then
	// on accepts the hub's new certificate alone.
	report := func(into *Rotation, how string) func(io.Writer) {
		return func(out io.Writer) {
			*into = l.traffic.rotation(at, old, renewed)
			fmt.Fprintf(out, "   certificate %s -> %s%s: %s\n", l.certs.name(old), l.certs.name(renewed), how, *into)
			l.certs.only()
		}
	}
	return []walkStep{
		{
			name: "renew the certificate on the hub", action: "a new certificate in the hub's Secret " + HTTPSSecret + " (as cert-manager renewing it)",
			do: rotate,
			checks: append([]check{
				{CheckCertStatus, func(s *Snapshot) error { return s.servesCertificate(renewed, "west", "east") }},
				{CheckCertTraffic, func(*Snapshot) error { return l.traffic.httpsAnsweredWith(*stepStart, 5, renewed, "west", "east") }},
			}, both...),
			after: report(&l.Rotation, ""),
		},
		{
			name: "east refuses its copy, the hub renews again", action: "an admission policy on east refuses changes to its copy; a new certificate on the hub",
			do: func(ctx context.Context) error {
				if err := l.freezeCopy(ctx); err != nil {
					return err
				}
				return rotate(ctx)
			},
			checks: append([]check{
				{CheckStaleStatus, func(s *Snapshot) error { return s.staleWithdrawn("east", old, renewed) }},
				{"route gone at the core (only west left)", func(s *Snapshot) error { return errs1(s.coreServes("west"), s.coreLacks("east")) }},
				{CheckStaleTraffic, func(*Snapshot) error { return l.traffic.httpsAnsweredWith(*stepStart, 5, renewed, "west") }},
			}, onlyWest...),
			after: report(&l.Stale, " with east's copy frozen"),
		},
		{
			name: "east's policy removed", action: "the admission policy on east is deleted",
			do: l.unfreezeCopy,
			checks: append([]check{
				{CheckFixedStatus, func(s *Snapshot) error {
					return errs1(s.servesCertificate(renewed, "west", "east"), s.serving("west", "east"))
				}},
				{"ECMP back at the core (west and east)", func(s *Snapshot) error { return s.coreServes("west", "east") }},
				{CheckCertTraffic, func(*Snapshot) error { return l.traffic.httpsAnsweredWith(*stepStart, 5, renewed, "west", "east") }},
			}, both...),
		},
	}
}
