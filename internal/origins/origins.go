// Package origins finds what the routers carry inside a class's pools that no ingress
// explains: a prefix no ingress has as its address (a VIP still announced after its
// ingress was deleted, a leak), a member originating a VIP it is asked to withdraw or was
// never asked to announce, an origin AS that is no member's (a hijack, a route from
// outside the class). It is pure: the paths the watcher holds, the class, its ingresses
// (their status addresses and per-member state) and the clock are its inputs; the class
// status's list and OriginsExplained condition its output. It only reports: nothing here
// withdraws or changes an advertisement.
package origins

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// MaxPaths bounds the paths one computation reads (bgp.Manager.ClassPaths's limit): a
// class with more is checked on the first MaxPaths, by prefix, and says so.
const MaxPaths = 20000

// maxSeenBy bounds an entry's seenBy (the API's limit).
const maxSeenBy = 8

// Input is what one class reconcile observed.
type Input struct {
	// Class is the class, its status's sessions and BMP routers already current (they
	// say whether the watcher sees anything at all).
	Class *v1alpha1.AnycastClass
	// Paths are the paths the watcher holds inside the class pools (every prefix), and
	// Held how many it holds (more than len(Paths) when the read was bounded).
	Paths []bgp.Path
	Held  int
	// Ingresses are the class's ingresses.
	Ingresses []v1alpha1.AnycastIngress
	// Now stamps entries that appear.
	Now time.Time
	// Previous is the list the status holds: an entry that stays keeps its since.
	Previous []v1alpha1.UnexpectedOrigin
}

// Result is the class status's part: the list, the condition and the metric's counts.
type Result struct {
	// Entries is status.unexpectedOrigins: at most v1alpha1.MaxUnexpectedOrigins, the
	// most serious kinds kept first, sorted by prefix and origin AS.
	Entries []v1alpha1.UnexpectedOrigin
	// Counts is how many there are of each kind, all of them (the metric).
	Counts map[v1alpha1.OriginKind]int
	// Status, Reason and Message are the OriginsExplained condition.
	Status  metav1.ConditionStatus
	Reason  v1alpha1.Reason
	Message string
}

// Kinds lists the kinds in the order they are decided (and kept when there are too many).
var Kinds = []v1alpha1.OriginKind{v1alpha1.OriginUnknown, v1alpha1.OriginUnowned, v1alpha1.OriginDrained, v1alpha1.OriginNotProgrammed}

// key is one entry: a prefix and the AS that originates it, whatever routers carry it.
type key struct {
	prefix netip.Prefix
	origin uint32
}

// Find computes the class's unexpected origins.
func Find(in Input) Result {
	members := memberASNs(in.Class)
	owners := ownersOf(in.Ingresses)
	seen := map[key][]string{}
	for _, p := range in.Paths {
		k := key{p.Prefix, p.OriginAS}
		seen[k] = append(seen[k], p.Session)
	}
	since := map[string]*metav1.Time{}
	for _, e := range in.Previous {
		since[e.Prefix+" "+fmt.Sprint(e.OriginAS)] = e.Since
	}
	now := metav1.NewTime(in.Now.Truncate(time.Second))

	var all []v1alpha1.UnexpectedOrigin
	for k, sessions := range seen {
		e, ok := judge(k, members, owners[k.prefix])
		if !ok {
			continue
		}
		e.SeenBy = uniq(sessions)
		if t := since[e.Prefix+" "+fmt.Sprint(e.OriginAS)]; t != nil {
			e.Since = t
		} else {
			e.Since = &now
		}
		all = append(all, e)
	}
	counts := map[v1alpha1.OriginKind]int{}
	for _, e := range all {
		counts[e.Kind]++
	}
	// Too many: keep the most serious kinds, then present them by prefix.
	slices.SortFunc(all, func(a, b v1alpha1.UnexpectedOrigin) int {
		return cmp.Or(cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind)), byPrefix(a, b))
	})
	shown := all[:min(len(all), v1alpha1.MaxUnexpectedOrigins)]
	slices.SortFunc(shown, byPrefix)
	res := Result{Entries: shown, Counts: counts}
	res.Status, res.Reason, res.Message = condition(in, all, shown)
	return res
}

// judge decides whether a prefix originated by an AS is explained, and if not, the entry.
func judge(k key, members map[uint32]string, owners []*v1alpha1.AnycastIngress) (v1alpha1.UnexpectedOrigin, bool) {
	e := v1alpha1.UnexpectedOrigin{Prefix: k.prefix.String(), OriginAS: int64(k.origin)}
	member, known := members[k.origin]
	e.Member = member
	if len(owners) > 0 {
		e.Ingress = name(owners[0])
	}
	switch {
	case !known:
		e.Kind = v1alpha1.OriginUnknown
		return e, true
	case len(owners) == 0:
		e.Kind = v1alpha1.OriginUnowned
		return e, true
	}
	var drained, notMember *v1alpha1.AnycastIngress
	for _, ing := range owners {
		switch memberState(ing, member) {
		case stateExplained:
			return e, false
		case stateWithdraw:
			drained = cmp.Or(drained, ing)
		case stateNotMember:
			notMember = cmp.Or(notMember, ing)
		}
	}
	if drained != nil {
		e.Kind, e.Ingress = v1alpha1.OriginDrained, name(drained)
	} else {
		e.Kind, e.Ingress = v1alpha1.OriginNotProgrammed, name(notMember)
	}
	return e, true
}

type state int

const (
	stateExplained state = iota
	stateWithdraw
	stateNotMember
)

// memberState is what an ingress asks of a member for its VIP, from its status: a member
// listed in status.clusters was selected and programmed (a member the operator cannot
// reach right now keeps what it was given, so programmed=false is no verdict); it is
// asked to withdraw when its advertisement is Withdraw, or when it is drained without a
// prepend. An ingress without per-member state yet (never reconciled) explains every
// member: the operator has not said what it wants.
func memberState(ing *v1alpha1.AnycastIngress, member string) state {
	if len(ing.Status.Clusters) == 0 {
		return stateExplained
	}
	for _, cs := range ing.Status.Clusters {
		if cs.Name != member {
			continue
		}
		adv := render.AdvertisementMode(cs.Advertisement)
		if adv == render.Withdraw || (cs.Drained && adv != render.Prepend) {
			return stateWithdraw
		}
		return stateExplained
	}
	return stateNotMember
}

// memberASNs maps the ASes the members originate from to the members: each member's ASN,
// and the localASN of a peer that overrides it (FRR modes), unless it is another
// member's.
func memberASNs(class *v1alpha1.AnycastClass) map[uint32]string {
	out := map[uint32]string{}
	for _, m := range class.Spec.Clusters {
		out[uint32(m.ASN)] = m.Name
	}
	for _, m := range class.Spec.Clusters {
		for _, p := range m.Peers {
			if p.LocalASN == nil {
				continue
			}
			if _, taken := out[uint32(*p.LocalASN)]; !taken {
				out[uint32(*p.LocalASN)] = m.Name
			}
		}
	}
	return out
}

// ownersOf maps each VIP (as the host prefix the routers carry) to the ingresses whose
// status.address it is, by namespace and name: status.address is the address the
// operator uses (spec.address may name one another ingress holds).
func ownersOf(ingresses []v1alpha1.AnycastIngress) map[netip.Prefix][]*v1alpha1.AnycastIngress {
	out := map[netip.Prefix][]*v1alpha1.AnycastIngress{}
	for i := range ingresses {
		ing := &ingresses[i]
		a, err := netip.ParseAddr(ing.Status.Address)
		if err != nil {
			continue
		}
		a = a.Unmap()
		p := netip.PrefixFrom(a, a.BitLen())
		out[p] = append(out[p], ing)
	}
	for _, list := range out {
		slices.SortFunc(list, func(a, b *v1alpha1.AnycastIngress) int { return strings.Compare(name(a), name(b)) })
	}
	return out
}

func condition(in Input, all, shown []v1alpha1.UnexpectedOrigin) (metav1.ConditionStatus, v1alpha1.Reason, string) {
	partial := ""
	if in.Held > len(in.Paths) {
		partial = fmt.Sprintf("; only the first %d of the %d paths the watcher holds were checked", len(in.Paths), in.Held)
	}
	if len(all) > 0 {
		parts := make([]string, 0, 5)
		for _, e := range shown[:min(len(shown), 5)] {
			parts = append(parts, Describe(e))
		}
		more := ""
		if n := len(all) - len(parts); n > 0 {
			more = fmt.Sprintf("; and %d more (status.unexpectedOrigins)", n)
		}
		return metav1.ConditionFalse, v1alpha1.ReasonUnexpectedOrigins, fmt.Sprintf("the routers carry %d prefix origin(s) in the pools that no ingress explains: %s%s%s. Reported only: the operator withdraws nothing because of them",
			len(all), strings.Join(parts, "; "), more, partial)
	}
	if len(in.Paths) == 0 && !watching(in.Class.Status) {
		return metav1.ConditionUnknown, v1alpha1.ReasonWatcherNotEstablished,
			"no watcher session is established and no BMP router streams: what the routers carry is unknown (see status.sessions and status.bmp)"
	}
	return metav1.ConditionTrue, v1alpha1.ReasonNoneUnexpected,
		"every path in the pools is an ingress's address from a member asked to advertise it" + partial
}

// watching reports whether a watcher session is Established or a BMP router streams.
func watching(st v1alpha1.AnycastClassStatus) bool {
	for _, s := range st.Sessions {
		if s.State == bgp.StateEstablished {
			return true
		}
	}
	if st.BMP != nil {
		for _, r := range st.BMP.Routers {
			if r.Connected {
				return true
			}
		}
	}
	return false
}

// Describe says what one entry is, for the condition's message and its event.
func Describe(e v1alpha1.UnexpectedOrigin) string {
	from := fmt.Sprintf("AS %d", e.OriginAS)
	if e.Member != "" {
		from = fmt.Sprintf("%s (AS %d)", e.Member, e.OriginAS)
	}
	what := e.Prefix + " from " + from
	var why string
	switch e.Kind {
	case v1alpha1.OriginUnknown:
		why = fmt.Sprintf("AS %d is no member's", e.OriginAS)
		if e.OriginAS == 0 {
			what, why = e.Prefix, "no origin AS (the path ends in an AS_SET, or a router originates it itself)"
		}
		if e.Ingress != "" {
			why += ", and the prefix is " + e.Ingress + "'s address"
		}
	case v1alpha1.OriginUnowned:
		why = "no ingress has this address"
	case v1alpha1.OriginDrained:
		why = e.Ingress + " asks " + e.Member + " to withdraw it (drained or withdrawn)"
	case v1alpha1.OriginNotProgrammed:
		why = e.Member + " is not a member of " + e.Ingress
	}
	seen := ""
	if len(e.SeenBy) > 0 {
		seen = " (seen by " + strings.Join(e.SeenBy, ", ") + ")"
	}
	return fmt.Sprintf("%s: %s [%s]%s", what, why, e.Kind, seen)
}

func byPrefix(a, b v1alpha1.UnexpectedOrigin) int {
	pa, _ := netip.ParsePrefix(a.Prefix)
	pb, _ := netip.ParsePrefix(b.Prefix)
	return cmp.Or(pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits()), cmp.Compare(a.OriginAS, b.OriginAS))
}

func name(ing *v1alpha1.AnycastIngress) string {
	if ing == nil {
		return ""
	}
	return ing.Namespace + "/" + ing.Name
}

// uniq sorts names and drops repeats, at most maxSeenBy.
func uniq(names []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(names)))
	return out[:min(len(out), maxSeenBy)]
}
