package observe

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/health"
)

// TestSpeakerStatusesKeepSince: a peer's since stays while its state and established
// count stay, and moves when either changes.
func TestSpeakerStatusesKeepSince(t *testing.T) {
	t0, t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	tor := health.SpeakerPeer{Name: "tor", Address: "10.0.63.254"}
	up := []health.PeerSpeakers{{Peer: tor, BGPState: "Established", BFDState: "N/A", Nodes: 2, Established: 2}}
	first := SpeakerStatuses(up, nil, t0)
	if len(first) != 1 || !first[0].Since.Time.Equal(t0) || first[0].Message != "" || first[0].Nodes != 2 {
		t.Fatalf("first %+v", first)
	}
	if again := SpeakerStatuses(up, first, t1); !again[0].Since.Time.Equal(t0) {
		t.Errorf("unchanged state: since moved to %v", again[0].Since)
	}
	oneDown := []health.PeerSpeakers{{Peer: tor, BGPState: "Active", Nodes: 2, Established: 1, Down: []string{"node-2 (Active)"}}}
	moved := SpeakerStatuses(oneDown, first, t1)
	if !moved[0].Since.Time.Equal(t1) || !strings.Contains(moved[0].Message, "node-2 (Active)") {
		t.Errorf("changed state: %+v", moved[0])
	}
	if SpeakerStatuses(nil, first, t1) != nil {
		t.Error("nothing reported must give no speakers")
	}
}

func TestSpeakersCondition(t *testing.T) {
	member := func(name string, established ...int32) v1alpha1.ClusterStatus {
		st := v1alpha1.ClusterStatus{Name: name, Reachable: true}
		for i, e := range established {
			st.Speakers = append(st.Speakers, v1alpha1.SpeakerSessionStatus{Peer: "tor-" + string(rune('a'+i)), BGPState: map[bool]string{true: "Established", false: "Active"}[e == 2], Nodes: 2, Established: e,
				Since: &metav1.Time{}})
		}
		return st
	}
	cases := []struct {
		name     string
		statuses []v1alpha1.ClusterStatus
		present  bool
		ok       bool
		reason   v1alpha1.Reason
		want     string
	}{
		{"nothing reported", []v1alpha1.ClusterStatus{member("west")}, false, false, "", ""},
		{"all up", []v1alpha1.ClusterStatus{member("west", 2, 2), member("east", 2)}, true, true, v1alpha1.ReasonEstablished, ""},
		{"one TOR down", []v1alpha1.ClusterStatus{member("west", 2, 0), member("east", 2)}, true, false, v1alpha1.ReasonSpeakerSessionsDown, "west: tor-b"},
		{"a member isolated", []v1alpha1.ClusterStatus{member("west", 0, 0), member("east", 1)}, true, false, v1alpha1.ReasonNoSessionToTOR, "west: tor-a (Active); tor-b (Active); sessions down elsewhere: east: tor-a"},
		{"an unreachable member is not judged", []v1alpha1.ClusterStatus{func() v1alpha1.ClusterStatus { s := member("west", 0); s.Reachable = false; return s }()}, false, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			present, ok, reason, msg := SpeakersCondition(tc.statuses)
			if present != tc.present || ok != tc.ok || reason != tc.reason || !strings.Contains(msg, tc.want) {
				t.Errorf("got %v %v %s %q, want %v %v %s with %q", present, ok, reason, msg, tc.present, tc.ok, tc.reason, tc.want)
			}
		})
	}
}
