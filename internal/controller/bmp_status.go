package controller

import (
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// ReasonBMPListenFailed: the watcher's BMP collector cannot listen on its address (in use
// by another class or process, or not an address of the operator's): no router can stream.
const ReasonBMPListenFailed = "BMPListenFailed"

// bmpConfig is the rendered collector as the watcher runs it; nil without one.
func bmpConfig(b *render.WatcherBMP) *bgp.BMPConfig {
	if b == nil {
		return nil
	}
	out := &bgp.BMPConfig{Listen: b.Listen}
	for _, r := range b.Routers {
		out.Routers = append(out.Routers, bgp.BMPRouterConfig{Name: r.Name, Address: r.Address, MaxPrefixes: r.MaxPrefixes, MaxPeers: r.MaxPeers})
	}
	return out
}

// viewSessions is every source of the routers' view: the BGP sessions, and each BMP
// router as a session that is Established while it streams.
func viewSessions(w Watcher, class string) []bgp.SessionState {
	return append(w.Sessions(class), w.BMP(class).Sessions()...)
}

// peerString is a BMP path's neighbour for status.paths ("" for Loc-RIB and BGP sessions).
func peerString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// bmpStatus converts the collector's state for the class status, routers in the order of
// the spec; nil without a collector.
func bmpStatus(class *v1alpha1.AnycastClass, st bgp.BMPState) *v1alpha1.BMPStatus {
	w := class.Spec.Watcher
	if w == nil || w.BMP == nil {
		return nil
	}
	out := &v1alpha1.BMPStatus{Listening: st.Listening, Message: st.Message}
	if st.Listening {
		out.Address = st.Address.String()
	}
	byName := map[string]bgp.BMPRouterState{}
	for _, r := range st.Routers {
		byName[r.Name] = r
	}
	for _, spec := range w.BMP.Routers {
		r, ok := byName[spec.Name]
		if !ok {
			out.Routers = append(out.Routers, v1alpha1.BMPRouterStatus{Name: spec.Name, Message: "not started"})
			continue
		}
		rs := v1alpha1.BMPRouterStatus{Name: r.Name, Connected: r.Connected, Since: statusTime(r.Since), SysName: r.SysName,
			Synced: r.Synced, ReceivedPrefixes: int64(r.Received), AcceptedPrefixes: int64(r.Accepted), Message: r.Message}
		for _, p := range r.Peers {
			ps := v1alpha1.BMPPeerStatus{Address: peerString(p.Address), LocRIB: p.LocRIB, ASN: int64(p.ASN), Up: p.Up,
				Since: statusTime(p.Since), ReceivedPrefixes: int64(p.Received), AcceptedPrefixes: int64(p.Accepted), Message: p.Message}
			for _, t := range p.Tables {
				ps.Tables = append(ps.Tables, string(t))
			}
			if p.ReportedRoutes >= 0 {
				n := p.ReportedRoutes
				ps.ReportedRoutes = &n
			}
			rs.Peers = append(rs.Peers, ps)
		}
		out.Routers = append(out.Routers, rs)
	}
	for _, f := range st.Refused {
		out.Refused = append(out.Refused, v1alpha1.BMPRefusedStatus{Address: f.Address.String(), Attempts: int64(f.Attempts), LastAttempt: statusTime(f.Last)})
	}
	return out
}

// statusTime is t to the second (status times change no more often), nil when zero.
func statusTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

// bmpDown lists the collector's routers that are not streaming, as the sessions'
// condition names sessions that are down, and says whether the collector listens.
func bmpDown(b *v1alpha1.BMPStatus) (down []string, routers int, listenErr string) {
	if b == nil {
		return nil, 0, ""
	}
	if !b.Listening {
		return nil, len(b.Routers), b.Message
	}
	for _, r := range b.Routers {
		if !r.Connected {
			msg := fmt.Sprintf("BMP router %s is not connected", r.Name)
			if r.Message != "" {
				msg += ": " + r.Message
			}
			down = append(down, msg)
		}
	}
	return down, len(b.Routers), ""
}
