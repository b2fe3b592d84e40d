package observe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/health"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// ReadSpeakerSessions lists the BGPSessionStates frr-k8s writes in namespace (one per
// node and neighbour, with status bgpStatus, bfdStatus, node, peer and vrf). It returns
// nothing, and no error, where frr-k8s's CRDs are not installed.
func ReadSpeakerSessions(ctx context.Context, r client.Reader, namespace string) ([]health.SpeakerSession, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(clusters.GVKBGPSessionState.GroupVersion().WithKind("BGPSessionStateList"))
	switch err := r.List(ctx, list, client.InNamespace(namespace)); {
	case meta.IsNoMatchError(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	out := make([]health.SpeakerSession, 0, len(list.Items))
	for _, s := range list.Items {
		get := func(f string) string {
			v, _, _ := unstructured.NestedString(s.Object, "status", f)
			return v
		}
		out = append(out, health.SpeakerSession{Node: get("node"), Peer: get("peer"), VRF: get("vrf"), BGPState: get("bgpStatus"), BFDState: get("bfdStatus")})
	}
	return out, nil
}

// MemberSpeakers is what member m's speakers report of their sessions to its peers, per
// peer; nil when m is not in frr-k8s mode, has no peers, or frr-k8s reports none of them.
func MemberSpeakers(ctx context.Context, class *v1alpha1.AnycastClass, m *v1alpha1.ClusterMember, r client.Reader) ([]health.PeerSpeakers, error) {
	if m == nil || m.Mode() != v1alpha1.MetalLBModeFRRK8s || len(m.Peers) == 0 {
		return nil, nil
	}
	sessions, err := ReadSpeakerSessions(ctx, r, render.MetalLBNamespace(class))
	if err != nil {
		return nil, fmt.Errorf("reading frr-k8s's BGPSessionStates: %w", err)
	}
	peers := make([]health.SpeakerPeer, 0, len(m.Peers))
	for _, p := range m.Peers {
		peers = append(peers, health.SpeakerPeer{Name: p.Name, Address: p.Address, VRF: p.VRF})
	}
	return health.SummarizeSpeakers(peers, sessions), nil
}

// SpeakerStatus writes into a reachable member's class status what its speakers report of
// their sessions (status.clusters[].speakers). since carries over from the previous status
// while a peer's state and established count stay; a member that cannot be read now keeps
// what was known, and the error says why.
func SpeakerStatus(ctx context.Context, class *v1alpha1.AnycastClass, member *clusters.Member, st *v1alpha1.ClusterStatus, prev []v1alpha1.ClusterStatus, now time.Time) error {
	var before []v1alpha1.SpeakerSessionStatus
	for _, p := range prev {
		if p.Name == st.Name {
			before = p.Speakers
		}
	}
	ctx, cancel := context.WithTimeout(ctx, clusters.MemberTimeout)
	defer cancel()
	summaries, err := MemberSpeakers(ctx, class, class.Member(st.Name), member.Reader)
	if err != nil {
		st.Speakers = before
		return err
	}
	st.Speakers = SpeakerStatuses(summaries, before, now)
	return nil
}

// SpeakerStatuses turns per-peer summaries into status entries, keeping since from before
// while a peer's state and established count are unchanged.
func SpeakerStatuses(summaries []health.PeerSpeakers, before []v1alpha1.SpeakerSessionStatus, now time.Time) []v1alpha1.SpeakerSessionStatus {
	if len(summaries) == 0 {
		return nil
	}
	out := make([]v1alpha1.SpeakerSessionStatus, 0, len(summaries))
	for _, s := range summaries {
		e := v1alpha1.SpeakerSessionStatus{Peer: s.Peer.Name, Address: s.Peer.Address, VRF: s.Peer.VRF, BGPState: s.BGPState, BFDState: s.BFDState,
			Nodes: int32(s.Nodes), Established: int32(s.Established)}
		if s.Nodes == 0 || len(s.Down) > 0 {
			e.Message = health.DescribePeer(s)
		}
		since := metav1.NewTime(now)
		for _, b := range before {
			if b.Peer == e.Peer && b.BGPState == e.BGPState && b.Established == e.Established && b.Since != nil {
				since = *b.Since
			}
		}
		e.Since = &since
		out = append(out, e)
	}
	return out
}

// SpeakersCondition folds the members' speaker sessions into the class's
// SpeakerSessionsEstablished condition. present is false while no member reports any:
// the condition is then left out, as nothing can be judged.
func SpeakersCondition(statuses []v1alpha1.ClusterStatus) (present, established bool, reason v1alpha1.Reason, message string) {
	var isolated, partial []string
	for _, st := range statuses {
		if len(st.Speakers) == 0 || !st.Reachable || st.Removed {
			continue
		}
		present = true
		up, down := 0, []string{}
		for _, s := range st.Speakers {
			up += int(s.Established)
			if s.Established < s.Nodes || s.Nodes == 0 {
				down = append(down, s.Peer+" ("+orElse(s.Message, s.BGPState)+")")
			}
		}
		switch {
		case up == 0:
			isolated = append(isolated, st.Name+": "+strings.Join(down, "; "))
		case len(down) > 0:
			partial = append(partial, st.Name+": "+strings.Join(down, "; "))
		}
	}
	switch {
	case !present:
		return false, false, "", ""
	case len(isolated) > 0:
		msg := "no speaker session to a peer is Established, so the routers have no path to these members and the health gate holds them unhealthy: " + strings.Join(isolated, "; ")
		if len(partial) > 0 {
			msg += "; sessions down elsewhere: " + strings.Join(partial, "; ")
		}
		return true, false, v1alpha1.ReasonNoSessionToTOR, msg
	case len(partial) > 0:
		return true, false, v1alpha1.ReasonSpeakerSessionsDown, "every member keeps an Established session, but not every speaker session is: " + strings.Join(partial, "; ")
	}
	return true, true, v1alpha1.ReasonEstablished, "every speaker session frr-k8s reports to the members' peers is Established"
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
