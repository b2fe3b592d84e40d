// Package statusview turns the hub's AnycastClass and AnycastIngress objects into the
// status report that `anycast-operator status` prints and the lab's table shows: the
// members and their reachability, each ingress's conditions and per-member state, the
// routers' paths and the watcher's sessions and BMP routers, with what is wrong first.
//
// It is pure: objects in, a Report out, and the Report's text. Reading the objects is the
// caller's job (cmd/anycast-operator reads the API, the lab its clusters, the tests files).
//
// The Report is also the `-o json|yaml` output, so its field names are an interface: add
// fields, never rename or remove one without changing Schema. docs/status-cli.md
// describes every field.
package statusview

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/origins"
)

// Schema names the structure of Report, for scripts to check.
const Schema = "anycast.dev/status/v1"

// Reasons the report gives when an object's status itself says nothing usable. They are
// the report's, not the operator's: no condition carries them (hence no Reason prefix:
// test/packaging takes Reason* constants for condition reasons).
const (
	// NoStatus: no Ready condition: the operator has not reconciled the object.
	NoStatus = "NoStatus"
	// StaleStatus: the Ready condition describes an older generation.
	StaleStatus = "StaleStatus"
)

// Report is what `anycast-operator status` shows.
type Report struct {
	// Schema is always the Schema constant.
	Schema string `json:"schema"`
	// Namespace is the namespace the ingresses were read from; empty for all namespaces.
	Namespace string `json:"namespace"`
	// OK is true when nothing is wrong: Problems is empty.
	OK bool `json:"ok"`
	// Problems are what is wrong, one line each: each class's first, then each ingress's.
	Problems []Problem `json:"problems"`
	// Classes are the classes of the ingresses shown (every class for all namespaces),
	// those with problems first.
	Classes []Class `json:"classes"`
	// Ingresses are the ingresses shown, not-Ready ones first.
	Ingresses []Ingress `json:"ingresses"`
}

// Problem is one thing wrong, as a person would be told it.
type Problem struct {
	// Kind is AnycastClass or AnycastIngress.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Member, Session and Router say which part of the object is concerned (a member
	// cluster, a watcher session, a BMP router); all empty for the object as a whole.
	Member  string `json:"member,omitempty"`
	Session string `json:"session,omitempty"`
	Router  string `json:"router,omitempty"`
	// Prefix is the prefix of an unexpected origin (then Reason is its kind).
	Prefix string `json:"prefix,omitempty"`
	// Reason is a CamelCase word: a condition's reason, a member's reachability reason,
	// a session's state, or one of this package's (NoStatus, StaleStatus, NotProgrammed,
	// NotAdvertised, Unhealthy, LinkError, MetalLBConfigRejected, RemovalPending,
	// NotListening, NotConnected, MemberProblem), or an unexpected origin's kind
	// (UnknownOrigin, Unowned, Drained, NotProgrammed).
	Reason string `json:"reason"`
	// Message says what is wrong, in the operator's words where it gave some.
	Message string `json:"message"`
}

// Condition is a status condition.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Stale is true when the condition describes an older generation than the object's.
	Stale bool `json:"stale,omitempty"`
	// Since is when the status last changed (RFC 3339).
	Since string `json:"since,omitempty"`
}

// Class is one AnycastClass.
type Class struct {
	Name               string `json:"name"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observedGeneration"`
	// Ready is true when the Ready condition is True at the class's generation; Reason and
	// Message are the Ready condition's otherwise (or NoStatus/StaleStatus).
	Ready      bool        `json:"ready"`
	Reason     string      `json:"reason,omitempty"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions"`
	// Members are spec.clusters merged with status.clusters (and members being removed),
	// those with problems first, then the drained, then the others in spec order.
	Members []Member `json:"members"`
	// Sessions are the watcher's BGP sessions, not Established first.
	Sessions []Session `json:"sessions"`
	// BMP is the watcher's BMP collector, when the class has one.
	BMP *BMP `json:"bmp,omitempty"`
	// UnexpectedOrigins are what the routers carry inside the pools that no ingress
	// explains (status.unexpectedOrigins).
	UnexpectedOrigins []UnexpectedOrigin `json:"unexpectedOrigins,omitempty"`
	// Ingresses is how many AnycastIngresses use the class (its status).
	Ingresses int32 `json:"ingresses"`
}

// Member is one member cluster of a class.
type Member struct {
	Name string `json:"name"`
	ASN  int64  `json:"asn,omitempty"`
	// Reachable is unset while the operator has not reported the member.
	Reachable *bool  `json:"reachable,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	// Since is when reachable last changed.
	Since string `json:"since,omitempty"`
	// MetalLB is MetalLB's verdict on its configuration there: Valid, Invalid or Unknown.
	MetalLB        string `json:"metallb,omitempty"`
	MetalLBMessage string `json:"metallbMessage,omitempty"`
	// Drain is the class's drain of the whole member (withdraw or prepend); empty when it
	// serves.
	Drain string `json:"drain,omitempty"`
	// Removed is true for a member no longer in the class whose objects are still there.
	Removed bool `json:"removed,omitempty"`
	// Speakers are the member's speakers' own sessions to its peers (frr-k8s's
	// BGPSessionStates, status.clusters[].speakers), one per peer.
	Speakers []SpeakerSession `json:"speakers,omitempty"`
	// Problem says what is wrong with the member; empty when nothing.
	Problem string `json:"problem,omitempty"`
}

// SpeakerSession is a member's speakers' sessions to one peer, across its nodes.
type SpeakerSession struct {
	Peer    string `json:"peer"`
	Address string `json:"address"`
	// BGPState is the least advanced state among the nodes; BFDState the BFD state ("N/A"
	// without BFD).
	BGPState string `json:"bgpState"`
	BFDState string `json:"bfdState,omitempty"`
	// Nodes report a session to the peer; Established of them are.
	Nodes       int32  `json:"nodes"`
	Established int32  `json:"established"`
	Since       string `json:"since,omitempty"`
	Message     string `json:"message,omitempty"`
}

// Session is one watcher BGP session.
type Session struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Since    string `json:"since,omitempty"`
	Received int64  `json:"receivedPrefixes"`
	Accepted int64  `json:"acceptedPrefixes"`
	Message  string `json:"message,omitempty"`
}

// BMP is the watcher's BMP collector.
type BMP struct {
	Listening bool        `json:"listening"`
	Address   string      `json:"address,omitempty"`
	Message   string      `json:"message,omitempty"`
	Routers   []BMPRouter `json:"routers"`
	// Refused are the latest addresses refused because no router of the class has them.
	Refused []BMPRefused `json:"refused,omitempty"`
}

// BMPRouter is one router streaming BMP to the collector.
type BMPRouter struct {
	Name      string    `json:"name"`
	Connected bool      `json:"connected"`
	Synced    bool      `json:"synced"`
	Since     string    `json:"since,omitempty"`
	SysName   string    `json:"sysName,omitempty"`
	Received  int64     `json:"receivedPrefixes"`
	Accepted  int64     `json:"acceptedPrefixes"`
	Message   string    `json:"message,omitempty"`
	Peers     []BMPPeer `json:"peers"`
}

// BMPPeer is one neighbour a router reports.
type BMPPeer struct {
	// Address is empty for the router's Loc-RIB.
	Address        string   `json:"address,omitempty"`
	LocRIB         bool     `json:"locRIB,omitempty"`
	ASN            int64    `json:"asn,omitempty"`
	Up             bool     `json:"up"`
	Since          string   `json:"since,omitempty"`
	Tables         []string `json:"tables,omitempty"`
	Received       int64    `json:"receivedPrefixes"`
	Accepted       int64    `json:"acceptedPrefixes"`
	ReportedRoutes *int64   `json:"reportedRoutes,omitempty"`
	Message        string   `json:"message,omitempty"`
}

// BMPRefused is an address whose BMP connections were refused.
type BMPRefused struct {
	Address     string `json:"address"`
	Attempts    int64  `json:"attempts"`
	LastAttempt string `json:"lastAttempt,omitempty"`
}

// UnexpectedOrigin is a prefix and origin AS the routers carry inside the class pools
// that no ingress explains.
type UnexpectedOrigin struct {
	Prefix   string `json:"prefix"`
	OriginAS int64  `json:"originAS"`
	// Kind is why no ingress explains it: UnknownOrigin, Unowned, Drained, NotProgrammed.
	Kind string `json:"kind"`
	// Member whose ASN is the origin AS; Ingress (namespace/name) whose VIP the prefix is.
	Member  string   `json:"member,omitempty"`
	Ingress string   `json:"ingress,omitempty"`
	SeenBy  []string `json:"seenBy,omitempty"`
	Since   string   `json:"since,omitempty"`
}

// Ingress is one AnycastIngress.
type Ingress struct {
	Namespace          string   `json:"namespace"`
	Name               string   `json:"name"`
	Class              string   `json:"class"`
	Address            string   `json:"address,omitempty"`
	Drain              []string `json:"drain,omitempty"`
	Generation         int64    `json:"generation"`
	ObservedGeneration int64    `json:"observedGeneration"`
	// Ready is true when the Ready condition is True at the ingress's generation; Reason
	// and Message are the Ready condition's otherwise (or NoStatus/StaleStatus).
	Ready      bool        `json:"ready"`
	Reason     string      `json:"reason,omitempty"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions"`
	// Members are status.clusters, those with problems first, then the drained.
	Members []IngressMember `json:"members"`
	// Paths are the routers' paths to the VIP as the watcher sees them.
	Paths []Path `json:"paths"`
}

// IngressMember is one member's state for an ingress.
type IngressMember struct {
	Name       string `json:"name"`
	Programmed bool   `json:"programmed"`
	Drained    bool   `json:"drained"`
	// Advertised is unset without a watcher.
	Advertised       *bool  `json:"advertised,omitempty"`
	Link             string `json:"link,omitempty"`
	Health           string `json:"health,omitempty"`
	HealthMessage    string `json:"healthMessage,omitempty"`
	Advertisement    string `json:"advertisement,omitempty"`
	WithdrawnReason  string `json:"withdrawnReason,omitempty"`
	AnnouncingNodes  *int32 `json:"announcingNodes,omitempty"`
	RouterState      string `json:"routerState,omitempty"`
	RouterStateSince string `json:"routerStateSince,omitempty"`
	Message          string `json:"message,omitempty"`
	// Problem says what is wrong with the member for this ingress; empty when nothing.
	Problem string `json:"problem,omitempty"`
}

// Path is one path to the VIP.
type Path struct {
	// Session is the watcher session, or the BMP router, that saw the path.
	Session     string   `json:"session"`
	Peer        string   `json:"peer,omitempty"`
	PeerAS      int64    `json:"peerAS,omitempty"`
	RIB         string   `json:"rib,omitempty"`
	NextHop     string   `json:"nextHop"`
	ASPath      string   `json:"asPath,omitempty"`
	OriginAS    int64    `json:"originAS,omitempty"`
	Cluster     string   `json:"cluster,omitempty"`
	Communities []string `json:"communities,omitempty"`
	Since       string   `json:"since,omitempty"`
}

// Input is what a report is built from.
type Input struct {
	// Namespace the ingresses were read from; empty for all namespaces, which also shows
	// every class rather than only the ingresses' classes.
	Namespace string
	Classes   []v1alpha1.AnycastClass
	Ingresses []v1alpha1.AnycastIngress
}

// Build makes the report. It does not modify the objects.
func Build(in Input) Report {
	r := Report{Schema: Schema, Namespace: in.Namespace, Problems: []Problem{}, Classes: []Class{}, Ingresses: []Ingress{}}
	used := map[string]bool{}
	for i := range in.Ingresses {
		ing := IngressOf(&in.Ingresses[i])
		used[ing.Class] = true
		r.Ingresses = append(r.Ingresses, ing)
	}
	for i := range in.Classes {
		if in.Namespace == "" || used[in.Classes[i].Name] {
			r.Classes = append(r.Classes, ClassOf(&in.Classes[i]))
		}
	}
	sort.SliceStable(r.Classes, func(i, j int) bool {
		a, b := r.Classes[i], r.Classes[j]
		if pa, pb := len(ClassProblems(a)) > 0, len(ClassProblems(b)) > 0; pa != pb {
			return pa
		}
		return a.Name < b.Name
	})
	sort.SliceStable(r.Ingresses, func(i, j int) bool {
		a, b := r.Ingresses[i], r.Ingresses[j]
		if pa, pb := len(IngressProblems(a)) > 0, len(IngressProblems(b)) > 0; pa != pb {
			return pa
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	for _, c := range r.Classes {
		r.Problems = append(r.Problems, ClassProblems(c)...)
	}
	for _, ing := range r.Ingresses {
		r.Problems = append(r.Problems, IngressProblems(ing)...)
	}
	r.OK = len(r.Problems) == 0
	return r
}

// ClassOf describes one class.
func ClassOf(cls *v1alpha1.AnycastClass) Class {
	c := Class{Name: cls.Name, Generation: cls.Generation, ObservedGeneration: cls.Status.ObservedGeneration,
		Conditions: conditions(cls.Status.Conditions, cls.Generation), Members: []Member{}, Sessions: []Session{},
		Ingresses: cls.Status.Ingresses}
	c.Ready, c.Reason, c.Message = readiness(cls.Status.Conditions, cls.Generation, "class")
	status := map[string]v1alpha1.ClusterStatus{}
	for _, s := range cls.Status.Clusters {
		status[s.Name] = s
	}
	member := func(s v1alpha1.ClusterStatus, reported bool) Member {
		m := Member{Name: s.Name}
		if reported {
			m.Reachable = ptr(s.Reachable)
			m.Reason, m.Message, m.Since = s.Reason, s.Message, timeStr(s.LastTransitionTime)
			m.MetalLB, m.MetalLBMessage, m.Removed = s.MetalLB, s.MetalLBMessage, s.Removed
			for _, sp := range s.Speakers {
				m.Speakers = append(m.Speakers, SpeakerSession{Peer: sp.Peer, Address: sp.Address, BGPState: sp.BGPState, BFDState: sp.BFDState,
					Nodes: sp.Nodes, Established: sp.Established, Since: timeStr(sp.Since), Message: sp.Message})
			}
		}
		return m
	}
	for _, spec := range cls.Spec.Clusters {
		s, reported := status[spec.Name]
		s.Name = spec.Name
		m := member(s, reported)
		m.ASN = spec.ASN
		if spec.Drain != nil {
			m.Drain = string(spec.Drain.Mode)
			if m.Drain == "" {
				m.Drain = string(v1alpha1.DrainWithdraw)
			}
		}
		c.Members = append(c.Members, m)
	}
	for _, s := range cls.Status.Clusters {
		if cls.Member(s.Name) == nil {
			c.Members = append(c.Members, member(s, true))
		}
	}
	for i := range c.Members {
		c.Members[i].Problem = memberProblem(c.Members[i])
	}
	sort.SliceStable(c.Members, func(i, j int) bool {
		return memberRank(c.Members[i].Problem, c.Members[i].Drain != "") < memberRank(c.Members[j].Problem, c.Members[j].Drain != "")
	})
	for _, s := range cls.Status.Sessions {
		c.Sessions = append(c.Sessions, Session{Name: s.Name, State: s.State, Since: timeStr(s.Since),
			Received: s.ReceivedPrefixes, Accepted: s.AcceptedPrefixes, Message: s.Message})
	}
	sort.SliceStable(c.Sessions, func(i, j int) bool {
		return c.Sessions[i].State != established && c.Sessions[j].State == established
	})
	if b := cls.Status.BMP; b != nil {
		c.BMP = &BMP{Listening: b.Listening, Address: b.Address, Message: b.Message, Routers: []BMPRouter{}}
		for _, r := range b.Routers {
			br := BMPRouter{Name: r.Name, Connected: r.Connected, Synced: r.Synced, Since: timeStr(r.Since), SysName: r.SysName,
				Received: r.ReceivedPrefixes, Accepted: r.AcceptedPrefixes, Message: r.Message, Peers: []BMPPeer{}}
			for _, p := range r.Peers {
				br.Peers = append(br.Peers, BMPPeer{Address: p.Address, LocRIB: p.LocRIB, ASN: p.ASN, Up: p.Up, Since: timeStr(p.Since),
					Tables: slices.Clone(p.Tables), Received: p.ReceivedPrefixes, Accepted: p.AcceptedPrefixes,
					ReportedRoutes: p.ReportedRoutes, Message: p.Message})
			}
			c.BMP.Routers = append(c.BMP.Routers, br)
		}
		sort.SliceStable(c.BMP.Routers, func(i, j int) bool { return !c.BMP.Routers[i].Connected && c.BMP.Routers[j].Connected })
		for _, f := range b.Refused {
			c.BMP.Refused = append(c.BMP.Refused, BMPRefused{Address: f.Address, Attempts: f.Attempts, LastAttempt: timeStr(f.LastAttempt)})
		}
	}
	for _, u := range cls.Status.UnexpectedOrigins {
		c.UnexpectedOrigins = append(c.UnexpectedOrigins, UnexpectedOrigin{Prefix: u.Prefix, OriginAS: u.OriginAS, Kind: string(u.Kind),
			Member: u.Member, Ingress: u.Ingress, SeenBy: slices.Clone(u.SeenBy), Since: timeStr(u.Since)})
	}
	return c
}

// IngressOf describes one ingress.
func IngressOf(ing *v1alpha1.AnycastIngress) Ingress {
	out := Ingress{Namespace: ing.Namespace, Name: ing.Name, Class: ing.Spec.ClassName, Address: ing.Status.Address,
		Drain: slices.Clone(ing.Spec.Drain), Generation: ing.Generation, ObservedGeneration: ing.Status.ObservedGeneration,
		Conditions: conditions(ing.Status.Conditions, ing.Generation), Members: []IngressMember{}, Paths: []Path{}}
	out.Ready, out.Reason, out.Message = readiness(ing.Status.Conditions, ing.Generation, "ingress")
	for _, s := range ing.Status.Clusters {
		m := IngressMember{Name: s.Name, Programmed: s.Programmed, Drained: s.Drained, Advertised: s.Advertised, Link: s.Link,
			Health: s.Health, HealthMessage: s.HealthMessage, Advertisement: s.Advertisement, WithdrawnReason: s.WithdrawnReason,
			AnnouncingNodes: s.AnnouncingNodes, RouterState: s.RouterState, RouterStateSince: timeStr(s.RouterStateSince), Message: s.Message}
		_, m.Problem = ingressMemberProblem(m)
		out.Members = append(out.Members, m)
	}
	sort.SliceStable(out.Members, func(i, j int) bool {
		return memberRank(out.Members[i].Problem, out.Members[i].Drained) < memberRank(out.Members[j].Problem, out.Members[j].Drained)
	})
	for _, p := range ing.Status.Paths {
		out.Paths = append(out.Paths, Path{Session: p.Session, Peer: p.Peer, PeerAS: p.PeerAS, RIB: p.RIB, NextHop: p.NextHop,
			ASPath: p.ASPath, OriginAS: p.OriginAS, Cluster: p.Cluster, Communities: slices.Clone(p.Communities), Since: timeStr(p.Since)})
	}
	return out
}

const established = "Established"

// ClassProblems lists what is wrong with a class: not Ready, each member's problem, each
// session not Established, the BMP collector not listening, each router not connected,
// and each path the routers carry that no ingress explains (reported, Ready or not).
func ClassProblems(c Class) []Problem {
	var out []Problem
	p := func(reason, msg string) Problem {
		return Problem{Kind: "AnycastClass", Name: c.Name, Reason: reason, Message: oneLine(msg)}
	}
	if !c.Ready {
		out = append(out, p(c.Reason, c.Message))
	}
	for _, m := range c.Members {
		if m.Problem == "" {
			continue
		}
		reason := orElse(m.Reason, "Unreachable")
		switch {
		case m.Removed:
			reason = "RemovalPending"
		case m.Reachable != nil && *m.Reachable && m.MetalLB == "Invalid":
			reason = string(v1alpha1.ReasonMetalLBConfigRejected)
		case m.Reachable != nil && *m.Reachable:
			reason = string(v1alpha1.ReasonSpeakerSessionsDown)
		}
		pr := p(reason, m.Problem)
		pr.Member = m.Name
		out = append(out, pr)
	}
	for _, s := range c.Sessions {
		if s.State != established {
			pr := p(s.State, orElse(s.Message, "the session is "+s.State))
			pr.Session = s.Name
			out = append(out, pr)
		}
	}
	if b := c.BMP; b != nil {
		if !b.Listening {
			out = append(out, p("NotListening", orElse(b.Message, "the BMP collector does not listen")))
		}
		for _, r := range b.Routers {
			if !r.Connected {
				pr := p("NotConnected", orElse(r.Message, "the router is not connected"))
				pr.Router = r.Name
				out = append(out, pr)
			}
		}
	}
	for _, u := range c.UnexpectedOrigins {
		// In the words of the OriginsExplained condition and its events.
		msg := origins.Describe(v1alpha1.UnexpectedOrigin{Prefix: u.Prefix, OriginAS: u.OriginAS, Kind: v1alpha1.OriginKind(u.Kind),
			Member: u.Member, Ingress: u.Ingress, SeenBy: u.SeenBy})
		if u.Since != "" {
			msg += "; since " + u.Since
		}
		pr := p(u.Kind, msg)
		pr.Member, pr.Prefix = u.Member, u.Prefix
		out = append(out, pr)
	}
	return out
}

// IngressProblems lists what is wrong with an ingress: not Ready, and each member's
// problem.
func IngressProblems(ing Ingress) []Problem {
	var out []Problem
	p := func(member, reason, msg string) Problem {
		return Problem{Kind: "AnycastIngress", Namespace: ing.Namespace, Name: ing.Name, Member: member, Reason: reason, Message: oneLine(msg)}
	}
	if !ing.Ready {
		out = append(out, p("", ing.Reason, ing.Message))
	}
	for _, m := range ing.Members {
		if reason, msg := ingressMemberProblem(m); msg != "" {
			out = append(out, p(m.Name, reason, msg))
		}
	}
	return out
}

// readiness is the Ready condition as a verdict: True at the generation, or why not.
func readiness(conds []metav1.Condition, generation int64, what string) (bool, string, string) {
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	switch {
	case c == nil:
		return false, NoStatus, "the operator has not reported on this " + what + " yet: is it running, and does it serve this " + what + "?"
	case c.ObservedGeneration != generation:
		last := "Ready=" + string(c.Status)
		if c.Status != metav1.ConditionTrue {
			last += " " + c.Reason
		}
		return false, StaleStatus, fmt.Sprintf("the status describes generation %d, the %s is at %d: the operator has not caught up with the latest change (last reported: %s)",
			c.ObservedGeneration, what, generation, last)
	case c.Status != metav1.ConditionTrue:
		return false, c.Reason, c.Message
	}
	return true, "", ""
}

func conditions(conds []metav1.Condition, generation int64) []Condition {
	out := []Condition{}
	for _, c := range conds {
		out = append(out, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message,
			Stale: c.ObservedGeneration != generation, Since: timeStr(&c.LastTransitionTime)})
	}
	return out
}

// memberProblem says what is wrong with a class member.
func memberProblem(m Member) string {
	switch {
	case m.Removed:
		return orElse(m.Message, "removed from the class; its objects are removed once it is reachable")
	case m.Reachable != nil && !*m.Reachable:
		return orElse(m.Message, "unreachable")
	case m.MetalLB == "Invalid":
		return "MetalLB rejects its configuration and keeps its last good one: " + orElse(m.MetalLBMessage, "no detail given")
	}
	var down []string
	for _, sp := range m.Speakers {
		if sp.BGPState != established {
			// The operator's message names the peer and the nodes not Established.
			down = append(down, orElse(sp.Message, fmt.Sprintf("%s %s: %s, %d of %d nodes Established", sp.Peer, sp.Address, sp.BGPState, sp.Established, sp.Nodes)))
		}
	}
	if len(down) > 0 {
		return "the speakers' sessions are not all Established: " + strings.Join(down, "; ")
	}
	return ""
}

// ingressMemberProblem says what is wrong with a member for an ingress, and a reason
// word for it. A drained member not advertised is as asked.
func ingressMemberProblem(m IngressMember) (string, string) {
	switch {
	case !m.Programmed:
		return "NotProgrammed", "not programmed: " + orElse(m.Message, "its objects are not all applied")
	case m.Link == "Error":
		return "LinkError", "Skupper link in error: " + orElse(m.Message, "no detail given")
	case m.Health == "Unhealthy":
		return "Unhealthy", "unhealthy: " + orElse(m.HealthMessage, "no detail given")
	case !m.Drained && m.Advertised != nil && !*m.Advertised:
		msg := "not seen as an origin of the VIP at the routers"
		if m.RouterState != "" {
			msg += " (router state " + m.RouterState + ")"
		}
		if m.WithdrawnReason != "" {
			msg += ": withdrawn: " + m.WithdrawnReason
		}
		if m.Message != "" {
			msg += ": " + m.Message
		}
		return "NotAdvertised", msg
	case m.Message != "":
		return "MemberProblem", m.Message
	}
	return "", ""
}

// memberRank orders members: problems first, then the drained, then the others.
func memberRank(problem string, drained bool) int {
	switch {
	case problem != "":
		return 0
	case drained:
		return 1
	}
	return 2
}

func timeStr(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func ptr[T any](v T) *T { return &v }

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// oneLine joins a message's lines and runs of spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
