package routerview

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
)

// SessionStatuses converts the watcher's session states for the class status, keeping
// the order of the spec.
func SessionStatuses(class *v1alpha1.AnycastClass, states []bgp.SessionState) []v1alpha1.SessionStatus {
	byName := map[string]bgp.SessionState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	out := make([]v1alpha1.SessionStatus, 0, len(class.Spec.Watcher.Sessions))
	for _, s := range class.Spec.Watcher.Sessions {
		st, ok := byName[s.Name]
		if !ok {
			out = append(out, v1alpha1.SessionStatus{Name: s.Name, State: "Idle", Message: "not started"})
			continue
		}
		ss := v1alpha1.SessionStatus{Name: s.Name, State: st.State, ReceivedPrefixes: int64(st.Received), AcceptedPrefixes: int64(st.Accepted), Message: st.Message}
		if !st.Since.IsZero() {
			t := metav1.NewTime(st.Since.Truncate(time.Second))
			ss.Since = &t
		}
		out = append(out, ss)
	}
	return out
}

// peerString is a BMP path's neighbour for status.paths ("" for Loc-RIB and BGP sessions).
func peerString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// BMPStatus converts the collector's state for the class status, routers in the order of
// the spec; nil without a collector.
func BMPStatus(class *v1alpha1.AnycastClass, st bgp.BMPState) *v1alpha1.BMPStatus {
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

// BMPDown lists the collector's routers that are not streaming, as the sessions'
// condition names sessions that are down, and says whether the collector listens.
func BMPDown(b *v1alpha1.BMPStatus) (down []string, routers int, listenErr string) {
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

// Report is the class's view of its watcher: the sessions' and BMP routers' status and
// the SessionsEstablished condition they make.
type Report struct {
	Sessions    []v1alpha1.SessionStatus
	BMP         *v1alpha1.BMPStatus
	Established bool
	Reason      v1alpha1.Reason
	Message     string
}

// ClassReport reports a running watcher's sessions and BMP routers; taken names the
// sessions not started because an older class holds them, with why.
func ClassReport(class *v1alpha1.AnycastClass, sessions []bgp.SessionState, collector bgp.BMPState, taken map[string]string) Report {
	rep := Report{Sessions: SessionStatuses(class, sessions), BMP: BMPStatus(class, collector)}
	var down, clashes []string
	for i := range rep.Sessions {
		if why, ok := taken[rep.Sessions[i].Name]; ok {
			rep.Sessions[i].State, rep.Sessions[i].Message = "Idle", why
			clashes = append(clashes, rep.Sessions[i].Name+": "+why)
		}
	}
	if len(clashes) > 0 {
		rep.Reason, rep.Message = v1alpha1.ReasonSessionConflict, strings.Join(clashes, ", ")
		return rep
	}
	for _, s := range rep.Sessions {
		if s.State != "Established" {
			msg := s.Name + " is " + s.State
			if s.Message != "" {
				msg += ": " + s.Message
			}
			down = append(down, msg)
		}
	}
	n := len(rep.Sessions)
	// BMP routers count as sessions of the routers' view: up while they stream.
	routersDown, routers, listenErr := BMPDown(rep.BMP)
	if listenErr != "" {
		rep.Reason, rep.Message = v1alpha1.ReasonBMPListenFailed, "the BMP collector does not listen, so no router can stream: "+listenErr
		return rep
	}
	down, n = append(down, routersDown...), n+routers
	if len(down) == 0 {
		rep.Established, rep.Reason, rep.Message = true, v1alpha1.ReasonEstablished, fmt.Sprintf("%d of %d watcher sessions established", n, n)
		return rep
	}
	rep.Reason, rep.Message = v1alpha1.ReasonSessionsDown, fmt.Sprintf("%d of %d watcher sessions established; %s", n-len(down), n, strings.Join(down, ", "))
	return rep
}

// Untaken leaves out of sessions those an older class holds.
func Untaken(sessions []bgp.SessionConfig, taken map[string]string) []bgp.SessionConfig {
	kept := sessions[:0]
	for _, s := range sessions {
		if _, clash := taken[s.Name]; !clash {
			kept = append(kept, s)
		}
	}
	return kept
}
