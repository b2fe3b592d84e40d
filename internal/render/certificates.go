package render

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// ReasonCertificateNotFound: a Secret an HTTPS listener names is missing on the hub, or
// is not a usable kubernetes.io/tls Secret, while the class copies certificates from the
// hub.
const ReasonCertificateNotFound = "CertificateNotFound"

// ReasonCertificateNotReadable: the operator may not read the Secrets of the ingress
// namespace on the hub (its RBAC grants that per namespace).
const ReasonCertificateNotReadable = "CertificateNotReadable"

// certificateKeys are the keys of a kubernetes.io/tls Secret that are copied: the chain
// and the key, and the CA bundle when the issuer writes one (cert-manager does).
var certificateKeys = []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt"}

// CopiesCertificates reports whether the class copies its listeners' certificates from
// the hub to member cluster: every member reached by kubeconfig, when the class's source is
// Hub. The hub's own cluster serves the original Secrets.
func CopiesCertificates(c *v1alpha1.AnycastClass, cluster string) bool {
	if c.Spec.Certificates.SourceOrDefault() != v1alpha1.CertificateSourceHub {
		return false
	}
	m := c.Member(cluster)
	return m != nil && m.KubeconfigSecretRef != nil
}

// CertificateCopyName names a member's copy of the hub Secret secret for ingress:
// "<ingress>.<secret>". Each ingress owns its copies, so two ingresses of one namespace
// may name the same hub Secret, and a Secret of the original name on the member (someone
// else's) is left alone.
func CertificateCopyName(ingress, secret string) string { return ingress + "." + secret }

// CertificateRefs lists the Secrets the ingress's listeners name, once each, sorted.
func CertificateRefs(ing *v1alpha1.AnycastIngress) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range ing.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			if !seen[ref] {
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkCertificates refuses an ingress whose listeners name a hub Secret that cannot be
// copied, when some selected member gets copies. Nothing is applied then: a Gateway whose
// certificate is missing on a member would serve no TLS there, and which member a client
// reaches is the core router's choice.
func checkCertificates(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, obs *Observed) []Problem {
	copies := false
	for _, name := range SelectedClusters(c, ing) {
		copies = copies || CopiesCertificates(c, name)
	}
	if !copies {
		return nil
	}
	var out []Problem
	for _, ref := range CertificateRefs(ing) {
		field := fmt.Sprintf("spec.listeners[].tls.certificateRefs[%s]", ref)
		if errs := validation.IsDNS1123Subdomain(CertificateCopyName(ing.Name, ref)); len(errs) > 0 {
			out = append(out, Problem{Reason: ReasonInvalidSpec, Field: field,
				Message: fmt.Sprintf("the members' copy of Secret %s would be named %q, which is not a valid Secret name (%s): shorten the ingress or the Secret name", ref, CertificateCopyName(ing.Name, ref), errs[0])})
			continue
		}
		sec, ok := obs.Certificates[ref]
		switch {
		case ok && sec.Forbidden:
			out = append(out, Problem{Reason: ReasonCertificateNotReadable, Field: field,
				Message: fmt.Sprintf("the operator may not read Secrets in namespace %s on the hub, where class %s copies certificates from: add %s to the hub chart's certificates.namespaces (the operator's --certificate-namespaces)", ing.Namespace, c.Name, ing.Namespace)})
		case !ok:
			out = append(out, Problem{Reason: ReasonCertificateNotFound, Field: field,
				Message: fmt.Sprintf("the Secret %s/%s named by a listener does not exist on the hub, where class %s copies certificates from: create it there (a cert-manager Certificate on the hub writes it), or fix tls.certificateRefs", ing.Namespace, ref, c.Name)})
		case sec.Type != string(corev1.SecretTypeTLS):
			out = append(out, Problem{Reason: ReasonCertificateNotFound, Field: field,
				Message: fmt.Sprintf("the Secret %s/%s on the hub has type %q; a listener's certificate must be a %s Secret (tls.crt and tls.key)", ing.Namespace, ref, sec.Type, corev1.SecretTypeTLS)})
		case len(sec.Data[corev1.TLSCertKey]) == 0 || len(sec.Data[corev1.TLSPrivateKeyKey]) == 0:
			out = append(out, Problem{Reason: ReasonCertificateNotFound, Field: field,
				Message: fmt.Sprintf("the Secret %s/%s on the hub has no certificate or no key yet (tls.crt and tls.key must both be set; an issuer may still be working on it)", ing.Namespace, ref)})
		default:
			if c := health.ParseCertificate(ref, ref, sec.Data[corev1.TLSCertKey]); c.Problem != "" {
				out = append(out, Problem{Reason: ReasonCertificateNotFound, Field: field,
					Message: fmt.Sprintf("the Secret %s/%s on the hub is not a usable certificate: %s", ing.Namespace, ref, c.Detail)})
			}
		}
	}
	return out
}

// certificateCopies are a member's copies of the hub Secrets the ingress's listeners
// name (checkCertificates has made sure each exists and is usable).
func certificateCopies(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, cluster string, obs *Observed) []*unstructured.Unstructured {
	if !CopiesCertificates(c, cluster) {
		return nil
	}
	labels := owner.Ingress(c.Name, ing.Namespace, ing.Name).Labels()
	var out []*unstructured.Unstructured
	for _, ref := range CertificateRefs(ing) {
		src := obs.Certificates[ref]
		data := map[string][]byte{}
		for _, k := range certificateKeys {
			if v := src.Data[k]; len(v) > 0 {
				data[k] = v
			}
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: CertificateCopyName(ing.Name, ref), Namespace: ing.Namespace, Labels: labels},
			Type:       corev1.SecretTypeTLS,
			Data:       data,
		}
		out = append(out, toUnstructured(s, GVKSecret))
	}
	return out
}
