package multicluster_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/fixtures/certs"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// tlsKeys are the private keys the certificate tests made; TestSecretsNeverReachLogsOrEvents
// looks for them in the operator's logs and events.
var tlsKeys [][]byte

func newPair(t *testing.T, notBefore, notAfter time.Time) certs.Pair {
	p := certs.New(t, "shop.example.com", notBefore, notAfter)
	tlsKeys = append(tlsKeys, p.Key)
	return p
}

func tlsSecret(ns, name string, p certs.Pair) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS, Data: p.Data()}
}

func withHTTPS(secret string) func(*v1alpha1.AnycastIngress) {
	return func(i *v1alpha1.AnycastIngress) {
		i.Spec.Listeners = []v1alpha1.Listener{{Name: "https", Protocol: v1alpha1.ProtocolHTTPS, Port: 443, Hostname: "shop.example.com",
			TLS: &v1alpha1.TLSConfig{CertificateRefs: []string{secret}}}}
	}
}

// certificatesAre checks that every named member reports fingerprint for secret, served
// from the copy on members reached by kubeconfig and from the original on west.
func certificatesAre(ingName, secret, fingerprint string, members ...string) func(*v1alpha1.AnycastIngress) error {
	return func(i *v1alpha1.AnycastIngress) error {
		for _, m := range members {
			cs := i.Status.Cluster(m)
			if cs == nil || len(cs.Certificates) != 1 {
				return fmt.Errorf("%s reports no certificate: %s", m, describeMembers(i))
			}
			c := cs.Certificates[0]
			from := render.CertificateCopyName(ingName, secret)
			if m == "west" {
				from = secret
			}
			if c.Secret != secret || c.ServedFrom != from || c.Fingerprint != fingerprint || c.NotAfter == nil {
				return fmt.Errorf("%s reports %+v; want %s from %s", m, c, health.ShortFingerprint(fingerprint), from)
			}
		}
		return nil
	}
}

// copyHolds waits until env holds the operator's copy with the pair's certificate and key.
func copyHolds(t *testing.T, env *testenv.Env, ns, name string, p certs.Pair) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	testenv.Eventually(t, fmt.Sprintf("%s holds %s/%s with the hub's certificate", env.Name, ns, name), converge, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		if s.Type != corev1.SecretTypeTLS || !bytes.Equal(s.Data["tls.crt"], p.Cert) || !bytes.Equal(s.Data["tls.key"], p.Key) {
			return fmt.Errorf("the copy holds another certificate")
		}
		return nil
	})
	return s
}

func secretGone(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%s/%s gone from %s", ns, name, env.Name), converge, func() error {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// TestCertificatesFromTheHub: an HTTPS listener's certificate is read on the hub and copied
// to every member reached by kubeconfig ("<ingress>.<secret>", which their Gateways name;
// west, the hub's own cluster, serves the original); a renewal on the hub reaches every
// copy (the hub's Secrets are watched); a Secret missing on the hub refuses the ingress
// and leaves the copies; a listener that goes takes its copies with it; a Secret of the
// copy's name that is not the operator's is left alone and reported; the ingress's
// deletion removes its copies. Every member reports the fingerprint it serves.
func TestCertificatesFromTheHub(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "certs-hub")
	now := time.Now()
	first := newPair(t, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	create(t, west.Client, tlsSecret(ns, "shop-tls", first))
	create(t, west.Client, threeClusters("certs"))
	create(t, west.Client, ingress(ns, "shop", "certs", "192.168.155.166", withHTTPS("shop-tls")))

	copyName := render.CertificateCopyName("shop", "shop-tls")
	waitIngress(t, ns, "shop", "Programmed with the hub's certificate everywhere", func(i *v1alpha1.AnycastIngress) error {
		if err := condition(v1alpha1.ConditionProgrammed, metav1.ConditionTrue, "")(i); err != nil {
			return err
		}
		return certificatesAre("shop", "shop-tls", first.Fingerprint, "west", "east", "north")(i)
	})
	for _, env := range []*testenv.Env{east, north} {
		copyHolds(t, env, ns, copyName, first)
		gw := testenv.Get(t, env.Client, render.GVKGateway, ns, "shop")
		if !strings.Contains(fmt.Sprint(gw.Object["spec"]), "name:"+copyName) {
			t.Errorf("%s's Gateway does not name the copy %s: %v", env.Name, copyName, gw.Object["spec"])
		}
	}
	if gw := testenv.Get(t, west.Client, render.GVKGateway, ns, "shop"); strings.Contains(fmt.Sprint(gw.Object["spec"]), copyName) {
		t.Errorf("west serves the hub's original Secret, not a copy: %v", gw.Object["spec"])
	}
	if err := west.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: copyName}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hub's own cluster must get no copy: %v", err)
	}

	t.Run("a renewal on the hub reaches every member", func(t *testing.T) {
		renewed := newPair(t, now, now.Add(120*24*time.Hour))
		start := time.Now()
		hub := &corev1.Secret{}
		if err := west.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-tls"}, hub); err != nil {
			t.Fatal(err)
		}
		hub.Data = renewed.Data()
		if err := west.Client.Update(ctx, hub); err != nil {
			t.Fatal(err)
		}
		copyHolds(t, east, ns, copyName, renewed)
		copyHolds(t, north, ns, copyName, renewed)
		t.Logf("both copies renewed %s after the hub's Secret", time.Since(start).Round(time.Millisecond))
		waitIngress(t, ns, "shop", "the renewed certificate reported", certificatesAre("shop", "shop-tls", renewed.Fingerprint, "west", "east", "north"))
		first = renewed
	})

	t.Run("a Secret missing on the hub refuses the ingress and leaves the copies", func(t *testing.T) {
		if err := west.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}}); err != nil {
			t.Fatal(err)
		}
		ing := waitIngress(t, ns, "shop", "CertificateNotFound", condition(v1alpha1.ConditionAccepted, metav1.ConditionFalse, render.ReasonCertificateNotFound))
		if err := mentions(conditionMessage(ing.Status.Conditions, v1alpha1.ConditionAccepted), ns+"/shop-tls", "does not exist on the hub"); err != nil {
			t.Error(err)
		}
		copyHolds(t, east, ns, copyName, first)
		create(t, west.Client, tlsSecret(ns, "shop-tls", first))
		waitIngress(t, ns, "shop", "Accepted again", condition(v1alpha1.ConditionAccepted, metav1.ConditionTrue, ""))
	})

	t.Run("a Secret of the copy's name that is not ours is left alone", func(t *testing.T) {
		other := newPair(t, now, now.Add(30*24*time.Hour))
		theirs := tlsSecret(ns, render.CertificateCopyName("admin", "shop-tls"), other)
		create(t, north.Client, theirs)
		create(t, west.Client, ingress(ns, "admin", "certs", "192.168.155.167", withHTTPS("shop-tls")))
		ing := waitIngress(t, ns, "admin", "NameConflict on north", condition(v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "NameConflict"))
		if cs := ing.Status.Cluster("north"); cs == nil || mentions(cs.Message, "Secret", theirs.Name) != nil {
			t.Errorf("north's status should name the foreign Secret: %+v", cs)
		}
		got := &corev1.Secret{}
		if err := north.Client.Get(ctx, client.ObjectKeyFromObject(theirs), got); err != nil || !bytes.Equal(got.Data["tls.crt"], other.Cert) || len(got.Labels) != 0 {
			t.Errorf("the foreign Secret was changed (%v)", err)
		}
		copyHolds(t, east, ns, render.CertificateCopyName("admin", "shop-tls"), first)
		if err := west.Client.Delete(ctx, ingress(ns, "admin", "certs", "")); err != nil {
			t.Fatal(err)
		}
		secretGone(t, east, ns, render.CertificateCopyName("admin", "shop-tls"))
		if err := north.Client.Get(ctx, client.ObjectKeyFromObject(theirs), got); err != nil {
			t.Errorf("deleting the ingress removed someone else's Secret: %v", err)
		}
	})

	t.Run("a listener that goes takes its copies", func(t *testing.T) {
		ing := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}}
		update(t, ing, func(i *v1alpha1.AnycastIngress) {
			i.Spec.Listeners = []v1alpha1.Listener{{Name: "http", Protocol: v1alpha1.ProtocolHTTP, Port: 80}}
		})
		secretGone(t, east, ns, copyName)
		secretGone(t, north, ns, copyName)
		waitIngress(t, ns, "shop", "no certificate reported", func(i *v1alpha1.AnycastIngress) error {
			for _, cs := range i.Status.Clusters {
				if len(cs.Certificates) > 0 {
					return fmt.Errorf("%s still reports %+v", cs.Name, cs.Certificates)
				}
			}
			return condition(v1alpha1.ConditionProgrammed, metav1.ConditionTrue, "")(i)
		})
	})

	t.Run("deleting the ingress removes its copies", func(t *testing.T) {
		ing := &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}}
		update(t, ing, withHTTPS("shop-tls"))
		copyHolds(t, north, ns, copyName, first)
		if err := west.Client.Delete(ctx, ing); err != nil {
			t.Fatal(err)
		}
		secretGone(t, east, ns, copyName)
		secretGone(t, north, ns, copyName)
		if err := west.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-tls"}, &corev1.Secret{}); err != nil {
			t.Errorf("the hub's own Secret must stay: %v", err)
		}
	})
}

// TestCertificatesOfMembersWithTheirOwnIssuers: a class whose members have their own
// issuers (spec.certificates.source Member) copies nothing; each member reports the
// certificate it serves; the member whose certificate differs from the most recently
// issued one is unhealthy, named with both fingerprints, and withdrawn while the others
// serve; once its Secret is renewed it advertises again after the hold-down; one whose
// Secret is missing is withdrawn the same way. A certificate
// about to expire on every member makes them all unhealthy, and the gate keeps them all
// (never the last); a Warning event says it ahead of time.
func TestCertificatesOfMembersWithTheirOwnIssuers(t *testing.T) {
	ctx := context.Background()
	ns := "certs-member"
	now := time.Now()
	current := newPair(t, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	stale := newPair(t, now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour))
	for env, p := range map[*testenv.Env]certs.Pair{west: current, east: current, north: stale} {
		create(t, env.Client, nsObject(ns))
		create(t, env.Client, tlsSecret(ns, "shop-tls", p))
	}
	cls := threeClusters("own-issuers")
	cls.Spec.Certificates = &v1alpha1.Certificates{Source: v1alpha1.CertificateSourceMember}
	create(t, west.Client, cls)
	create(t, west.Client, ingress(ns, "shop", "own-issuers", "192.168.155.168", withHTTPS("shop-tls"), func(i *v1alpha1.AnycastIngress) {
		i.Spec.Health = &v1alpha1.HealthGate{HoldDown: &metav1.Duration{Duration: 2 * time.Second}}
	}))

	ing := waitIngress(t, ns, "shop", "north withdrawn for its stale certificate", func(i *v1alpha1.AnycastIngress) error {
		cs := i.Status.Cluster("north")
		if cs == nil || cs.Health != "Unhealthy" || cs.Advertisement != string(render.Withdraw) {
			return fmt.Errorf("north not withdrawn: %s", describeMembers(i))
		}
		for _, m := range []string{"west", "east"} {
			if c := i.Status.Cluster(m); c == nil || c.Health != "Healthy" || c.Advertisement != string(render.Advertise) {
				return fmt.Errorf("%s should serve: %s", m, describeMembers(i))
			}
		}
		return nil
	})
	north1 := ing.Status.Cluster("north")
	if err := mentions(north1.HealthMessage, health.ShortFingerprint(stale.Fingerprint), health.ShortFingerprint(current.Fingerprint), "shop-tls"); err != nil {
		t.Errorf("north's health message must name both fingerprints: %v", err)
	}
	if len(north1.Certificates) != 1 || north1.Certificates[0].Problem != health.CertificateDiffers || north1.Certificates[0].Fingerprint != stale.Fingerprint || north1.Certificates[0].ServedFrom != "shop-tls" {
		t.Errorf("north's certificate status: %+v", north1.Certificates)
	}
	for _, env := range []*testenv.Env{west, east, north} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.CertificateCopyName("shop", "shop-tls")}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("a class of members with their own issuers must copy nothing (%s: %v)", env.Name, err)
		}
	}

	t.Run("renewed on north, it advertises again", func(t *testing.T) {
		s := &corev1.Secret{}
		if err := north.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-tls"}, s); err != nil {
			t.Fatal(err)
		}
		s.Data = current.Data()
		if err := north.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		// Secrets on members are not watched: the gate's recheck of an unhealthy member
		// (withdrawAfter, hold-down) reads it again.
		waitIngress(t, ns, "shop", "north back", func(i *v1alpha1.AnycastIngress) error {
			if c := i.Status.Cluster("north"); c == nil || c.Health != "Healthy" || c.Advertisement != string(render.Advertise) {
				return fmt.Errorf("north not back: %s", describeMembers(i))
			}
			return certificatesAre("shop", "shop-tls", current.Fingerprint)(i)
		})
	})

	t.Run("a member without the Secret is withdrawn", func(t *testing.T) {
		if err := north.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}}); err != nil {
			t.Fatal(err)
		}
		ing := waitIngress(t, ns, "shop", "north withdrawn, its certificate missing", func(i *v1alpha1.AnycastIngress) error {
			c := i.Status.Cluster("north")
			if c == nil || c.Health != "Unhealthy" || c.Advertisement != string(render.Withdraw) || len(c.Certificates) != 1 || c.Certificates[0].Problem != health.CertificateMissing {
				return fmt.Errorf("north: %s", describeMembers(i))
			}
			return nil
		})
		if err := mentions(ing.Status.Cluster("north").HealthMessage, "certificate Secret shop-tls does not exist on this member"); err != nil {
			t.Error(err)
		}
		create(t, north.Client, tlsSecret(ns, "shop-tls", current))
		waitIngress(t, ns, "shop", "north back", func(i *v1alpha1.AnycastIngress) error {
			if c := i.Status.Cluster("north"); c == nil || c.Health != "Healthy" || c.Advertisement != string(render.Advertise) {
				return fmt.Errorf("north not back: %s", describeMembers(i))
			}
			return nil
		})
	})

	t.Run("a certificate about to expire everywhere: all unhealthy, none withdrawn, a warning", func(t *testing.T) {
		update(t, &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "own-issuers"}}, func(c *v1alpha1.AnycastClass) {
			c.Spec.Certificates.MinValidity = &metav1.Duration{Duration: 100 * 24 * time.Hour}
			c.Spec.Certificates.WarnBefore = &metav1.Duration{Duration: 200 * 24 * time.Hour}
		})
		ing := waitIngress(t, ns, "shop", "every member unhealthy, none withdrawn", func(i *v1alpha1.AnycastIngress) error {
			for _, m := range []string{"west", "east", "north"} {
				c := i.Status.Cluster(m)
				if c == nil || c.Health != "Unhealthy" || c.Advertisement != string(render.Advertise) || len(c.Certificates) != 1 || c.Certificates[0].Problem != health.CertificateExpiring {
					return fmt.Errorf("%s: %s", m, describeMembers(i))
				}
			}
			return nil
		})
		if err := mentions(ing.Status.Cluster("east").HealthMessage, "expires at", "minValidity 2400h0m0s"); err != nil {
			t.Error(err)
		}
		testenv.Eventually(t, "a CertificateExpiringSoon event", converge, func() error {
			notes, err := eventNotes(ctx, ns, "shop", "CertificateExpiringSoon")
			if err != nil {
				return err
			}
			for _, n := range notes {
				if strings.Contains(n, health.ShortFingerprint(current.Fingerprint)) && strings.Contains(n, "renew shop-tls") {
					return nil
				}
			}
			return fmt.Errorf("events: %v", notes)
		})
	})
}

// eventNotes lists the notes of the events of reason on an ingress.
func eventNotes(ctx context.Context, ns, name, reason string) ([]string, error) {
	var notes []string
	ev := &eventsv1.EventList{}
	if err := west.Client.List(ctx, ev, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for _, e := range ev.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			notes = append(notes, e.Note)
		}
	}
	return notes, nil
}
