package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/lookup"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/observe"
	"github.com/anycast-operator/anycast-operator/internal/origins"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/routerview"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// ClassReconciler reconciles AnycastClass objects: the objects every ingress of the class
// shares on each member (BGP peers, BFD profiles, password Secrets, the GatewayClass), and
// the class's view of its members.
type ClassReconciler struct {
	// Client reads and writes the hub (a cache-backed client).
	Client client.Client
	// Members connects to member clusters.
	Members clusters.Registry
	// Namespace is the operator's namespace, where password and kubeconfig Secrets live.
	Namespace string
	// Recorder emits events on the transitions users care about.
	Recorder events.EventRecorder
	// Notifier delivers requests from member clusters (health changes, drift) and the BGP
	// watcher (session changes); optional.
	Notifier *notify.Notifier[notify.ClassEvent]
	// Watcher is the embedded BGP watcher; nil leaves spec.watcher unused.
	Watcher routerview.Watcher
}

// +kubebuilder:rbac:groups=anycast.dev,resources=anycastclasses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastclasses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastclasses/finalizers,verbs=update
// +kubebuilder:rbac:groups=metallb.io,resources=bgppeers;bfdprofiles,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses,verbs=get;list;watch;create;update;patch;delete
// Secrets: read the password Secrets in the operator's namespace; write MetalLB's copies in
// its namespace. Nothing else: the Helm chart templates both namespaces.
// +kubebuilder:rbac:groups="",namespace=anycast-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=metallb-system,resources=secrets,verbs=get;list;watch;create;update;patch;delete
// What the nodes learn from their peers: FRRConfigurations (MetalLB's frr-k8s mode) and
// MetalLB's bgpextras ConfigMap (frr mode; read live, in MetalLB's namespace only), and the
// speakers' own session state (frr-k8s's BGPSessionStates, read only).
// +kubebuilder:rbac:groups=frrk8s.metallb.io,resources=frrconfigurations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=frrk8s.metallb.io,resources=bgpsessionstates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=metallb-system,resources=configmaps,verbs=get;list;create;update;patch;delete

// Reconcile brings the class's shared objects on every member in line with its spec.
func (r *ClassReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	class := &v1alpha1.AnycastClass{}
	if err := r.Client.Get(ctx, req.NamespacedName, class); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Read only (counted, named, and matched against the routers' paths): the cache's
	// own objects, not copies. A class with 1,000 ingresses is reconciled often while they
	// are created, and copying every one each time was 18 % of the operator's CPU in the
	// 1,000-ingress benchmark.
	ingresses := &v1alpha1.AnycastIngressList{}
	if err := r.Client.List(ctx, ingresses, client.MatchingFields{lookup.ClassNameIndex: class.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}

	orig := class.DeepCopy()
	before := &orig.Status
	conds := status.Conditions{List: &class.Status.Conditions, Generation: class.Generation}
	var notices []status.Event // told once the status that lists them is written
	writeStatus := func() error {
		class.Status.ObservedGeneration = class.Generation
		class.Status.Ingresses = int32(len(ingresses.Items))
		if equality.Semantic.DeepEqual(before, &class.Status) {
			return nil
		}
		if err := r.Client.Status().Patch(ctx, class, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("writing status: %w", err)
		}
		emitTransitions(r.Recorder, class, before.Conditions, class.Status.Conditions)
		emit(r.Recorder, class, origins.Events(before.UnexpectedOrigins, class.Status.UnexpectedOrigins))
		emit(r.Recorder, class, notices)
		return nil
	}

	if !class.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(class, Finalizer) {
			return ctrl.Result{}, nil
		}
		if n := len(ingresses.Items); n > 0 {
			// Like a GatewayClass with Gateways: the shared peers stay until the last
			// ingress is gone, or those ingresses would stop being advertised.
			conds.Set(v1alpha1.ConditionReady, false, v1alpha1.ReasonInUse, fmt.Sprintf("deletion waits for the %d AnycastIngresses that use this class (%s)", n, ingressNames(ingresses.Items)))
			return ctrl.Result{}, writeStatus()
		}
		return ctrl.Result{}, r.finalize(ctx, class)
	}
	if err := addFinalizer(ctx, r.Client, class); err != nil {
		return ctrl.Result{}, err
	}
	orig.ObjectMeta = *class.ObjectMeta.DeepCopy()
	defer func() { retErr = errors.Join(retErr, writeStatus()) }()

	secrets, err := r.readSecrets(ctx, class)
	if err != nil {
		return ctrl.Result{}, err
	}
	conflicts, err := classConflicts(ctx, r.Client, class)
	if err != nil {
		return ctrl.Result{}, err
	}
	out := render.RenderClass(class, &render.Observed{Secrets: secrets, ClassConflicts: conflicts})
	if len(out.Problems) > 0 {
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.Reason(out.Problems[0].Reason), render.Summary(out.Problems))
		conds.Ready([]string{v1alpha1.ConditionAccepted}, nil)
		return ctrl.Result{}, nil
	}
	if refusals := out.AllProblems(); len(refusals) > 0 {
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.Reason(refusals[0].Reason), render.Summary(refusals)+"; nothing is applied to those members")
	} else {
		conds.Set(v1alpha1.ConditionAccepted, true, v1alpha1.ReasonAccepted, "")
	}

	// Members at once: a slow or stopped member costs only its own entry (issue 20).
	results := make([]classMemberResult, len(out.Clusters))
	var wg sync.WaitGroup
	for i := range out.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.programMember(ctx, class, &out.Clusters[i], before.Clusters)
		}()
	}
	wg.Wait()
	var transient []error
	var unreachable, nameConflicts []string
	statuses := make([]v1alpha1.ClusterStatus, 0, len(out.Clusters))
	for i, mr := range results {
		transient = append(transient, mr.transient...)
		if mr.unreachable != "" {
			unreachable = append(unreachable, mr.unreachable)
		}
		nameConflicts = append(nameConflicts, mr.nameConflicts...)
		co := out.Clusters[i]
		for _, n := range render.NewNotices(previous(before.Clusters, co.Name).Notices, co.Notices) {
			notices = append(notices, status.Event{Type: corev1.EventTypeNormal, Reason: n.Reason, Action: n.Reason, Note: co.Name + ": " + n.Message})
		}
		statuses = append(statuses, keepTransitionTime(before.Clusters, mr.status))
	}
	// Members that left the class: remove everything of the class there, or remember
	// them until they can be reached.
	keep := clusterNames(class)
	for _, prev := range before.Clusters {
		if class.Member(prev.Name) != nil {
			continue
		}
		if err := r.cleanRemovedMember(ctx, class, prev); err != nil {
			st := prev
			st.Reachable, st.Removed, st.Reason = false, true, string(v1alpha1.ReasonUnreachable)
			st.Message = "removed from the class; its objects are removed once it is reachable: " + err.Error()
			statuses = append(statuses, keepTransitionTime(before.Clusters, st))
			keep = append(keep, prev.Name)
			res.RequeueAfter = time.Minute
		}
	}
	r.Members.Retain(class.Name, keep)
	class.Status.Clusters = statuses
	if requeue := r.reconcileWatcher(ctx, class, secrets, conds, ingresses.Items); requeue > 0 && (res.RequeueAfter == 0 || requeue < res.RequeueAfter) {
		res.RequeueAfter = requeue
	}

	switch {
	case len(unreachable) > 0:
		conds.Set(v1alpha1.ConditionClustersReachable, false, v1alpha1.ReasonUnreachable, joinNames(unreachable))
	default:
		conds.Set(v1alpha1.ConditionClustersReachable, true, v1alpha1.ReasonAllReachable, fmt.Sprintf("%d of %d members reachable", len(statuses), len(statuses)))
	}
	if len(nameConflicts) > 0 {
		conds.Set(v1alpha1.ConditionAccepted, false, v1alpha1.ReasonNameConflict, joinNames(nameConflicts))
	}
	setMetalLBConfigValid(conds, statuses)
	setSpeakerSessions(conds, statuses)
	conds.Ready([]string{v1alpha1.ConditionAccepted, v1alpha1.ConditionClustersReachable}, []string{v1alpha1.ConditionSessionsEstablished, v1alpha1.ConditionMetalLBConfigValid, v1alpha1.ConditionSpeakerSessionsEstablished})
	return withTransient(res, transient)
}

// classMemberResult is what programming one member of the class gave.
type classMemberResult struct {
	status        v1alpha1.ClusterStatus
	transient     []error
	unreachable   string // "name: why" when the member could not be reached
	nameConflicts []string
}

// programMember applies the class's objects to one member (unless the render refused
// it there) and reads back its MetalLB verdict and speaker sessions. Safe to run for
// every member at once: it writes nothing shared.
func (r *ClassReconciler) programMember(ctx context.Context, class *v1alpha1.AnycastClass, co *render.ClusterOutput, before []v1alpha1.ClusterStatus) (res classMemberResult) {
	spec := class.Member(co.Name)
	st := v1alpha1.ClusterStatus{Name: co.Name, Reachable: true, Reason: string(v1alpha1.ReasonAllReachable), KubeconfigSecretRef: spec.KubeconfigSecretRef}
	defer func() {
		st.Notices = render.NoticeMessages(co.Notices)
		res.status = st
	}()
	member, err := r.Members.Get(ctx, class, co.Name)
	if err == nil {
		// Not programmed before its cache has read it (waited for within the member's
		// timeout): the registry tells the class when it has.
		wctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
		err = member.AwaitCache(wctx)
		cancel()
	}
	if err != nil {
		st.Reachable, st.Message, st.Reason = false, err.Error(), string(v1alpha1.ReasonUnreachable)
		var unavailable *clusters.UnavailableError
		if errors.As(err, &unavailable) {
			st.Reason, st.Message = unavailable.Reason, unavailable.Message
		} else {
			res.transient = append(res.transient, err)
		}
		res.unreachable = co.Name + ": " + st.Message
		return res
	}
	if len(co.Refusals) == 0 {
		mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
		c, err := member.Applier().ApplyAll(mctx, owner.Class(class.Name), co.Objects, classKinds, render.MetalLBNamespace(class))
		cancel()
		if err != nil {
			res.transient = append(res.transient, fmt.Errorf("cluster %s: %w", co.Name, err))
		}
		res.nameConflicts = c
	}
	if err := observe.MetalLBVerdict(ctx, class, member, &st); err != nil {
		// Not read this time (a member cache still starting, say): what was known
		// stands, and the reconcile is retried.
		p := previous(before, st.Name)
		st.MetalLB, st.MetalLBMessage = p.MetalLB, p.MetalLBMessage
		res.transient = append(res.transient, fmt.Errorf("cluster %s: %w", co.Name, err))
	}
	if err := observe.SpeakerStatus(ctx, class, member, &st, before, time.Now()); err != nil {
		res.transient = append(res.transient, fmt.Errorf("cluster %s: %w", co.Name, err))
	}
	return res
}

// readSecrets reads the password Secrets the class's peers and watcher sessions name,
// from the operator's namespace. A missing Secret is not an error here: the peer's member
// or the watcher is refused, saying which Secret to create, and the Secret watch brings
// the class back when it appears.
func (r *ClassReconciler) readSecrets(ctx context.Context, class *v1alpha1.AnycastClass) (map[string]string, error) {
	var refs []*v1alpha1.SecretKeyReference
	for _, m := range class.Spec.Clusters {
		for _, p := range m.Peers {
			refs = append(refs, p.PasswordSecretRef)
		}
	}
	if w := class.Spec.Watcher; w != nil {
		for _, s := range w.Sessions {
			refs = append(refs, s.PasswordSecretRef)
		}
	}
	out := map[string]string{}
	for _, ref := range refs {
		if ref == nil {
			continue
		}
		s := &corev1.Secret{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: ref.Name}, s)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if v, ok := s.Data[keyOr(ref.Key, "password")]; ok {
			out[render.SecretKey(ref, "password")] = string(v)
		}
	}
	return out, nil
}

// reconcileWatcher starts, reconfigures or stops the class's BGP watcher and reports its
// sessions and what the routers carry that no ingress explains. Session changes and prefix counter moves (at most every bgp.CountersEvery)
// reach the class through BGPBridge as they happen, so the periodic look it returns is
// not what keeps the sessions' status current.
func (r *ClassReconciler) reconcileWatcher(ctx context.Context, class *v1alpha1.AnycastClass, secrets map[string]string, conds status.Conditions, ingresses []v1alpha1.AnycastIngress) time.Duration {
	if r.Watcher == nil {
		return 0
	}
	if class.Spec.Watcher == nil {
		if err := r.Watcher.Remove(ctx, class.Name); err != nil {
			logf.FromContext(ctx).Error(err, "stopping the watcher")
		}
		conds.Remove(v1alpha1.ConditionSessionsEstablished)
		conds.Remove(v1alpha1.ConditionOriginsExplained)
		class.Status.Sessions, class.Status.BMP, class.Status.UnexpectedOrigins = nil, nil, nil
		origins.Forget(class.Name)
		return 0
	}
	cfg, missing, err := routerview.Config(class, secrets)
	taken, cerr := sessionConflicts(ctx, r.Client, class)
	if cerr != nil {
		return time.Minute
	}
	// Start the sessions no older class holds; report the others.
	cfg.Sessions = routerview.Untaken(cfg.Sessions, taken)
	switch {
	case err != nil:
		conds.Set(v1alpha1.ConditionSessionsEstablished, false, v1alpha1.ReasonInvalidWatcher, err.Error())
		return 0
	case len(missing) > 0:
		conds.Set(v1alpha1.ConditionSessionsEstablished, false, v1alpha1.Reason(render.ReasonPasswordSecretNotFound),
			"the watcher is not started without its session passwords; create in the operator's namespace: "+joinNames(missing))
		return 0
	}
	if err := r.Watcher.Apply(ctx, class.Name, cfg); err != nil {
		conds.Set(v1alpha1.ConditionSessionsEstablished, false, v1alpha1.ReasonWatcherFailed, "the watcher could not apply this configuration: "+err.Error())
		return time.Minute
	}
	rep := routerview.ClassReport(class, r.Watcher.Sessions(class.Name), r.Watcher.BMP(class.Name), taken)
	class.Status.Sessions, class.Status.BMP = rep.Sessions, rep.BMP
	conds.Set(v1alpha1.ConditionSessionsEstablished, rep.Established, rep.Reason, rep.Message)
	paths, held := r.Watcher.ClassPaths(class.Name, origins.MaxPaths)
	found := origins.Find(origins.Input{Class: class, Paths: paths, Held: held, Ingresses: ingresses, Now: time.Now(), Previous: class.Status.UnexpectedOrigins})
	class.Status.UnexpectedOrigins = found.Entries
	conds.SetStatus(v1alpha1.ConditionOriginsExplained, found.Status, found.Reason, found.Message)
	origins.Publish(class.Name, found.Counts)
	return 30 * time.Second
}

// finalize removes the class's shared objects from every reachable member. A member that
// is down now keeps them until the orphan sweep finds them.
func (r *ClassReconciler) finalize(ctx context.Context, class *v1alpha1.AnycastClass) error {
	log := logf.FromContext(ctx)
	ref := owner.Class(class.Name)
	// Members at once, each bounded by its own MemberTimeout.
	_ = eachMember(clusterNames(class), func(name string) error {
		member, err := r.Members.Get(ctx, class, name)
		if err != nil {
			log.Info("member unavailable during cleanup; the sweep will remove its objects later", "cluster", name, "reason", err.Error())
			return nil
		}
		mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
		defer cancel()
		if _, err := member.LiveApplier().Prune(mctx, ref, classKinds, nil, render.MetalLBNamespace(class)); err != nil {
			log.Info("cleanup failed on a member; the sweep will remove its objects later", "cluster", name, "error", err.Error())
		}
		return nil
	})
	if r.Watcher != nil {
		if err := r.Watcher.Remove(ctx, class.Name); err != nil {
			return err
		}
		origins.Forget(class.Name)
	}
	if err := removeFinalizer(ctx, r.Client, class); err != nil {
		return err
	}
	r.Members.Retain(class.Name, nil)
	return nil
}

// cleanRemovedMember removes every object of the class (its own and its ingresses') from
// a member that is no longer in the class.
func (r *ClassReconciler) cleanRemovedMember(ctx context.Context, class *v1alpha1.AnycastClass, prev v1alpha1.ClusterStatus) error {
	member, err := r.Members.GetByRef(ctx, class.Name, prev.Name, prev.KubeconfigSecretRef)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	sel := labels.SelectorFromSet(labels.Set{owner.ManagedByLabel: owner.ManagedByValue, owner.ClassLabel: class.Name})
	n, err := member.LiveApplier().PruneSelected(ctx, sel, render.AllKinds, nil, render.MetalLBNamespace(class))
	if err != nil {
		return err
	}
	logf.FromContext(ctx).Info("removed the class's objects from a member that left it", "cluster", prev.Name, "deleted", n)
	return nil
}

func clusterNames(class *v1alpha1.AnycastClass) []string {
	out := make([]string, 0, len(class.Spec.Clusters))
	for _, m := range class.Spec.Clusters {
		out = append(out, m.Name)
	}
	return out
}

// keepTransitionTime carries a member's lastTransitionTime over while reachable does not
// change.
func keepTransitionTime(prev []v1alpha1.ClusterStatus, st v1alpha1.ClusterStatus) v1alpha1.ClusterStatus {
	for _, p := range prev {
		if p.Name == st.Name && p.Reachable == st.Reachable && p.LastTransitionTime != nil {
			st.LastTransitionTime = p.LastTransitionTime
			return st
		}
	}
	now := metav1.Now()
	st.LastTransitionTime = &now
	return st
}

func ingressNames(items []v1alpha1.AnycastIngress) string {
	names := make([]string, 0, len(items))
	for _, i := range items {
		names = append(names, i.Namespace+"/"+i.Name)
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	return joinNames(names)
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}
