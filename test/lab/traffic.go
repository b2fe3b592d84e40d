package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
	"github.com/anycast-operator/anycast-operator/test/traffic"
)

// Real traffic (the real stack only): two generators (test/traffic) in the client
// router's namespace send HTTP requests to the VIP for the whole walk-through, each on a
// new connection, so the core's layer-4 ECMP hash splits them between the clusters:
// /hello (served on both clusters) and /api (whose backend runs on east only: west's
// Traefik reaches it through the Skupper router stand-in). The kernel routes for the VIP
// of the core and of both TORs are followed with `ip monitor route`
// (labfabric.RouteMonitor), so a failed request can be matched with the instant the core
// moved its path, and with the fabric's convergence just before it: when a node stops
// announcing, its TOR changes its route first (to the path it learnt from the core), and
// until the core follows, the core still sends that TOR its share of new connections,
// which loop between the two until the core's change (a micro-loop).
const (
	// TrafficHost is the Host of every request: the sample listener's hostname is
	// *.apps.example.com.
	TrafficHost = "hello.apps.example.com"
	helloRate   = 40.0 // requests per second
	apiRate     = 10.0
	// trafficBound stops the generators by themselves, whatever happens to the lab.
	trafficBound = time.Hour
	// inFlightSlack is how long after a failed request ended a core route change may have
	// been read and still count as happening while the request was in flight: the change
	// is stamped when `ip monitor` delivers it, a little after the kernel made it.
	inFlightSlack = 50 * time.Millisecond
	// afterChange is how long after a core route change new requests may still follow the
	// old path (a connection opened just before): the checks look at requests started
	// later than that.
	afterChange = 100 * time.Millisecond
)

// labTraffic is the running traffic and the routers' route monitors.
type labTraffic struct {
	hello, api *traffic.Generator
	// https sends /hello over HTTPS, checking the certificate (certs) in every handshake.
	https *traffic.Generator
	certs *labCerts
	core  *labfabric.RouteMonitor
	tors  []*labfabric.RouteMonitor
	// nodes follow west's and east's route back to the clients (labfabric.ClientNet): a
	// node without it cannot answer; coreBack the core's route to them; client the
	// client's route to the VIP (diagnostics of a failure at no reroute).
	nodes            []*labfabric.RouteMonitor
	coreBack, client *labfabric.RouteMonitor
	// neigh record the neighbour events of the core, both TORs, the client and both
	// nodes (by name): a next hop the kernel cannot resolve blackholes new connections
	// while every route stays as it was (diagnostics of a failure at no reroute).
	neigh    map[string]*labfabric.NeighMonitor
	started  time.Time
	target   netip.AddrPort
	clientNS string
	coreNS   string
	path     *skupperRouterPath
	// entries reads east's backend's counts of /api requests by entry cluster.
	entries func() apiEntries
}

// startTraffic starts the generators in the client's namespace and the core's route
// monitor.
func (l *Lab) startTraffic(f *frrFabric) error {
	mon, err := labfabric.MonitorRoute(f.f.Core.NS, l.vip)
	if err != nil {
		return err
	}
	t := &labTraffic{core: mon, target: netip.AddrPortFrom(l.vip.Addr(), 80), clientNS: f.f.Client.NS, coreNS: f.f.Core.NS, path: l.real.path,
		entries: l.apiEntries, certs: l.certs}
	for _, r := range []*labfabric.Router{f.f.TORWest, f.f.TOREast} {
		m, err := labfabric.MonitorRoute(r.NS, l.vip)
		if err != nil {
			t.closeMonitors()
			return err
		}
		t.tors = append(t.tors, m)
	}
	for _, name := range []string{"west", "east"} {
		m, err := labfabric.MonitorRoute(l.real.members[name].node.NetNS, labfabric.ClientNet)
		if err != nil {
			t.closeMonitors()
			return err
		}
		t.nodes = append(t.nodes, m)
	}
	if t.coreBack, err = labfabric.MonitorRoute(f.f.Core.NS, labfabric.ClientNet); err != nil {
		t.closeMonitors()
		return err
	}
	if t.client, err = labfabric.MonitorRoute(f.f.Client.NS, l.vip); err != nil {
		t.closeMonitors()
		return err
	}
	t.neigh = map[string]*labfabric.NeighMonitor{}
	for name, ns := range map[string]string{"core": f.f.Core.NS, "TOR west": f.f.TORWest.NS, "TOR east": f.f.TOREast.NS, "client": f.f.Client.NS,
		"west node": l.real.members["west"].node.NetNS, "east node": l.real.members["east"].node.NetNS} {
		m, err := labfabric.MonitorNeigh(ns)
		if err != nil {
			t.closeMonitors()
			return err
		}
		t.neigh[name] = m
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := realstack.InNetNS(t.clientNS, func() (err error) {
			c, err = l.clientDialer().DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	cfg := func(path string, rate float64) traffic.Config {
		return traffic.Config{
			Target: t.target, Host: TrafficHost, Path: path, Allowed: []netip.Prefix{l.vip},
			Rate: rate, MaxRequests: int(rate * trafficBound.Seconds()), MaxDuration: trafficBound,
			Timeout: 2 * time.Second, Dial: dial,
		}
	}
	t.started = time.Now()
	if t.hello, err = traffic.Start(cfg("/hello", helloRate)); err != nil {
		t.closeMonitors()
		return err
	}
	if t.api, err = traffic.Start(cfg("/api", apiRate)); err != nil {
		t.hello.Stop()
		t.closeMonitors()
		return err
	}
	secure := cfg("/hello", httpsRate)
	secure.Target = netip.AddrPortFrom(l.vip.Addr(), TraefikEntryPointSecure)
	secure.TLS = &traffic.TLSCheck{ServerName: TrafficHost, Accept: l.certs.accept}
	if t.https, err = traffic.Start(secure); err != nil {
		t.hello.Stop()
		t.api.Stop()
		t.closeMonitors()
		return err
	}
	l.traffic = t
	return nil
}

// stop ends the generators (requests in flight are cut, not counted) and the monitors.
func (t *labTraffic) stop() {
	t.hello.Stop()
	t.api.Stop()
	t.https.Stop()
	t.closeMonitors()
}

func (t *labTraffic) closeMonitors() {
	t.core.Close()
	for _, m := range append(t.tors, t.nodes...) {
		m.Close()
	}
	for _, m := range []*labfabric.RouteMonitor{t.coreBack, t.client} {
		if m != nil {
			m.Close()
		}
	}
	for _, m := range t.neigh {
		m.Close()
	}
}

// changesIn lists the core's route changes in [from, to) (to zero: up to now).
func (t *labTraffic) changesIn(from, to time.Time) []labfabric.RouteChange {
	var out []labfabric.RouteChange
	for _, c := range t.core.Changes() {
		if !c.At.Before(from) && (to.IsZero() || c.At.Before(to)) {
			out = append(out, c)
		}
	}
	return out
}

// Reroute is one move of the core's path: the core's route change (At, its next hops
// From and To; one or several kernel events within rerouteGroup, as IPv6 multipath routes
// are replaced by a deletion and an addition), and the fabric's convergence around it:
// from the first TOR route change at most maxConvergence before (Start; At itself when no
// TOR changed first) to the last TOR route change at most maxConvergence after (End; At
// itself when none followed). Both orders happen: on a withdrawal the TOR drops the
// speaker's route before the core moves; on a return the core may install the new
// multipath route before the TOR's kernel has the speaker's route again, and a flow the
// core hashes to that TOR meanwhile is sent back towards the core (seen as "no route to
// host" 49 ms after the core's change in the real-stack lab).
type Reroute struct {
	Start, End time.Time
	labfabric.RouteChange
}

const (
	// rerouteGroup joins the core's kernel events that make one move (zebra replaces an
	// IPv6 multipath route by a deletion and an addition a millisecond apart).
	rerouteGroup = 250 * time.Millisecond
	// maxConvergence bounds how long before the core's change a TOR's change counts as
	// the start of the same reroute (measured: 40 to 140 ms under load). A TOR also
	// changes its route right after the core's (it learns the core's new best path),
	// which belongs to no later reroute.
	maxConvergence = 2 * time.Second
)

// reroutes lists the core's moves with their convergence windows.
func (t *labTraffic) reroutes() []Reroute {
	var tor []time.Time
	for _, m := range t.tors {
		for _, c := range m.Changes() {
			tor = append(tor, c.At)
		}
	}
	return reroutesOf(t.core.Changes(), tor)
}

// reroutesOf groups the core's route changes into reroutes and gives each the TORs' route
// changes (tor, any order) around it as its convergence window.
func reroutesOf(core []labfabric.RouteChange, tor []time.Time) []Reroute {
	var out []Reroute
	for _, c := range core {
		if n := len(out); n > 0 && c.At.Sub(out[n-1].At) <= rerouteGroup {
			out[n-1].At, out[n-1].To = c.At, c.To
			continue
		}
		r := Reroute{Start: c.At, End: c.At, RouteChange: c}
		for _, at := range tor {
			if at.Before(r.Start) && c.At.Sub(at) <= maxConvergence && (len(out) == 0 || at.After(out[len(out)-1].End)) {
				r.Start = at
			}
		}
		out = append(out, r)
	}
	// A TOR's change after a core's change ends that reroute, unless the next one began.
	for i := range out {
		for _, at := range tor {
			if at.After(out[i].End) && at.Sub(out[i].At) <= maxConvergence && (i+1 == len(out) || at.Before(out[i+1].Start)) {
				out[i].End = at
			}
		}
	}
	return out
}

// Failure is one failed request, and the reroute it was in flight at (zero when none: a
// failure the walk-through does not allow).
type Failure struct {
	Path string
	traffic.Result
	// Reroute is the core's move the request was in flight at: it started before the
	// reroute ended and ended after it began.
	Reroute Reroute
	// Via is where the core's multipath hash sends the request's flow (its source port)
	// now, for a failure at no reroute ("ip route get" at the core).
	Via string
}

// where says the last stage the failed request reached and where the core sends its
// flow now; a request that never had a connection has no flow to ask the core about.
func (f Failure) where() string {
	reached := "reached " + f.Reached
	if f.Reached == "" {
		reached = "no stage recorded"
	}
	switch {
	case f.Via != "":
		return reached + "; the core sends this flow via " + f.Via + " now"
	case f.Local.IsValid():
		return reached + "; the core's next hop for this flow is unknown"
	default:
		return reached + "; no connection was made, so no flow to look up at the core"
	}
}

// Allowed says whether the failure was in flight at a reroute.
func (f Failure) Allowed() bool { return !f.Reroute.At.IsZero() }

// failures lists the failed requests started in [from, to), each with the reroute it was
// in flight at, if any: started before the reroute's last route change and ended
// (allowing inFlightSlack for the monitors' delivery) after its first.
func (t *labTraffic) failures(from, to time.Time) []Failure {
	reroutes := t.reroutes()
	var out []Failure
	for _, g := range []struct {
		path string
		gen  *traffic.Generator
	}{{"/hello", t.hello}, {"/api", t.api}, {"https /hello", t.https}} {
		for _, r := range g.gen.Results() {
			if r.OK() || r.Cut() || r.Start.Before(from) || (!to.IsZero() && !r.Start.Before(to)) {
				continue
			}
			f := Failure{Path: g.path, Result: r}
			f.Reroute, _ = inFlightAt(r.Start, r.End, reroutes)
			if !f.Allowed() {
				f.Via = t.flowVia(r.Local)
			}
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Failure) int { return a.Start.Compare(b.Start) })
	return out
}

// inFlightAt finds the reroute a request from start to end was in flight at: begun
// before the reroute's last route change, ended (allowing inFlightSlack for the monitors'
// delivery) after its first.
func inFlightAt(start, end time.Time, reroutes []Reroute) (Reroute, bool) {
	end = end.Add(inFlightSlack)
	for _, rr := range reroutes {
		if !start.After(rr.End) && !end.Before(rr.Start) {
			return rr, true
		}
	}
	return Reroute{}, false
}

// flowVia asks the core which next hop its multipath hash picks for a flow from the
// client's local address and port to the VIP's port 80.
func (t *labTraffic) flowVia(local netip.AddrPort) string {
	if !local.IsValid() {
		return ""
	}
	out, err := exec.Command("ip", "-n", t.coreNS, "route", "get", t.target.Addr().String(), "from", local.Addr().String(),
		"ipproto", "tcp", "sport", strconv.Itoa(int(local.Port())), "dport", strconv.Itoa(int(t.target.Port()))).Output()
	if err != nil {
		return ""
	}
	if via := after(string(out), "via"); via != "" {
		return via
	}
	return strings.TrimSpace(string(out))
}

// baseAfter is when requests surely follow the core's current path: afterChange after
// its last route change since since, or since itself when it has not changed.
func (t *labTraffic) baseAfter(since time.Time) time.Time {
	base := since
	if cs := t.changesIn(since, time.Time{}); len(cs) > 0 {
		base = cs[len(cs)-1].At.Add(afterChange)
	}
	return base
}

// answered checks that the /hello requests started once the core's path settled (see
// baseAfter) are answered by exactly the given clusters: each of them answered at least
// min, no other cluster any, over at least span.
func (t *labTraffic) answered(since time.Time, min int, span time.Duration, clusters ...string) error {
	base := t.baseAfter(since)
	if time.Since(base) < span {
		return fmt.Errorf("%s of traffic since the core's path settled, want %s", time.Since(base).Round(10*time.Millisecond), span)
	}
	st := t.hello.Window(base, time.Time{})
	for c, n := range st.ByCluster {
		if !contains(clusters, c) {
			return fmt.Errorf("%s answered %d requests sent after the core's path settled (%s), want only %v", c, n, st, clusters)
		}
	}
	for _, c := range clusters {
		if st.ByCluster[c] < min {
			return fmt.Errorf("%s answered %d requests since the core's path settled, want at least %d (%s)", c, st.ByCluster[c], min, st)
		}
	}
	return nil
}

// apiThroughBoth checks that /api (backend on east only) was answered since since,
// entering through both clusters: east's backend answered requests that came from west's
// node (west's Traefik, through the Skupper router stand-in) and from east's own Traefik.
func (t *labTraffic) apiThroughBoth(since time.Time, before apiEntries) error {
	st := t.api.Window(since, time.Time{})
	now := t.entries()
	viaWest, viaEast := now.west-before.west, now.east-before.east
	if st.ByCluster["east"] < 4 || viaWest < 2 || viaEast < 2 {
		return fmt.Errorf("/api: %s, %d entered through west (relayed over Skupper), %d through east; want at least 2 each", st, viaWest, viaEast)
	}
	return nil
}

// apiEntries counts the /api requests east's backend answered by the cluster they
// entered through.
type apiEntries struct{ west, east int64 }

// StepTraffic is what the traffic did during one walk-through step.
type StepTraffic struct {
	From, To   time.Time
	Hello, API traffic.Stats
	// HTTPS is /hello over HTTPS, each answer checked to carry the hub's certificate.
	HTTPS traffic.Stats
	// Settled is /hello from once the core's last move settled (afterChange after it; the
	// whole step when it did not move) until the step's end: the split the step ends with.
	Settled traffic.Stats
	// APIViaWest counts the /api requests east's backend answered that entered through
	// west (relayed by west's Skupper router stand-in).
	APIViaWest int64
	// Reroutes are the core's moves of its path for the VIP.
	Reroutes []Reroute
	// Failures are the failed requests, each with the route change it was in flight at.
	Failures []Failure
	// Reroute is how long after the action the core first changed its route (zero when it
	// did not).
	Reroute time.Duration
}

// Outside lists the failures that were not in flight at a reroute.
func (s StepTraffic) Outside() []Failure {
	var out []Failure
	for _, f := range s.Failures {
		if !f.Allowed() {
			out = append(out, f)
		}
	}
	return out
}

// String is the step's line of the report.
func (s StepTraffic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "traffic over %s: /hello %s (once the path settled: %s); /api %s (%d entered through west, relayed to east over the Skupper stand-in); HTTPS /hello %s, every answer with the hub's certificate",
		s.To.Sub(s.From).Round(100*time.Millisecond), s.Hello, s.Settled.Share(), s.API, s.APIViaWest, s.HTTPS)
	for _, r := range s.Reroutes {
		fmt.Fprintf(&b, "; the core moved its path %s -> %s at %s", hops(r.From), hops(r.To), r.At.Format("15:04:05.000"))
		if d := r.At.Sub(r.Start).Round(time.Millisecond); d > 0 {
			fmt.Fprintf(&b, " (%s after a TOR's change)", d)
		}
	}
	if s.Reroute > 0 {
		fmt.Fprintf(&b, "; rerouted %s after the action", s.Reroute.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "; failed %d, %d of them at no reroute", len(s.Failures), len(s.Outside()))
	// Each failure on a line, but not hundreds of them: an outage's first and last tell
	// when it was (the walk's error sums them up).
	const keep = 6
	for i, f := range s.Failures {
		if n := len(s.Failures); n > 2*keep && i >= keep && i < n-keep {
			if i == keep {
				fmt.Fprintf(&b, "\n      ... %d more failures ...", n-2*keep)
			}
			continue
		}
		fmt.Fprintf(&b, "\n      failed %s %s..%s: %s", f.Path, f.Start.Format("15:04:05.000"), f.End.Format("15:04:05.000"), oneLine(f.Err, 80))
		if f.Allowed() {
			fmt.Fprintf(&b, " (in flight while the path moved: %s)", f.Reroute.moves())
			continue
		}
		b.WriteString(" (NOT at a reroute: " + f.where() + ")")
	}
	return b.String()
}

// moves says in which order the reroute's route changes came.
func (r Reroute) moves() string {
	ts := func(t time.Time) string { return t.Format("15:04:05.000") }
	switch {
	case r.Start.Before(r.At) && r.End.After(r.At):
		return fmt.Sprintf("a TOR's change at %s, the core's at %s, a TOR's at %s", ts(r.Start), ts(r.At), ts(r.End))
	case r.Start.Before(r.At):
		return fmt.Sprintf("a TOR's change at %s, the core's at %s", ts(r.Start), ts(r.At))
	case r.End.After(r.At):
		return fmt.Sprintf("the core's change at %s, a TOR's at %s", ts(r.At), ts(r.End))
	}
	return "the core's change at " + ts(r.At)
}

func hops(h []string) string {
	if len(h) == 0 {
		return "none"
	}
	return strings.Join(h, ",")
}

// stepTraffic summarises [from, to).
func (t *labTraffic) stepTraffic(from, to, action time.Time, before apiEntries) *StepTraffic {
	s := &StepTraffic{From: from, To: to, Hello: t.hello.Window(from, to), API: t.api.Window(from, to), HTTPS: t.https.Window(from, to),
		APIViaWest: t.entries().west - before.west, Failures: t.failures(from, to)}
	for _, r := range t.reroutes() {
		if !r.At.Before(from) && r.At.Before(to) {
			s.Reroutes = append(s.Reroutes, r)
		}
	}
	for _, r := range s.Reroutes {
		if !r.At.Before(action) {
			s.Reroute = r.At.Sub(action)
			break
		}
	}
	t.settled(s)
	return s
}

// refresh counts a step's requests again, those that were in flight at its end included.
func (t *labTraffic) refresh(s *StepTraffic) {
	s.Hello, s.API, s.HTTPS, s.Failures = t.hello.Window(s.From, s.To), t.api.Window(s.From, s.To), t.https.Window(s.From, s.To), t.failures(s.From, s.To)
	t.settled(s)
}

func (t *labTraffic) settled(s *StepTraffic) {
	from := s.From
	if n := len(s.Reroutes); n > 0 {
		from = s.Reroutes[n-1].At.Add(afterChange)
	}
	s.Settled = t.hello.Window(from, s.To)
}

// apiEntries reads east's backend's counts.
func (l *Lab) apiEntries() apiEntries {
	m := l.real.members["east"]
	if m == nil {
		return apiEntries{}
	}
	return apiEntries{west: m.answered("backend", "west"), east: m.answered("backend", "east")}
}

// TrafficView is the live split the table shows.
type TrafficView struct {
	Target         netip.AddrPort
	ClientNS       string
	Last, Total    traffic.Stats // /hello, the last 5 s and since the start
	APILast        traffic.Stats
	HTTPSLast      traffic.Stats
	Certificate    string // the hub's certificate, as the report names it
	Relays         []RelayView
	APIEntries     apiEntries
	Core           []string
	Running        bool
	LastWindow     time.Duration
	AllFailures    int
	OutsideChanges int
}

func (t *labTraffic) view() *TrafficView {
	const window = 5 * time.Second
	now := time.Now()
	v := &TrafficView{Target: t.target, ClientNS: t.clientNS, LastWindow: window,
		Last: t.hello.Window(now.Add(-window), time.Time{}), Total: t.hello.Window(t.started, time.Time{}),
		APILast: t.api.Window(now.Add(-window), time.Time{}), HTTPSLast: t.https.Window(now.Add(-window), time.Time{}),
		Certificate: t.certs.name(t.certs.current().Fingerprint), Relays: t.path.views(), Core: t.core.Current(), APIEntries: t.entries()}
	select {
	case <-t.hello.Done():
	default:
		v.Running = true
	}
	for _, f := range t.failures(t.started, time.Time{}) {
		v.AllFailures++
		if !f.Allowed() {
			v.OutsideChanges++
		}
	}
	return v
}

// render draws the traffic lines of the table.
func (v *TrafficView) render(b *strings.Builder) {
	state := "running"
	if !v.Running {
		state = "STOPPED (its bound reached)"
	}
	fmt.Fprintf(b, "TRAFFIC  client namespace %s -> http://%s (Host %s), a new connection per request, %s\n", v.ClientNS, v.Target, TrafficHost, state)
	fmt.Fprintf(b, "  /hello last %s: %s\n", v.LastWindow, v.Last)
	fmt.Fprintf(b, "  /hello since start: %s\n", v.Total)
	fmt.Fprintf(b, "  /api   last %s: %s; east's backend answered %d requests entering through west, %d through east\n",
		v.LastWindow, v.APILast, v.APIEntries.west, v.APIEntries.east)
	fmt.Fprintf(b, "  HTTPS /hello last %s: %s; the hub's certificate %s, checked in every handshake\n", v.LastWindow, v.HTTPSLast, v.Certificate)
	for _, r := range v.Relays {
		fmt.Fprintf(b, "  Skupper router data path stand-in on %s (Listener %s): %d connections relayed to %s (Traefik keeps them alive)\n",
			r.Cluster, r.Listener, r.Relayed, orDash(r.Target))
	}
	fmt.Fprintf(b, "  core's kernel route: %s; failed requests so far: %d, %d of them at no reroute\n", hops(v.Core), v.AllFailures, v.OutsideChanges)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ClientRedirects is what the client router made of ICMP redirects during the run:
// how many it received (IPv4 and IPv6), and the neighbour entries it created for a router
// that is not on its link, which is what taking a redirect does (an entry in state STALE
// carrying the link-layer address of the redirect's target: a TOR's, behind the core).
// The core sends redirects while a TOR routes the VIP back to it during a withdrawal; the
// client, a router, must ignore them.
func (l *Lab) ClientRedirects() (received int64, taken []string, err error) {
	if l.traffic == nil {
		return 0, nil, nil
	}
	t := l.traffic
	for _, f := range []struct{ file, key string }{{"/proc/net/snmp6", "Icmp6InRedirects"}, {"/proc/net/snmp", "Icmp:"}} {
		out, err := exec.Command("ip", "netns", "exec", t.clientNS, "cat", f.file).Output()
		if err != nil {
			return 0, nil, fmt.Errorf("reading %s in %s: %w", f.file, t.clientNS, err)
		}
		received += redirectsIn(string(out), f.key)
	}
	out, err := exec.Command("ip", "-n", t.coreNS, "-o", "link", "show", "to-client").Output()
	if err != nil {
		return received, nil, fmt.Errorf("the core's link to the client: %w", err)
	}
	coreMAC := after(string(out), "link/ether")
	events, _ := t.neigh["client"].Events()
	for _, e := range events {
		mac := after(e.Line, "lladdr")
		if mac == "" || strings.Contains(e.Line, "NOARP") {
			continue
		}
		if mac != coreMAC && !strings.HasPrefix(mac, "33:33:") && !strings.HasPrefix(mac, "01:00:5e:") {
			taken = append(taken, e.At.Format("15:04:05.000")+" "+e.Line)
		}
	}
	return received, taken, nil
}

// after is the word that follows key in an `ip` line ("" when there is none).
func after(line, key string) string {
	f := strings.Fields(line)
	if i := slices.Index(f, key); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// redirectsIn reads the count of redirects received from /proc/net/snmp6 ("Icmp6InRedirects
// N") or /proc/net/snmp (an "Icmp:" line of names, then one of values).
func redirectsIn(text, key string) int64 {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != key {
			continue
		}
		if key != "Icmp:" {
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			return n
		}
		if i+1 < len(lines) {
			if j := slices.Index(f, "InRedirects"); j > 0 {
				if v := strings.Fields(lines[i+1]); j < len(v) {
					n, _ := strconv.ParseInt(v[j], 10, 64)
					return n
				}
			}
		}
		return 0
	}
	return 0
}
