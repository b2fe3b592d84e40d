package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

var (
	memberHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anycast_member_healthy",
		Help: "Health verdict of a member for an ingress (1 healthy, 0 unhealthy).",
	}, []string{"class", "namespace", "ingress", "member"})
	healthWithdrawals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anycast_health_withdrawals_total",
		Help: "Advertisements withdrawn by the health gate.",
	}, []string{"class", "member"})
	withdrawalConfirm = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "anycast_health_withdrawal_confirmed_seconds",
		Help:    "Delay from an unhealthy verdict to the routers no longer carrying the member's path.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120},
	}, []string{"class"})
)

func init() {
	metrics.Registry.MustRegister(memberHealthy, healthWithdrawals, withdrawalConfirm)
}

// statusEffects does what a written status change means outside the status: events for
// the transitions people care about, metrics, and a log line per health change. The
// status itself is internal/status's pure computation; this reads the before and after.
func (r *IngressReconciler) statusEffects(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, before *v1alpha1.AnycastIngressStatus, obs *status.Observation) {
	prev := map[string]v1alpha1.IngressClusterStatus{}
	for _, cs := range before.Clusters {
		prev[cs.Name] = cs
	}
	synced := obs.Watcher != nil && obs.Watcher.Synced()
	for _, cs := range ing.Status.Clusters {
		p, known := prev[cs.Name]
		if cs.Health != "" {
			gauge := 0.0
			if cs.Health == status.HealthHealthy {
				gauge = 1
			}
			memberHealthy.WithLabelValues(class.Name, ing.Namespace, ing.Name, cs.Name).Set(gauge)
			if p.Health != cs.Health {
				logf.FromContext(ctx).Info("member health changed", "member", cs.Name, "health", cs.Health, "reason", cs.HealthMessage)
			}
		}
		for _, note := range expiringCertificates(p, cs) {
			r.event(ing, corev1.EventTypeWarning, "CertificateExpiringSoon", note)
		}
		was, is := status.HealthWithdrawn(p), status.HealthWithdrawn(cs)
		switch {
		case is && !was:
			healthWithdrawals.WithLabelValues(class.Name, cs.Name).Inc()
			r.event(ing, corev1.EventTypeWarning, "MemberWithdrawn", fmt.Sprintf("%s withdrawn from the VIP: %s", cs.Name, cs.HealthMessage))
		case was && !is:
			r.event(ing, corev1.EventTypeNormal, "MemberRestored", fmt.Sprintf("%s advertises the VIP again after the hold-down", cs.Name))
		}
		// How long the routers took to drop a member the gate withdrew.
		if is && synced && cs.RouterState == status.RouterWithdrawn && (!known || p.RouterState != status.RouterWithdrawn) && cs.HealthSince != nil {
			withdrawalConfirm.WithLabelValues(class.Name).Observe(obs.Now.Sub(cs.HealthSince.Time).Seconds())
		}
	}
	emitTransitions(r.Recorder, ing, before.Conditions, ing.Status.Conditions)
}

// expiringCertificates says which of a member's certificates came within the class's
// warnBefore (or minValidity) of their expiry since the last status: the warning is given
// once per certificate, ahead of the health gate acting on it.
func expiringCertificates(before, after v1alpha1.IngressClusterStatus) []string {
	was := map[string]string{}
	for _, c := range before.Certificates {
		was[c.Secret] = c.Fingerprint + "/" + c.Problem
	}
	var out []string
	for _, c := range after.Certificates {
		if c.Problem != health.CertificateExpiringSoon && c.Problem != health.CertificateExpiring {
			continue
		}
		if p := was[c.Secret]; p == c.Fingerprint+"/"+health.CertificateExpiringSoon || p == c.Fingerprint+"/"+health.CertificateExpiring {
			continue
		}
		when := "soon"
		if c.NotAfter != nil {
			when = "at " + c.NotAfter.UTC().Format(time.RFC3339)
		}
		out = append(out, fmt.Sprintf("%s: certificate %s from Secret %s expires %s; renew %s on its issuer", after.Name, health.ShortFingerprint(c.Fingerprint), c.ServedFrom, when, c.Secret))
	}
	return out
}
