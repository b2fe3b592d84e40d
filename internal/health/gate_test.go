package health

import (
	"testing"
	"time"
)

var cfg = GateConfig{WithdrawAfter: 2 * time.Second, HoldDown: 10 * time.Second}

func members(t0 time.Time, westHealthy, eastHealthy bool, prev map[string]Previous) []Member {
	v := func(ok bool) Verdict {
		if ok {
			return Verdict{Healthy: true}
		}
		return Verdict{Reasons: []string{"down"}}
	}
	return []Member{
		{Name: "west", Verdict: v(westHealthy), Prev: prev["west"], Serving: true},
		{Name: "east", Verdict: v(eastHealthy), Prev: prev["east"], Serving: true},
	}
}

func decision(o Outcome, name string) Decision {
	for _, d := range o.Members {
		if d.Name == name {
			return d
		}
	}
	return Decision{}
}

func TestGateWithdrawsAfterDebounceAndReturnsAfterHoldDown(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// East turns unhealthy: not withdrawn before withdrawAfter.
	o := Gate(cfg, t0, members(t0, true, false, map[string]Previous{"east": {Known: true, Healthy: true, Since: t0.Add(-time.Hour)}}))
	e := decision(o, "east")
	if e.Withdraw || e.Recheck != 2*time.Second || !e.Since.Equal(t0) {
		t.Fatalf("fresh failure: %+v", e)
	}
	// Still unhealthy 2s later: withdrawn.
	prev := map[string]Previous{"east": {Known: true, Healthy: false, Since: t0}}
	if e := decision(Gate(cfg, t0.Add(2*time.Second), members(t0, true, false, prev)), "east"); !e.Withdraw {
		t.Fatalf("after withdrawAfter: %+v", e)
	}
	// Healthy again: stays withdrawn during the hold-down, back after it.
	prev = map[string]Previous{"east": {Known: true, Healthy: false, Since: t0, Withdrawn: true}}
	t1 := t0.Add(30 * time.Second)
	e = decision(Gate(cfg, t1, members(t0, true, true, prev)), "east")
	if !e.Withdraw || e.Recheck != 10*time.Second || !e.Since.Equal(t1) {
		t.Fatalf("just healthy: %+v", e)
	}
	prev = map[string]Previous{"east": {Known: true, Healthy: true, Since: t1, Withdrawn: true}}
	if e := decision(Gate(cfg, t1.Add(9*time.Second), members(t0, true, true, prev)), "east"); !e.Withdraw {
		t.Fatalf("within the hold-down: %+v", e)
	}
	if e := decision(Gate(cfg, t1.Add(10*time.Second), members(t0, true, true, prev)), "east"); e.Withdraw {
		t.Fatalf("after the hold-down: %+v", e)
	}
	// A flap during the hold-down restarts it.
	prev = map[string]Previous{"east": {Known: true, Healthy: true, Since: t1, Withdrawn: true}}
	e = decision(Gate(cfg, t1.Add(5*time.Second), members(t0, true, false, prev)), "east")
	if !e.Withdraw {
		t.Fatalf("a flap must keep it withdrawn: %+v", e)
	}
}

func TestGateNeverWithdrawsTheLastMember(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := map[string]Previous{
		"west": {Known: true, Healthy: false, Since: t0.Add(-time.Minute), Withdrawn: true},
		"east": {Known: true, Healthy: false, Since: t0.Add(-time.Minute)},
	}
	o := Gate(cfg, t0, members(t0, false, false, prev))
	if !o.AllUnhealthy || len(o.Kept) != 2 {
		t.Fatalf("both unhealthy: %+v", o)
	}
	for _, d := range o.Members {
		if d.Withdraw {
			t.Errorf("%s withdrawn although no member would advertise", d.Name)
		}
	}
	// One healthy: the other is withdrawn.
	o = Gate(cfg, t0, members(t0, true, false, map[string]Previous{"east": prev["east"]}))
	if o.AllUnhealthy || !decision(o, "east").Withdraw || decision(o, "west").Withdraw {
		t.Fatalf("one healthy: %+v", o)
	}
}

func TestGateIgnoresDrainedMembers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := members(t0, false, true, map[string]Previous{"west": {Known: true, Healthy: false, Since: t0.Add(-time.Minute)}})
	ms[1].Serving = false // east drained: west is the only serving member
	o := Gate(cfg, t0, ms)
	if decision(o, "west").Withdraw || !o.AllUnhealthy {
		t.Fatalf("the only serving member must stay: %+v", o)
	}
}

// TestJoiningMemberAwaitsHealth: a member that has not advertised yet is withheld until
// its first healthy verdict (MetalLB would announce the VIP before the Gateway serves), at
// once and without a hold-down, and does not count for the last-member rule: withholding
// every joining member of a new ingress advertises nothing, since nothing works yet.
func TestJoiningMemberAwaitsHealth(t *testing.T) {
	cfg := GateConfig{WithdrawAfter: 2 * time.Second, HoldDown: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	joining := Previous{Joining: true}

	// A new ingress: neither member healthy yet. Nothing advertises, nobody is kept.
	o := Gate(cfg, t0, members(t0, false, false, map[string]Previous{"west": joining, "east": joining}))
	for _, d := range o.Members {
		if !d.Withdraw || !d.Awaiting {
			t.Fatalf("%s: withdraw=%v awaiting=%v, want both", d.Name, d.Withdraw, d.Awaiting)
		}
	}
	if o.AllUnhealthy || len(o.Kept) > 0 {
		t.Fatalf("joining members must not trigger the last-member rule: %+v", o)
	}

	// west turns healthy: it advertises at once (no hold-down for a first advertisement).
	o = Gate(cfg, t0, members(t0, true, false, map[string]Previous{"west": joining, "east": joining}))
	if d := o.Members[0]; d.Withdraw || d.Awaiting {
		t.Fatalf("healthy joining west: %+v", d)
	}
	if d := o.Members[1]; !d.Withdraw || !d.Awaiting {
		t.Fatalf("east still joining: %+v", d)
	}

	// west advertises and turns unhealthy while east still joins: west is the last
	// advertising member and is kept; east stays withheld.
	o = Gate(cfg, t0, members(t0, false, false, map[string]Previous{"west": {Known: true, Healthy: false, Since: t0.Add(-time.Minute)}, "east": joining}))
	if d := o.Members[0]; d.Withdraw {
		t.Fatalf("west is the last advertising member: %+v", d)
	}
	if d := o.Members[1]; !d.Withdraw {
		t.Fatalf("east joins unhealthy and must stay withheld: %+v", d)
	}
	if !o.AllUnhealthy || len(o.Kept) != 1 || o.Kept[0] != "west" {
		t.Fatalf("west kept as the last member: %+v", o)
	}
}

// TestGateKeepsAMemberWithoutSession: a member whose only problem is that none of its
// speakers' sessions is Established keeps its advertisement (the routers have no path from
// it, so a withdrawal would change nothing and only delay its return: seen in the lab as a
// ~20 s flap when a new speaker's first BGPSessionState said Idle), yet it never counts as
// carrying traffic: the last-member rule keeps another unhealthy member advertised. With a
// second problem it is withdrawn as usual.
func TestGateKeepsAMemberWithoutSession(t *testing.T) {
	t0 := time.Unix(1000, 0)
	noSession := Verdict{Reasons: []string{"no BGP session ..."}, NoSessionOnly: true}
	advertised := Previous{Known: true, Healthy: false, Since: t0}
	at := t0.Add(time.Minute)

	o := Gate(cfg, at, []Member{
		{Name: "west", Verdict: Verdict{Healthy: true}, Prev: Previous{Known: true, Healthy: true, Since: t0}, Serving: true},
		{Name: "east", Verdict: noSession, Prev: advertised, Serving: true},
	})
	if e := decision(o, "east"); e.Withdraw || e.Healthy || e.Recheck != 0 {
		t.Fatalf("no session only, a minute on: %+v; want unhealthy and still advertised", e)
	}

	// West is unhealthy for a real reason and past withdrawAfter; east carries nothing:
	// west is the last member carrying traffic and is kept.
	o = Gate(cfg, at, []Member{
		{Name: "west", Verdict: Verdict{Reasons: []string{"the Gateway is not Programmed"}}, Prev: Previous{Known: true, Healthy: false, Since: t0}, Serving: true},
		{Name: "east", Verdict: noSession, Prev: advertised, Serving: true},
	})
	if w := decision(o, "west"); w.Withdraw {
		t.Fatalf("west withdrawn while east has no session: %+v (kept %v)", w, o.Kept)
	}
	if len(o.Kept) != 1 || o.Kept[0] != "west" || !o.AllUnhealthy {
		t.Fatalf("kept %v, all unhealthy %v; want west kept, all unhealthy", o.Kept, o.AllUnhealthy)
	}

	// No session and a broken Gateway: withdrawn after withdrawAfter, as any problem.
	both := Verdict{Reasons: []string{"no BGP session ...", "the Gateway is not Programmed"}}
	o = Gate(cfg, at, []Member{
		{Name: "west", Verdict: Verdict{Healthy: true}, Prev: Previous{Known: true, Healthy: true, Since: t0}, Serving: true},
		{Name: "east", Verdict: both, Prev: advertised, Serving: true},
	})
	if e := decision(o, "east"); !e.Withdraw {
		t.Fatalf("no session and a broken Gateway: %+v; want withdrawn", e)
	}

	// Withdrawn earlier for another problem, now only without a session: it stays
	// withdrawn (its return goes through the hold-down once healthy).
	o = Gate(cfg, at, []Member{
		{Name: "west", Verdict: Verdict{Healthy: true}, Prev: Previous{Known: true, Healthy: true, Since: t0}, Serving: true},
		{Name: "east", Verdict: noSession, Prev: Previous{Known: true, Healthy: false, Since: t0, Withdrawn: true}, Serving: true},
	})
	if e := decision(o, "east"); !e.Withdraw {
		t.Fatalf("withdrawn before, now no session only: %+v; want still withdrawn", e)
	}
}
