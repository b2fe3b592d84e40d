package lab

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// StepTimeout bounds every check of the walk-through.
const StepTimeout = 90 * time.Second

// Step is one step of the walk-through: an action and the checks that must follow it,
// each with the time from the action until it held; on the real stack, what the traffic
// did from the action until the next step's.
type Step struct {
	Name    string
	Action  string
	Checks  []Timing
	Traffic *StepTraffic
}

// settle is how long a real-stack step keeps observing the traffic after its last check
// and the core's last route change, before the next action: "no failure after the route
// change" needs an after.
const settle = 2 * time.Second

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

// walkStep is one step of the walk-through as it is run.
type walkStep struct {
	name, action string
	do           func(context.Context) error
	checks       []check
	// stable, on the real stack, is how long the core's path must hold after the
	// checks before the step ends; the checks must then hold again.
	stable time.Duration
	// after, if set, runs once the step's traffic was observed (its report).
	after func(io.Writer)
}

// WalkThrough checks that the client router has a path to the VIP, then drains east,
// undrains it, stops east's speaker and restarts it. After each action it waits for every
// check in turn, measuring from the action (from the start of the walk for the first
// step, which has none); a check that does not hold within StepTimeout ends the walk with
// an error (the table at that moment included). Steps are printed to out as they
// complete, and the table after each one when table is true.
//
// On the real stack each step also checks the traffic (both clusters answer while
// undrained, west alone while east is drained or its speaker dead, /api through both
// entries), reports what the traffic did, and the walk fails at its end if a request
// failed that was not in flight at one of the core's route changes.
func (l *Lab) WalkThrough(ctx context.Context, out io.Writer, table bool) ([]Step, error) {
	type step = walkStep
	var stepStart time.Time
	var entriesBefore apiEntries
	tr := func(c check) []check {
		if l.traffic == nil {
			return nil
		}
		return []check{c}
	}
	onlyWest := check{CheckTrafficWest, func(*Snapshot) error { return l.traffic.answered(stepStart, 40, settle, "west") }}
	both := check{CheckTrafficBoth, func(*Snapshot) error { return l.traffic.answered(stepStart, 10, settle, "west", "east") }}
	stopAction := "the BGP speaker of east dies (its TOR session closes)"
	// A restarted real speaker's path can come and go once before it stays: seen with
	// MetalLB v0.16.1 and frr-k8s v0.0.21, east's path announced, withdrawn 3 to 15 s
	// later and announced again about 17 s after that (the ingress status saying east
	// Healthy, advertisement Advertise, during the withdrawal). The step waits until it held.
	var restartStable time.Duration
	if l.real != nil {
		restartStable = restartHold
	}
	if l.real != nil {
		stopAction = "east's MetalLB speaker and frr-k8s pod (whose FRR holds the BGP session) are killed (SIGKILL)"
	}
	steps := []step{
		{
			"start", "none: the lab as it came up",
			func(context.Context) error { return nil },
			append([]check{
				{CheckClientStart, func(s *Snapshot) error { return s.clientReaches() }},
			}, append(tr(both), tr(check{CheckTrafficAPI, func(*Snapshot) error { return l.traffic.apiThroughBoth(stepStart, entriesBefore) }})...)...),
			0, nil,
		},
		{
			"drain east", "spec.drain: [east] on the ingress",
			func(ctx context.Context) error { return l.setDrain(ctx, []string{"east"}) },
			append([]check{
				{"route gone at the core (only west left)", func(s *Snapshot) error {
					return errs1(s.coreServes("west"), s.coreLacks("east"))
				}},
				{CheckClientViaWest, func(s *Snapshot) error { return s.clientReaches("west") }},
				{"Drained=True verified in status", func(s *Snapshot) error {
					return errs1(s.condition(v1alpha1.ConditionDrained, metav1.ConditionTrue), s.statusOrigins("west"))
				}},
			}, tr(onlyWest)...),
			0, nil,
		},
		{
			"undrain east", "spec.drain: [] on the ingress",
			func(ctx context.Context) error { return l.setDrain(ctx, nil) },
			append([]check{
				{"ECMP back at the core (west and east)", func(s *Snapshot) error { return s.coreServes("west", "east") }},
				{CheckClientBoth, func(s *Snapshot) error { return s.clientReaches("west", "east") }},
				{"status: both origins, Advertised and Ready", func(s *Snapshot) error { return s.serving("west", "east") }},
			}, tr(both)...),
			0, nil,
		},
		{
			"stop east's speaker", stopAction,
			func(context.Context) error { l.stopSpeaker("east"); return nil },
			append([]check{
				{"route gone at the core (only west left)", func(s *Snapshot) error {
					return errs1(s.coreServes("west"), s.coreLacks("east"))
				}},
				{CheckClientViaWest, func(s *Snapshot) error { return s.clientReaches("west") }},
				{"failover detected in status (Advertised=False, east not advertised)", func(s *Snapshot) error {
					return errs1(s.condition(v1alpha1.ConditionAdvertised, metav1.ConditionFalse), s.clusterAdvertised("east", false),
						s.statusOrigins("west"))
				}},
			}, tr(onlyWest)...),
			0, nil,
		},
		{
			"restart east's speaker", "the BGP speaker of east starts again",
			func(ctx context.Context) error { return l.startSpeaker(ctx, "east") },
			append([]check{
				{"ECMP back at the core (west and east)", func(s *Snapshot) error { return s.coreServes("west", "east") }},
				{CheckClientBoth, func(s *Snapshot) error { return s.clientReaches("west", "east") }},
				{"status: both origins, Advertised and Ready", func(s *Snapshot) error { return s.serving("west", "east") }},
			}, tr(both)...),
			restartStable, nil,
		},
	}
	if l.real != nil {
		steps = append(steps, certificateSteps(l, &stepStart, tr(both), tr(onlyWest))...)
	}
	var done []Step
	from := time.Now()
	if l.traffic != nil {
		from = l.traffic.started
	}
	for i, st := range steps {
		fmt.Fprintf(out, "\n%d. %s: %s\n", i, st.name, st.action) // 0: the start, without action
		step := Step{Name: st.name, Action: st.action}
		start := time.Now()
		stepStart = start
		if i == 0 {
			stepStart = from
		}
		if l.traffic != nil {
			entriesBefore = l.traffic.entries()
		}
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
		if st.stable > 0 && l.traffic != nil {
			if err := l.holds(ctx, out, st.name, stepStart, st.stable, st.checks); err != nil {
				return done, err
			}
		}
		if l.traffic != nil {
			// Keep observing: no failure may follow the core's last change.
			until := time.Now().Add(settle)
			if cs := l.traffic.changesIn(stepStart, time.Time{}); len(cs) > 0 && cs[len(cs)-1].At.Add(settle).After(until) {
				until = cs[len(cs)-1].At.Add(settle)
			}
			time.Sleep(time.Until(until))
			to := time.Now()
			step.Traffic = l.traffic.stepTraffic(stepStart, to, start, entriesBefore)
			from = to
			fmt.Fprintf(out, "   %s\n", step.Traffic)
		}
		if st.after != nil {
			st.after(out)
		}
		done = append(done, step)
		if table {
			fmt.Fprintf(out, "\n%s", l.Snapshot(ctx).Render())
		}
	}
	if l.traffic == nil {
		return done, nil
	}
	// A step's report was made at its end, with its last requests still in flight: they
	// end within their timeout, and the counts are made again with them.
	time.Sleep(2 * time.Second)
	var outside []string
	for i := range done {
		t := done[i].Traffic
		l.traffic.refresh(t)
		if fs := t.Outside(); len(fs) > 0 {
			outside = append(outside, l.outsideReport(done[i].Name, t, fs))
		}
	}
	if len(outside) > 0 {
		return done, fmt.Errorf("requests failed while no route change of the core was in flight:\n%s", strings.Join(outside, "\n"))
	}
	return done, nil
}

// outsideReport says, in a few lines, which requests of a step failed at no reroute (how
// many, when, how, the first and the last), what the core did in the step, and every
// route change, neighbour event and bind of the lab from a little before the first to a
// little after the last: the end of a failed test's output, which is what a CI log keeps.
func (l *Lab) outsideReport(step string, t *StepTraffic, fs []Failure) string {
	var b strings.Builder
	first, last := fs[0], fs[0]
	byPath, byHow := map[string]int{}, map[string]int{}
	for _, f := range fs {
		if f.Start.Before(first.Start) {
			first = f
		}
		if f.Start.After(last.Start) {
			last = f
		}
		byPath[f.Path]++
		byHow[oneLine(f.Err, 60)+" ["+f.where()+"]"]++
	}
	into := func(f Failure) string { return f.Start.Sub(t.From).Round(time.Millisecond).String() }
	fmt.Fprintf(&b, "  %s: %d request(s) failed at no reroute, started from %s to %s (%s to %s into the step); by path %v",
		step, len(fs), first.Start.Format("15:04:05.000"), last.Start.Format("15:04:05.000"), into(first), into(last), byPath)
	for _, how := range slices.Sorted(maps.Keys(byHow)) {
		fmt.Fprintf(&b, "\n    %d x %s", byHow[how], how)
	}
	for _, f := range []Failure{first, last} {
		from := "no connection"
		if f.Local.IsValid() {
			from = "from " + f.Local.String()
		}
		fmt.Fprintf(&b, "\n    %s %s..%s, %s", f.Path, f.Start.Format("15:04:05.000"), f.End.Format("15:04:05.000"), from)
	}
	if len(t.Reroutes) == 0 {
		b.WriteString("\n    the core did not move its path in the step")
	}
	for _, r := range t.Reroutes {
		fmt.Fprintf(&b, "\n    the core moved its path %s -> %s at %s", hops(r.From), hops(r.To), r.At.Format("15:04:05.000"))
	}
	from, to := first.Start.Add(-3*time.Second), last.End.Add(time.Second)
	lines := l.Timeline(from, to)
	fmt.Fprintf(&b, "\n    from %s to %s, %d event(s) in the lab:", from.Format("15:04:05.000"), to.Format("15:04:05.000"), len(lines))
	const keep = 40
	if len(lines) > 2*keep {
		lines = append(append(lines[:keep:keep], fmt.Sprintf("... %d more ...", len(lines)-2*keep)), lines[len(lines)-keep:]...)
	}
	for _, line := range lines {
		b.WriteString("\n      " + line)
	}
	return b.String()
}

// restartHold is how long the core's path must hold after a real speaker's restart.
const restartHold = 20 * time.Second

// holds waits until the core's path has not changed for d (at most StepTimeout), then
// runs the step's checks again: what the step verified must still be true once the
// routers settled.
func (l *Lab) holds(ctx context.Context, out io.Writer, name string, since time.Time, d time.Duration, checks []check) error {
	start := time.Now()
	for quiet := start; ; {
		if cs := l.traffic.changesIn(since, time.Time{}); len(cs) > 0 && cs[len(cs)-1].At.After(quiet) {
			quiet = cs[len(cs)-1].At
		}
		if time.Since(quiet) >= d {
			break
		}
		if time.Since(start) > StepTimeout {
			return fmt.Errorf("%s: the core's path kept changing for %s", name, StepTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	for _, c := range checks {
		if _, err := l.measure(ctx, name+": "+c.what+" (after the path held)", StepTimeout, c.ok); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "   %-70s %s\n", fmt.Sprintf("the core's path held %s, the checks hold again", d), fmtDur(time.Since(start)))
	return nil
}

// Traffic checks of the walk-through, by name (test/lab looks for them).
const (
	CheckTrafficBoth = "traffic: west and east both answer /hello (the core's ECMP splits the flows)"
	CheckTrafficWest = "traffic: only west answers /hello once the core moved its path"
	CheckTrafficAPI  = "traffic: /api (backend on east only) answered, entering through both clusters"
)

// stopSpeaker kills a cluster's BGP speaker; startSpeaker starts it again.
func (l *Lab) stopSpeaker(cluster string) {
	if l.real != nil {
		l.real.members[cluster].killSpeaker()
		return
	}
	l.fabric.StopSpeaker(cluster)
}

func (l *Lab) startSpeaker(ctx context.Context, cluster string) error {
	if l.real != nil {
		return l.real.members[cluster].startSpeaker(ctx)
	}
	return l.fabric.StartSpeaker(ctx, cluster)
}

func (l *Lab) speakerRunning(cluster string) bool {
	if l.real != nil {
		return l.real.members[cluster].speakerRunning()
	}
	return l.fabric.SpeakerRunning(cluster)
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
