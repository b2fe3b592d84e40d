package bgp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestMaxPrefixGuard: a rogue peer sends 20 prefixes to a session allowed 5.
// The watcher cuts it off, says why, keeps it down and holds none of its
// routes, while the core session carries on. Raising the limit (a config
// change) brings the session back.
func TestMaxPrefixGuard(t *testing.T) {
	var rogue []netip.Prefix
	for i := range 20 {
		rogue = append(rogue, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 155, byte(10 + i)}), 32))
	}
	f := fabric.Start(t, fabric.Options{Rogue: &fabric.RogueOptions{Prefixes: rogue}})
	f.West.Announce(vip)
	m, _ := newManager(t)
	limited := session("rogue", *f.RogueLink, "")
	limited.MaxPrefixes = 5
	cfg := bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{coreSession(f), limited}}
	apply(t, m, cfg)

	st := waitSession(t, m, "rogue", func(s bgp.SessionState) error {
		if !strings.Contains(s.Message, "max-prefix limit 5 exceeded") {
			return fmt.Errorf("state %s, message %q", s.State, s.Message)
		}
		return nil
	})
	t.Logf("rogue session: %s: %s", st.State, st.Message)
	waitSession(t, m, "core", established)
	waitPaths(t, m, vip, origins(fabric.WestASN))

	// Stays down: the session is parked, it does not flap. Checked over a
	// window longer than connect retry (1 s here).
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		for _, s := range m.Sessions(class) {
			if s.Name == "rogue" && (s.State == bgp.StateEstablished || s.Accepted != 0) {
				t.Fatalf("rogue session came back: %+v", s)
			}
		}
		for _, p := range rogue {
			if ps := m.Paths(class, p); len(ps) != 0 {
				t.Fatalf("holding %s from a session over its limit: %s", p, describePaths(ps))
			}
		}
	}

	limited.MaxPrefixes = 100
	cfg.Sessions[1] = limited
	apply(t, m, cfg)
	waitSession(t, m, "rogue", func(s bgp.SessionState) error {
		if err := established(s); err != nil {
			return err
		}
		if s.Accepted != 20 {
			return fmt.Errorf("accepted %d of the rogue's 20", s.Accepted)
		}
		return nil
	})
}

// TestPasswords: the routers expect TCP MD5 on their watcher sessions. The
// right password establishes (MD5 works end to end); a wrong one and a
// missing one never do, and the state says that the peer does not answer
// and to check the password. No password appears in any log line.
func TestPasswords(t *testing.T) {
	const right, wrong = "s3cret-anycast", "not-the-s3cret"
	f := fabric.Start(t, fabric.Options{WatcherPassword: right})
	f.West.Announce(vip)
	m, logs := newManager(t)
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{
		coreSession(f),
		session("tor-west", f.TORWestLink, wrong),
		session("tor-east", f.TOREastLink, ""),
	}})
	waitSession(t, m, "core", established)
	waitPaths(t, m, vip, origins(fabric.WestASN))
	for _, name := range []string{"tor-west", "tor-east"} {
		st := waitSession(t, m, name, func(s bgp.SessionState) error {
			if !strings.Contains(s.Message, "no answer from peer") || !strings.Contains(s.Message, "MD5 password") {
				return fmt.Errorf("state %s, message %q", s.State, s.Message)
			}
			return nil
		})
		t.Logf("%s: %s: %s", name, st.State, st.Message)
	}
	// Never establishes: watched over several connect attempts (1 s apart).
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		for _, s := range m.Sessions(class) {
			if s.Name != "core" && s.State == bgp.StateEstablished {
				t.Fatalf("session %s established with a wrong or missing password", s.Name)
			}
		}
	}
	for _, r := range []*fabric.Router{f.TORWest, f.TOREast} {
		for _, a := range []netip.Addr{f.TORWestLink.WatcherAddr, f.TOREastLink.WatcherAddr} {
			if n, err := r.Neighbor(a); err == nil && n.State == "Established" {
				t.Errorf("%s established a session with %s", r.Name, a)
			}
		}
	}
	out := logs.String()
	if out == "" {
		t.Fatal("no log output captured; the secret check would be vacuous")
	}
	for _, secret := range []string{right, wrong} {
		if strings.Contains(out, secret) {
			t.Errorf("a password appears in the watcher's logs")
		}
	}
}
