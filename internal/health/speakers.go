package health

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// SpeakerSession is one BGP session of one node's speaker as frr-k8s reports it (a
// BGPSessionState object, written per node and neighbour by frr-k8s in MetalLB's frr-k8s
// mode).
type SpeakerSession struct {
	Node string
	// Peer is the neighbour as frr-k8s writes it: an IPv4 address as it is, an IPv6 one
	// expanded with dashes for colons (a label value cannot hold a colon).
	Peer string
	// VRF is the session's VRF, "" for the default one.
	VRF string
	// BGPState is FRR's: Idle, Connect, Active, OpenSent, OpenConfirm or Established.
	BGPState string
	// BFDState is FRR's BFD status of the session (Up, Down, ...), "N/A" without BFD.
	BFDState string
}

// SpeakerPeer is one peer of a member, as the class names it.
type SpeakerPeer struct {
	Name, Address, VRF string
}

// PeerSpeakers is what a member's speakers report of their sessions to one peer.
type PeerSpeakers struct {
	Peer SpeakerPeer
	// BGPState is the nodes' state when they agree, otherwise the least advanced one; ""
	// when no node reports a session to the peer.
	BGPState string
	// BFDState is the nodes' BFD state when they agree, otherwise the first that is not up.
	BFDState string
	// Nodes report a session to the peer; Established of them are up.
	Nodes, Established int
	// Down names the nodes whose session is not Established, "node (State)", by node name.
	Down []string
}

// StateEstablished is the BGP state of a session that is up.
const StateEstablished = "Established"

// bgpProgress orders BGP's finite state machine, to name the least advanced state of a
// peer's sessions; a state FRR might add later counts as the least.
var bgpProgress = map[string]int{"Idle": 1, "Connect": 2, "Active": 3, "OpenSent": 4, "OpenConfirm": 5, StateEstablished: 6}

// frrPeerID is how frr-k8s writes a neighbour's address in a BGPSessionState.
func frrPeerID(address string) string {
	a, err := netip.ParseAddr(address)
	if err != nil || a.Is4() {
		return address
	}
	return strings.ReplaceAll(a.StringExpanded(), ":", "-")
}

// SummarizeSpeakers folds the sessions the speakers report into one summary per peer, in
// the peers' order. Sessions to other neighbours (other classes', anyone's) are left out.
// It returns nil when no session to any of the peers is reported: frr-k8s is not running,
// too old to publish them, or the member is not in frr-k8s mode. Nothing is judged then.
func SummarizeSpeakers(peers []SpeakerPeer, sessions []SpeakerSession) []PeerSpeakers {
	out := make([]PeerSpeakers, 0, len(peers))
	reported := false
	for _, p := range peers {
		ps := PeerSpeakers{Peer: p}
		id := frrPeerID(p.Address)
		var mine []SpeakerSession
		for _, s := range sessions {
			if s.Peer == id && s.VRF == p.VRF {
				mine = append(mine, s)
			}
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].Node < mine[j].Node })
		for i, s := range mine {
			reported = true
			ps.Nodes++
			if s.BGPState == StateEstablished {
				ps.Established++
			} else {
				ps.Down = append(ps.Down, s.Node+" ("+orUnknown(s.BGPState)+")")
			}
			if i == 0 || bgpProgress[s.BGPState] < bgpProgress[ps.BGPState] {
				ps.BGPState = s.BGPState
			}
			switch {
			case i == 0:
				ps.BFDState = s.BFDState
			case s.BFDState != ps.BFDState && strings.EqualFold(ps.BFDState, "up"):
				ps.BFDState = s.BFDState
			}
		}
		out = append(out, ps)
	}
	if !reported {
		return nil
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// NoSessionToTOR is the health problem of a member none of whose speakers' sessions to its
// peers is Established: its routers have no path to it, so it cannot be carrying traffic.
// It is "" when some session is up, or when nothing is reported (nil summaries).
func NoSessionToTOR(ps []PeerSpeakers) string {
	if len(ps) == 0 {
		return ""
	}
	var parts []string
	for _, p := range ps {
		if p.Established > 0 {
			return ""
		}
		parts = append(parts, DescribePeer(p))
	}
	return "no BGP session of its speakers to its peers is Established (" + strings.Join(parts, "; ") + "), so the routers have no path to it"
}

// DescribePeer says what the speakers report of one peer's sessions, naming at most
// maxNamed nodes.
func DescribePeer(p PeerSpeakers) string {
	const maxNamed = 8
	what := p.Peer.Name + " " + p.Peer.Address
	switch {
	case p.Nodes == 0:
		return what + ": no session reported"
	case len(p.Down) == 0:
		return fmt.Sprintf("%s: Established on %d nodes", what, p.Nodes)
	}
	down := p.Down
	if len(down) > maxNamed {
		down = append(append([]string(nil), down[:maxNamed]...), fmt.Sprintf("and %d more", len(p.Down)-maxNamed))
	}
	return fmt.Sprintf("%s: %d of %d nodes not Established: %s", what, len(p.Down), p.Nodes, strings.Join(down, ", "))
}
