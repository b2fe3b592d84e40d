package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/statusview"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// Snapshot is everything the table shows, read at one moment.
type Snapshot struct {
	At     time.Time
	Fabric string
	Stack  string
	VIP    netip.Prefix
	// Class and Ingress are the hub's objects (nil while absent).
	Class     *v1alpha1.AnycastClass
	Ingress   *v1alpha1.AnycastIngress
	Core      CoreView
	CoreErr   error
	Client    ClientView // the client router's view: it peers with the core only
	ClientErr error
	// Speakers, Nodes and Traffic are read for the table only (Snapshot, not the checks'
	// lighter snapshots).
	Speakers map[string]SpeakerView
	// Nodes are the real stack's node lines: Traefik, the kube-proxy stand-in.
	Nodes    []string
	Traffic  *TrafficView
	Clusters []ClusterView
	Operator string
	Err      error
	// BMP says that the watcher reads the routers over BMP (Options.BMP): each member's
	// path must then be named by the router that received it, the member's TOR.
	BMP bool
}

// SpeakerView is one cluster's BGP speaker: the MetalLB stand-in and its gobgpd, or the
// real MetalLB speaker (and frr-k8s) on the cluster's node.
type SpeakerView struct {
	Running bool
	// Summary is what plays it and its session ("up -> TOR 198.18.11.1 AS64001").
	Summary string
	// Announces are the routes it announces (the real stack: what its TOR holds from it).
	Announces []string
	// Problems are what it found wrong (the stand-in) or the configuration errors the real
	// MetalLB logged, and the kube-proxy stand-in's.
	Problems []string
}

// ClusterView is one control plane.
type ClusterView struct {
	Name, Role, API string
	ASN             int64
}

// Snapshot reads everything the table shows: the hub's class and ingress, the core and
// client routers, the speakers, the nodes and the traffic.
func (l *Lab) Snapshot(ctx context.Context) *Snapshot { return l.snap(ctx, true) }

// snap reads a snapshot; full adds what only the table shows (the speakers' sessions and
// routes, the nodes, the traffic), which costs router queries the checks do not need.
func (l *Lab) snap(ctx context.Context, full bool) *Snapshot {
	s := &Snapshot{At: time.Now(), Fabric: l.fabric.Describe(), Stack: l.StackMode, VIP: l.vip, Speakers: map[string]SpeakerView{}, BMP: l.opts.BMP}
	cls := &v1alpha1.AnycastClass{}
	if err := l.west.Client.Get(ctx, client.ObjectKey{Name: ClassName}, cls); err == nil {
		s.Class = cls
	} else if client.IgnoreNotFound(err) != nil {
		s.Err = err
	}
	ing := &v1alpha1.AnycastIngress{}
	if err := l.west.Client.Get(ctx, client.ObjectKey{Namespace: IngressNamespace, Name: IngressName}, ing); err == nil {
		s.Ingress = ing
	} else if client.IgnoreNotFound(err) != nil {
		s.Err = err
	}
	s.Core, s.CoreErr = l.fabric.Core(ctx, l.vip)
	s.Client, s.ClientErr = l.fabric.Client(ctx, l.vip)
	s.Clusters = []ClusterView{{Name: "west", Role: "hub", API: l.west.APIServerURL()}, {Name: "east", Role: "spoke", API: l.east.APIServerURL()}}
	if s.Class != nil {
		for i := range s.Clusters {
			if m := s.Class.Member(s.Clusters[i].Name); m != nil {
				s.Clusters[i].ASN = m.ASN
			}
		}
	}
	s.Operator = fmt.Sprintf("pid %d", l.OperatorPid())
	if !l.OperatorRunning() {
		s.Operator = "NOT RUNNING (see operator.log)"
	}
	if !full {
		return s
	}
	for _, c := range []*cluster{l.west, l.east} {
		s.Speakers[c.Name] = l.speakerView(c.Name)
	}
	if l.real != nil {
		s.Nodes = l.nodeLines()
	}
	if l.traffic != nil {
		s.Traffic = l.traffic.view()
	}
	return s
}

// speakerView describes a cluster's speaker for the table.
func (l *Lab) speakerView(name string) SpeakerView {
	v := SpeakerView{Running: l.speakerRunning(name)}
	if l.real == nil {
		if sess := l.fabric.Announcer(name).Sessions(); len(sess) > 0 {
			v.Summary = fmt.Sprintf("-> TOR %s AS%d", sess[0].PeerAddress, sess[0].PeerASN)
		}
		st := l.stands[name].State()
		for _, r := range st.Routes {
			v.Announces = append(v.Announces, r.String())
		}
		v.Problems = st.Problems
		return v
	}
	m := l.real.members[name]
	f := l.fabric.(*frrFabric)
	tor, nodeAddr := f.f.TORWest, m.spk.Addr
	if name == "east" {
		tor = f.f.TOREast
	}
	peer := m.torAddr(l.opts.IPv6)
	if l.opts.IPv6 {
		nodeAddr = m.spk.Addr6
	}
	state := "?"
	if n, err := tor.Neighbor(nodeAddr); err == nil {
		state = n.State
	}
	v.Summary = fmt.Sprintf("MetalLB %s %s on %s -> TOR %s AS%d %s", l.real.bin.Versions["METALLB_VERSION"], m.mode, m.node.Name, peer, m.spk.TORASN, state)
	if paths, err := tor.BGPPaths(l.vip); err == nil {
		for _, p := range paths {
			if p.From == nodeAddr {
				v.Announces = append(v.Announces, fmt.Sprintf("%s as-path %s (at the TOR)", l.vip, p.ASPath))
			}
		}
	}
	for _, e := range realstack.ConfigErrors(m.processes()...) {
		v.Problems = append(v.Problems, "MetalLB "+e.Process+" rejected its configuration: "+e.Message)
	}
	v.Problems = append(v.Problems, m.proxy.Problems()...)
	return v
}

// nodeLines describe the real stack's nodes: Traefik, the addresses the kube-proxy
// stand-in binds.
func (l *Lab) nodeLines() []string {
	var out []string
	for _, name := range []string{"west", "east"} {
		m := l.real.members[name]
		tr := "DOWN"
		if m.traefik != nil && m.traefik.Running() {
			tr = fmt.Sprintf("up (entry point web :%d)", TraefikEntryPoint)
		}
		out = append(out, fmt.Sprintf("%s (namespace %s, %s, %s): Traefik %s %s; kube-proxy stand-in binds %s",
			m.node.Name, m.node.NetNS, m.spk.Addr, m.spk.Addr6, l.real.bin.Versions["TRAEFIK_VERSION"], tr, orDash(strings.Join(m.proxy.Bound(), ", "))))
	}
	return out
}

// asnOf is the ASN of a cluster as the class says (the reference one otherwise).
func (s *Snapshot) asnOf(cluster string) string {
	if s.Class != nil {
		if m := s.Class.Member(cluster); m != nil {
			return fmt.Sprint(m.ASN)
		}
	}
	return map[string]string{"west": "65001", "east": "65002"}[cluster]
}

// coreServes checks that the core forwards the VIP to exactly the given clusters: their
// paths present and used for ECMP (multipath), no other origin used, and on FRR the
// kernel route with one next hop per cluster.
func (s *Snapshot) coreServes(clusters ...string) error {
	if s.CoreErr != nil {
		return fmt.Errorf("reading the core: %w", s.CoreErr)
	}
	var want []string
	for _, c := range clusters {
		want = append(want, s.asnOf(c))
	}
	sort.Strings(want)
	var used []string
	for _, p := range s.Core.Paths {
		if p.Multipath {
			used = append(used, p.Origin())
		}
	}
	sort.Strings(used)
	if !slices.Equal(used, want) {
		return fmt.Errorf("the core uses paths from origin AS %v, want %v", used, want)
	}
	if s.Core.HasFIB && len(s.Core.FIB) != len(clusters) {
		return fmt.Errorf("the core's kernel route has next hops %v, want %d", s.Core.FIB, len(clusters))
	}
	return nil
}

// coreLacks checks that the core holds no path from cluster at all.
func (s *Snapshot) coreLacks(cluster string) error {
	if s.CoreErr != nil {
		return fmt.Errorf("reading the core: %w", s.CoreErr)
	}
	for _, p := range s.Core.Paths {
		if p.Origin() == s.asnOf(cluster) {
			return fmt.Errorf("the core still holds %s's path %s", cluster, p.ASPath)
		}
	}
	return nil
}

// clientReaches checks that the client router has a path to the VIP, learnt from the
// core (next hop the core, AS path starting with the core's AS), and that every path it
// holds leads to one of the given clusters (any cluster when none is given): anycast
// serves the client.
func (s *Snapshot) clientReaches(clusters ...string) error {
	if s.ClientErr != nil {
		return fmt.Errorf("reading the client: %w", s.ClientErr)
	}
	if len(s.Client.Paths) == 0 {
		return fmt.Errorf("the client has no path to %s", s.VIP)
	}
	if len(clusters) == 0 {
		clusters = []string{"west", "east"}
	}
	var want []string
	for _, c := range clusters {
		want = append(want, s.asnOf(c))
	}
	best := false
	for _, p := range s.Client.Paths {
		best = best || p.Best
		if f := strings.Fields(p.ASPath); len(f) == 0 || f[0] != fmt.Sprint(coreASN) || p.NextHop != s.Client.CoreAddr {
			return fmt.Errorf("the client's path %q via %s does not come from the core (AS %d, %s)", p.ASPath, p.NextHop, coreASN, s.Client.CoreAddr)
		}
		if !slices.Contains(want, p.Origin()) {
			return fmt.Errorf("the client's path %q leads to AS %s, want %v", p.ASPath, p.Origin(), want)
		}
	}
	if !best {
		return fmt.Errorf("the client holds no best path to %s", s.VIP)
	}
	return nil
}

// coreASN is the core router's AS in both fabrics.
const coreASN = 64666

// condition checks an ingress condition at the ingress's generation.
func (s *Snapshot) condition(typ string, status metav1.ConditionStatus) error {
	if s.Ingress == nil {
		return fmt.Errorf("no ingress yet")
	}
	c := meta.FindStatusCondition(s.Ingress.Status.Conditions, typ)
	if c == nil {
		return fmt.Errorf("no %s condition yet", typ)
	}
	if c.ObservedGeneration != s.Ingress.Generation {
		return fmt.Errorf("%s describes generation %d, the ingress is at %d", typ, c.ObservedGeneration, s.Ingress.Generation)
	}
	if c.Status != status {
		return fmt.Errorf("%s is %s (%s: %s), want %s", typ, c.Status, c.Reason, c.Message, status)
	}
	return nil
}

// classCondition checks a condition of the class, for its current generation.
func (s *Snapshot) classCondition(typ string, status metav1.ConditionStatus) error {
	if s.Class == nil {
		return fmt.Errorf("no class yet")
	}
	c := meta.FindStatusCondition(s.Class.Status.Conditions, typ)
	switch {
	case c == nil:
		return fmt.Errorf("the class has no %s condition yet", typ)
	case c.ObservedGeneration != s.Class.Generation:
		return fmt.Errorf("the class's %s describes generation %d, the class is at %d", typ, c.ObservedGeneration, s.Class.Generation)
	case c.Status != status:
		return fmt.Errorf("the class's %s is %s (%s: %s), want %s", typ, c.Status, c.Reason, c.Message, status)
	}
	return nil
}

// statusOrigins checks that the ingress's paths (the watcher's view) come from exactly
// the given clusters.
func (s *Snapshot) statusOrigins(clusters ...string) error {
	if s.Ingress == nil {
		return fmt.Errorf("no ingress yet")
	}
	var got []string
	for _, p := range s.Ingress.Status.Paths {
		if !slices.Contains(got, p.Cluster) {
			got = append(got, p.Cluster)
		}
	}
	sort.Strings(got)
	want := slices.Clone(clusters)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("status paths come from %v, want %v", got, want)
	}
	if s.BMP {
		return s.torsSaw(clusters...)
	}
	return nil
}

// torsSaw checks, on the BMP watcher, that each cluster's path is reported by its own TOR
// (router tor-<cluster>) as received from the cluster's speaker (the neighbour's AS is the
// cluster's): the routers' view names where each path entered the fabric.
func (s *Snapshot) torsSaw(clusters ...string) error {
	for _, c := range clusters {
		tor, asn := "tor-"+c, s.asnOf(c)
		seen := false
		for _, p := range s.Ingress.Status.Paths {
			if p.Cluster == c && p.Session == tor && fmt.Sprint(p.PeerAS) == asn {
				seen = true
				break
			}
		}
		if !seen {
			return fmt.Errorf("no path of %s reported by %s over BMP from a neighbour in AS%s", c, tor, asn)
		}
	}
	return nil
}

// clusterAdvertised checks a member's advertised flag in the ingress status.
func (s *Snapshot) clusterAdvertised(cluster string, want bool) error {
	if s.Ingress == nil {
		return fmt.Errorf("no ingress yet")
	}
	for _, c := range s.Ingress.Status.Clusters {
		if c.Name == cluster {
			if c.Advertised == nil || *c.Advertised != want {
				return fmt.Errorf("%s: advertised %v, want %v", cluster, ptrStr(c.Advertised), want)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not in the ingress status", cluster)
}

func ptrStr(b *bool) string {
	if b == nil {
		return "unknown"
	}
	return fmt.Sprint(*b)
}

// serving is the steady state with the given clusters advertising: ECMP across them at
// the core, the watcher's paths from them, Advertised and Ready.
func (s *Snapshot) serving(clusters ...string) error {
	return errs1(s.coreServes(clusters...), s.statusOrigins(clusters...),
		s.condition(v1alpha1.ConditionAdvertised, metav1.ConditionTrue), s.condition(v1alpha1.ConditionReady, metav1.ConditionTrue))
}

// errs1 returns the first error.
func errs1(list ...error) error {
	for _, e := range list {
		if e != nil {
			return e
		}
	}
	return nil
}

// Render draws the table.
func (s *Snapshot) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "anycast lab  %s  operator %s  stack %s\n", s.At.Format("15:04:05"), s.Operator, orDash(s.Stack))
	fmt.Fprintf(&b, "fabric: %s\n\n", s.Fabric)

	// The members, the ingress and the watcher as `anycast-operator status` shows them
	// (internal/statusview), with the lab's own columns: what plays each cluster, its
	// speaker and the traffic it answered. Clock times, not ages: the table is printed
	// again only when something changed.
	tx := statusview.Text{Clock: true}
	cls := s.classView()
	var ings []v1alpha1.AnycastIngress
	if s.Ingress != nil {
		ings = []v1alpha1.AnycastIngress{*s.Ingress}
	}
	var classes []v1alpha1.AnycastClass
	if s.Class != nil {
		classes = []v1alpha1.AnycastClass{*s.Class}
	}
	b.WriteString(tx.Problems(statusview.Build(statusview.Input{Namespace: IngressNamespace, Classes: classes, Ingresses: ings}).Problems))
	b.WriteString(tx.Members(statusview.ClassOf(cls), s.labColumns()...))
	for _, c := range s.Clusters {
		for _, p := range s.Speakers[c.Name].Problems {
			fmt.Fprintf(&b, "  ! %s speaker: %s\n", c.Name, p)
		}
	}
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "  node %s\n", n)
	}
	b.WriteString("\n")

	if s.Ingress == nil {
		fmt.Fprintf(&b, "INGRESS %s/%s: not created yet\n", IngressNamespace, IngressName)
	} else {
		b.WriteString(tx.Ingress(statusview.IngressOf(s.Ingress)))
	}
	if s.Class != nil {
		b.WriteString(tx.Watcher(statusview.ClassOf(s.Class)))
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "CORE (AS64666) %s", s.VIP)
	switch {
	case s.CoreErr != nil:
		fmt.Fprintf(&b, ": %v\n", s.CoreErr)
	case len(s.Core.Paths) == 0:
		b.WriteString(": no path\n")
	default:
		if s.Core.HasFIB {
			fmt.Fprintf(&b, "  kernel route: %s", fibStr(s.Core.FIB))
		}
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  AS PATH\tNEXT HOP\tORIGIN\tBEST\tECMP")
		for _, p := range s.Core.Paths {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.ASPath, p.NextHop, s.clusterOfASN(p.Origin()), star(p.Best), star(p.Multipath))
		}
		_ = tw.Flush()
	}

	b.WriteString("\n")
	fmt.Fprintf(&b, "CLIENT (AS%d, peers with the core only) %s", ClientASN, s.VIP)
	switch {
	case s.ClientErr != nil:
		fmt.Fprintf(&b, ": %v\n", s.ClientErr)
	case len(s.Client.Paths) == 0:
		b.WriteString("\n  client: no path\n")
	default:
		b.WriteString("\n")
		for _, p := range s.Client.Paths {
			via := p.NextHop.String()
			if p.NextHop == s.Client.CoreAddr {
				via = "core"
			}
			best := ""
			if p.Best {
				best = ", best"
			}
			fmt.Fprintf(&b, "  client: via %s %s  (next hop %s, origin %s%s)\n", via, p.ASPath, p.NextHop, s.clusterOfASN(p.Origin()), best)
		}
	}
	if s.Traffic != nil {
		b.WriteString("\n")
		s.Traffic.render(&b)
	}
	return b.String()
}

func (s *Snapshot) clusterOfASN(asn string) string {
	for _, c := range []string{"west", "east"} {
		if s.asnOf(c) == asn {
			return c + " (" + asn + ")"
		}
	}
	return asn
}

func fibStr(nh []netip.Addr) string {
	switch len(nh) {
	case 0:
		return "none"
	case 1:
		return "via " + nh[0].String()
	}
	var parts []string
	for _, a := range nh {
		parts = append(parts, a.String())
	}
	return fmt.Sprintf("ECMP via %s", strings.Join(parts, ", "))
}

// classView is the hub's class, or while it is not there, one naming the lab's clusters:
// the table lists them either way.
func (s *Snapshot) classView() *v1alpha1.AnycastClass {
	if s.Class != nil {
		return s.Class
	}
	cls := &v1alpha1.AnycastClass{}
	cls.Name = ClassName
	for _, c := range s.Clusters {
		cls.Spec.Clusters = append(cls.Spec.Clusters, v1alpha1.ClusterMember{Name: c.Name, ASN: c.ASN})
	}
	return cls
}

// labColumns are the lab's columns of the members table: what plays each cluster, its
// speaker, and the share of the traffic it answered.
func (s *Snapshot) labColumns() []statusview.Column {
	view := func(name string) ClusterView {
		for _, c := range s.Clusters {
			if c.Name == name {
				return c
			}
		}
		return ClusterView{}
	}
	speakerHead := "SPEAKER (MetalLB stand-in)"
	if s.Stack == StackReal {
		speakerHead = "SPEAKER (real MetalLB)"
	}
	cols := []statusview.Column{
		{Head: "ROLE", Cell: func(m string) string { return view(m).Role }},
		{Head: "API SERVER", Cell: func(m string) string { return view(m).API }},
		{Head: speakerHead, Cell: func(m string) string {
			sp := s.Speakers[m]
			state := "DOWN"
			if sp.Running {
				state = "up"
			}
			if sp.Summary != "" {
				state += " " + sp.Summary
			}
			return state
		}},
		{Head: "ANNOUNCES", Cell: func(m string) string { return strings.Join(s.Speakers[m].Announces, "; ") }},
	}
	if s.Traffic != nil {
		cols = append(cols, statusview.Column{Head: fmt.Sprintf("/hello LAST %s", s.Traffic.LastWindow), Cell: func(m string) string {
			last := s.Traffic.Last
			if last.OK == 0 {
				return "0"
			}
			return fmt.Sprintf("%d (%d%%)", last.ByCluster[m], 100*last.ByCluster[m]/last.OK)
		}})
	}
	return cols
}

func star(b bool) string {
	if b {
		return "*"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// waitFor polls a snapshot every 100 ms until check passes, failing after timeout with
// check's last error, or at once if the operator exits.
func (l *Lab) waitFor(ctx context.Context, what string, timeout time.Duration, check func(*Snapshot) error) error {
	_, err := l.measure(ctx, what, timeout, check)
	return err
}

// measure is waitFor returning how long it took.
func (l *Lab) measure(ctx context.Context, what string, timeout time.Duration, check func(*Snapshot) error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		s := l.snap(ctx, false)
		err := s.Err
		if err == nil {
			err = check(s)
		}
		if err == nil {
			return time.Since(start), nil
		}
		if !l.OperatorRunning() {
			return 0, fmt.Errorf("%s: the operator exited (%v)%s", what, l.opErr, l.operatorLogTail())
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: not true after %s: %w\n\n%s%s", what, timeout, err, l.Snapshot(ctx).Render(), l.metallbControllerTails())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
