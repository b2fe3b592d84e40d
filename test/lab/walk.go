package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// StepTimeout bounds every check of the walk-through.
const StepTimeout = 90 * time.Second

// Step is one step of the walk-through: an action and the checks that must follow it,
// each with the time from the action until it held.
type Step struct {
	Name   string
	Action string
	Checks []Timing
}

type check struct {
	what string
	ok   func(*Snapshot) error
}

// Client checks of the walk-through, by name (test/lab looks for them).
const (
	CheckClientStart   = "the client has a path to the VIP (via the core)"
	CheckClientViaWest = "the client still has a path, via the core to west (anycast serves)"
	CheckClientBoth    = "the client has a path via the core (to west or east)"
)

// WalkThrough checks that the client router has a path to the VIP, then drains east,
// undrains it, stops east's speaker and restarts it. After each action it waits for every
// check in turn, measuring from the action (from the start of the walk for the first
// step, which has none); a check that does not hold within StepTimeout ends the walk with
// an error (the table at that moment included). Steps are printed to out as they
// complete, and the table after each one when table is true.
func (l *Lab) WalkThrough(ctx context.Context, out io.Writer, table bool) ([]Step, error) {
	steps := []struct {
		name, action string
		do           func(context.Context) error
		checks       []check
	}{
		{
			"start", "none: the lab as it came up",
			func(context.Context) error { return nil },
			[]check{
				{CheckClientStart, func(s *Snapshot) error { return s.clientReaches() }},
			},
		},
		{
			"drain east", "spec.drain: [east] on the ingress",
			func(ctx context.Context) error { return l.setDrain(ctx, []string{"east"}) },
			[]check{
				{"route gone at the core (only west left)", func(s *Snapshot) error {
					return errs1(s.coreServes("west"), s.coreLacks("east"))
				}},
				{CheckClientViaWest, func(s *Snapshot) error { return s.clientReaches("west") }},
				{"Drained=True verified in status", func(s *Snapshot) error {
					return errs1(s.condition(v1alpha1.ConditionDrained, metav1.ConditionTrue), s.statusOrigins("west"))
				}},
			},
		},
		{
			"undrain east", "spec.drain: [] on the ingress",
			func(ctx context.Context) error { return l.setDrain(ctx, nil) },
			[]check{
				{"ECMP back at the core (west and east)", func(s *Snapshot) error { return s.coreServes("west", "east") }},
				{CheckClientBoth, func(s *Snapshot) error { return s.clientReaches("west", "east") }},
				{"status: both origins, Advertised and Ready", func(s *Snapshot) error { return s.serving("west", "east") }},
			},
		},
		{
			"stop east's speaker", "the BGP speaker of east dies (its TOR session closes)",
			func(context.Context) error { l.fabric.StopSpeaker("east"); return nil },
			[]check{
				{"route gone at the core (only west left)", func(s *Snapshot) error {
					return errs1(s.coreServes("west"), s.coreLacks("east"))
				}},
				{CheckClientViaWest, func(s *Snapshot) error { return s.clientReaches("west") }},
				{"failover detected in status (Advertised=False, east not advertised)", func(s *Snapshot) error {
					return errs1(s.condition(v1alpha1.ConditionAdvertised, metav1.ConditionFalse), s.clusterAdvertised("east", false),
						s.statusOrigins("west"))
				}},
			},
		},
		{
			"restart east's speaker", "the BGP speaker of east starts again",
			func(ctx context.Context) error { return l.fabric.StartSpeaker(ctx, "east") },
			[]check{
				{"ECMP back at the core (west and east)", func(s *Snapshot) error { return s.coreServes("west", "east") }},
				{CheckClientBoth, func(s *Snapshot) error { return s.clientReaches("west", "east") }},
				{"status: both origins, Advertised and Ready", func(s *Snapshot) error { return s.serving("west", "east") }},
			},
		},
	}
	var done []Step
	for i, st := range steps {
		fmt.Fprintf(out, "\n%d. %s: %s\n", i, st.name, st.action) // 0: the start, without action
		step := Step{Name: st.name, Action: st.action}
		start := time.Now()
		if err := st.do(ctx); err != nil {
			return done, fmt.Errorf("%s: %w", st.name, err)
		}
		for _, c := range st.checks {
			_, err := l.measure(ctx, st.name+": "+c.what, StepTimeout, c.ok)
			if err != nil {
				fmt.Fprintf(out, "   %-70s FAILED\n", c.what)
				return done, err
			}
			took := time.Since(start)
			step.Checks = append(step.Checks, Timing{What: c.what, Took: took})
			fmt.Fprintf(out, "   %-70s %s\n", c.what, fmtDur(took))
		}
		done = append(done, step)
		if table {
			fmt.Fprintf(out, "\n%s", l.Snapshot(ctx).Render())
		}
	}
	return done, nil
}

// setDrain sets the ingress's spec.drain, retrying on conflicts.
func (l *Lab) setDrain(ctx context.Context, drain []string) error {
	for attempt := 0; ; attempt++ {
		ing := &v1alpha1.AnycastIngress{}
		if err := l.west.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: IngressName}, ing); err != nil {
			return err
		}
		patch := client.MergeFrom(ing.DeepCopy())
		ing.Spec.Drain = drain
		err := l.west.Client.Patch(ctx, ing, patch)
		if err == nil || attempt > 5 {
			return err
		}
	}
}
