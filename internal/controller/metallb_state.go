package controller

import (
	"context"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// metallbState is what a member's MetalLB holds and says.
type metallbState struct {
	// pools are every IPAddressPool of the MetalLB namespace, ours or not.
	pools []render.PoolObserved
	// verdict is MetalLB's own: Valid, Invalid, or Unknown when it publishes none (MetalLB
	// before v0.15.3, or not started yet).
	verdict string
	// message joins the error summaries of the components that reject the configuration,
	// each named ("controller", "speaker on node-1").
	message string
}

// readMetalLB reads a member's MetalLB pools and verdict from the member's cache.
func readMetalLB(ctx context.Context, r client.Reader, namespace string) (metallbState, error) {
	st := metallbState{verdict: MetalLBUnknown}
	pools := &unstructured.UnstructuredList{}
	pools.SetGroupVersionKind(render.GVKIPAddressPool.GroupVersion().WithKind("IPAddressPoolList"))
	if err := r.List(ctx, pools, client.InNamespace(namespace)); err != nil {
		return st, err
	}
	for _, p := range pools.Items {
		addrs, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "addresses")
		po := render.PoolObserved{Namespace: p.GetNamespace(), Name: p.GetName(), Addresses: addrs}
		if ref, ok := owner.FromLabels(p.GetLabels()); ok {
			po.Class = ref.Class
		}
		st.pools = append(st.pools, po)
	}
	states := &unstructured.UnstructuredList{}
	states.SetGroupVersionKind(clusters.GVKConfigurationState.GroupVersion().WithKind("ConfigurationStateList"))
	switch err := r.List(ctx, states, client.InNamespace(namespace)); {
	case meta.IsNoMatchError(err):
		return st, nil
	case err != nil:
		return st, err
	}
	st.verdict, st.message = metallbVerdict(states.Items)
	return st, nil
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

// rejectionMessage is what a member whose MetalLB rejects its configuration reports.
func rejectionMessage(member string, st metallbState) string {
	return "MetalLB on " + member + " rejects its configuration and keeps its last good one, so no change reaches its routers until this is fixed (" + st.message + ")"
}

// readMetalLBVerdict writes a reachable member's MetalLB verdict into its class status.
func readMetalLBVerdict(ctx context.Context, class *v1alpha1.AnycastClass, m *clusters.Member, st *v1alpha1.ClusterStatus) {
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	ms, err := readMetalLB(ctx, m.Reader, render.MetalLBNamespace(class))
	if err != nil {
		st.MetalLB, st.MetalLBMessage = MetalLBUnknown, "reading MetalLB's ConfigurationState: "+err.Error()
		return
	}
	st.MetalLB, st.MetalLBMessage = ms.verdict, ms.message
}

// setMetalLBConfigValid sets the class's MetalLBConfigValid condition from its members'
// verdicts. It is absent while no member publishes one (MetalLB before v0.15.3), so it
// never holds a class back that cannot be judged.
func setMetalLBConfigValid(conds conditionSet, statuses []v1alpha1.ClusterStatus) {
	var rejected, silent []string
	judged := 0
	for _, st := range statuses {
		switch {
		case !st.Reachable || st.Removed:
		case st.MetalLB == MetalLBInvalid:
			judged++
			rejected = append(rejected, st.Name+": "+st.MetalLBMessage)
		case st.MetalLB == MetalLBValid:
			judged++
		default:
			silent = append(silent, st.Name)
		}
	}
	switch {
	case judged == 0:
		conds.remove(v1alpha1.ConditionMetalLBConfigValid)
	case len(rejected) > 0:
		conds.set(v1alpha1.ConditionMetalLBConfigValid, false, ReasonMetalLBConfigRejected,
			"MetalLB rejects its whole configuration and keeps its last good one, so no change reaches the routers there: "+joinNames(rejected))
	default:
		msg := "every member's MetalLB accepts its configuration"
		if len(silent) > 0 {
			msg += "; no verdict published by " + joinNames(silent) + " (MetalLB before v0.15.3, or not running)"
		}
		conds.set(v1alpha1.ConditionMetalLBConfigValid, true, ReasonMetalLBConfigValid, msg)
	}
}

// ReasonMetalLBConfigValid: every member that publishes a verdict accepts its
// configuration.
const ReasonMetalLBConfigValid = "MetalLBConfigValid"
