package statusview

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Text renders a report for people. Its parts (Problems, Class, Members, Watcher,
// Ingress) are also used alone: the lab's table composes them with its own columns and
// sections.
type Text struct {
	// Color marks what is wrong in red, what is changing or drained in yellow and what is
	// fine in green, with ANSI escapes: only for a terminal.
	Color bool
	// Now is the time ages are counted to ("3m"); zero prints absolute times.
	Now time.Time
	// Clock prints times as the local clock time they happened at (15:04:05) instead of
	// ages: a table redrawn every second then changes only when something does (the lab).
	Clock bool
	// Width bounds the MESSAGE cells of the tables (0: 100 characters); the full messages
	// are in the problem and condition lines.
	Width int
}

// Column is a column the caller adds to the members table (the lab's speakers, say):
// Cell gives its text for a member.
type Column struct {
	Head string
	Cell func(member string) string
}

// Report renders the whole report: the problems, then each class with its members and
// watcher, then each ingress.
func (t Text) Report(r Report) string {
	var b strings.Builder
	if len(r.Ingresses) == 0 && len(r.Classes) == 0 {
		if r.Namespace == "" {
			b.WriteString("No AnycastClasses or AnycastIngresses found.\n")
		} else {
			fmt.Fprintf(&b, "No AnycastIngresses in namespace %s.\n", r.Namespace)
		}
		return b.String()
	}
	if len(r.Problems) > 0 {
		b.WriteString(t.Problems(r.Problems))
	} else {
		fmt.Fprintf(&b, "%s: %s and %s Ready, nothing wrong\n", t.paint(ok, "OK"), count(len(r.Classes), "class", "classes"), count(len(r.Ingresses), "ingress", "ingresses"))
	}
	b.WriteString("\n")
	for _, c := range r.Classes {
		b.WriteString(t.Class(c))
		b.WriteString("\n")
	}
	if len(r.Ingresses) == 0 {
		fmt.Fprintf(&b, "No AnycastIngresses in namespace %s.\n", r.Namespace)
	}
	for i, ing := range r.Ingresses {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(t.Ingress(ing))
	}
	return b.String()
}

// Problems renders the problem lines, each with its reason and whole message.
func (t Text) Problems(ps []Problem) string {
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", t.paint(bad, fmt.Sprintf("PROBLEMS (%d)", len(ps))))
	for _, p := range ps {
		what := "class " + p.Name
		if p.Kind == "AnycastIngress" {
			what = "ingress " + p.Namespace + "/" + p.Name
		}
		switch {
		case p.Member != "":
			what += ", member " + p.Member
		case p.Session != "":
			what += ", session " + p.Session
		case p.Router != "":
			what += ", BMP router " + p.Router
		}
		fmt.Fprintf(&b, "  %s %s: %s: %s\n", t.paint(bad, "!"), what, t.paint(bad, orElse(p.Reason, "NotReady")), p.Message)
	}
	return b.String()
}

// Class renders a class: its verdict and conditions, its members, its watcher.
func (t Text) Class(c Class) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s  %s  generation %d  ingresses %d\n", t.paint(head, "CLASS"), t.paint(head, c.Name), t.verdict(c.Ready, c.Reason), c.Generation, c.Ingresses)
	b.WriteString(t.conditionLines(c.Conditions, c.Ready, c.Reason, c.Message))
	b.WriteString(t.Members(c))
	b.WriteString(t.Watcher(c))
	return b.String()
}

// Members renders the members table of a class, with the caller's columns before the
// message.
func (t Text) Members(c Class, extra ...Column) string {
	showSince := slices.ContainsFunc(c.Members, func(m Member) bool { return m.Since != "" })
	showMetalLB := slices.ContainsFunc(c.Members, func(m Member) bool { return m.MetalLB != "" })
	showDrain := slices.ContainsFunc(c.Members, func(m Member) bool { return m.Drain != "" || m.Removed })
	showSpeakers := slices.ContainsFunc(c.Members, func(m Member) bool { return len(m.Speakers) > 0 })
	tb := table{indent: "  "}
	heads := []string{"MEMBER", "AS", "REACHABLE"}
	if showSince {
		heads = append(heads, "SINCE")
	}
	if showMetalLB {
		heads = append(heads, "METALLB")
	}
	if showDrain {
		heads = append(heads, "DRAIN")
	}
	if showSpeakers {
		heads = append(heads, "SPEAKERS' SESSIONS")
	}
	for _, x := range extra {
		heads = append(heads, x.Head)
	}
	tb.head(append(heads, "MESSAGE")...)
	for _, m := range c.Members {
		reach := cell{"?", warn}
		if m.Reachable != nil {
			reach = cell{"yes", ok}
			if !*m.Reachable {
				reach = cell{"no", bad}
			}
			if m.Reason != "" && !*m.Reachable {
				reach.text += " (" + m.Reason + ")"
			}
		}
		asn := "-"
		if m.ASN != 0 {
			asn = fmt.Sprint(m.ASN)
		}
		row := []cell{{m.Name, plain}, {asn, plain}, reach}
		if showSince {
			row = append(row, cell{t.age(m.Since), plain})
		}
		if showMetalLB {
			st := ok
			if m.MetalLB != "Valid" {
				st = bad
			}
			if m.MetalLB == "" || m.MetalLB == "Unknown" {
				st = warn
			}
			row = append(row, cell{orDash(m.MetalLB), st})
		}
		if showDrain {
			d := cell{orDash(m.Drain), warn}
			if m.Removed {
				d = cell{"removed", warn}
			}
			if d.text == "-" {
				d.style = plain
			}
			row = append(row, d)
		}
		if showSpeakers {
			row = append(row, speakersCell(m.Speakers))
		}
		for _, x := range extra {
			row = append(row, cell{orDash(x.Cell(m.Name)), plain})
		}
		msg := cell{t.clip(orElse(m.Problem, m.Message)), plain}
		if m.Problem != "" {
			msg.style = bad
		}
		tb.row(append(row, msg)...)
	}
	return t.table(tb)
}

// speakersCell is a member's speakers' sessions, "tor Established 1/1" per peer.
func speakersCell(ss []SpeakerSession) cell {
	if len(ss) == 0 {
		return cell{"-", plain}
	}
	c := cell{style: ok}
	var parts []string
	for _, s := range ss {
		parts = append(parts, fmt.Sprintf("%s %s %d/%d", s.Peer, s.BGPState, s.Established, s.Nodes))
		if s.BGPState != established {
			c.style = bad
		}
	}
	c.text = strings.Join(parts, ", ")
	return c
}

// Watcher renders a class's watcher: its BGP sessions, its BMP collector and the
// unexpected origins it found.
func (t Text) Watcher(c Class) string {
	var b strings.Builder
	if len(c.Sessions) > 0 {
		tb := table{indent: "  "}
		tb.head("SESSION", "STATE", "SINCE", "PREFIXES (accepted/received)", "MESSAGE")
		for _, s := range c.Sessions {
			st := ok
			if s.State != established {
				st = bad
			}
			tb.row(cell{s.Name, plain}, cell{s.State, st}, cell{t.age(s.Since), plain},
				cell{fmt.Sprintf("%d/%d", s.Accepted, s.Received), plain}, cell{t.clip(s.Message), plainOr(s.Message, bad)})
		}
		b.WriteString(t.table(tb))
	}
	if m := c.BMP; m != nil {
		state := t.paint(ok, "listening on "+orElse(m.Address, "?"))
		if !m.Listening {
			state = t.paint(bad, "NOT LISTENING") + ": " + orElse(m.Message, "no reason given")
		}
		fmt.Fprintf(&b, "  BMP collector %s\n", state)
		if len(m.Routers) > 0 {
			tb := table{indent: "  "}
			tb.head("BMP ROUTER / PEER", "STATE", "SINCE", "PREFIXES (accepted/received)", "MESSAGE")
			for _, r := range m.Routers {
				st := cell{"connected", ok}
				switch {
				case !r.Connected:
					st = cell{"not connected", bad}
				case r.Synced:
					st.text += ", synced"
				default:
					st = cell{"connected, syncing", warn}
				}
				name := r.Name
				if r.SysName != "" && r.SysName != r.Name {
					name += " (" + r.SysName + ")"
				}
				tb.row(cell{name, plain}, st, cell{t.age(r.Since), plain}, cell{fmt.Sprintf("%d/%d", r.Accepted, r.Received), plain},
					cell{t.clip(r.Message), plainOr(r.Message, bad)})
				for _, p := range r.Peers {
					peer := p.Address
					if p.LocRIB || peer == "" {
						peer = "Loc-RIB"
					}
					if p.ASN != 0 {
						peer += fmt.Sprintf(" AS%d", p.ASN)
					}
					up := cell{"up", ok}
					if !p.Up {
						up = cell{"down", bad}
					}
					if len(p.Tables) > 0 {
						up.text += " " + strings.Join(p.Tables, ",")
					}
					counts := fmt.Sprintf("%d/%d", p.Accepted, p.Received)
					if p.ReportedRoutes != nil {
						counts += fmt.Sprintf(" (router: %d)", *p.ReportedRoutes)
					}
					tb.row(cell{"  " + peer, plain}, up, cell{t.age(p.Since), plain}, cell{counts, plain}, cell{t.clip(p.Message), plainOr(p.Message, bad)})
				}
			}
			b.WriteString(t.table(tb))
		}
		for _, f := range m.Refused {
			when := ""
			if f.LastAttempt != "" {
				when = ", last " + t.age(f.LastAttempt) + " ago"
				if t.Clock || t.Now.IsZero() {
					when = ", last at " + t.age(f.LastAttempt)
				}
			}
			fmt.Fprintf(&b, "  %s %s: %d connection(s) refused, no router of the class has this address%s\n", t.paint(warn, "BMP refused"), f.Address, f.Attempts, when)
		}
	}
	if len(c.UnexpectedOrigins) > 0 {
		fmt.Fprintf(&b, "  %s\n", t.paint(bad, "UNEXPECTED ORIGINS (the routers carry them, no ingress explains them)"))
		tb := table{indent: "  "}
		tb.head("PREFIX", "ORIGIN", "KIND", "INGRESS", "SEEN BY", "SINCE")
		for _, u := range c.UnexpectedOrigins {
			origin := fmt.Sprint(u.OriginAS)
			if u.Member != "" {
				origin = fmt.Sprintf("%s (%d)", u.Member, u.OriginAS)
			}
			tb.row(cell{u.Prefix, plain}, cell{origin, plain}, cell{u.Kind, bad}, cell{orDash(u.Ingress), plain},
				cell{orDash(strings.Join(u.SeenBy, ",")), plain}, cell{t.age(u.Since), plain})
		}
		b.WriteString(t.table(tb))
	}
	if len(c.Sessions) == 0 && c.BMP == nil {
		b.WriteString("  watcher: none reported (the class has no watcher, or it has not started)\n")
	}
	return b.String()
}

// Ingress renders an ingress: its verdict and conditions, each member's state, the
// routers' paths.
func (t Text) Ingress(ing Ingress) string {
	var b strings.Builder
	drain := ""
	if len(ing.Drain) > 0 {
		drain = fmt.Sprintf("  drain %v", ing.Drain)
	}
	fmt.Fprintf(&b, "%s %s  %s  VIP %s  class %s%s  generation %d\n", t.paint(head, "INGRESS"), t.paint(head, ing.Namespace+"/"+ing.Name),
		t.verdict(ing.Ready, ing.Reason), orDash(ing.Address), ing.Class, drain, ing.Generation)
	b.WriteString(t.conditionLines(ing.Conditions, ing.Ready, ing.Reason, ing.Message))
	if len(ing.Members) > 0 {
		showLink := slices.ContainsFunc(ing.Members, func(m IngressMember) bool { return m.Link != "" })
		showHealth := slices.ContainsFunc(ing.Members, func(m IngressMember) bool { return m.Health != "" })
		showAdv := slices.ContainsFunc(ing.Members, func(m IngressMember) bool { return m.Advertisement != "" })
		showNodes := slices.ContainsFunc(ing.Members, func(m IngressMember) bool { return m.AnnouncingNodes != nil })
		showRouter := slices.ContainsFunc(ing.Members, func(m IngressMember) bool { return m.RouterState != "" })
		tb := table{indent: "  "}
		heads := []string{"MEMBER", "PROGRAMMED", "ADVERTISED", "DRAINED"}
		for _, c := range []struct {
			show bool
			head string
		}{{showLink, "LINK"}, {showHealth, "HEALTH"}, {showAdv, "ADVERTISEMENT"}, {showNodes, "NODES"}, {showRouter, "ROUTER STATE"}} {
			if c.show {
				heads = append(heads, c.head)
			}
		}
		tb.head(append(heads, "MESSAGE")...)
		for _, m := range ing.Members {
			prog := cell{"yes", ok}
			if !m.Programmed {
				prog = cell{"no", bad}
			}
			adv := cell{"-", plain}
			if m.Advertised != nil {
				adv = cell{"yes", ok}
				switch {
				case *m.Advertised && m.Drained:
					adv.style = warn
				case !*m.Advertised && m.Drained:
					adv = cell{"no", ok}
				case !*m.Advertised:
					adv = cell{"no", bad}
				}
			}
			drained := cell{"no", plain}
			if m.Drained {
				drained = cell{"yes", warn}
			}
			row := []cell{{m.Name, plain}, prog, adv, drained}
			if showLink {
				st := plain
				switch m.Link {
				case "Ready":
					st = ok
				case "Error":
					st = bad
				case "Pending":
					st = warn
				}
				row = append(row, cell{orDash(m.Link), st})
			}
			if showHealth {
				st := ok
				if m.Health != "Healthy" {
					st = bad
				}
				if m.Health == "" {
					st = plain
				}
				row = append(row, cell{orDash(m.Health), st})
			}
			if showAdv {
				a := orDash(m.Advertisement)
				if m.WithdrawnReason != "" {
					a += " (" + m.WithdrawnReason + ")"
				}
				st := plain
				if m.Advertisement != "" && m.Advertisement != "Advertise" {
					st = warn
				}
				row = append(row, cell{a, st})
			}
			if showNodes {
				n := "-"
				if m.AnnouncingNodes != nil {
					n = fmt.Sprint(*m.AnnouncingNodes)
				}
				row = append(row, cell{n, plain})
			}
			if showRouter {
				rs := orDash(m.RouterState)
				if m.RouterStateSince != "" {
					rs += " " + t.age(m.RouterStateSince)
				}
				st := plain
				switch {
				case m.RouterState == "Advertised" && !m.Drained:
					st = ok
				case m.RouterState != "" && m.Drained:
					st = warn
				case m.RouterState == "Withdrawn" || m.RouterState == "Prepended":
					st = bad
				}
				row = append(row, cell{rs, st})
			}
			msg := cell{t.clip(orElse(m.Problem, m.Message)), plain}
			if m.Problem != "" {
				msg.style = bad
			}
			tb.row(append(row, msg)...)
		}
		b.WriteString(t.table(tb))
	}
	if len(ing.Paths) == 0 {
		if ing.Reason != NoStatus {
			b.WriteString("  paths: none in status.paths (the class has no watcher, or the routers carry no path to the VIP)\n")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "  %s\n", t.paint(head, "PATHS (the routers' view: status.paths)"))
	tb := table{indent: "  "}
	tb.head("SEEN BY", "FROM PEER", "RIB", "NEXT HOP", "AS PATH", "ORIGIN", "SINCE")
	for _, p := range ing.Paths {
		peer := orDash(p.Peer)
		if p.PeerAS != 0 {
			peer += fmt.Sprintf(" AS%d", p.PeerAS)
		}
		origin := cell{fmt.Sprint(p.OriginAS), warn}
		if p.Cluster != "" {
			origin = cell{fmt.Sprintf("%s (%d)", p.Cluster, p.OriginAS), plain}
		}
		if p.OriginAS == 0 && p.Cluster == "" {
			origin = cell{"-", plain}
		}
		tb.row(cell{p.Session, plain}, cell{peer, plain}, cell{orDash(p.RIB), plain}, cell{p.NextHop, plain},
			cell{orDash(p.ASPath), plain}, origin, cell{t.age(p.Since), plain})
	}
	b.WriteString(t.table(tb))
	return b.String()
}

// verdict is the header word of an object.
func (t Text) verdict(ready bool, reason string) string {
	if ready {
		return t.paint(ok, "Ready")
	}
	return t.paint(bad, "NOT READY ("+orElse(reason, "no reason given")+")")
}

// conditionLines are the conditions in one line, then a line with the reason and the
// message of each that is not True. Ready's own line is shown only when no other
// condition explains it (its message repeats theirs).
func (t Text) conditionLines(conds []Condition, ready bool, reason, message string) string {
	var b strings.Builder
	if len(conds) == 0 {
		fmt.Fprintf(&b, "  %s %s\n", t.paint(bad, "!"), message)
		return b.String()
	}
	var parts []string
	for _, c := range conds {
		st := ok
		switch c.Status {
		case "False":
			st = bad
		case "Unknown":
			st = warn
		}
		s := t.paint(st, c.Type+"="+c.Status)
		if c.Stale {
			s += t.paint(warn, "(stale)")
		}
		parts = append(parts, s)
	}
	fmt.Fprintf(&b, "  conditions: %s\n", strings.Join(parts, "  "))
	explained := false
	for _, c := range conds {
		if c.Status != "True" && c.Type != "Ready" {
			stale := ""
			if c.Stale {
				stale = t.paint(warn, " (stale: from an older generation)")
			}
			fmt.Fprintf(&b, "    %s: %s: %s%s\n", c.Type, t.paint(bad, orElse(c.Reason, "NoReason")), orElse(oneLine(c.Message), "no message"), stale)
			explained = true
		}
	}
	switch {
	case reason == StaleStatus || reason == NoStatus:
		fmt.Fprintf(&b, "    %s %s\n", t.paint(warn, "!"), message)
	case !ready && !explained:
		fmt.Fprintf(&b, "    Ready: %s: %s\n", t.paint(bad, orElse(reason, "NoReason")), orElse(oneLine(message), "no message"))
	}
	return b.String()
}

// age is the time since an RFC 3339 time, or the time itself without Now.
func (t Text) age(s string) string {
	if s == "" {
		return "-"
	}
	at, err := time.Parse(time.RFC3339, s)
	switch {
	case err != nil:
		return s
	case t.Clock:
		return at.Local().Format("15:04:05")
	case t.Now.IsZero():
		return s
	}
	return Age(t.Now.Sub(at))
}

// Age is a duration as kubectl shows ages: 45s, 3m, 5h, 2d.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func (t Text) clip(s string) string {
	s = oneLine(s)
	n := t.Width
	if n <= 0 {
		n = 100
	}
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		return string(r[:n-3]) + "..."
	}
	return orDash(s)
}

// style is how a piece of text is coloured.
type style int

const (
	plain style = iota
	ok
	warn
	bad
	head
)

var ansi = map[style]string{ok: "\x1b[32m", warn: "\x1b[33m", bad: "\x1b[31m", head: "\x1b[1m"}

func (t Text) paint(s style, text string) string {
	if !t.Color || s == plain {
		return text
	}
	return ansi[s] + text + "\x1b[0m"
}

// plainOr is st when s is set.
func plainOr(s string, st style) style {
	if s == "" {
		return plain
	}
	return st
}

type cell struct {
	text  string
	style style
}

// table aligns cells by their visible width: text/tabwriter would count the colour
// escapes as text.
type table struct {
	indent string
	rows   [][]cell
}

func (tb *table) head(heads ...string) {
	row := make([]cell, len(heads))
	for i, h := range heads {
		row[i] = cell{h, plain}
	}
	tb.rows = append(tb.rows, row)
}

func (tb *table) row(cells ...cell) { tb.rows = append(tb.rows, cells) }

func (t Text) table(tb table) string {
	var widths []int
	for _, r := range tb.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	for _, r := range tb.rows {
		b.WriteString(tb.indent)
		for i, c := range r {
			b.WriteString(t.paint(c.style, c.text))
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
