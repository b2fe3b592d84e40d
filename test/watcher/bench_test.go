package watcher_test

import (
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// BenchmarkWithdrawalToStatus measures, through the whole operator, the delay from a
// withdrawal reaching the watcher (speaker -> TOR -> core -> watcher) to the
// AnycastIngress status write that shows the cluster missing: at least 20 withdrawals of
// east, reported as p50 and p99. The target is p99 under 50 ms.
func BenchmarkWithdrawalToStatus(b *testing.B) {
	const rounds = 20
	f := fabric.Start(b, fabric.Options{})
	vip := netip.MustParsePrefix("192.168.155.201/32")
	create(b, class("bench", f, nil))
	b.Cleanup(func() { testenv.DeleteClass(b, west.Client, "bench") })
	create(b, &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "hello-world"},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: "bench", Address: vip.Addr().String()},
	})
	f.West.Announce(vip)
	f.East.Announce(vip)
	waitAdvertised(b, metav1.ConditionTrue)

	var samples []time.Duration
	var endToEnd []time.Duration
	b.ResetTimer()
	for i := 0; i < max(rounds, b.N); i++ {
		delays.take()
		start := time.Now()
		f.East.Withdraw(vip)
		waitAdvertised(b, metav1.ConditionFalse)
		endToEnd = append(endToEnd, time.Since(start))
		got := delays.take()
		if len(got) == 0 {
			b.Fatalf("round %d: the status write observed no delay", i)
		}
		samples = append(samples, got[0])
		f.East.Announce(vip)
		waitAdvertised(b, metav1.ConditionTrue)
	}
	b.StopTimer()
	p50, p99 := percentile(samples, 50), percentile(samples, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(percentile(endToEnd, 50)), "speaker-to-status-p50-ms")
	b.ReportMetric(float64(len(samples)), "withdrawals")
	b.Logf("withdrawal reaching the watcher -> status write over %d withdrawals: p50 %s, p99 %s (speaker withdraw -> status seen by a client: p50 %s, p99 %s)",
		len(samples), p50, p99, percentile(endToEnd, 50), percentile(endToEnd, 99))
}

func waitAdvertised(b *testing.B, want metav1.ConditionStatus) {
	b.Helper()
	testenv.Eventually(b, "Advertised="+string(want), converge, func() error {
		i := getIngress(b, "bench")
		for _, c := range i.Status.Conditions {
			if c.Type == v1alpha1.ConditionAdvertised && c.Status == want && c.ObservedGeneration == i.Generation {
				return nil
			}
		}
		return fmt.Errorf("not yet: %v", i.Status.Conditions)
	})
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
