package origins

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// unexpected is the one side effect of this package, kept apart from Find: the
// controller publishes each result.
var unexpected = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "anycast_unexpected_origins",
	Help: "Prefix origins the watcher sees inside a class's pools that no ingress explains, by kind: UnknownOrigin (the origin AS is no member's), Unowned (no ingress has the prefix), Drained (a member asked to withdraw the VIP still originates it), NotProgrammed (a member that is not one of the ingress's originates its VIP).",
}, []string{"class", "kind"})

func init() {
	crmetrics.Registry.MustRegister(unexpected)
}

// Publish sets the class's gauges, every kind (0 when there is none of it), so that an
// alert on a kind has a series to read.
func Publish(class string, counts map[v1alpha1.OriginKind]int) {
	for _, k := range Kinds {
		unexpected.WithLabelValues(class, string(k)).Set(float64(counts[k]))
	}
}

// Forget drops the class's gauges (the class or its watcher is gone).
func Forget(class string) {
	unexpected.DeletePartialMatch(prometheus.Labels{"class": class})
}
