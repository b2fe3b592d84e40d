package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// RBAC: reading Secrets in the ingress namespaces on the hub is granted per namespace by
// the chart (certificates.namespaces), never cluster-wide: a cluster-wide grant would let
// the operator read every ServiceAccount token of the hub.

// hubCertificates reads, live from the hub, the Secrets the ingress's listeners name, when
// some selected member gets copies of them (render decides what is missing or unusable).
// The data goes only into the copies: it is never logged, and the hub's cache holds only
// the Secrets' metadata (see CertificateWatch).
func hubCertificates(ctx context.Context, hub client.Reader, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) (map[string]render.CertificateSecret, error) {
	refs := render.CertificateRefs(ing)
	if len(refs) == 0 {
		return nil, nil
	}
	copies := false
	for _, name := range render.SelectedClusters(class, ing) {
		copies = copies || render.CopiesCertificates(class, name)
	}
	if !copies {
		return nil, nil
	}
	out := map[string]render.CertificateSecret{}
	for _, ref := range refs {
		s := &corev1.Secret{}
		switch err := hub.Get(ctx, types.NamespacedName{Namespace: ing.Namespace, Name: ref}, s); {
		case apierrors.IsNotFound(err):
			continue // render refuses the ingress, naming the Secret
		case apierrors.IsForbidden(err):
			out[ref] = render.CertificateSecret{Forbidden: true} // render says which value grants it
			continue
		case err != nil:
			return nil, fmt.Errorf("reading the certificate Secret %s/%s on the hub: %w", ing.Namespace, ref, err)
		}
		out[ref] = render.CertificateSecret{Type: string(s.Type), Data: s.Data}
	}
	return out, nil
}

// certificateSource watches the hub's kubernetes.io/tls Secrets, metadata only, in a cache
// of its own (the manager's caches Secrets of the operator's namespace alone, in full): a
// renewal changes the Secret's resourceVersion, which reaches the ingresses whose listeners
// name it, and their copies follow. No key material is held in memory between reconciles.
//
// It watches only namespaces (the operator is granted Secrets per namespace); "*" watches
// them all.
func certificateSource(mgr ctrl.Manager, namespaces []string, toRequests handler.MapFunc) (source.TypedSource[ctrl.Request], error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	opts := cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{meta: {Field: fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS))}},
	}
	if !slices.Contains(namespaces, "*") {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return source.Kind[client.Object](c, meta, handler.EnqueueRequestsFromMapFunc(toRequests)), nil
}

// certificateRecheck is when the members' certificates must be judged again although no
// watch will say so: soon while a member has a problem with one (a member's Secret is not
// watched, so its repair is seen only by reading it); every minute when each member has
// its own issuer (their renewals are not watched either), or when the hub's Secrets of the
// namespace are not watched (--certificate-namespaces): CertificateRecheck, a minute by
// default; and when a certificate crosses the class's warnBefore or minValidity. Zero:
// nothing to recheck.
func (r *IngressReconciler) certificateRecheck(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, verdicts map[string]health.CertificateVerdict, now time.Time) time.Duration {
	if len(verdicts) == 0 {
		return 0
	}
	var d time.Duration
	if class.Spec.Certificates.SourceOrDefault() == v1alpha1.CertificateSourceMember ||
		!(slices.Contains(r.CertificateNamespaces, "*") || slices.Contains(r.CertificateNamespaces, ing.Namespace)) {
		d = r.CertificateRecheck
		if d <= 0 {
			d = time.Minute
		}
	}
	minValidity, warnBefore := class.Spec.Certificates.MinValidityOrDefault(), class.Spec.Certificates.WarnBeforeOrDefault()
	for _, v := range verdicts {
		if len(v.Problems) > 0 {
			d = minPositive(d, addressRecheck)
		}
		for _, c := range v.Certificates {
			for _, at := range []time.Time{c.NotAfter.Add(-minValidity), c.NotAfter.Add(-warnBefore)} {
				if until := at.Sub(now); !c.NotAfter.IsZero() && until > 0 {
					d = minPositive(d, until+time.Second)
				}
			}
		}
	}
	return d
}
