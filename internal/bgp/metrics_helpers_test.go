package bgp_test

import (
	"fmt"
	"testing"

	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// metric reads one series from controller-runtime's registry, where the
// watcher registers its metrics.
func metric(t *testing.T, name string, labels map[string]string) (float64, error) {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), nil
			}
		}
	}
	return 0, fmt.Errorf("no series %s%v", name, labels)
}
