// Package speaker is the lab's stand-in for a MetalLB speaker: it reads one cluster's
// MetalLB objects (IPAddressPool, BGPAdvertisement, BGPPeer, Community) and makes a BGP
// speaker announce what they describe, the way MetalLB's speaker would. It exists because
// the lab and the BGP tests run API servers without nodes or pods: nothing else would turn
// the objects the operator writes into BGP announcements.
//
// It is not a MetalLB replacement. What it models:
//
//   - an address is announced when a BGPAdvertisement selects its IPAddressPool (by name in
//     spec.ipAddressPools or by spec.ipAddressPoolSelectors) and targets at least one
//     BGPPeer (spec.peers; empty means every BGPPeer) that is one of the announcer's
//     sessions: same peer address, peer ASN, port (default 179) and local ASN
//     (spec.localASN, else spec.myASN). A BGPPeer naming any other router is reported as a
//     problem, as a real speaker would fail to open that session;
//   - with AnnounceServices, only addresses a LoadBalancer Service holds
//     (status.loadBalancer.ingress) are announced, as MetalLB does; without it (the
//     default, for clusters where nothing assigns Service addresses) every address of a
//     selected pool is, up to MaxAddresses;
//   - each address is announced as a host route, or aggregated to the advertisement's
//     aggregationLength / aggregationLengthV6;
//   - communities (standard "65535:100", large "large:1:2:3", or the name of an alias in a
//     Community object of the namespace), localPref and asPathPrepend are attached; several
//     advertisements of one prefix merge (communities united, the highest localPref and
//     prepend win).
//
// What it ignores: node selectors and service selectors (there are no nodes), BFD,
// passwords, timers, VRFs, the L2 mode, the MetalLB mode's validation (frr, frr-k8s and
// native reject different fields; this accepts all of them), and per-peer targeting when an
// announcer has several sessions (a route goes out on all of them).
package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	mlbv1beta2 "go.universe.tf/metallb/api/v1beta2"
)

// Session is one BGP session an announcer can hold.
type Session struct {
	// LocalASN is the AS the speaker uses on the session.
	LocalASN uint32
	// PeerAddress, PeerASN and PeerPort (0 means 179) identify the router.
	PeerAddress netip.Addr
	PeerASN     uint32
	PeerPort    uint16
}

func (s Session) String() string {
	port := s.PeerPort
	if port == 0 {
		port = 179
	}
	return fmt.Sprintf("AS%d -> %s AS%d", s.LocalASN, netip.AddrPortFrom(s.PeerAddress, port), s.PeerASN)
}

// Route is one prefix a speaker originates and what it carries.
type Route struct {
	Prefix netip.Prefix
	// Communities are standard ("65535:100") or large ("large:1:2:3"), sorted.
	Communities []string
	// LocalPref is sent on iBGP sessions only (BGP does not carry it over eBGP); 0 unset.
	LocalPref uint32
	// Prepend is how many extra times the speaker's ASN leads the AS path.
	Prepend int
}

func (r Route) String() string {
	var b strings.Builder
	b.WriteString(r.Prefix.String())
	if len(r.Communities) > 0 {
		fmt.Fprintf(&b, " communities %s", strings.Join(r.Communities, ","))
	}
	if r.LocalPref > 0 {
		fmt.Fprintf(&b, " localPref %d", r.LocalPref)
	}
	if r.Prepend > 0 {
		fmt.Fprintf(&b, " prepend %d", r.Prepend)
	}
	return b.String()
}

// Announcer is one cluster's BGP speaker. The lab's fabrics implement it: a gobgpd in a
// network namespace (test/lab/fabric.Speaker) or an in-process GoBGP server
// (test/lab/gobgpnet).
type Announcer interface {
	// Sessions lists the sessions the speaker is wired for.
	Sessions() []Session
	// Advertise makes the speaker originate exactly routes, withdrawing what it
	// originated before and is not listed. A speaker whose BGP daemon is down remembers
	// the set and announces it when it comes back.
	Advertise(ctx context.Context, routes []Route) error
}

// State is what the stand-in last did.
type State struct {
	// Routes are the routes handed to the announcer, sorted by prefix.
	Routes []Route
	// Problems are what the stand-in could not announce, and why (as a MetalLB speaker's
	// log would say).
	Problems []string
	// Err is the last error reading the objects or advertising, if the last pass failed.
	Err error
	// At is when the last pass ended.
	At time.Time
}

// Speaker reads Namespace's MetalLB objects through Client and drives Announcer.
type Speaker struct {
	Client    client.Client
	Namespace string
	Announcer Announcer
	// AnnounceServices announces only addresses held by LoadBalancer Services (as MetalLB
	// does), instead of every address of the advertised pools.
	AnnounceServices bool
	// MaxAddresses bounds how many addresses one pool may expand to (default 1024).
	MaxAddresses int
	// Resync is the period of a full pass besides the ones watch events trigger
	// (default 5s); with a client that cannot watch, passes run every PollInterval
	// (default 250ms).
	Resync, PollInterval time.Duration
	// OnChange, if set, is called after every pass that changed State's routes or problems.
	OnChange func(State)

	mu    sync.Mutex
	state State
}

// Run is a Speaker with the defaults, until ctx ends.
func Run(ctx context.Context, c client.Client, namespace string, a Announcer) error {
	return (&Speaker{Client: c, Namespace: namespace, Announcer: a}).Run(ctx)
}

// State returns what the stand-in last did.
func (s *Speaker) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Run passes over the objects whenever they change (or periodically) until ctx ends.
func (s *Speaker) Run(ctx context.Context) error {
	if s.Resync == 0 {
		s.Resync = 5 * time.Second
	}
	if s.PollInterval == 0 {
		s.PollInterval = 250 * time.Millisecond
	}
	trigger := make(chan struct{}, 1)
	kick := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	period := s.PollInterval
	if w, ok := s.Client.(client.WithWatch); ok {
		period = s.Resync
		lists := []client.ObjectList{
			&mlbv1beta1.IPAddressPoolList{}, &mlbv1beta1.BGPAdvertisementList{},
			&mlbv1beta2.BGPPeerList{}, &mlbv1beta1.CommunityList{},
		}
		for _, l := range lists {
			go watch(ctx, w, l, kick, client.InNamespace(s.Namespace))
		}
		if s.AnnounceServices {
			go watch(ctx, w, &corev1.ServiceList{}, kick)
		}
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	kick()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-trigger:
		case <-ticker.C:
		}
		s.Pass(ctx)
	}
}

// watch triggers a pass at every event of list's kind, re-establishing the watch when it
// ends; every (re-)establishment triggers a pass too, so nothing between two watches is
// missed.
func watch(ctx context.Context, w client.WithWatch, list client.ObjectList, kick func(), opts ...client.ListOption) {
	for ctx.Err() == nil {
		wi, err := w.Watch(ctx, list, opts...)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		kick()
		for range wi.ResultChan() {
			kick()
		}
		wi.Stop()
	}
}

// Pass reads the objects once and hands the routes they describe to the announcer.
func (s *Speaker) Pass(ctx context.Context) State {
	routes, problems, err := s.Desired(ctx)
	if err == nil {
		err = s.Announcer.Advertise(ctx, routes)
	}
	st := State{Routes: routes, Problems: problems, Err: err, At: time.Now()}
	s.mu.Lock()
	prev := s.state
	if err != nil {
		// Keep the last good view of the routes; say what failed.
		st.Routes, st.Problems = prev.Routes, prev.Problems
	}
	s.state = st
	s.mu.Unlock()
	changed := !slices.EqualFunc(prev.Routes, st.Routes, routeEqual) || !slices.Equal(prev.Problems, st.Problems) ||
		(prev.Err == nil) != (st.Err == nil)
	if changed && s.OnChange != nil {
		s.OnChange(st)
	}
	return st
}

func routeEqual(a, b Route) bool {
	return a.Prefix == b.Prefix && a.LocalPref == b.LocalPref && a.Prepend == b.Prepend && slices.Equal(a.Communities, b.Communities)
}

// Desired computes the routes the objects describe, without announcing them.
func (s *Speaker) Desired(ctx context.Context) ([]Route, []string, error) {
	var pools mlbv1beta1.IPAddressPoolList
	var advs mlbv1beta1.BGPAdvertisementList
	var peers mlbv1beta2.BGPPeerList
	var comms mlbv1beta1.CommunityList
	for _, l := range []client.ObjectList{&pools, &advs, &peers, &comms} {
		if err := s.Client.List(ctx, l, client.InNamespace(s.Namespace)); err != nil {
			return nil, nil, fmt.Errorf("listing %T in %s: %w", l, s.Namespace, err)
		}
	}
	var held map[netip.Addr]bool
	if s.AnnounceServices {
		var svcs corev1.ServiceList
		if err := s.Client.List(ctx, &svcs); err != nil {
			return nil, nil, fmt.Errorf("listing Services: %w", err)
		}
		held = map[netip.Addr]bool{}
		for _, svc := range svcs.Items {
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			for _, in := range svc.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(in.IP); err == nil {
					held[a.Unmap()] = true
				}
			}
		}
	}
	aliases := map[string]string{}
	for _, c := range comms.Items {
		for _, a := range c.Spec.Communities {
			aliases[a.Name] = a.Value
		}
	}
	sessions := s.Announcer.Sessions()
	peerByName := map[string]*mlbv1beta2.BGPPeer{}
	for i := range peers.Items {
		peerByName[peers.Items[i].Name] = &peers.Items[i]
	}
	poolByName := map[string]*mlbv1beta1.IPAddressPool{}
	for i := range pools.Items {
		poolByName[pools.Items[i].Name] = &pools.Items[i]
	}
	max := s.MaxAddresses
	if max == 0 {
		max = 1024
	}

	var problems []string
	merged := map[netip.Prefix]*Route{}
	for _, adv := range advs.Items {
		if adv.DeletionTimestamp != nil {
			continue
		}
		name := adv.Name
		// Which peers: named ones (empty = all), of which those this speaker has a session with.
		var targets []*mlbv1beta2.BGPPeer
		if len(adv.Spec.Peers) == 0 {
			for i := range peers.Items {
				targets = append(targets, &peers.Items[i])
			}
		} else {
			for _, pn := range adv.Spec.Peers {
				p, ok := peerByName[pn]
				if !ok {
					problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: BGPPeer %s does not exist", name, pn))
					continue
				}
				targets = append(targets, p)
			}
		}
		reachable := 0
		for _, p := range targets {
			if ok, why := matches(p, sessions); ok {
				reachable++
			} else {
				problems = append(problems, fmt.Sprintf("BGPPeer %s: %s", p.Name, why))
			}
		}
		if reachable == 0 {
			if len(targets) == 0 {
				problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: no BGPPeer to announce to", name))
			}
			continue
		}
		// Which pools.
		selected := map[string]*mlbv1beta1.IPAddressPool{}
		for _, pn := range adv.Spec.IPAddressPools {
			if p, ok := poolByName[pn]; ok {
				selected[pn] = p
			} else {
				problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: IPAddressPool %s does not exist", name, pn))
			}
		}
		for _, sel := range adv.Spec.IPAddressPoolSelectors {
			ls, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: %v", name, err))
				continue
			}
			for i := range pools.Items {
				if ls.Matches(labels.Set(pools.Items[i].Labels)) {
					selected[pools.Items[i].Name] = &pools.Items[i]
				}
			}
		}
		if len(adv.Spec.IPAddressPools) == 0 && len(adv.Spec.IPAddressPoolSelectors) == 0 {
			for i := range pools.Items { // MetalLB: no pool given means every pool
				selected[pools.Items[i].Name] = &pools.Items[i]
			}
		}
		var communities []string
		for _, c := range adv.Spec.Communities {
			if v, ok := aliases[c]; ok {
				c = v
			}
			if err := validCommunity(c); err != nil {
				problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: community %q: %v", name, c, err))
				continue
			}
			communities = append(communities, c)
		}
		names := make([]string, 0, len(selected))
		for n := range selected {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, pn := range names {
			pool := selected[pn]
			if pool.DeletionTimestamp != nil {
				continue
			}
			addrs, err := expand(pool.Spec.Addresses, max)
			if err != nil {
				problems = append(problems, fmt.Sprintf("IPAddressPool %s: %v", pn, err))
				continue
			}
			for _, a := range addrs {
				if held != nil && !held[a] {
					continue
				}
				bits := a.BitLen()
				if a.Is4() && adv.Spec.AggregationLength != nil {
					bits = int(*adv.Spec.AggregationLength)
				}
				if a.Is6() && adv.Spec.AggregationLengthV6 != nil {
					bits = int(*adv.Spec.AggregationLengthV6)
				}
				p, err := a.Prefix(bits)
				if err != nil {
					problems = append(problems, fmt.Sprintf("BGPAdvertisement %s: aggregation length %d: %v", name, bits, err))
					continue
				}
				r := merged[p]
				if r == nil {
					r = &Route{Prefix: p}
					merged[p] = r
				}
				for _, c := range communities {
					if !slices.Contains(r.Communities, c) {
						r.Communities = append(r.Communities, c)
					}
				}
				r.LocalPref = max32(r.LocalPref, adv.Spec.LocalPref)
				if n := int(adv.Spec.AsPathPrepend); n > r.Prepend {
					r.Prepend = n
				}
			}
		}
	}
	routes := make([]Route, 0, len(merged))
	for _, r := range merged {
		sort.Strings(r.Communities)
		routes = append(routes, *r)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Prefix.Addr().Less(routes[j].Prefix.Addr()) })
	sort.Strings(problems)
	problems = slices.Compact(problems)
	return routes, problems, nil
}

// matches says whether p is one of the sessions, or why not.
func matches(p *mlbv1beta2.BGPPeer, sessions []Session) (bool, string) {
	addr, err := netip.ParseAddr(p.Spec.Address)
	if err != nil {
		return false, fmt.Sprintf("peerAddress %q is not an address", p.Spec.Address)
	}
	local := p.Spec.MyASN
	if p.Spec.LocalASN != 0 {
		local = p.Spec.LocalASN
	}
	port := p.Spec.Port
	if port == 0 {
		port = 179
	}
	want := Session{LocalASN: local, PeerAddress: addr.Unmap(), PeerASN: p.Spec.ASN, PeerPort: port}
	for _, s := range sessions {
		sp := s.PeerPort
		if sp == 0 {
			sp = 179
		}
		if s.PeerAddress == want.PeerAddress && s.PeerASN == want.PeerASN && sp == port && s.LocalASN == local {
			return true, ""
		}
	}
	have := make([]string, len(sessions))
	for i, s := range sessions {
		have[i] = s.String()
	}
	return false, fmt.Sprintf("%s is not a session this speaker can open (it has %s)", want, strings.Join(have, ", "))
}

func max32(a, b uint32) uint32 {
	if b > a {
		return b
	}
	return a
}

// validCommunity accepts "A:B" (16-bit each) and "large:A:B:C" (32-bit each).
func validCommunity(c string) error {
	parts := strings.Split(strings.TrimPrefix(c, "large:"), ":")
	want, bits := 2, 16
	if strings.HasPrefix(c, "large:") {
		want, bits = 3, 32
	}
	if len(parts) != want {
		return fmt.Errorf("want %d colon-separated numbers (or a Community alias)", want)
	}
	for _, p := range parts {
		var n uint64
		if _, err := fmt.Sscan(p, &n); err != nil || n >= 1<<bits {
			return fmt.Errorf("%q is not a %d-bit number", p, bits)
		}
	}
	return nil
}

// expand lists the addresses of a pool's CIDRs and "first-last" ranges.
func expand(entries []string, max int) ([]netip.Addr, error) {
	var out []netip.Addr
	add := func(a netip.Addr) error {
		if len(out) >= max {
			return fmt.Errorf("more than %d addresses: the stand-in announces each one", max)
		}
		out = append(out, a)
		return nil
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if first, last, ok := strings.Cut(e, "-"); ok {
			a, err1 := netip.ParseAddr(strings.TrimSpace(first))
			b, err2 := netip.ParseAddr(strings.TrimSpace(last))
			if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
				return nil, fmt.Errorf("bad range %q", e)
			}
			for x := a; ; x = x.Next() {
				if err := add(x); err != nil {
					return nil, err
				}
				if x == b {
					break
				}
			}
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("bad address range %q: %w", e, err)
		}
		p = p.Masked()
		for x := p.Addr(); p.Contains(x); x = x.Next() {
			if err := add(x); err != nil {
				return nil, err
			}
			if !x.Next().IsValid() {
				break
			}
		}
	}
	return out, nil
}
