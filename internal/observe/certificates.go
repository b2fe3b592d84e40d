package observe

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Certificates reads, on every selected member, the certificate it serves for each Secret
// the ingress's HTTPS listeners name, and judges them (health.JudgeCertificates). hub holds
// the hub's Secrets when the class copies them from the hub (hubCertificates); they are
// then the reference every member must serve.
//
// A member that gets copies and was Programmed at the last reconcile is not read: its
// copies are applied again in this reconcile (server-side apply puts back any drift), so
// they hold the hub's certificate unless that write fails, which makes the member not
// Programmed, and its copies are read from the next reconcile on. A member that cannot be
// reached keeps what the last status said of it. Only fingerprints and dates leave this
// function: no key material, and Secrets are read live, never cached.
func (r *Reader) Certificates(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, hub map[string]render.CertificateSecret, now time.Time) map[string]health.CertificateVerdict {
	refs := render.CertificateRefs(ing)
	if len(refs) == 0 {
		return nil
	}
	policy := health.CertificatePolicy{Now: now, MinValidity: class.Spec.Certificates.MinValidityOrDefault(), WarnBefore: class.Spec.Certificates.WarnBeforeOrDefault()}
	if class.Spec.Certificates.SourceOrDefault() == v1alpha1.CertificateSourceHub {
		policy.Reference = map[string]health.ServedCertificate{}
		for _, ref := range refs {
			if s, ok := hub[ref]; ok {
				policy.Reference[ref] = health.ParseCertificate(ref, ref, s.Data[corev1.TLSCertKey])
			}
		}
	}
	prev := map[string]v1alpha1.IngressClusterStatus{}
	for _, cs := range ing.Status.Clusters {
		prev[cs.Name] = cs
	}
	served := map[string][]health.ServedCertificate{}
	for _, name := range render.SelectedClusters(class, ing) {
		copies := render.CopiesCertificates(class, name)
		var list []health.ServedCertificate
		for _, ref := range refs {
			from := ref
			if copies {
				from = render.CertificateCopyName(ing.Name, ref)
			}
			c, ok := policy.Reference[ref]
			switch {
			case copies && prev[name].Programmed && ok:
				c.ServedFrom = from
			case !copies && ok && r.isHub(class, name):
				// The hub's own cluster serves the original Secret, read above.
			default:
				if c, ok = r.readCertificate(ctx, class, name, ing.Namespace, ref, from); !ok {
					c = fromStatus(prev[name], ref, from)
				}
			}
			list = append(list, c)
		}
		served[name] = list
	}
	return health.JudgeCertificates(policy, served)
}

// isHub reports whether member is the operator's own cluster (reached without a
// kubeconfig), whose Secrets hubCertificates has read already.
func (r *Reader) isHub(class *v1alpha1.AnycastClass, member string) bool {
	m := class.Member(member)
	return m != nil && m.KubeconfigSecretRef == nil
}

// readCertificate reads one Secret on a member; ok is false when the member or its API
// could not answer (what it serves is then unknown).
func (r *Reader) readCertificate(ctx context.Context, class *v1alpha1.AnycastClass, member, namespace, secret, from string) (health.ServedCertificate, bool) {
	s := &corev1.Secret{}
	err := clusters.InMember(ctx, r.Members, class, member, func(ctx context.Context, m *clusters.Member) error {
		return m.LiveReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: from}, s)
	})
	c := health.ServedCertificate{Secret: secret, ServedFrom: from}
	switch {
	case apierrors.IsNotFound(err):
		c.Problem = health.CertificateMissing
		return c, true
	case apierrors.IsForbidden(err):
		c.Problem, c.Detail = health.CertificateUnreadable, fmt.Sprintf("the operator may not read Secrets in namespace %s there (%s)", namespace, certificateRBACHint(class, member, namespace))
		return c, true
	case err != nil:
		return c, false
	case s.Type != corev1.SecretTypeTLS:
		c.Problem, c.Detail = health.CertificateInvalid, fmt.Sprintf("its type is %q, not %s", s.Type, corev1.SecretTypeTLS)
		return c, true
	}
	return health.ParseCertificate(secret, from, s.Data[corev1.TLSCertKey]), true
}

// certificateRBACHint names the chart value that grants the access.
func certificateRBACHint(class *v1alpha1.AnycastClass, member, namespace string) string {
	if m := class.Member(member); m != nil && m.KubeconfigSecretRef != nil {
		return fmt.Sprintf("add %s to spoke.certificateNamespaces of the chart installed on %s", namespace, member)
	}
	return fmt.Sprintf("add %s to certificates.namespaces of the hub's chart", namespace)
}

// fromStatus is what the last status said of a certificate on a member that cannot be
// read now.
func fromStatus(cs v1alpha1.IngressClusterStatus, secret, from string) health.ServedCertificate {
	for _, c := range cs.Certificates {
		if c.Secret == secret {
			sc := health.ServedCertificate{Secret: secret, ServedFrom: c.ServedFrom, Fingerprint: c.Fingerprint}
			switch c.Problem {
			case health.CertificateMissing, health.CertificateUnreadable, health.CertificateInvalid:
				sc.Problem, sc.Detail = c.Problem, "as last seen"
			}
			if c.NotAfter != nil {
				sc.NotAfter = c.NotAfter.Time
			}
			return sc
		}
	}
	return health.ServedCertificate{Secret: secret, ServedFrom: from, Problem: health.CertificateUnreadable, Detail: "the member cannot be reached"}
}

// CertificateStatus is the status of a member's certificates.
func CertificateStatus(v health.CertificateVerdict) []v1alpha1.MemberCertificateStatus {
	var out []v1alpha1.MemberCertificateStatus
	for _, c := range v.Certificates {
		cs := v1alpha1.MemberCertificateStatus{Secret: c.Secret, ServedFrom: c.ServedFrom, Fingerprint: c.Fingerprint, Problem: c.Problem}
		if !c.NotAfter.IsZero() {
			cs.NotAfter = &metav1.Time{Time: c.NotAfter.UTC()}
		}
		out = append(out, cs)
	}
	return out
}
