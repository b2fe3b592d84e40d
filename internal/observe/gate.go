// Package observe reads, on each member, what an ingress's status and the health gate
// depend on: the Gateway, the LoadBalancer Service made for it with its endpoints, the
// nodes MetalLB may announce from, MetalLB's own verdict and announcements, and the route
// backends; and runs the health gate (internal/health) over the verdicts. It only reads.
package observe

import (
	"context"
	"net/netip"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/skupperlink"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// gateConfig reads an ingress's health gate; ok is false when it is off.
func gateConfig(ing *v1alpha1.AnycastIngress) (health.GateConfig, bool) {
	cfg := health.GateConfig{WithdrawAfter: health.DefaultWithdrawAfter, HoldDown: health.DefaultHoldDown}
	h := ing.Spec.Health
	if h == nil {
		return cfg, true
	}
	if h.Enabled != nil && !*h.Enabled {
		return cfg, false
	}
	if h.WithdrawAfter != nil {
		cfg.WithdrawAfter = h.WithdrawAfter.Duration
	}
	if h.HoldDown != nil {
		cfg.HoldDown = h.HoldDown.Duration
	}
	return cfg, true
}

// Gate is the health gate's decision for one reconcile, with what was read on the way.
type Gate struct {
	enabled  bool
	outcome  health.Outcome
	verdicts map[string]health.Verdict
	// unknown lists members that could not be read (their previous state is kept).
	unknown map[string]string
	// Announcing is how many nodes MetalLB's speakers announce the VIP from, per member.
	Announcing map[string]*int32
	// AddressPending: on some member no Service of the Gateway carries the VIP yet. MetalLB
	// says why only in an event, which nothing watches, so the reconcile looks again soon.
	AddressPending bool
}

func (g Gate) decision(member string) (health.Decision, bool) {
	for _, d := range g.outcome.Members {
		if d.Name == member {
			return d, true
		}
	}
	return health.Decision{}, false
}

// Withdrawn lists the members the gate withdraws.
func (g Gate) Withdrawn() []string {
	var out []string
	for _, d := range g.outcome.Members {
		if d.Withdraw && !d.Awaiting {
			out = append(out, d.Name)
		}
	}
	return out
}

// Observation is the gate's part of what the status is computed from; nil with the gate
// off.
func (g Gate) Observation() *status.Gate {
	if !g.enabled {
		return nil
	}
	out := &status.Gate{Members: g.outcome.Members, AllUnhealthy: g.outcome.AllUnhealthy, Verdicts: map[string]string{}}
	for name, v := range g.verdicts {
		if !v.Healthy {
			out.Verdicts[name] = v.Message()
		}
	}
	return out
}

// Awaiting lists the joining members held back until their first health.
func (g Gate) Awaiting() []string {
	var out []string
	for _, d := range g.outcome.Members {
		if d.Awaiting {
			out = append(out, d.Name)
		}
	}
	return out
}

// Recheck is the soonest a running timer may change a decision.
func (g Gate) Recheck() time.Duration {
	var min time.Duration
	for _, d := range g.outcome.Members {
		if d.Recheck > 0 && (min == 0 || d.Recheck < min) {
			min = d.Recheck
		}
	}
	return min
}

// Reader reads members.
type Reader struct {
	Members clusters.Registry
	// Linker judges route backends reached over Skupper.
	Linker *skupperlink.Linker
}

// Health judges every selected member from what it reports, then runs the gate over the
// verdicts with the previous status (ing.Status) as its memory. certs are the members'
// certificate verdicts (Certificates).
func (r *Reader) Health(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, vip netip.Addr, report skupperlink.Report, certs map[string]health.CertificateVerdict, now time.Time) Gate {
	cfg, enabled := gateConfig(ing)
	g := Gate{enabled: enabled, verdicts: map[string]health.Verdict{}, unknown: map[string]string{}, Announcing: map[string]*int32{}}
	if !enabled {
		return g
	}
	prev := map[string]v1alpha1.IngressClusterStatus{}
	for _, cs := range ing.Status.Clusters {
		prev[cs.Name] = cs
	}
	var members []health.Member
	for _, name := range render.SelectedClusters(class, ing) {
		p := prev[name]
		hm := health.Member{Name: name, Prev: previousOf(p)}
		adv := render.MemberAdvertisement(class, ing, name, &render.Observed{})
		hm.Serving = adv.Mode == render.Advertise
		verdict, announcing, addressPending, err := r.judge(ctx, class, ing, name, vip, report, certs[name].Problems)
		g.Announcing[name] = announcing
		g.AddressPending = g.AddressPending || addressPending
		if err != nil {
			// A member that cannot be read keeps its last verdict: its MetalLB goes on
			// doing what it was told, and nothing can be changed there anyway.
			g.unknown[name] = err.Error()
			verdict = health.Verdict{Healthy: !hm.Prev.Known || hm.Prev.Healthy}
			if !verdict.Healthy {
				verdict.Reasons = []string{p.HealthMessage}
			}
		}
		hm.Verdict = verdict
		g.verdicts[name] = verdict
		members = append(members, hm)
	}
	g.outcome = health.Gate(cfg, now, members)
	return g
}

func previousOf(cs v1alpha1.IngressClusterStatus) health.Previous {
	if cs.Health == "" {
		return health.Previous{Joining: joining(cs)}
	}
	p := health.Previous{Known: true, Healthy: cs.Health == status.HealthHealthy}
	if cs.HealthSince != nil {
		p.Since = cs.HealthSince.Time
	}
	p.Withdrawn = cs.Advertisement == string(render.Withdraw) && cs.WithdrawnReason == render.ReasonUnhealthy
	p.Joining = joining(cs)
	return p
}

// joining reports whether a member has not advertised the VIP yet: new to the ingress,
// held back until its first health, or withdrawn by a drain it is coming back from. Its
// first advertisement waits for its health.
func joining(cs v1alpha1.IngressClusterStatus) bool {
	switch render.AdvertisementMode(cs.Advertisement) {
	case render.Advertise, render.Prepend:
		return false
	case render.Withdraw:
		return cs.WithdrawnReason != render.ReasonUnhealthy
	}
	return true
}

// judge reads one member's Gateway, the LoadBalancer Service made for it with that
// Service's endpoints and MetalLB's word on it, and the route backends, and returns the
// verdict and how many nodes MetalLB's speakers announce the VIP from (nil: MetalLB
// publishes nothing for the Service).
func (r *Reader) judge(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, name string, vip netip.Addr, report skupperlink.Report, certProblems []string) (v health.Verdict, announcing *int32, addressPending bool, err error) {
	m, err := r.Members.Get(ctx, class, name)
	if err != nil {
		return health.Verdict{}, nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	in := health.Input{
		VIP:               vip,
		ServiceByOperator: class.Spec.GatewayService.Provisioned() == v1alpha1.GatewayServiceByOperator,
		ServiceNamespace:  render.GatewayServiceNamespace(class, ing),
		Certificates:      certProblems,
	}

	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.GVKGateway)
	var gwUID types.UID
	switch err := m.Reader.Get(ctx, types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}, u); {
	case err == nil:
		gw := &gwv1.Gateway{}
		if err := fromUnstructured(u, gw); err != nil {
			return health.Verdict{}, nil, false, err
		}
		in.Gateway, gwUID = gw, gw.UID
	case !apierrors.IsNotFound(err):
		return health.Verdict{}, nil, false, err
	}

	svcs, err := gatewayServices(ctx, m.Reader, class, ing, gwUID)
	if err != nil {
		return health.Verdict{}, nil, false, err
	}
	in.Services = svcs
	if in.Nodes, err = readNodes(ctx, m.Reader); err != nil {
		return health.Verdict{}, nil, false, err
	}
	in.Endpoints, in.AllocationFailures = map[string][]health.Endpoint{}, map[string]string{}
	addressPending = true
	for i := range svcs {
		s := &svcs[i]
		k := health.ServiceKey(s.Namespace, s.Name)
		if in.Endpoints[k], err = clusters.ServiceEndpoints(ctx, m.Reader, s.Namespace, s.Name); err != nil {
			return health.Verdict{}, nil, false, err
		}
		if !carries(s, vip.String()) {
			in.AllocationFailures[k] = allocationFailure(ctx, m.LiveReader, s)
		} else {
			addressPending = false
		}
	}
	announcing, err = announcingNodes(ctx, m.Reader, render.MetalLBNamespace(class), svcs)
	if err != nil {
		return health.Verdict{}, nil, false, err
	}
	if in.Speakers, err = MemberSpeakers(ctx, class, class.Member(name), m.Reader); err != nil {
		return health.Verdict{}, nil, false, err
	}

	for _, route := range ing.Spec.Routes {
		b, err := r.Linker.BackendHealth(ctx, class, ing, m, route, report)
		if err != nil {
			return health.Verdict{}, nil, false, err
		}
		in.Backends = append(in.Backends, b)
	}
	return health.Evaluate(in), announcing, addressPending, nil
}

func fromUnstructured(u *unstructured.Unstructured, into interface{}) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
