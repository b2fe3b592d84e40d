// Package controller holds the AnycastClass and AnycastIngress reconcilers: thin read ->
// render -> apply -> status loops around the pure internal/render package.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/observe"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/routerview"
	"github.com/anycast-operator/anycast-operator/internal/skupperlink"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// Finalizer removes an object's children from every member before the object goes.
const Finalizer = "anycast.dev/cleanup"

// ingressKinds are the kinds an ingress owns on a member; classKinds those of a class (a
// namespace's Skupper network: skupperlink.NetworkKinds).
var (
	ingressKinds = []schema.GroupVersionKind{render.GVKIPAddressPool, render.GVKBGPAdvertisement, render.GVKGateway, render.GVKService, render.GVKHTTPRoute, render.GVKGRPCRoute, render.GVKTLSRoute, render.GVKConnector, render.GVKListener}
	// certificateKinds adds the certificate copies (Secrets in the ingress namespace) on
	// members that can hold them (see kindsOn): Secrets are never cached, so they are
	// listed live, and only where they can exist.
	certificateKinds = append(append([]schema.GroupVersionKind{}, ingressKinds...), render.GVKSecret)
	classKinds       = []schema.GroupVersionKind{render.GVKSecret, render.GVKConfigMap, render.GVKBFDProfile, render.GVKBGPPeer, render.GVKFRRConfiguration, render.GVKGatewayClass}
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
	Notifier *notify.Notifier[notify.IngressEvent]
	// Watcher is the embedded BGP watcher; nil disables verification.
	Watcher routerview.Watcher
	// Delays measures BGP change to status write; optional.
	Delays *routerview.DelayTracker
	// Workers is how many ingresses are reconciled at once (DefaultIngressWorkers when 0).
	Workers int
	// CertificateNamespaces are the hub namespaces whose certificate Secrets are watched
	// ("*": all); empty, none are (see certificateSource).
	CertificateNamespaces []string
	// CertificateRecheck is how often certificates that no watch covers are read again:
	// the members' own (source Member), the hub's outside CertificateNamespaces. Default
	// one minute.
	CertificateRecheck time.Duration

	// Linker keeps the Skupper networks; made from Members on first use when unset.
	Linker     *skupperlink.Linker
	linkerOnce sync.Once

	// statuses remembers the status last written per ingress (see statusMemory).
	statuses statusMemory
	// work tracks the member applies left behind by their reconcile (see memberWork).
	work memberWork
	// refreshes keeps refreshes (reports, not new work) behind new work, one at a time
	// (see notify.RefreshGate).
	refreshes notify.RefreshGate
}

// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastingresses/finalizers,verbs=update
// +kubebuilder:rbac:groups=anycast.dev,resources=anycastclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=metallb.io,resources=ipaddresspools;bgpadvertisements,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways;httproutes;grpcroutes;tlsroutes,verbs=get;list;watch;create;update;patch;delete
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
	release, ok := r.refreshes.Enter(req)
	if !ok {
		return ctrl.Result{RequeueAfter: r.refreshes.Retry(), Priority: ptr.To(notify.RefreshPriority)}, nil
	}
	defer release()
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
	ing.Status = *orig.Status.DeepCopy() // the gate's memory is what the server holds too
	obs := &status.Observation{Generation: ing.Generation, Now: metav1.NewTime(time.Now()), Previous: orig.Status}
	observed := false
	bgpChangeAt, _ := r.Delays.Take(req.NamespacedName)
	defer func() {
		if !observed {
			return // an early transient error: nothing new to say
		}
		result := status.Ingress(obs)
		ing.Status = result.Status
		if result.Requeue.Duration > 0 && retErr == nil {
			res.RequeueAfter = minPositive(res.RequeueAfter, result.Requeue.Duration)
		}
		if equality.Semantic.DeepEqual(&orig.Status, &ing.Status) {
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
		r.statusEffects(ctx, class, ing, &orig.Status, obs)
	}()
	notAccepted := func(p *render.Problem, address string) (ctrl.Result, error) {
		obs.NotAccepted, obs.Address, observed = p, address, true
		return ctrl.Result{}, nil
	}

	if !classFound {
		return notAccepted(&render.Problem{Reason: string(v1alpha1.ReasonClassNotFound), Message: fmt.Sprintf("AnycastClass %q does not exist; create it or fix spec.className", ing.Spec.ClassName)}, orig.Status.Address)
	}
	if !class.DeletionTimestamp.IsZero() {
		return notAccepted(&render.Problem{Reason: string(v1alpha1.ReasonClassDeleting), Message: fmt.Sprintf("AnycastClass %q is being deleted", class.Name)}, orig.Status.Address)
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
		return notAccepted(problem, "")
	}

	// Observe: the Skupper network comes first (a backend reached over it is healthy only
	// when its link is up), then each member's health and MetalLB.
	var transient []error
	report, err := r.linker().Reconcile(ctx, class, ing.Namespace)
	if err != nil {
		transient = append(transient, err)
	}
	certs, err := hubCertificates(ctx, r.Client, class, ing)
	if err != nil {
		return ctrl.Result{}, err
	}
	certVerdicts := r.reader().Certificates(ctx, class, ing, certs, obs.Now.Time)
	gate := r.reader().Health(ctx, class, ing, addr, report, certVerdicts, obs.Now.Time)
	metallb := r.reader().MetalLBOf(ctx, class, ing, addr)
	conflicts, err := classConflicts(ctx, r.Client, class)
	if err != nil {
		return ctrl.Result{}, err
	}

	// Render.
	robs := render.Observed{
		Address: addr.String(), NamespaceLabels: ns.Labels, ClassConflicts: conflicts, Certificates: certs,
		HealthWithdrawn: gate.Withdrawn(), AwaitingHealth: gate.Awaiting(), Members: map[string]render.MemberObserved{},
	}
	for name, st := range metallb {
		robs.Members[name] = render.MemberObserved{Pools: st.Pools}
	}
	out := render.RenderIngress(class, ing, &robs)
	if len(out.Problems) > 0 {
		return notAccepted(&render.Problem{Reason: out.Problems[0].Reason, Message: render.Summary(out.Problems)}, "")
	}

	// Apply: every selected member; remove the ingress from members it no longer selects.
	observed, obs.Address = true, addr.String()
	ref := owner.Ingress(class.Name, ing.Namespace, ing.Name)
	unavailable, refused, recheckCopies := false, false, false
	// Every member at once: one that is slow or down costs only its own work.
	results := r.programMembers(ctx, class, ing, ref, req.NamespacedName, out.Clusters)
	for i, co := range out.Clusters {
		m := status.Member{Name: co.Name, Drained: co.Drained, Advertisement: co.Advertisement, Refusals: co.Refusals, AnnouncingNodes: gate.Announcing[co.Name],
			Certificates: observe.CertificateStatus(certVerdicts[co.Name])}
		m.Outcome, m.Message = results[i].outcome, results[i].message
		err := results[i].err
		if mst, ok := metallb[co.Name]; ok && m.Outcome == status.Programmed && mst.Verdict == observe.MetalLBInvalid {
			// Applied, but MetalLB rejects its whole configuration: nothing of it acts.
			m.Outcome, m.Message = status.Rejected, observe.RejectionMessage(co.Name, mst)
		}
		unavailable = unavailable || m.Outcome == status.Unavailable
		refused = refused || (m.Outcome == status.Failed && err == nil)
		// Whether a member's certificate copies are read or taken as written depends on
		// whether it was programmed (see observe.Certificates). When that changes, the
		// next reconcile judges them at once: a member that stopped taking its copies may
		// now hold a stale one, which the health gate must act on; one that took them
		// again holds the hub's, and its return must not wait for another event.
		// (Not for a member refused, unreachable or left behind: there is nothing new to read.)
		if m.Outcome != status.Refused && m.Outcome != status.Unavailable && render.CopiesCertificates(class, co.Name) && len(render.CertificateRefs(ing)) > 0 &&
			wasProgrammed(ing, co.Name) != (m.Outcome == status.Programmed) {
			recheckCopies = true
		}
		obs.Members = append(obs.Members, m)
		if err != nil {
			transient = append(transient, err)
		}
	}
	if err := r.pruneUnselected(ctx, class, ing, ref, out); err != nil {
		transient = append(transient, err)
	}

	// What the status needs besides the members: links, health, the routers' view.
	obs.Skupper = skupperObservation(class, ing, report)
	obs.Gate = gate.Observation()
	obs.Watcher = routerview.Observation(class, r.Watcher, addr)
	if len(transient) > 0 {
		log.V(1).Info("transient errors, retrying", "errors", errors.Join(transient...).Error())
		return withTransient(ctrl.Result{}, transient)
	}
	// Members that are down come back through the registry's notifications; the requeue
	// is for what nobody notifies: a link on its way up, a backoff running out, a
	// hold-down ending (the status adds its own: a new ingress's deadline, a syncing
	// watcher).
	requeue := report.RequeueAfter
	if rc := gate.Recheck(); rc > 0 {
		requeue = minPositive(requeue, rc+100*time.Millisecond)
	}
	if gate.AddressPending {
		requeue = minPositive(requeue, addressRecheck)
	}
	requeue = minPositive(requeue, r.certificateRecheck(class, ing, certVerdicts, obs.Now.Time))
	if refused {
		// A member refusing a write (its RBAC, an admission policy) is looked at again
		// without a hot retry: changes to its RBAC are not watched.
		requeue = minPositive(requeue, addressRecheck)
	}
	if recheckCopies {
		requeue = minPositive(requeue, time.Second)
	}
	if unavailable {
		requeue = minPositive(requeue, time.Minute)
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// linker is the Skupper linker, made on first use when the reconciler was built without.
func (r *IngressReconciler) linker() *skupperlink.Linker {
	r.linkerOnce.Do(func() {
		if r.Linker == nil {
			r.Linker = &skupperlink.Linker{Members: r.Members, Ingresses: r.hub().IngressesIn}
		}
	})
	return r.Linker
}

// reader reads the members for the status and the health gate.
func (r *IngressReconciler) reader() *observe.Reader {
	return &observe.Reader{Members: r.Members, Linker: r.linker()}
}

// skupperObservation is the Skupper part of what the status is computed from; nil when
// the ingress reaches no service over Skupper.
func skupperObservation(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, report skupperlink.Report) *status.Skupper {
	if !render.NeedsSkupper(ing) {
		return nil
	}
	sk := &status.Skupper{Single: len(class.Spec.Clusters) < 2, Links: map[string]status.Link{}}
	if hub := class.Hub(); hub != nil {
		sk.Hub = hub.Name
	}
	for name, l := range report.Links {
		sk.Links[name] = status.Link{State: l.State, Reason: l.Reason, Message: l.Message}
	}
	return sk
}

// pruneUnselected removes the ingress's objects from the members of the class it no
// longer selects.
func (r *IngressReconciler) pruneUnselected(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, ref owner.Ref, out *render.Output) error {
	selected := map[string]bool{}
	for _, co := range out.Clusters {
		selected[co.Name] = true
	}
	var names []string
	for _, m := range class.Spec.Clusters {
		if !selected[m.Name] {
			names = append(names, m.Name)
		}
	}
	return eachMember(names, func(name string) error {
		member, err := r.Members.Get(ctx, class, name)
		if err == nil {
			err = member.CacheError()
		}
		if err != nil {
			return nil // pruned when it is back (or has read its objects): the registry tells the class
		}
		mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
		defer cancel()
		if _, err := member.Applier().Prune(mctx, ref, kindsOn(class, ing, name), nil, ref.Namespace); err != nil {
			return fmt.Errorf("cluster %s: %w", name, err)
		}
		return nil
	})
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

// programMember applies one member's objects and prunes what it no longer needs. A refused
// member gets nothing applied and nothing pruned. The returned error is transient (the
// member or its API failed); conflicts and refusals are reported in the status only.
func (r *IngressReconciler) programMember(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, ref owner.Ref, co render.ClusterOutput) memberResult {
	if len(co.Refusals) > 0 {
		return memberResult{outcome: status.Refused, message: render.Summary(co.Refusals)}
	}
	member, err := r.Members.Get(ctx, class, co.Name)
	mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	if err == nil {
		// Not programmed before its cache has read it (waited for within the member's
		// timeout): the registry tells every ingress of the class when it has.
		err = member.AwaitCache(mctx)
	}
	if err != nil {
		var unavailable *clusters.UnavailableError
		if errors.As(err, &unavailable) {
			return memberResult{outcome: status.Unavailable, message: unavailable.Reason + ": " + unavailable.Message}
		}
		return memberResult{outcome: status.Failed, message: err.Error(), err: err}
	}
	r.work.sawLatency(co.Name, member.Latency)
	// The certificate copies go first and on their own: one the member refuses must not
	// hold back the rest (the member's withdrawal above all).
	var copies, rest []*unstructured.Unstructured
	for _, o := range co.Objects {
		if o.GroupVersionKind() == render.GVKSecret && o.GetNamespace() == ing.Namespace {
			copies = append(copies, o)
		} else {
			rest = append(rest, o)
		}
	}
	conflicts, settled, err := member.Applier().ApplyAllSettled(mctx, ref, copies, rest, kindsOn(class, ing, co.Name), ref.Namespace)
	switch {
	case err != nil && onlyForbidden(err):
		// The spoke's RBAC or an admission policy, not a passing failure: said in the
		// status, looked at again in a few seconds (see Reconcile), no hot retry.
		return memberResult{outcome: status.Failed, message: fmt.Sprintf("the member refuses a write of the operator (%s); the spoke chart on %s grants what the hub writes there (certificate copies need the ingress namespace in spoke.certificateNamespaces)", err.Error(), co.Name)}
	case err != nil && clusters.IsUnreachable(err):
		// Down, and not known yet (the registry probes every few seconds): the registry
		// probes it now and tells every ingress of the class when it is back. Retrying
		// this ingress at once would fail the same way, over and over.
		if member.ProbeNow != nil {
			member.ProbeNow()
		}
		return memberResult{outcome: status.Unavailable, message: "the member's API server cannot be reached (" + err.Error() + "); it is programmed when it answers again"}
	case err != nil:
		return memberResult{outcome: status.Failed, message: err.Error(), err: fmt.Errorf("cluster %s: %w", co.Name, err)}
	case len(conflicts) > 0:
		return memberResult{outcome: status.Conflict, message: joinNames(conflicts)}
	}
	return memberResult{outcome: status.Programmed, settled: settled}
}

// finalize removes the ingress's children from every member it can reach, then lets the
// ingress go. A member that cannot be reached now is cleaned by the orphan sweep later.
func (r *IngressReconciler) finalize(ctx context.Context, ing *v1alpha1.AnycastIngress, class *v1alpha1.AnycastClass, classFound bool) error {
	if !controllerutil.ContainsFinalizer(ing, Finalizer) {
		return nil
	}
	log := logf.FromContext(ctx)
	ref := owner.Ingress(ing.Spec.ClassName, ing.Namespace, ing.Name)
	// An apply left running by an earlier reconcile would write after the cleanup.
	r.work.wait(ctx, types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
	if classFound {
		var names []string
		for _, m := range class.Spec.Clusters {
			names = append(names, m.Name)
		}
		_ = eachMember(names, func(name string) error {
			member, err := r.Members.Get(ctx, class, name)
			if err != nil {
				log.Info("member unavailable during cleanup; the sweep will remove its objects later", "cluster", name, "reason", err.Error())
				return nil
			}
			mctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
			defer cancel()
			if _, err := member.LiveApplier().Prune(mctx, ref, kindsOn(class, ing, name), nil, ref.Namespace); err != nil {
				log.Info("cleanup failed on a member; the sweep will remove its objects later", "cluster", name, "error", err.Error())
			}
			return nil
		})
		if _, err := r.linker().Reconcile(ctx, class, ing.Namespace); err != nil {
			log.Info("cleaning the Skupper network failed; the sweep will finish it", "error", err.Error())
		}
	}
	r.Allocator.Release(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
	return removeFinalizer(ctx, r.Client, ing)
}

// onlyForbidden reports whether err, or every error joined in it, is the API server's
// Forbidden (RBAC, an admission policy).
func onlyForbidden(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyForbidden(e) {
				return false
			}
		}
		return len(j.Unwrap()) > 0
	}
	return apierrors.IsForbidden(err)
}

// wasProgrammed reports whether the last status said member held every object.
func wasProgrammed(ing *v1alpha1.AnycastIngress, member string) bool {
	cs := ing.Status.Cluster(member)
	return cs != nil && cs.Programmed
}

// kindsOn are the kinds an ingress may own on member: with its certificate copies
// (Secrets in the ingress namespace) where it has or had some. Listing Secrets there needs
// the per-namespace grant of the spoke's chart (spoke.certificateNamespaces), which an
// ingress without HTTPS listeners must not need; one whose listener went still has its
// copies listed in the status, and they are removed.
func kindsOn(class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, member string) []schema.GroupVersionKind {
	if render.CopiesCertificates(class, member) && len(render.CertificateRefs(ing)) > 0 {
		return certificateKinds
	}
	if cs := ing.Status.Cluster(member); cs != nil {
		for _, c := range cs.Certificates {
			if c.ServedFrom != c.Secret {
				return certificateKinds
			}
		}
	}
	return ingressKinds
}

func (r *IngressReconciler) event(ing *v1alpha1.AnycastIngress, typ, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(ing, nil, typ, reason, reason, "%s", status.Truncate(note, 1000))
	}
}
