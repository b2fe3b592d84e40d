package observe

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// MetalLB's verdicts on its configuration, as its ConfigurationState objects write them.
const (
	MetalLBValid   = "Valid"
	MetalLBInvalid = "Invalid"
	MetalLBUnknown = "Unknown"
)

// ReasonMetalLBConfigRejected: a member's MetalLB rejects its configuration. It validates
// the whole configuration at once and keeps the last good one, so no change the operator
// makes there (new VIPs, drains, the health gate's withdrawals) takes effect.
const ReasonMetalLBConfigRejected = "MetalLBConfigRejected"

// MetalLB is what a member's MetalLB holds and says.
type MetalLB struct {
	// Pools are the IPAddressPools of the MetalLB namespace, ours or not, that may hold the
	// VIP.
	Pools []render.PoolObserved
	// Verdict is MetalLB's own: Valid, Invalid, or Unknown when it publishes none (MetalLB
	// before v0.15.3, or not started yet).
	Verdict string
	// Message joins the error summaries of the components that reject the configuration,
	// each named ("controller", "speaker on node-1").
	Message string
}

// ReadMetalLB reads, from a member's cache, MetalLB's verdict and the pools of its
// namespace that may hold vip: those with an entry of that one address and those with a
// wider entry (PoolAddressIndex), not the one pool per ingress of every other VIP.
func ReadMetalLB(ctx context.Context, r client.Reader, namespace string, vip netip.Addr) (MetalLB, error) {
	st := MetalLB{Verdict: MetalLBUnknown}
	items, err := poolsNear(ctx, r, namespace, vip)
	if err != nil {
		return st, err
	}
	for _, p := range items {
		addrs, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "addresses")
		po := render.PoolObserved{Namespace: p.GetNamespace(), Name: p.GetName(), Addresses: addrs}
		if ref, ok := owner.FromLabels(p.GetLabels()); ok {
			po.Class = ref.Class
		}
		st.Pools = append(st.Pools, po)
	}
	st.Verdict, st.Message, err = readVerdict(ctx, r, namespace)
	return st, err
}

// poolsNear lists the IPAddressPools of namespace that may hold vip, through
// PoolAddressIndex (every cache of the operator has it: see clusters.IndexOwners).
func poolsNear(ctx context.Context, r client.Reader, namespace string, vip netip.Addr) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	seen := map[string]bool{}
	for _, key := range []string{clusters.PoolAddressKey(vip), clusters.PoolWide} {
		pools := &unstructured.UnstructuredList{}
		pools.SetGroupVersionKind(render.GVKIPAddressPool.GroupVersion().WithKind("IPAddressPoolList"))
		// Read only, never changed: the cache's own objects, not copies.
		if err := r.List(ctx, pools, client.InNamespace(namespace), client.MatchingFields{clusters.PoolAddressIndex: key}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for _, p := range pools.Items {
			if !seen[p.GetName()] {
				seen[p.GetName()] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// readVerdict reads MetalLB's verdict alone (see metallbVerdict); Unknown where MetalLB
// publishes no ConfigurationState.
func readVerdict(ctx context.Context, r client.Reader, namespace string) (verdict, message string, err error) {
	states := &unstructured.UnstructuredList{}
	states.SetGroupVersionKind(clusters.GVKConfigurationState.GroupVersion().WithKind("ConfigurationStateList"))
	switch err := r.List(ctx, states, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); {
	case meta.IsNoMatchError(err):
		return MetalLBUnknown, "", nil
	case err != nil:
		return MetalLBUnknown, "", err
	}
	verdict, message = metallbVerdict(states.Items)
	return verdict, message, nil
}

// metallbVerdict folds MetalLB's ConfigurationStates (one for the controller, one per
// speaker) into one verdict: Invalid when any component rejects the configuration, Valid
// when one says Valid and none rejects it, otherwise Unknown.
func metallbVerdict(states []unstructured.Unstructured) (verdict, message string) {
	verdict = MetalLBUnknown
	var errs []string
	for _, s := range states {
		result, _, _ := unstructured.NestedString(s.Object, "status", "result")
		switch result {
		case MetalLBInvalid:
			summary, _, _ := unstructured.NestedString(s.Object, "status", "errorSummary")
			errs = append(errs, componentName(&s)+": "+strings.Join(strings.Fields(summary), " "))
		case MetalLBValid:
			if verdict == MetalLBUnknown {
				verdict = MetalLBValid
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return MetalLBInvalid, strings.Join(errs, "; ")
	}
	return verdict, ""
}

// componentName names the MetalLB component a ConfigurationState speaks for, from the
// labels MetalLB puts on it.
func componentName(s *unstructured.Unstructured) string {
	l := s.GetLabels()
	switch l["metallb.io/component-type"] {
	case "controller":
		return "controller"
	case "speaker":
		if n := l["metallb.io/node-name"]; n != "" {
			return "speaker on " + n
		}
		return "speaker"
	}
	return s.GetName()
}

// RejectionMessage is what a member whose MetalLB rejects its configuration reports.
func RejectionMessage(member string, st MetalLB) string {
	return "MetalLB on " + member + " rejects its configuration and keeps its last good one, so no change reaches its routers until this is fixed (" + st.Message + ")"
}

// MetalLBVerdict writes a reachable member's MetalLB verdict into its class status.
func MetalLBVerdict(ctx context.Context, class *v1alpha1.AnycastClass, m *clusters.Member, st *v1alpha1.ClusterStatus) error {
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	// The verdict alone: the pools (one per ingress) are the ingress reconciler's business.
	verdict, message, err := readVerdict(ctx, m.Reader, render.MetalLBNamespace(class))
	if err != nil {
		return fmt.Errorf("reading MetalLB's verdict: %w", err)
	}
	st.MetalLB, st.MetalLBMessage = verdict, message
	return nil
}

// MetalLBOf reads the MetalLB pools and verdict of every selected member that can be
// reached now. A member that cannot be read is left out: nothing is refused for what
// could not be seen, and its own status says why it is unavailable.
func (r *Reader) MetalLBOf(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, vip netip.Addr) map[string]MetalLB {
	out := map[string]MetalLB{}
	for _, name := range render.SelectedClusters(class, ing) {
		err := clusters.InMember(ctx, r.Members, class, name, func(ctx context.Context, m *clusters.Member) error {
			st, err := ReadMetalLB(ctx, m.Reader, render.MetalLBNamespace(class), vip)
			if err == nil {
				out[name] = st
			}
			return err
		})
		if err != nil {
			logf.FromContext(ctx).V(1).Info("reading MetalLB state", "cluster", name, "error", err.Error())
		}
	}
	return out
}
