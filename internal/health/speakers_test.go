package health

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Sessions as frr-k8s v0.0.21 writes them (frr-tools/status): an IPv6 neighbour expanded
// with dashes, the default VRF as "", BFD "N/A" when the session has none.
var tors = []SpeakerPeer{
	{Name: "tor-a", Address: "10.0.63.253"},
	{Name: "tor-b", Address: "2001:db8:63::fe"},
	{Name: "tor-red", Address: "10.0.65.254", VRF: "red"},
}

func TestSummarizeSpeakers(t *testing.T) {
	sessions := []SpeakerSession{
		{Node: "node-2", Peer: "10.0.63.253", BGPState: "Active", BFDState: "Down"},
		{Node: "node-1", Peer: "10.0.63.253", BGPState: "Established", BFDState: "Up"},
		{Node: "node-3", Peer: "10.0.63.253", BGPState: "Idle", BFDState: "Down"},
		{Node: "node-1", Peer: "2001-0db8-0063-0000-0000-0000-0000-00fe", BGPState: "Established", BFDState: "N/A"},
		{Node: "node-2", Peer: "2001-0db8-0063-0000-0000-0000-0000-00fe", BGPState: "Established", BFDState: "N/A"},
		// The same address in the default VRF is another neighbour than tor-red.
		{Node: "node-1", Peer: "10.0.65.254", BGPState: "Established", BFDState: "N/A"},
		// Someone else's neighbour: left out.
		{Node: "node-1", Peer: "192.0.2.1", BGPState: "Idle", BFDState: "N/A"},
	}
	got := SummarizeSpeakers(tors, sessions)
	want := []PeerSpeakers{
		{Peer: tors[0], BGPState: "Idle", BFDState: "Down", Nodes: 3, Established: 1, Down: []string{"node-2 (Active)", "node-3 (Idle)"}},
		{Peer: tors[1], BGPState: "Established", BFDState: "N/A", Nodes: 2, Established: 2},
		{Peer: tors[2]},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := SummarizeSpeakers(tors, sessions[6:]); got != nil {
		t.Errorf("nothing reported for the member's peers: got %+v, want nil (no verdict)", got)
	}
}

// TestNoSessionToTOR: a member none of whose speakers' sessions to its peers is
// Established cannot be carrying traffic, and its health verdict says so naming each
// peer; one Established session anywhere, or nothing reported, is no problem.
func TestNoSessionToTOR(t *testing.T) {
	down := SummarizeSpeakers(tors, []SpeakerSession{
		{Node: "node-1", Peer: "10.0.63.253", BGPState: "Active"},
		{Node: "node-2", Peer: "10.0.63.253", BGPState: "Connect"},
		{Node: "node-1", Peer: "2001-0db8-0063-0000-0000-0000-0000-00fe", BGPState: "Idle"},
	})
	msg := NoSessionToTOR(down)
	for _, w := range []string{"no BGP session of its speakers to its peers is Established",
		"tor-a 10.0.63.253: 2 of 2 nodes not Established: node-1 (Active), node-2 (Connect)",
		"tor-b 2001:db8:63::fe: 1 of 1 nodes not Established: node-1 (Idle)",
		"tor-red 10.0.65.254: no session reported"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
	v := Evaluate(Input{VIP: vip, Gateway: programmedGateway(vip.String()), Services: []corev1.Service{lbService(vip.String())},
		Endpoints: map[string][]Endpoint{"hello-world/hello-lb": {{Ready: true, Node: "node-1"}}}, Speakers: down})
	if v.Healthy || !strings.Contains(v.Message(), msg) {
		t.Errorf("a member without an Established session is judged %v (%s)", v.Healthy, v.Message())
	}

	oneUp := append([]PeerSpeakers(nil), down...)
	oneUp[1].Established = 1
	if msg := NoSessionToTOR(oneUp); msg != "" {
		t.Errorf("one Established session: got %q, want no problem", msg)
	}
	if msg := NoSessionToTOR(nil); msg != "" {
		t.Errorf("nothing reported: got %q, want no problem", msg)
	}
}
