// Package controller holds the AnycastClass and AnycastIngress reconcilers: thin read ->
// render -> apply -> status loops around the pure internal/render package.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Finalizer removes an object's children from every member before the object goes.
const Finalizer = "anycast.dev/cleanup"

// memberTimeout bounds the work on one member in one reconcile, so that a member that
// stops answering cannot hold a worker.
const memberTimeout = 20 * time.Second

// ingressKinds are the kinds an ingress owns on a member; skupperNetworkKinds those of a
// namespace's Skupper network; classKinds those of a class.
var (
	ingressKinds        = []schema.GroupVersionKind{render.GVKIPAddressPool, render.GVKBGPAdvertisement, render.GVKGateway, render.GVKHTTPRoute, render.GVKConnector, render.GVKListener}
	skupperNetworkKinds = []schema.GroupVersionKind{render.GVKSite, render.GVKAccessGrant, render.GVKAccessToken}
	classKinds          = []schema.GroupVersionKind{render.GVKSecret, render.GVKBFDProfile, render.GVKBGPPeer, render.GVKGatewayClass}
)

// IngressReconciler reconciles AnycastIngress objects on the hub into objects on every
// member of their class.
type IngressReconciler struct {
	// Client reads and writes the hub (a cache-backed client).
	Client client.Client
	// Members connects to member clusters.
	Members clusters.Registry
	// Allocator hands out VIPs.
	Allocator *Allocator
	// Recorder emits events on the transitions users care about.
	Recorder events.EventRecorder
	// Notifier delivers requests from member clusters (health changes, drift) and the BGP
	// watcher; optional.
	Notifier *notify.Notifier
	// Watcher is the embedded BGP watcher; nil disables verification.
	Watcher Watcher
	// Delays measures BGP change to status write; optional.
	Delays *DelayTracker
	// Workers is how many ingresses are reconciled at once (default 4).
	Workers int

	backoff redeemBackoff
	// statuses remembers the status last written per ingress (see statusMemory).
	statuses statusMemory
	// networks serialises the reconciles of one Skupper network (class and namespace),
	// which several ingress workers share, and remembers the networks known to be clean.
	networks networkLocks
}

// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses/finalizers,verbs=update
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=metallb.io,resources=ipaddresspools;bgpadvertisements,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways;httproutes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=skupper.io,resources=sites;listeners;connectors;accessgrants;accesstokens,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=skupper.io,resources=links,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups=metallb.io,resources=configurationstates;servicebgpstatuses,verbs=get;list;watch

// Reconcile brings one ingress's children on every member in line with its spec and
// reports what happened in its status, written once at the end.
func (r *IngressReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	log := logf.FromContext(ctx)
	ing := &v1alpha1.AnycastIngress{}
	if err := r.Client.Get(ctx, req.NamespacedName, ing); err != nil {
		if apierrors.IsNotFound(err) {
			r.Allocator.Release(req.NamespacedName)
			r.statuses.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	class := &v1alpha1.AnycastClass{}
	classErr := r.Client.Get(ctx, types.NamespacedName{Name: ing.Spec.ClassName}, class)
	if classErr != nil && !apierrors.IsNotFound(classErr) {
		return ctrl.Result{}, classErr
	}
	classFound := classErr == nil

	if !ing.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, ing, class, classFound)
	}
	if err := addFinalizer(ctx, r.Client, ing); err != nil {
		return ctrl.Result{}, err
	}

	// The status the API server holds is the one we last wrote, when the cache has not
	// caught up with that write yet: comparing with the cache alone would skip a needed
	// write whenever the new status happens to equal the cache's older one (seen after a
	// restart while MetalLB removed a VIP: Ready=True stayed for good, since status
	// writes do not trigger a reconcile).
	orig := r.statuses.base(ing)
	ing.Status = *orig.Status.DeepCopy() // the hold-downs and transitions start from it too
	before := &orig.Status
	bgpChangeAt, _ := r.Delays.Take(req.NamespacedName)
	defer func() {
		ing.Status.ObservedGeneration = ing.Generation
		if equality.Semantic.DeepEqual(before, &ing.Status) {
			return
		}
		// The status is ours alone: a merge patch needs no resourceVersion, so a cache
		// that has not caught up with our own finalizer write cannot make it fail; and it
		// is computed from what the server holds, so no stale field survives it.
		if err := r.Client.Status().Patch(ctx, ing, client.MergeFrom(orig)); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("writing status: %w", err))
			return
		}
		r.statuses.wrote(ing)
		r.Delays.Written(bgpChangeAt, time.Now())
		emitTransitions(r.Recorder, ing, before.Conditions, ing.Status.Conditions)
	}()

	conds := conditionSet{conds: &ing.Status.Conditions, generation: ing.Generation}
	notAccepted := func(reason, msg string) {
		conds.set(v1alpha1.ConditionAccepted, false, reason, msg)
		if !conds.isTrue(v1alpha1.ConditionProgrammed) || conds.get(v1alpha1.ConditionProgrammed).ObservedGeneration != ing.Generation {
			conds.set(v1alpha1.ConditionProgrammed, false, ReasonNotAccepted, "nothing of this generation is applied until the ingress is accepted; members keep what was applied before")
		}
		conds.ready(v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed)
	}

	if !classFound {
		notAccepted(ReasonClassNotFound, fmt.Sprintf("AnycastClass %q does not exist; create it or fix spec.className", ing.Spec.ClassName))
		return ctrl.Result{}, nil
	}
	if !class.DeletionTimestamp.IsZero() {
		notAccepted(ReasonClassDeleting, fmt.Sprintf("AnycastClass %q is being deleted", class.Name))
		return ctrl.Result{}, nil
	}

	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: ing.Namespace}, ns); err != nil {
		return ctrl.Result{}, err
	}
	if !r.Allocator.IndexSynced() {
		// Every start: the address index is still being filled from the cache.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	addr, problem := r.Allocator.Resolve(class, ing)
	if problem != nil {
		ing.Status.Address = ""
		notAccepted(problem.Reason, problem.Message)
		return ctrl.Result{}, nil
	}

	// The Skupper network comes first: a backend reached over it is healthy only when its
	// link is up.
	var transient []error
	report, err := r.reconcileSkupperNetwork(ctx, class, ing.Namespace)
	if err != nil {
		transient = append(transient, err)
	}
	now := time.Now()
	gate := r.evaluateHealth(ctx, class, ing, addr, report, now)
	metallb := r.observeMetalLB(ctx, class, ing)

	conflicts, err := classConflicts(ctx, r.Client, class)
	if err != nil {
		return ctrl.Result{}, err
	}
	obs := render.Observed{
		Address: addr.String(), NamespaceLabels: ns.Labels, ClassConflicts: conflicts,
		HealthWithdrawn: gate.withdrawn(), AwaitingHealth: gate.awaiting(), Members: map[string]render.MemberObserved{},
	}
	for name, st := range metallb {
		obs.Members[name] = render.MemberObserved{Pools: st.pools}
	}
	out := render.RenderIngress(class, ing, &obs)
	if len(out.Problems) > 0 {
		ing.Status.Address = ""
		notAccepted(out.Problems[0].Reason, render.Summary(out.Problems))
		return ctrl.Result{}, nil
	}
	ing.Status.Address = addr.String()
	allRefused := len(out.Clusters) > 0
	for _, co := range out.Clusters {
		allRefused = allRefused && len(co.Refusals) > 0
	}
	switch refusals := out.AllProblems(); {
	case allRefused:
		conds.set(v1alpha1.ConditionAccepted, false, refusals[0].Reason, render.Summary(refusals)+"; every selected member refuses the ingress, so nothing of this generation is applied anywhere (members keep what was applied before)")
	case len(refusals) > 0:
		conds.set(v1alpha1.ConditionAccepted, false, refusals[0].Reason, render.Summary(refusals)+"; the other members are programmed")
	default:
		conds.set(v1alpha1.ConditionAccepted, true, ReasonAccepted, "")
	}

	// Program every selected member; remove the ingress from members it no longer selects.
	ref := owner.Ingress(class.Name, ing.Namespace, ing.Name)
	statuses := make([]v1alpha1.IngressClusterStatus, 0, len(out.Clusters))
	outcomes := make([]outcome, 0, len(out.Clusters))
	for _, co := range out.Clusters {
		st, oc, err := r.programMember(ctx, class, ref, co)
		if mst, ok := metallb[co.Name]; ok && oc == outcomeProgrammed && mst.verdict == MetalLBInvalid {
			// Applied, but MetalLB rejects its whole configuration: nothing of it acts.
			st.Programmed, st.Message, oc = false, rejectionMessage(co.Name, mst), outcomeRejected
		}
		st.AnnouncingNodes = gate.announcing[co.Name]
		statuses = append(statuses, st)
		outcomes = append(outcomes, oc)
		if err != nil {
			transient = append(transient, err)
		}
	}
	selected := map[string]bool{}
	for _, co := range out.Clusters {
		selected[co.Name] = true
	}
	for _, m := range class.Spec.Clusters {
		if selected[m.Name] {
			continue
		}
		if member, err := r.Members.Get(ctx, class, m.Name); err == nil {
			mctx, cancel := context.WithTimeout(ctx, memberTimeout)
			_, err := member.Applier().Prune(mctx, ref, ingressKinds, nil, "")
			cancel()
			if err != nil {
				transient = append(transient, fmt.Errorf("cluster %s: %w", m.Name, err))
			}
		}
	}
	prev := map[string]v1alpha1.IngressClusterStatus{}
	for _, cs := range ing.Status.Clusters {
		prev[cs.Name] = cs
	}
	ing.Status.Clusters = statuses
	setProgrammed(conds, statuses, outcomes)
	setLinked(conds, ing, class, report)
	pendingWait := r.applyGateStatus(ctx, conds, ing, class, gate, out, prev, now)
	syncWait := setAdvertised(conds, ing, class, r.Watcher, addr, prev, now)
	if allRefused {
		explainRefusedEverywhere(conds)
	}
	// Ready follows what the routers carry when a watcher can tell, and the health of the
	// members when the gate is on.
	conds.readyWith([]string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed, v1alpha1.ConditionLinked},
		[]string{v1alpha1.ConditionAdvertised, v1alpha1.ConditionDrained, v1alpha1.ConditionHealthy})
	if len(transient) > 0 {
		log.V(1).Info("transient errors, retrying", "errors", errors.Join(transient...).Error())
		return withTransient(ctrl.Result{}, transient)
	}
	// Members that are down come back through the registry's notifications; the requeue
	// is for what nobody notifies: a link on its way up, a backoff running out.
	requeue := report.RequeueAfter
	if rc := gate.recheck(); rc > 0 && (requeue == 0 || rc < requeue) {
		requeue = rc + 100*time.Millisecond
	}
	if gate.addressPending {
		pendingWait = minPositive(pendingWait, addressRecheck)
	}
	for _, w := range []time.Duration{syncWait, pendingWait} {
		if w > 0 && (requeue == 0 || w < requeue) {
			requeue = w
		}
	}
	for _, o := range outcomes {
		if o == outcomeUnavailable && (requeue == 0 || requeue > time.Minute) {
			requeue = time.Minute
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// addressRecheck is how soon an ingress is looked at again while a Gateway's Service has
// no VIP: MetalLB's reason (an AllocationFailed event) is not watched.
const addressRecheck = 10 * time.Second

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// outcome is how programming one member went.
type outcome int

const (
	outcomeProgrammed outcome = iota
	outcomeRefused
	outcomeUnavailable
	outcomeConflict
	outcomeRejected
	outcomeFailed
)

// programMember applies one member's objects and prunes what it no longer needs. A refused
// member gets nothing applied and nothing pruned. The returned error is transient (the
// member or its API failed); conflicts and refusals are reported in the status only.
func (r *IngressReconciler) programMember(ctx context.Context, class *v1alpha1.AnycastClass, ref owner.Ref, co render.ClusterOutput) (v1alpha1.IngressClusterStatus, outcome, error) {
	st := v1alpha1.IngressClusterStatus{Name: co.Name, Drained: co.Drained}
	if len(co.Refusals) > 0 {
		st.Message = render.Summary(co.Refusals)
		return st, outcomeRefused, nil
	}
	member, err := r.Members.Get(ctx, class, co.Name)
	if err != nil {
		st.Message = err.Error()
		var unavailable *clusters.UnavailableError
		if errors.As(err, &unavailable) {
			st.Message = unavailable.Reason + ": " + unavailable.Message
			return st, outcomeUnavailable, nil
		}
		return st, outcomeFailed, err
	}
	mctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	conflicts, err := applyAll(mctx, member.Applier(), ref, co.Objects, ingressKinds, "")
	switch {
	case err != nil:
		st.Message = err.Error()
		return st, outcomeFailed, fmt.Errorf("cluster %s: %w", co.Name, err)
	case len(conflicts) > 0:
		st.Message = joinNames(conflicts)
		return st, outcomeConflict, nil
	}
	st.Programmed = true
	return st, outcomeProgrammed, nil
}

// applyAll applies objects in order, then prunes what ref owns of kinds but objects does
// not hold. Conflicting objects are skipped and listed; the first other error stops.
func applyAll(ctx context.Context, a *apply.Applier, ref owner.Ref, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) ([]string, error) {
	keep := map[apply.ID]bool{}
	var conflicts []string
	for _, obj := range objects {
		keep[apply.IDOf(obj)] = true
		if _, err := a.Apply(ctx, obj); err != nil {
			if apply.IsConflict(err) {
				conflicts = append(conflicts, err.Error())
				continue
			}
			return conflicts, err
		}
	}
	if _, err := a.Prune(ctx, ref, kinds, keep, secretNamespace); err != nil {
		return conflicts, err
	}
	return conflicts, nil
}

// setProgrammed summarises the members: Programmed only when every selected member holds
// every object. The reason names the worst thing that happened.
func setProgrammed(conds conditionSet, statuses []v1alpha1.IngressClusterStatus, outcomes []outcome) {
	var pending []string
	worst := outcomeProgrammed
	for i, s := range statuses {
		if outcomes[i] == outcomeProgrammed {
			continue
		}
		pending = append(pending, s.Name+" ("+s.Message+")")
		if outcomes[i] > worst {
			worst = outcomes[i]
		}
	}
	summary := fmt.Sprintf("%d of %d members programmed", len(statuses)-len(pending), len(statuses))
	if len(pending) > 0 {
		summary += "; not programmed: " + joinNames(pending)
	}
	reason := map[outcome]string{
		outcomeProgrammed:  ReasonProgrammed,
		outcomeRefused:     ReasonPartiallyProgrammed,
		outcomeUnavailable: ReasonMemberUnavailable,
		outcomeConflict:    ReasonNameConflict,
		outcomeRejected:    ReasonMetalLBConfigRejected,
		outcomeFailed:      ReasonApplyFailed,
	}[worst]
	conds.set(v1alpha1.ConditionProgrammed, len(pending) == 0, reason, summary)
}

// explainRefusedEverywhere says what is true of an ingress every selected member refuses:
// nothing of this generation was applied anywhere, so nothing is on its way either.
func explainRefusedEverywhere(conds conditionSet) {
	const why = "every selected member refuses the ingress (see Accepted), so nothing of this generation is applied"
	conds.set(v1alpha1.ConditionProgrammed, false, ReasonNotAccepted, "nothing is programmed: "+why)
	if c := conds.get(v1alpha1.ConditionHealthy); c != nil && c.Status != metav1.ConditionTrue {
		conds.set(v1alpha1.ConditionHealthy, false, ReasonNotAccepted, "no member serves this generation: "+why)
	}
	if c := conds.get(v1alpha1.ConditionAdvertised); c != nil && c.Status == metav1.ConditionFalse {
		conds.set(v1alpha1.ConditionAdvertised, false, ReasonNotAccepted, "the routers carry no path of the VIP, and none is on its way: "+why)
	}
}

// observeMetalLB reads the MetalLB pools and verdict of every selected member that can be
// reached now. A member that cannot be read is left out: nothing is refused for what
// could not be seen, and its own status says why it is unavailable.
func (r *IngressReconciler) observeMetalLB(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress) map[string]metallbState {
	out := map[string]metallbState{}
	for _, name := range render.SelectedClusters(class, ing) {
		m, err := r.Members.Get(ctx, class, name)
		if err != nil {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, memberTimeout)
		st, err := readMetalLB(mctx, m.Reader, render.MetalLBNamespace(class))
		cancel()
		if err != nil {
			logf.FromContext(ctx).V(1).Info("reading MetalLB state", "cluster", name, "error", err.Error())
			continue
		}
		out[name] = st
	}
	return out
}

// finalize removes the ingress's children from every member it can reach, then lets the
// ingress go. A member that cannot be reached now is cleaned by the orphan sweep later.
func (r *IngressReconciler) finalize(ctx context.Context, ing *v1alpha1.AnycastIngress, class *v1alpha1.AnycastClass, classFound bool) error {
	if !controllerutil.ContainsFinalizer(ing, Finalizer) {
		return nil
	}
	log := logf.FromContext(ctx)
	ref := owner.Ingress(ing.Spec.ClassName, ing.Namespace, ing.Name)
	if classFound {
		for _, m := range class.Spec.Clusters {
			member, err := r.Members.Get(ctx, class, m.Name)
			if err != nil {
				log.Info("member unavailable during cleanup; the sweep will remove its objects later", "cluster", m.Name, "reason", err.Error())
				continue
			}
			mctx, cancel := context.WithTimeout(ctx, memberTimeout)
			_, err = member.LiveApplier().Prune(mctx, ref, ingressKinds, nil, "")
			cancel()
			if err != nil {
				log.Info("cleanup failed on a member; the sweep will remove its objects later", "cluster", m.Name, "error", err.Error())
			}
		}
		if _, err := r.reconcileSkupperNetwork(ctx, class, ing.Namespace); err != nil {
			log.Info("cleaning the Skupper network failed; the sweep will finish it", "error", err.Error())
		}
	}
	r.Allocator.Release(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
	return removeFinalizer(ctx, r.Client, ing)
}
