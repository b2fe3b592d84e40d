package bgp

import (
	"fmt"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// BGP FSM state names as they appear in SessionState.State.
const (
	StateIdle        = "Idle"
	StateConnect     = "Connect"
	StateActive      = "Active"
	StateOpenSent    = "OpenSent"
	StateOpenConfirm = "OpenConfirm"
	StateEstablished = "Established"
)

func stateName(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_CONNECT:
		return StateConnect
	case api.PeerState_ACTIVE:
		return StateActive
	case api.PeerState_OPENSENT:
		return StateOpenSent
	case api.PeerState_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_ESTABLISHED:
		return StateEstablished
	default:
		return StateIdle
	}
}

// session is the watcher's bookkeeping for one configured session.
type session struct {
	cfg   SessionConfig
	state string
	since time.Time
	// lastUpdate is when the session's last UPDATE reached the watcher, and eor the
	// families whose End-of-RIB marker it has received, since it was Established:
	// together they tell when the router has sent its whole table (see synced).
	lastUpdate time.Time
	eor        map[api.Family_Afi]bool
}

// When a session counts as synced, for routers that send no End-of-RIB marker (FRR
// sends one only to peers that announce graceful restart, which the watcher does not):
// Established for SyncMin, and no UPDATE for SyncQuiet; or Established for SyncMax
// whatever arrives (a table that never stops changing).
const (
	SyncMin   = 3 * time.Second
	SyncQuiet = time.Second
	SyncMax   = 30 * time.Second
)

// synced reports whether the router has sent the session its table, as far as the
// watcher can tell, and otherwise how long until the time rule may say so. Until then a
// prefix missing from the session proves nothing: it may still be on its way.
func (s *session) synced(need []api.Family_Afi, now time.Time) (bool, time.Duration) {
	if s.state != StateEstablished {
		return false, 0
	}
	all := len(need) > 0
	for _, afi := range need {
		all = all && s.eor[afi]
	}
	if all {
		return true, 0
	}
	up := now.Sub(s.since)
	quiet := now.Sub(s.lastUpdate)
	if s.lastUpdate.IsZero() {
		quiet = up
	}
	if up >= SyncMax || (up >= SyncMin && quiet >= SyncQuiet) {
		return true, 0
	}
	return false, max(SyncMin-up, SyncQuiet-quiet, 100*time.Millisecond)
}

// describe explains why a session is not Established, from the most
// specific evidence available:
//
//   - GoBGP's prefix-limit shutdown (admin state PFX_CT, or its log line);
//   - the last TCP connect error. A timeout is all Linux shows for a TCP MD5
//     mismatch: segments whose signature is wrong or missing are dropped
//     silently, on both ends, so the watcher can only say "no answer" and
//     name the password as the first suspect;
//   - a NOTIFICATION received while opening (bad AS, unsupported option...);
//   - the reason the session last went down.
func describe(s *session, note peerNote, prefixLimited bool) string {
	if s.state == StateEstablished {
		return ""
	}
	if prefixLimited || note.maxPrefix != "" {
		family := ""
		if note.maxPrefix != "" {
			family = " (" + note.maxPrefix + ")"
		}
		return fmt.Sprintf("max-prefix limit %d exceeded%s: the router sent more prefixes than the session allows, "+
			"so the watcher closed it (Cease, maximum number of prefixes reached); it stays down until the session's configuration changes",
			s.cfg.MaxPrefixes, family)
	}
	port := s.cfg.Port
	if port == 0 {
		port = 179
	}
	var why string
	switch {
	case note.connectErr == "timeout":
		why = "not established: no answer from peer (TCP connect timed out); check the TCP MD5 password on both sides, then reachability " +
			"(Linux silently drops segments with a wrong or missing MD5 signature, so a password mismatch looks exactly like an unreachable peer)"
	case note.connectErr == "refused":
		why = fmt.Sprintf("not established: the peer refused the TCP connection to port %d (BGP not listening there, or no neighbor configured for the watcher's address)", port)
	case note.connectErr != "":
		why = "not established: TCP connect failed: " + note.connectErr
	case note.notification != "":
		why = "not established: the router sent NOTIFICATION " + note.notification
	case note.down != "":
		why = "session went down (" + note.down + "); reconnecting"
	default:
		return fmt.Sprintf("not established yet (%s)", s.state)
	}
	if note.down != "" && !strings.HasPrefix(why, "session went down") {
		why += "; it last went down: " + note.down
	}
	return why
}
