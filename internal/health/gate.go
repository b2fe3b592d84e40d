package health

import "time"

// Gate timing defaults.
const (
	DefaultWithdrawAfter = 2 * time.Second
	DefaultHoldDown      = 10 * time.Second
)

// GateConfig is an ingress's health gate.
type GateConfig struct {
	// WithdrawAfter: how long a member stays unhealthy before it is withdrawn.
	WithdrawAfter time.Duration
	// HoldDown: how long a withdrawn member stays healthy before it advertises again.
	HoldDown time.Duration
}

// Previous is what the last status said of a member.
type Previous struct {
	// Known is false for a member without a previous verdict.
	Known   bool
	Healthy bool
	Since   time.Time
	// Withdrawn: the gate had withdrawn it.
	Withdrawn bool
	// Joining: the member has not advertised the VIP yet (new to the ingress, or back
	// from a drain that withdrew it). Its first advertisement waits for its first healthy
	// verdict: MetalLB announces a VIP as soon as the Service has it and a ready endpoint,
	// which is before the Gateway serves anything.
	Joining bool
}

// Member is one member's input to the gate.
type Member struct {
	Name    string
	Verdict Verdict
	Prev    Previous
	// Serving is false for a drained member: it neither counts as advertising nor is
	// gated.
	Serving bool
}

// Decision is the gate's output for one member.
type Decision struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	// Since is when the verdict last changed.
	Since time.Time `json:"since"`
	// Withdraw: the member's advertisement is withdrawn for its health.
	Withdraw bool `json:"withdraw,omitempty"`
	// Recheck is when the decision may change without a new event (a timer running).
	Recheck time.Duration `json:"recheck,omitempty"`
	// Awaiting: a joining member withheld until it is healthy for the first time. It is
	// not counted by the last-member rule: it carries no traffic to keep.
	Awaiting bool `json:"awaiting,omitempty"`
}

// Outcome is the gate's output for all members.
type Outcome struct {
	Members []Decision
	// AllUnhealthy: every serving member is unhealthy, so every one keeps advertising:
	// withdrawing them all would turn a partial outage into a total one. Members awaiting
	// their first health do not count: they do not advertise.
	AllUnhealthy bool
	// Kept lists unhealthy members kept advertising because they are the last ones.
	Kept []string
}

// Gate applies the hold-downs and the last-member rule. It is pure: now is the caller's.
func Gate(cfg GateConfig, now time.Time, members []Member) Outcome {
	out := Outcome{Members: make([]Decision, 0, len(members))}
	serving, unhealthy, advertising := 0, 0, 0
	for _, m := range members {
		d := Decision{Name: m.Name, Healthy: m.Verdict.Healthy, Since: now}
		if m.Prev.Known && m.Prev.Healthy == m.Verdict.Healthy && !m.Prev.Since.IsZero() {
			d.Since = m.Prev.Since
		}
		if m.Serving && m.Prev.Joining && !d.Healthy {
			// Not advertised yet and not healthy yet: nothing to keep, nothing to hold
			// down; it advertises as soon as it is healthy.
			d.Withdraw, d.Awaiting = true, true
			out.Members = append(out.Members, d)
			continue
		}
		if m.Serving {
			held := now.Sub(d.Since)
			switch {
			case d.Healthy && m.Prev.Withdrawn:
				// Hysteresis: back only after staying healthy for the hold-down.
				d.Withdraw = held < cfg.HoldDown
				if d.Withdraw {
					d.Recheck = cfg.HoldDown - held
				}
			case !d.Healthy && m.Verdict.NoSessionOnly:
				// No session, so no path at the routers: a withdrawal would change nothing
				// there and only delay the member's return (Verdict.NoSessionOnly). Its
				// advertisement stays as it is; it does not count as carrying traffic.
				d.Withdraw = m.Prev.Withdrawn
			case !d.Healthy:
				d.Withdraw = m.Prev.Withdrawn || held >= cfg.WithdrawAfter
				if !d.Withdraw {
					d.Recheck = cfg.WithdrawAfter - held
				}
			}
			serving++
			if !d.Healthy {
				unhealthy++
			}
			if !d.Withdraw && !m.Verdict.NoSessionOnly {
				advertising++
			}
		}
		out.Members = append(out.Members, d)
	}
	out.AllUnhealthy = serving > 0 && unhealthy == serving
	if serving > 0 && advertising == 0 {
		// Never withdraw the last advertising member (one without a session carries
		// nothing, so it does not count as one).
		for i, m := range members {
			if m.Serving && out.Members[i].Withdraw && !out.Members[i].Awaiting {
				out.Members[i].Withdraw = false
				out.Members[i].Recheck = 0
				out.Kept = append(out.Kept, m.Name)
			}
		}
	}
	return out
}
