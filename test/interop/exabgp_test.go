package interop_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/interop"
)

// TestExaBGPNewestCause (issue 14, point 21), as seen with ExaBGP: the
// session's asn was wrong (ExaBGP's OPEN says AS 64667, the watcher refuses
// it); fixed, ExaBGP in turn expects another AS from the watcher and refuses
// its OPEN with a NOTIFICATION. The message must blame that NOTIFICATION, the
// newest cause, not the session's asn any more. Fixed too, the session
// comes up, and ExaBGP has received nothing from the watcher but its two
// End-of-RIB markers (point 20: the only UPDATEs it sends).
func TestExaBGPNewestCause(t *testing.T) {
	n := interop.NewNet(t)
	l := n.Link("exa")
	e := interop.StartExaBGP(t, n, l, interop.ExaBGPOptions{ASN: routerASN + 1, WatcherASN: watcherASN, GracefulRestart: 120 * time.Second})
	m, _ := watcher(t, l, nil)
	st := waitState(t, m, converge, says([]string{"the router's OPEN says AS 64667, the session expects AS 64666"}))
	t.Logf("ExaBGP in the wrong AS: %s", st.Message)

	e.Stop()
	e.Start(interop.ExaBGPOptions{ASN: routerASN, WatcherASN: watcherASN + 1, GracefulRestart: 120 * time.Second})
	st = waitState(t, m, converge, says([]string{"the router sent NOTIFICATION", "bad peer as"}, "the session expects AS"))
	t.Logf("ExaBGP expecting another AS: %s", st.Message)

	e.Stop()
	e.Start(interop.ExaBGPOptions{ASN: routerASN, WatcherASN: watcherASN, GracefulRestart: 120 * time.Second})
	st = waitState(t, m, converge, established)
	if st.Message != "" {
		t.Errorf("established with message %q", st.Message)
	}
	// Watched past a keepalive: nothing but the End-of-RIB markers follows.
	time.Sleep(4 * time.Second)
	var eors []string
	for _, msg := range e.Messages() {
		if msg.Type != "update" || msg.Neighbor.Direction != "receive" {
			continue
		}
		f := msg.EndOfRIB()
		if f == "" {
			t.Errorf("ExaBGP received an UPDATE from the watcher that is not an End-of-RIB: %+v", msg.Neighbor.Message)
			continue
		}
		eors = append(eors, f)
	}
	// Three sessions reached OPEN; only the last one came up and got them.
	if !slices.Equal(eors, []string{"ipv4 unicast", "ipv6 unicast"}) {
		t.Errorf("End-of-RIB markers received by ExaBGP: %v, want ipv4 unicast then ipv6 unicast, once", eors)
	}
}

// TestExaBGPAddPathPrefixes (points 22 and 5): ExaBGP sends one VIP with 60
// ADD-PATH paths, as a core sends every cluster's path. MaxPrefixes counts
// prefixes, so a limit of 50 holds (it tripped at 60 paths before), the
// counters say 1 prefix and 60 paths, and the watcher holds all 60. The 51st
// distinct prefix is over the limit: ExaBGP receives Cease / Maximum Number
// of Prefixes Reached and the session stays down, saying why.
func TestExaBGPAddPathPrefixes(t *testing.T) {
	n := interop.NewNet(t)
	l := n.Link("exa")
	e := interop.StartExaBGP(t, n, l, interop.ExaBGPOptions{ASN: routerASN, WatcherASN: watcherASN, AddPathSend: true})
	m, _ := watcher(t, l, func(s *bgp.SessionConfig) { s.MaxPrefixes = 50 })
	waitState(t, m, converge, established)

	var cmds []string
	for id := 1; id <= 60; id++ {
		cmds = append(cmds, fmt.Sprintf("announce route %s next-hop %s path-information 0.0.0.%d as-path [ %d %d ]", vip, l.RouterAddr, id, routerASN, 65000+id))
	}
	e.Send(cmds...)
	st := waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || s.Received != 1 || s.ReceivedPaths != 60 || s.Accepted != 1 || s.AcceptedPaths != 60 {
			return fmt.Errorf("%s: received %d prefixes (%d paths), accepted %d (%d paths), want 1 (60) twice",
				s.State, s.Received, s.ReceivedPaths, s.Accepted, s.AcceptedPaths)
		}
		return nil
	})
	if ps := m.Paths(class, vip); len(ps) != 60 {
		t.Fatalf("%d paths held for %s, want 60", len(ps), vip)
	}
	t.Logf("one prefix, 60 paths: %+v", st)

	// 49 more prefixes (outside the pools, two paths each): 50, at the limit.
	cmds = nil
	for i := range 49 {
		for id := 1; id <= 2; id++ {
			cmds = append(cmds, fmt.Sprintf("announce route 10.99.1.%d/32 next-hop %s path-information 0.0.0.%d as-path [ %d 65009 ]", i, l.RouterAddr, id, routerASN))
		}
	}
	e.Send(cmds...)
	waitState(t, m, converge, func(s bgp.SessionState) error {
		if s.State != bgp.StateEstablished || s.Received != 50 || s.ReceivedPaths != 158 {
			return fmt.Errorf("%s: received %d prefixes (%d paths), want 50 (158)", s.State, s.Received, s.ReceivedPaths)
		}
		return nil
	})

	e.Send(fmt.Sprintf("announce route 10.99.2.1/32 next-hop %s as-path [ %d 65009 ]", l.RouterAddr, routerASN))
	waitState(t, m, converge, says([]string{"max-prefix limit 50 exceeded (ipv4-unicast)"}))
	var cease bool
	waitErr := func() error {
		for _, msg := range e.Messages() {
			no := msg.Neighbor.Notification
			if msg.Type == "notification" && no != nil && fmt.Sprint(no["code"]) == "6" && fmt.Sprint(no["subcode"]) == "1" {
				cease = true
				return nil
			}
		}
		return fmt.Errorf("ExaBGP has received no Cease / Maximum Number of Prefixes Reached")
	}
	for end := time.Now().Add(10 * time.Second); waitErr() != nil && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
	}
	if !cease {
		t.Errorf("%v", waitErr())
	}
}
