package bgp_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	wbgp "github.com/anycast-operator/anycast-operator/internal/bgp"
)

// messageSays waits until the session's message contains every want and none
// of the unwanted, and returns it.
func messageSays(t *testing.T, m *wbgp.Manager, want []string, unwanted ...string) string {
	t.Helper()
	st := waitSession(t, m, "scripted", func(s wbgp.SessionState) error {
		if s.State == wbgp.StateEstablished {
			return fmt.Errorf("established")
		}
		for _, w := range want {
			if !strings.Contains(s.Message, w) {
				return fmt.Errorf("message %q does not say %q", s.Message, w)
			}
		}
		for _, u := range unwanted {
			if strings.Contains(s.Message, u) {
				return fmt.Errorf("message %q still says %q", s.Message, u)
			}
		}
		return nil
	})
	return st.Message
}

// TestNewestCauseWins: each failed attempt replaces the cause of the one
// before. As seen with ExaBGP: the router's AS was wrong in the session (the
// watcher refused its OPEN), then, with that fixed, the router refused the
// watcher's AS (its NOTIFICATION): the message must blame the router's
// NOTIFICATION, not the session's asn any more. Then the router closes the
// connection without a word: that is the newest cause.
func TestNewestCauseWins(t *testing.T) {
	m, p, _ := startGraceful(t)

	c := p.accept()
	c.open(64667, 9, bgp.NewCapFourOctetASNumber(64667))
	c.recvType(bgp.BGP_MSG_NOTIFICATION)
	_ = c.c.Close()
	messageSays(t, m, []string{"the router's OPEN says AS 64667, the session expects AS 64666"})

	c = p.accept()
	c.recvType(bgp.BGP_MSG_OPEN)
	c.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, nil))
	_ = c.c.Close()
	msg := messageSays(t, m, []string{"the router sent NOTIFICATION", "bad peer as"}, "the session expects AS")
	t.Logf("after the router's NOTIFICATION: %s", msg)

	c = p.accept()
	c.recvType(bgp.BGP_MSG_OPEN)
	_ = c.c.Close()
	msg = messageSays(t, m, []string{"the router closed the connection in OpenSent"}, "bad peer as", "the session expects AS")
	t.Logf("after the router closed the connection: %s", msg)
}

// TestFailedOpenIsNotADown: a session that went down for a reason (here the
// router's administrative shutdown, with its message) and whose next attempts
// the router closes before the OPEN exchange completes never came up again:
// the message says the attempt failed, in which state, and still gives the
// real reason it went down; not "session went down (the router closed the
// connection)".
func TestFailedOpenIsNotADown(t *testing.T) {
	m, p, c, _ := upWithVIP(t, 60)
	c.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, append([]byte{11}, "maintenance"...)))
	_ = c.c.Close()
	down := `the router sent NOTIFICATION code 6(cease) subcode 2(administrative shutdown) "maintenance"`
	messageSays(t, m, []string{"session went down (" + down + ")"})

	c = p.accept()
	c.recvType(bgp.BGP_MSG_OPEN)
	_ = c.c.Close()
	msg := messageSays(t, m, []string{"not established: the router closed the connection in OpenSent",
		"it last went down: " + down}, "session went down (the router closed the connection)")
	t.Logf("message: %s", msg)

	// A router closing with the watcher's OPEN still unread sends a reset (BIRD
	// refusing a connection did, now and then): the same, said so. Whether the reset
	// meets the watcher's OPEN being written (Connect), its wait for the router's
	// (OpenSent) or, on a busy machine, the connect itself (Connect) is timing (.ci/run
	// saw the first and the last).
	c = p.accept()
	_ = c.c.(*net.TCPConn).SetLinger(0)
	_ = c.c.Close()
	msg = messageSays(t, m, []string{"not established: the router closed the connection in ", " (the router reset the connection)",
		"it last went down: " + down}, "session went down", "connection reset by peer")
	t.Logf("message: %s", msg)
}
