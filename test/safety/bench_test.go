package safety_test

import (
	"net/netip"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// BenchmarkUnhealthyToWithdrawnAtCore measures, over at least 20 runs, the time from east's
// Gateway failing (the fixture reports it not Programmed) to the FRR core no longer
// installing east's next hop: fixture status write, the operator's verdict and withdrawal
// (withdrawAfter 0), MetalLB's stand-in, the speaker, the TOR and the core.
func BenchmarkUnhealthyToWithdrawnAtCore(b *testing.B) {
	const rounds = 20
	f := setup(b, "bench", v1alpha1.MetalLBModeFRR)
	vip := netip.MustParsePrefix("192.168.155.170/32")
	zero, hold := metav1.Duration{}, metav1.Duration{Duration: time.Second}
	key := ingress(b, "bench", "hello", "bench", vip.Addr().String(), func(i *v1alpha1.AnycastIngress) {
		i.Spec.Health = &v1alpha1.HealthGate{WithdrawAfter: &zero, HoldDown: &hold}
	})
	nextHops(b, f, vip, 2)
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < max(rounds, b.N); i++ {
		start := time.Now()
		eastGW.SetBroken(key, "benchmark: proxy down")
		nextHops(b, f, vip, 1)
		samples = append(samples, time.Since(start))
		eastGW.SetBroken(key, "")
		nextHops(b, f, vip, 2)
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q int) time.Duration { return samples[(len(samples)*q+99)/100-1] }
	b.ReportMetric(float64(p(50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(samples)), "withdrawals")
	b.Logf("unhealthy Gateway -> east's next hop gone at the FRR core, over %d runs: p50 %s, p99 %s", len(samples), p(50), p(99))
}
