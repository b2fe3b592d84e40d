package bgp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Watcher metrics, registered on controller-runtime's registry so the
// operator's /metrics endpoint serves them.
var (
	sessionEstablished = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anycast_watcher_session_established",
		Help: "1 if the watcher's BGP session is Established (or, for a router streaming BMP, connected), 0 otherwise.",
	}, []string{"class", "session"})

	sessionPrefixes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anycast_watcher_prefixes",
		Help: "Prefixes per watcher session (a prefix sent with several ADD-PATH path ids counts once): kind=received (announced by the router, before import filtering) or kind=accepted (inside the class pools, held in the route index).",
	}, []string{"class", "session", "kind"})

	prefixOrigins = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anycast_watcher_origins",
		Help: "Distinct origin ASes (clusters) the watcher sees for a prefix inside the class pools.",
	}, []string{"class", "prefix"})

	bmpRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anycast_watcher_bmp_refused_total",
		Help: "BMP connections the class's collector closed at once because their source address is no configured router's.",
	}, []string{"class"})

	bmpDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anycast_watcher_bmp_streams_ended_total",
		Help: "BMP streams of a router that ended, by reason: closed (by the router or the collector), terminated (a Termination message), cut (mid-message), malformed, limit (over maxPrefixes, maxPeers or the message size bound).",
	}, []string{"class", "router", "reason"})

	statusDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "anycast_watcher_update_to_status_seconds",
		Help:    "Delay from a BGP update, withdrawal or session change reaching the watcher to the status write that reflects it.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	})
)

func init() {
	crmetrics.Registry.MustRegister(sessionEstablished, sessionPrefixes, prefixOrigins, bmpRefused, bmpDropped, statusDelay)
}

// ObserveStatusDelay records the delay between Change.ReceivedAt and the
// status write that reflected the change. The controller calls it.
func ObserveStatusDelay(d time.Duration) {
	statusDelay.Observe(d.Seconds())
}

func setEstablished(class, session string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	sessionEstablished.WithLabelValues(class, session).Set(v)
}

func forgetSessionMetrics(class, session string) {
	sessionEstablished.DeleteLabelValues(class, session)
	bmpDropped.DeletePartialMatch(prometheus.Labels{"class": class, "router": session})
	sessionPrefixes.DeletePartialMatch(prometheus.Labels{"class": class, "session": session})
}

func forgetClassMetrics(class string) {
	sessionEstablished.DeletePartialMatch(prometheus.Labels{"class": class})
	bmpRefused.DeletePartialMatch(prometheus.Labels{"class": class})
	bmpDropped.DeletePartialMatch(prometheus.Labels{"class": class})
	sessionPrefixes.DeletePartialMatch(prometheus.Labels{"class": class})
	prefixOrigins.DeletePartialMatch(prometheus.Labels{"class": class})
}
