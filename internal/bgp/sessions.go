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
