package fabric

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// vtyshJSON runs a show command with `json` appended and decodes it.
func (r *Router) vtyshJSON(command string, v any) error {
	out, err := r.Vtysh(command + " json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("%s: decoding `%s json`: %w: %.300s", r.NS, command, err, out)
	}
	return nil
}

// NeighborState is FRR's view of one BGP neighbor (`show bgp neighbors json`).
type NeighborState struct {
	Addr  netip.Addr
	State string // FRR's bgpState: Idle, Connect, Active, OpenSent, OpenConfirm, Established
	// Received and Sent count prefixes per address family ("ipv4Unicast",
	// "ipv6Unicast"): accepted from and advertised to the neighbor.
	Received, Sent map[string]int
	LastReset      string // FRR's lastResetDueTo, why the session last went down
}

type frrNeighborJSON struct {
	BGPState          string `json:"bgpState"`
	LastResetDueTo    string `json:"lastResetDueTo"`
	AddressFamilyInfo map[string]struct {
		AcceptedPrefixCounter int `json:"acceptedPrefixCounter"`
		SentPrefixCounter     int `json:"sentPrefixCounter"`
	} `json:"addressFamilyInfo"`
}

// Neighbors returns every configured neighbor's state.
func (r *Router) Neighbors() (map[netip.Addr]NeighborState, error) {
	var raw map[string]json.RawMessage
	if err := r.vtyshJSON("show bgp neighbors", &raw); err != nil {
		return nil, err
	}
	out := map[netip.Addr]NeighborState{}
	for k, v := range raw {
		a, err := netip.ParseAddr(k)
		if err != nil {
			continue // not a neighbor entry
		}
		var n frrNeighborJSON
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("%s: neighbor %s: %w", r.NS, k, err)
		}
		st := NeighborState{Addr: a, State: n.BGPState, LastReset: n.LastResetDueTo,
			Received: map[string]int{}, Sent: map[string]int{}}
		for af, c := range n.AddressFamilyInfo {
			st.Received[af] = c.AcceptedPrefixCounter
			st.Sent[af] = c.SentPrefixCounter
		}
		out[a] = st
	}
	return out, nil
}

// Neighbor returns one neighbor's state.
func (r *Router) Neighbor(addr netip.Addr) (NeighborState, error) {
	all, err := r.Neighbors()
	if err != nil {
		return NeighborState{}, err
	}
	n, ok := all[addr]
	if !ok {
		return NeighborState{}, fmt.Errorf("%s has no neighbor %s", r.Name, addr)
	}
	return n, nil
}

// ReceivedFrom is the number of prefixes (all families) r accepted from addr.
func (r *Router) ReceivedFrom(addr netip.Addr) (int, error) {
	n, err := r.Neighbor(addr)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range n.Received {
		total += c
	}
	return total, nil
}

// WaitEstablished waits until every listed neighbor is Established. The
// error names the neighbors that are not, with FRR's own state and reset
// reason, and the router's `show bgp summary`.
func (r *Router) WaitEstablished(deadline time.Duration, peers ...netip.Addr) error {
	err := waitFor(deadline, func() error {
		all, err := r.Neighbors()
		if err != nil {
			return err
		}
		var bad []string
		for _, p := range peers {
			n, ok := all[p]
			switch {
			case !ok:
				bad = append(bad, p.String()+" (not configured)")
			case n.State != "Established":
				bad = append(bad, fmt.Sprintf("%s is %s (last reset: %s)", p, n.State, n.LastReset))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s: sessions not established: %s", r.Name, strings.Join(bad, "; "))
		}
		return nil
	})
	if err != nil {
		sum, _ := r.Vtysh("show bgp summary")
		return fmt.Errorf("%w\n%s `show bgp summary`:\n%s%s", err, r.Name, sum, r.LogTail())
	}
	return nil
}

// RouteEntry is zebra's view of one route (`show ip route <p> json`): what
// the router really installed, as the reference pattern checks with `ip route`.
type RouteEntry struct {
	Prefix    string `json:"prefix"`
	Protocol  string `json:"protocol"`
	Selected  bool   `json:"selected"`
	Installed bool   `json:"installed"`
	Nexthops  []struct {
		IP        string `json:"ip"`
		Interface string `json:"interfaceName"`
		Active    bool   `json:"active"`
		FIB       bool   `json:"fib"`
	} `json:"nexthops"`
}

// Routes returns zebra's entries for exactly p.
func (r *Router) Routes(p netip.Prefix) ([]RouteEntry, error) {
	cmd := "show ip route " + p.String()
	if p.Addr().Is6() {
		cmd = "show ipv6 route " + p.String()
	}
	var raw map[string][]RouteEntry
	if err := r.vtyshJSON(cmd, &raw); err != nil {
		return nil, err
	}
	return raw[p.String()], nil
}

// FIBNextHops returns the next hops of the installed (FIB) route for p,
// sorted; two of them means ECMP across two paths.
func (r *Router) FIBNextHops(p netip.Prefix) ([]netip.Addr, error) {
	entries, err := r.Routes(p)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range entries {
		if !e.Installed {
			continue
		}
		for _, nh := range e.Nexthops {
			if !nh.FIB {
				continue
			}
			a, err := netip.ParseAddr(nh.IP)
			if err != nil {
				return nil, fmt.Errorf("%s: next hop %q of %s: %w", r.Name, nh.IP, p, err)
			}
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out, nil
}

// BGPPath is one path in the router's BGP table (`show bgp <afi> unicast <p> json`).
type BGPPath struct {
	ASPath    string // e.g. "64001 65001"
	NextHops  []netip.Addr
	Best      bool
	Multipath bool
	Valid     bool
	From      netip.Addr // the neighbor that sent it
}

type frrPrefixJSON struct {
	Paths []struct {
		ASPath struct {
			String string `json:"string"`
		} `json:"aspath"`
		Valid     bool `json:"valid"`
		Multipath bool `json:"multipath"`
		Bestpath  *struct {
			Overall bool `json:"overall"`
		} `json:"bestpath"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
		Peer struct {
			PeerID string `json:"peerId"`
		} `json:"peer"`
	} `json:"paths"`
}

// BGPPaths returns every path r holds for p.
func (r *Router) BGPPaths(p netip.Prefix) ([]BGPPath, error) {
	afi := "ipv4"
	if p.Addr().Is6() {
		afi = "ipv6"
	}
	var raw frrPrefixJSON
	if err := r.vtyshJSON(fmt.Sprintf("show bgp %s unicast %s", afi, p), &raw); err != nil {
		return nil, err
	}
	var out []BGPPath
	for _, rp := range raw.Paths {
		bp := BGPPath{ASPath: rp.ASPath.String, Valid: rp.Valid, Multipath: rp.Multipath,
			Best: rp.Bestpath != nil && rp.Bestpath.Overall}
		bp.From, _ = netip.ParseAddr(rp.Peer.PeerID)
		for _, nh := range rp.Nexthops {
			if a, err := netip.ParseAddr(nh.IP); err == nil {
				bp.NextHops = append(bp.NextHops, a)
			}
		}
		out = append(out, bp)
	}
	return out, nil
}
