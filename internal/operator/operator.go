// Package operator wires the manager: caches, controllers, health checks and metrics. The
// command and the integration tests build the operator through it, so tests run exactly
// what ships.
package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/controller"
	"github.com/anycast-operator/anycast-operator/internal/lookup"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/routerview"
	"github.com/anycast-operator/anycast-operator/internal/scheme"
	"github.com/anycast-operator/anycast-operator/internal/sweep"
)

// Options configure the operator.
type Options struct {
	// Namespace is where the operator runs; password and kubeconfig Secrets are read there.
	Namespace string
	// MetricsAddr serves Prometheus metrics ("0" disables).
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz ("0" disables).
	ProbeAddr string
	// LeaderElection makes only one replica reconcile at a time.
	LeaderElection bool
	// LeaderElectionID names the lease.
	LeaderElectionID string
	// IngressWorkers is how many ingresses are reconciled at once (0:
	// controller.DefaultIngressWorkers). Most of a reconcile waits for member API servers,
	// so workers hide that latency; the same ingress is never reconciled twice at once.
	IngressWorkers int
	// CertificateNamespaces are the hub namespaces whose kubernetes.io/tls Secrets are
	// watched (metadata only), so a renewed certificate reaches the members' copies at once;
	// "*" is every namespace. Empty: no watch (copies follow at the next reconcile).
	CertificateNamespaces []string
	// CertificateRecheck is how often certificates no watch covers are read again (the
	// members' own with source Member); default one minute.
	CertificateRecheck time.Duration
	// SyncPeriod is how often every object is reconciled even without a change; it repairs
	// what watches cannot see (a member that was down, for instance).
	SyncPeriod time.Duration
	// MemberProbeInterval and MemberProbeTimeout pace the health probes of member API
	// servers (defaults 10s and 5s).
	MemberProbeInterval, MemberProbeTimeout time.Duration
	// SweepInterval paces the orphan sweep of members (default 5m; a member that
	// recovers is swept at once).
	SweepInterval time.Duration
	// StatusDelayObserver, if set, also receives every delay from a BGP change reaching
	// the watcher to the status write reflecting it (the benchmarks read them raw; the
	// histogram anycast_watcher_update_to_status_seconds always does).
	StatusDelayObserver func(time.Duration)
	// WrapTransport, if set, wraps the HTTP transport of every client the operator builds:
	// the hub's (cluster "hub": controllers, caches and leader election) and each
	// member's (cluster = its kubeconfig reference, "<secret>/<key>"). Tests use it to
	// count API requests and to cut a replica off its API servers.
	WrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election; zero keeps
	// controller-runtime's defaults (15s, 10s and 2s). A standby takes over a released
	// lease within RetryPeriod, and a lease whose holder died without releasing it
	// (crash, partition) after LeaseDuration from its last renewal.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// SkipControllerNameValidation lets one process build more than one operator (the
	// restart and leader-election tests run replicas side by side); controller-runtime
	// otherwise refuses a second controller of the same name, whose metrics would mix.
	SkipControllerNameValidation bool
}

// Leader election and events.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=anycast-system,resources=leases,verbs=get;list;watch;create;update;patch;delete

// DefaultLeaderElectionID is the lease name replicas compete for.
const DefaultLeaderElectionID = "anycast-operator.anycast.dev"

// New builds a manager running both reconcilers against the cluster of cfg.
func New(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if opts.Namespace == "" {
		return nil, fmt.Errorf("the operator namespace is required")
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = DefaultLeaderElectionID
	}
	if opts.SyncPeriod == 0 {
		opts.SyncPeriod = 10 * time.Hour
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = 5 * time.Minute
	}
	if wrap := opts.WrapTransport; wrap != nil {
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return wrap("hub", rt) })
	}
	everything := labels.Everything()
	byObject := clusters.ObservedByObject(nil)
	for o, by := range map[client.Object]cache.ByObject{
		&v1alpha1.AnycastClass{}:   {Label: everything},
		&v1alpha1.AnycastIngress{}: {Label: everything},
		&corev1.Namespace{}:        {Label: everything},
		// Only the operator's namespace: its RBAC allows no Secret list or watch
		// elsewhere. MetalLB's password copies (and bgpextras ConfigMaps) are read live
		// (see Client below).
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{opts.Namespace: {LabelSelector: everything}}},
		// The health gate's inputs on this cluster as a member.
		&corev1.Service{}: {Label: clusters.GatewayServiceSelector()},
	} {
		byObject[o] = by
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        opts.LeaderElectionID,
		LeaderElectionNamespace: opts.Namespace,
		// Release the lease on a clean shutdown so a standby takes over at once.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 nonZero(opts.LeaseDuration),
		RenewDeadline:                 nonZero(opts.RenewDeadline),
		RetryPeriod:                   nonZero(opts.RetryPeriod),
		Controller:                    config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation},
		Cache: cache.Options{
			SyncPeriod: &opts.SyncPeriod,
			// The operator only needs to see what it wrote on a cluster: caching every
			// Gateway or Secret of a large cluster would cost memory for nothing.
			DefaultLabelSelector: owner.Managed(),
			ByObject:             byObject,
			// Managed fields are read only before an update, live (apply.Applier):
			// kept in the cache they were a large share of its memory.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true, DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}},
	})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := lookup.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	indexed, err := clusters.IndexOwners(ctx, mgr.GetFieldIndexer(), mgr.GetRESTMapper())
	if err != nil {
		return nil, err
	}
	// The manager's client reads from the cache, except Secrets (live, see above).
	// EndpointSlices are cached per namespace in use (clusters.Slices), here as on every
	// member: a cluster's unrelated Services must not cost the operator memory.
	slices := &clusters.Slices{Config: mgr.GetConfig(), HTTPClient: mgr.GetHTTPClient(), Mapper: mgr.GetRESTMapper(), Scheme: mgr.GetScheme(),
		Needed: lookup.Hub{Reader: mgr.GetCache()}.IngressNamespaces, Log: ctrl.Log.WithName("endpointslices")}
	if err := mgr.Add(slices); err != nil {
		return nil, err
	}
	local := &clusters.Member{Client: mgr.GetClient(), Reader: slices.Reader(mgr.GetClient()), LiveReader: mgr.GetAPIReader(), Indexed: indexed, Pruned: &apply.PruneMemory{}}
	classEvents, ingressEvents := notify.New[notify.ClassEvent](), notify.New[notify.IngressEvent]()
	registry := &clusters.Remote{
		// Kubeconfig Secrets live in the operator's namespace, which the cache watches:
		// every reconcile looks its members up, and must not cost an API request each.
		Hub: mgr.GetCache(), Namespace: opts.Namespace, Local: local, Scheme: mgr.GetScheme(),
		LocalSlices: slices, SliceNamespaces: lookup.Hub{Reader: mgr.GetCache()}.IngressNamespaces,
		Log:           ctrl.Log.WithName("members"),
		ProbeInterval: opts.MemberProbeInterval, ProbeTimeout: opts.MemberProbeTimeout,
		Classes: classEvents, Ingresses: ingressEvents,
		WrapTransport: opts.WrapTransport,
	}
	sweeper := sweep.New(mgr.GetClient(), mgr.GetAPIReader(), registry.SweepTargets, opts.SweepInterval, ctrl.Log.WithName("sweep"))
	registry.OnRecovered = func(string) { sweeper.Trigger() }
	if err := mgr.Add(sweeper); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		registry.Close()
		return nil
	})); err != nil {
		return nil, err
	}
	// The BGP watcher runs where the reconcilers run: on the leader. Its changes reach the
	// reconcilers through the same notifiers as the members'.
	watcher := bgp.NewManager(ctrl.Log.WithName("bgp"))
	delays := &routerview.DelayTracker{Observe: func(d time.Duration) {
		bgp.ObserveStatusDelay(d)
		if opts.StatusDelayObserver != nil {
			opts.StatusDelayObserver(d)
		}
	}}
	allocator := controller.NewAllocator()
	if err := mgr.Add(&routerview.Bridge{
		Changes: watcher.Changes(), Addresses: allocator, Classes: classEvents, Ingresses: ingressEvents, Delays: delays,
	}); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		watcher.Close()
		return nil
	})); err != nil {
		return nil, err
	}
	recorder := mgr.GetEventRecorder("anycast-operator")
	if err := (&controller.ClassReconciler{
		Client: mgr.GetClient(), Members: registry, Namespace: opts.Namespace, Recorder: recorder, Notifier: classEvents, Watcher: watcher,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the class controller: %w", err)
	}
	if err := (&controller.IngressReconciler{
		Client: mgr.GetClient(), Members: registry, Allocator: allocator, Recorder: recorder, Notifier: ingressEvents,
		Watcher: watcher, Delays: delays, Workers: opts.IngressWorkers, CertificateNamespaces: opts.CertificateNamespaces,
		CertificateRecheck: opts.CertificateRecheck,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ingress controller: %w", err)
	}
	if opts.ProbeAddr != "0" && opts.ProbeAddr != "" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
			if !mgr.GetCache().WaitForCacheSync(req.Context()) {
				return fmt.Errorf("caches not synced")
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// nonZero is nil for zero (the library's default), else a pointer to d.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}
