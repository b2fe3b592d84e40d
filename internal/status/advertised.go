package status

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// setAdvertised reports what the routers carry for the ingress's VIP and checks it against
// what each member was asked to do: members that advertise must be seen as origins
// (Advertised), drained members must be gone or prepended as their mode says (Drained),
// members the health gate withdrew must be gone (Advertised, WithdrawalPending). Without a
// watcher the conditions are absent: nothing can be verified.
//
// It returns when to look again: a session that has just come up has not received the
// routers' whole table yet, so a missing path proves nothing until it has, and nothing
// announces that moment.
func setAdvertised(conds Conditions, st *v1alpha1.AnycastIngressStatus, obs *Observation, prev map[string]v1alpha1.IngressClusterStatus) time.Duration {
	w := obs.Watcher
	if w == nil {
		conds.Remove(v1alpha1.ConditionAdvertised)
		conds.Remove(v1alpha1.ConditionDrained)
		st.Paths = nil
		return 0
	}
	byASN := map[uint32]string{}
	for name, asn := range w.MemberASNs {
		byASN[asn] = name
	}
	seen := map[string][]string{} // member -> sessions it is seen on
	prepended := map[string]bool{}
	st.Paths = make([]v1alpha1.PathStatus, 0, len(w.Paths))
	for _, p := range w.Paths {
		ps := v1alpha1.PathStatus{
			Session: p.Session, PeerAS: int64(p.PeerAS), RIB: p.RIB, NextHop: p.NextHop.String(), ASPath: asPathString(p.ASPath),
			OriginAS: int64(p.OriginAS), Cluster: byASN[p.OriginAS], Communities: p.Communities,
		}
		if p.Peer.IsValid() {
			ps.Peer = p.Peer.String()
		}
		if !p.Since.IsZero() {
			t := metav1.NewTime(p.Since.Truncate(time.Second))
			ps.Since = &t
		}
		st.Paths = append(st.Paths, ps)
		if ps.Cluster != "" {
			seen[ps.Cluster] = append(seen[ps.Cluster], p.Session)
			// A prepend drain repeats the member's ASN: the routers see a longer path.
			n := 0
			for _, as := range p.ASPath {
				if as == p.OriginAS {
					n++
				}
			}
			if n > 1 {
				prepended[ps.Cluster] = true
			}
		}
	}
	established, synced := 0, 0
	var down, syncing, restarting []string
	var syncWait time.Duration
	for _, s := range w.Sessions {
		switch {
		case !s.Established && s.Retained:
			// A router restarting gracefully keeps forwarding: the table it sent last
			// stands for its view until it is back.
			established++
			synced++
			restarting = append(restarting, s.Name)
		case !s.Established:
			down = append(down, s.Name)
		case s.Synced:
			established++
			synced++
		default:
			established++
			syncing = append(syncing, s.Name)
			if syncWait == 0 || s.SyncIn.Duration < syncWait {
				syncWait = s.SyncIn.Duration
			}
		}
	}

	now := obs.Now.Time
	var missing, pendingWithdrawal, drainWrong, drained []string
	serving := 0
	for i := range st.Clusters {
		cs := &st.Clusters[i]
		adv := len(seen[cs.Name]) > 0
		cs.Advertised = &adv
		state := RouterWithdrawn
		switch {
		case prepended[cs.Name]:
			state = RouterPrepended
		case adv:
			state = RouterAdvertised
		}
		cs.RouterState = state
		if p, ok := prev[cs.Name]; ok && p.RouterState == state && p.RouterStateSince != nil {
			cs.RouterStateSince = p.RouterStateSince
		} else {
			t := metav1.NewTime(now.Truncate(time.Second))
			cs.RouterStateSince = &t
		}
		on := strings.Join(uniq(seen[cs.Name]), ", ")
		switch {
		case cs.Drained:
			drained = append(drained, cs.Name)
			want := RouterWithdrawn
			if cs.Advertisement == string(render.Prepend) {
				want = RouterPrepended
			}
			if state != want {
				drainWrong = append(drainWrong, fmt.Sprintf("%s is %s at the routers, want %s", cs.Name, strings.ToLower(state), strings.ToLower(want)))
			}
		case cs.Advertisement == string(render.Withdraw):
			if adv {
				pendingWithdrawal = append(pendingWithdrawal, fmt.Sprintf("%s (still seen on %s)", cs.Name, on))
			}
		default:
			serving++
			if !adv {
				missing = append(missing, cs.Name)
			}
		}
	}
	// Absence is evidence only from a session that has the routers' whole table.
	unsynced := established > 0 && synced == 0
	requeue := time.Duration(0)
	switch {
	case established == 0:
		conds.SetStatus(v1alpha1.ConditionAdvertised, metav1.ConditionUnknown, v1alpha1.ReasonWatcherNotEstablished,
			"no watcher session is established ("+strings.Join(down, ", ")+"); the routers' view is unknown: see the class's sessions")
	case unsynced && len(missing) > 0:
		conds.SetStatus(v1alpha1.ConditionAdvertised, metav1.ConditionUnknown, v1alpha1.ReasonWatcherSyncing,
			"the watcher's sessions ("+strings.Join(syncing, ", ")+") have just come up and are still receiving the routers' table; not seen yet: "+strings.Join(missing, ", "))
		requeue = syncWait
	case len(pendingWithdrawal) > 0:
		conds.Set(v1alpha1.ConditionAdvertised, false, v1alpha1.ReasonWithdrawalPending, "withdrawn for its health but the routers still carry its path: "+strings.Join(pendingWithdrawal, "; "))
	case len(missing) == 0:
		msg := fmt.Sprintf("the routers see all %d serving members as origins", serving)
		if len(restarting) > 0 {
			msg += "; as last seen on " + strings.Join(restarting, ", ") + ", whose router is restarting gracefully"
		}
		conds.Set(v1alpha1.ConditionAdvertised, true, v1alpha1.ReasonAdvertised, msg)
	case len(missing) == serving:
		conds.Set(v1alpha1.ConditionAdvertised, false, v1alpha1.ReasonNotAdvertised, "no serving member is seen as an origin of the VIP: "+strings.Join(missing, ", "))
	default:
		conds.Set(v1alpha1.ConditionAdvertised, false, v1alpha1.ReasonDegraded, fmt.Sprintf("%d of %d serving members are seen as origins; missing: %s", serving-len(missing), serving, strings.Join(missing, ", ")))
	}
	switch {
	case len(drained) == 0:
		conds.Remove(v1alpha1.ConditionDrained)
	case established == 0:
		conds.SetStatus(v1alpha1.ConditionDrained, metav1.ConditionUnknown, v1alpha1.ReasonWatcherNotEstablished, "whether "+strings.Join(drained, ", ")+" is drained cannot be verified: no watcher session is established")
	case unsynced && len(drainWrong) == 0:
		conds.SetStatus(v1alpha1.ConditionDrained, metav1.ConditionUnknown, v1alpha1.ReasonWatcherSyncing, "whether "+strings.Join(drained, ", ")+" is drained cannot be verified yet: the watcher's sessions are still receiving the routers' table")
		requeue = syncWait
	case len(drainWrong) > 0:
		conds.Set(v1alpha1.ConditionDrained, false, v1alpha1.ReasonStillAdvertised, "drained in the spec, but "+strings.Join(drainWrong, "; "))
	default:
		conds.Set(v1alpha1.ConditionDrained, true, v1alpha1.ReasonWithdrawn, "the routers carry "+strings.Join(drained, ", ")+" as its drain mode asks")
	}
	return requeue
}

// Synced reports whether one of the watcher's sessions holds the routers' whole table, so
// that a path the routers do not carry is evidence (a withdrawal confirmed).
func (w *Watcher) Synced() bool {
	for _, s := range w.Sessions {
		if (s.Established && s.Synced) || (!s.Established && s.Retained) {
			return true
		}
	}
	return false
}

func asPathString(as []uint32) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(parts, " ")
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
