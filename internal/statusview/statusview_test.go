package statusview

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// The goldens of `anycast-operator status` (cmd/anycast-operator/testdata/status) cover
// whole reports; these tests cover the rules one at a time.

var t0 = metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))

func cond(typ string, st metav1.ConditionStatus, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: t0}
}

func class(members ...string) v1alpha1.AnycastClass {
	c := v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "fabric", Generation: 1}}
	for i, m := range members {
		c.Spec.Clusters = append(c.Spec.Clusters, v1alpha1.ClusterMember{Name: m, ASN: int64(65001 + i)})
		c.Status.Clusters = append(c.Status.Clusters, v1alpha1.ClusterStatus{Name: m, Reachable: true, Reason: "AllReachable"})
	}
	c.Status.Conditions = []metav1.Condition{cond(v1alpha1.ConditionReady, metav1.ConditionTrue, "Ready", "", 1)}
	return c
}

func ingress(ns, name string, ready bool) v1alpha1.AnycastIngress {
	i := v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1}, Spec: v1alpha1.AnycastIngressSpec{ClassName: "fabric"}}
	if ready {
		i.Status.Conditions = []metav1.Condition{cond(v1alpha1.ConditionReady, metav1.ConditionTrue, "Ready", "", 1)}
	} else {
		i.Status.Conditions = []metav1.Condition{
			cond(v1alpha1.ConditionAdvertised, metav1.ConditionFalse, "Degraded", "1 of 2 serving members are seen as origins; missing: east", 1),
			cond(v1alpha1.ConditionReady, metav1.ConditionFalse, "Degraded", "Advertised: 1 of 2 serving members are seen as origins; missing: east", 1),
		}
	}
	return i
}

// TestWrongFirst: not-Ready ingresses before Ready ones whatever their names; within a
// class, unreachable members first, then drained ones, then the rest in spec order.
func TestWrongFirst(t *testing.T) {
	c := class("west", "north", "east", "south")
	c.Spec.Clusters[1].Drain = &v1alpha1.DrainPolicy{} // mode defaulted: withdraw
	c.Status.Clusters[2].Reachable, c.Status.Clusters[2].Reason, c.Status.Clusters[2].Message = false, "Unauthorized", "the token is wrong"
	r := Build(Input{Namespace: "team-a", Classes: []v1alpha1.AnycastClass{c},
		Ingresses: []v1alpha1.AnycastIngress{ingress("team-a", "alpha", true), ingress("team-a", "zulu", false), ingress("team-a", "beta", true)}})
	var names []string
	for _, i := range r.Ingresses {
		names = append(names, i.Name)
	}
	if strings.Join(names, ",") != "zulu,alpha,beta" {
		t.Errorf("ingresses in order %v, want the not-Ready zulu first", names)
	}
	var members []string
	for _, m := range r.Classes[0].Members {
		members = append(members, m.Name)
	}
	if strings.Join(members, ",") != "east,north,west,south" {
		t.Errorf("members in order %v, want the unreachable east, the drained north, then spec order", members)
	}
	if d := r.Classes[0].Members[1].Drain; d != "withdraw" {
		t.Errorf("north's drain %q, want the default withdraw", d)
	}
	if r.OK || len(r.Problems) != 2 {
		t.Fatalf("problems %+v", r.Problems)
	}
	// The class's problems first (the cause), then the ingress's.
	if p := r.Problems[0]; p.Kind != "AnycastClass" || p.Member != "east" || p.Reason != "Unauthorized" || p.Message != "the token is wrong" {
		t.Errorf("first problem %+v", p)
	}
	if p := r.Problems[1]; p.Kind != "AnycastIngress" || p.Name != "zulu" || p.Reason != "Degraded" || !strings.Contains(p.Message, "missing: east") {
		t.Errorf("second problem %+v", p)
	}
	text := Text{}.Report(r)
	if strings.Index(text, "INGRESS team-a/zulu") > strings.Index(text, "INGRESS team-a/alpha") ||
		!strings.Contains(text, "east    65003  no (Unauthorized)") || !strings.Contains(text, "Advertised: Degraded: 1 of 2 serving members") {
		t.Errorf("text:\n%s", text)
	}
}

// TestClassesShown: in a namespace, only the classes its ingresses use; for all
// namespaces, every class.
func TestClassesShown(t *testing.T) {
	other := class("west")
	other.Name = "other"
	in := Input{Namespace: "team-a", Classes: []v1alpha1.AnycastClass{class("west"), other}, Ingresses: []v1alpha1.AnycastIngress{ingress("team-a", "web", true)}}
	if r := Build(in); len(r.Classes) != 1 || r.Classes[0].Name != "fabric" {
		t.Errorf("namespace: classes %+v", r.Classes)
	}
	in.Namespace = ""
	if r := Build(in); len(r.Classes) != 2 {
		t.Errorf("all namespaces: classes %+v", r.Classes)
	}
	empty := Build(Input{Namespace: "empty"})
	if !empty.OK || empty.Problems == nil || empty.Classes == nil || empty.Ingresses == nil {
		t.Errorf("an empty report must say ok with empty lists, not nulls: %+v", empty)
	}
	if got := (Text{}).Report(empty); got != "No AnycastIngresses in namespace empty.\n" {
		t.Errorf("empty namespace: %q", got)
	}
}

// TestIngressMemberProblems: what makes a member's state a problem, and what does not (a
// drained member withdrawn is as asked; no watcher means no verdict).
func TestIngressMemberProblems(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		m      IngressMember
		reason string
	}{
		{IngressMember{Programmed: true, Advertised: &yes}, ""},
		{IngressMember{Programmed: true}, ""},
		{IngressMember{Programmed: true, Drained: true, Advertised: &no}, ""},
		{IngressMember{Programmed: true, Advertised: &no, RouterState: "Withdrawn"}, "NotAdvertised"},
		{IngressMember{Programmed: false, Message: "Unreachable: x"}, "NotProgrammed"},
		{IngressMember{Programmed: true, Link: "Error", Message: "redemption failed"}, "LinkError"},
		{IngressMember{Programmed: true, Health: "Unhealthy", HealthMessage: "no ready backend"}, "Unhealthy"},
		{IngressMember{Programmed: true, Health: "Healthy", Message: "MetalLB rejects"}, "MemberProblem"},
	} {
		if reason, _ := ingressMemberProblem(tc.m); reason != tc.reason {
			t.Errorf("%+v: %q, want %q", tc.m, reason, tc.reason)
		}
	}
}

// TestReadiness: Ready counts only at the object's generation; no status at all says
// the operator has not reported.
func TestReadiness(t *testing.T) {
	gen2 := []metav1.Condition{cond(v1alpha1.ConditionReady, metav1.ConditionTrue, "Ready", "", 2)}
	if ok, _, _ := readiness(gen2, 2, "ingress"); !ok {
		t.Error("Ready=True at the generation")
	}
	if ok, reason, msg := readiness(gen2, 3, "ingress"); ok || reason != StaleStatus || !strings.Contains(msg, "generation 2, the ingress is at 3") {
		t.Errorf("stale: %v %s %s", ok, reason, msg)
	}
	if ok, reason, _ := readiness(nil, 1, "class"); ok || reason != NoStatus {
		t.Errorf("no status: %v %s", ok, reason)
	}
}

// TestSessionsAndBMPProblems: a session not Established, a collector not listening and
// a router not connected are problems, with the router's or session's name.
func TestSessionsAndBMPProblems(t *testing.T) {
	c := class("west")
	c.Status.Sessions = []v1alpha1.SessionStatus{{Name: "tor", State: "Established"}, {Name: "core", State: "Active", Message: "connect: refused"}}
	c.Status.BMP = &v1alpha1.BMPStatus{Listening: false, Message: "listen tcp :11019: address already in use",
		Routers: []v1alpha1.BMPRouterStatus{{Name: "tor-west", Connected: true}, {Name: "tor-east"}}}
	got := ClassProblems(ClassOf(&c))
	want := []string{"session core Active connect: refused", " NotListening listen tcp :11019: address already in use",
		"router tor-east NotConnected the router is not connected"}
	if len(got) != len(want) {
		t.Fatalf("problems %+v", got)
	}
	for i, p := range got {
		s := ""
		switch {
		case p.Session != "":
			s = "session " + p.Session
		case p.Router != "":
			s = "router " + p.Router
		}
		if s+" "+p.Reason+" "+p.Message != want[i] {
			t.Errorf("problem %d: %q, want %q", i, s+" "+p.Reason+" "+p.Message, want[i])
		}
	}
	if cl := ClassOf(&c); cl.Sessions[0].Name != "core" || cl.BMP.Routers[0].Name != "tor-east" {
		t.Errorf("the session and router that are down are not first: %+v %+v", cl.Sessions, cl.BMP.Routers)
	}
	if text := (Text{}).Watcher(ClassOf(&c)); !strings.Contains(text, "BMP collector NOT LISTENING: listen tcp :11019: address already in use") {
		t.Errorf("watcher:\n%s", text)
	}
}

var escape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColorKeepsColumns: the coloured table, its escapes removed, is the plain table:
// colour never moves a column.
func TestColorKeepsColumns(t *testing.T) {
	c := class("west", "east")
	c.Status.Clusters[1].Reachable, c.Status.Clusters[1].Reason, c.Status.Clusters[1].Message = false, "Unreachable", "cannot reach the API server"
	r := Build(Input{Namespace: "team-a", Classes: []v1alpha1.AnycastClass{c}, Ingresses: []v1alpha1.AnycastIngress{ingress("team-a", "web", false)}})
	plain := Text{}.Report(r)
	colored := Text{Color: true}.Report(r)
	if plain == colored || !strings.Contains(colored, "\x1b[31mno (Unreachable)\x1b[0m") {
		t.Fatalf("no colour:\n%s", colored)
	}
	if stripped := escape.ReplaceAllString(colored, ""); stripped != plain {
		t.Errorf("colour changed the layout:\n%s\nwant\n%s", stripped, plain)
	}
}

// TestLabColumns: the caller's columns go before the message, and member names are
// passed to them.
func TestLabColumns(t *testing.T) {
	c := class("west", "east")
	text := Text{}.Members(ClassOf(&c), Column{Head: "ROLE", Cell: func(m string) string { return map[string]string{"west": "hub"}[m] }},
		Column{Head: "SPEAKER", Cell: func(m string) string { return "up " + m }})
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^  MEMBER +AS +REACHABLE +ROLE +SPEAKER +MESSAGE$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^  west +65001 +yes +hub +up west +-$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^  east +65002 +yes +- +up east +-$`).MatchString(lines[2]) {
		t.Errorf("members:\n%s", text)
	}
	// A class whose status is not written yet still lists its members, reachability unknown.
	c.Status = v1alpha1.AnycastClassStatus{}
	if text := (Text{}).Members(ClassOf(&c)); !regexp.MustCompile(`(?m)^  west +65001 +\? +-$`).MatchString(text) {
		t.Errorf("members without status:\n%s", text)
	}
}

// TestClip: long messages are cut in tables, on rune boundaries.
func TestClip(t *testing.T) {
	s := strings.Repeat("é", 150)
	got := Text{}.clip(s)
	if utf8.RuneCountInString(got) != 100 || !strings.HasSuffix(got, "...") || !utf8.ValidString(got) {
		t.Errorf("clip: %d runes %q", utf8.RuneCountInString(got), got)
	}
	if (Text{Width: 10}).clip("a\n  b") != "a b" {
		t.Error("clip joins lines")
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 90 * time.Second: "90s", 5 * time.Minute: "5m", 3 * time.Hour: "3h", 72 * time.Hour: "3d"} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %s, want %s", d, got, want)
		}
	}
	tx := Text{Now: t0.Add(5 * time.Minute)}
	if got := tx.age("2026-12-01T10:00:00Z"); got != "5m" {
		t.Errorf("age %s", got)
	}
	if got := (Text{}).age("2026-12-01T10:00:00Z"); got != "2026-12-01T10:00:00Z" {
		t.Errorf("without Now: %s", got)
	}
	if got, want := (Text{Clock: true, Now: t0.Time}).age("2026-12-01T10:00:00Z"), t0.Local().Format("15:04:05"); got != want {
		t.Errorf("clock: %s, want %s", got, want)
	}
}

// TestUnexpectedOrigins: each path no ingress explains is a problem of its kind, with its
// prefix and member and the words of the OriginsExplained condition, though the class is
// Ready (it serves); the watcher's text lists them.
func TestUnexpectedOrigins(t *testing.T) {
	c := class("west", "east")
	c.Status.UnexpectedOrigins = []v1alpha1.UnexpectedOrigin{
		{Prefix: "192.168.155.151/32", OriginAS: 65002, Kind: v1alpha1.OriginDrained, Member: "east", Ingress: "team-a/web", SeenBy: []string{"core"}},
		{Prefix: "192.168.155.152/32", OriginAS: 65001, Kind: v1alpha1.OriginNotProgrammed, Member: "west", Ingress: "team-a/api"},
	}
	cl := ClassOf(&c)
	ps := ClassProblems(cl)
	if !cl.Ready || len(ps) != 2 {
		t.Fatalf("ready %v, problems %+v", cl.Ready, ps)
	}
	if p := ps[0]; p.Reason != "Drained" || p.Member != "east" || p.Prefix != "192.168.155.151/32" ||
		p.Message != "192.168.155.151/32 from east (AS 65002): team-a/web asks east to withdraw it (drained or withdrawn) [Drained] (seen by core)" {
		t.Errorf("drained: %+v", p)
	}
	if p := ps[1]; p.Reason != "NotProgrammed" || !strings.Contains(p.Message, "west is not a member of team-a/api") {
		t.Errorf("not programmed: %+v", p)
	}
	text := Text{}.Watcher(cl)
	if !regexp.MustCompile(`(?m)^  192\.168\.155\.151/32  east \(65002\)  Drained +team-a/web  core +-$`).MatchString(text) {
		t.Errorf("watcher:\n%s", text)
	}
}
