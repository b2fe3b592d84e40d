package bgp

import (
	"net/netip"
	"testing"
	"time"
)

// TestSessionSynced: a session holds the routers' table on End-of-RIB for every family of
// the pools, or, without markers, after SyncMin established and SyncQuiet without an
// UPDATE, and after SyncMax whatever arrives. Before that it says how long to wait.
func TestSessionSynced(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	v4 := []uint16{afiIPv4}
	both := []uint16{afiIPv4, afiIPv6}
	cases := []struct {
		name       string
		s          *session
		need       []uint16
		now        time.Time
		want       bool
		wantWaitGE time.Duration
	}{
		{"down", &session{state: StateActive, syncFrom: t0}, v4, t0.Add(time.Minute), false, 0},
		{"just up", &session{state: StateEstablished, syncFrom: t0}, v4, t0.Add(500 * time.Millisecond), false, 2 * time.Second},
		{"eor", &session{state: StateEstablished, syncFrom: t0, eor: map[uint16]bool{afiIPv4: true}}, v4, t0.Add(100 * time.Millisecond), true, 0},
		{"eor for one family of two", &session{state: StateEstablished, syncFrom: t0, eor: map[uint16]bool{afiIPv4: true}}, both, t0.Add(100 * time.Millisecond), false, time.Second},
		{"quiet after min", &session{state: StateEstablished, syncFrom: t0, lastUpdate: t0.Add(time.Second)}, v4, t0.Add(SyncMin), true, 0},
		{"no update at all", &session{state: StateEstablished, syncFrom: t0}, v4, t0.Add(SyncMin), true, 0},
		{"still receiving", &session{state: StateEstablished, syncFrom: t0, lastUpdate: t0.Add(9*time.Second + 800*time.Millisecond)}, v4, t0.Add(10 * time.Second), false, 100 * time.Millisecond},
		{"never quiet, cap", &session{state: StateEstablished, syncFrom: t0, lastUpdate: t0.Add(SyncMax)}, v4, t0.Add(SyncMax), true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, wait := c.s.synced(c.need, c.now)
			if got != c.want {
				t.Fatalf("synced = %v, want %v", got, c.want)
			}
			if !got && c.s.state == StateEstablished && wait < c.wantWaitGE {
				t.Errorf("wait %s, want at least %s", wait, c.wantWaitGE)
			}
			if got && wait != 0 {
				t.Errorf("synced with a wait of %s", wait)
			}
		})
	}
}

// TestSessionRelearning: pools added while a session is up are relearning until the
// time rule holds from the route refresh, then forgotten.
func TestSessionRelearning(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	added := netip.MustParsePrefix("192.168.156.0/24")
	s := &session{state: StateEstablished, syncFrom: t0.Add(-time.Hour), relearn: []netip.Prefix{added}, relearnFrom: t0}
	if ok, _ := s.synced([]uint16{afiIPv4}, t0); !ok {
		t.Fatal("a pool change must not unsync the whole session")
	}
	got, wait := s.relearning(t0.Add(time.Second))
	if len(got) != 1 || got[0] != added || wait < time.Second {
		t.Fatalf("1 s after the refresh: relearning %v, wait %s; want %s and at least 1 s", got, wait, added)
	}
	s.lastUpdate = t0.Add(2900 * time.Millisecond) // the refresh's routes still arriving
	if got, _ := s.relearning(t0.Add(3 * time.Second)); len(got) != 1 {
		t.Fatalf("still receiving: relearning %v, want %s", got, added)
	}
	if got, wait := s.relearning(t0.Add(4 * time.Second)); len(got) != 0 || wait != 0 {
		t.Fatalf("quiet for 1 s after 3 s: relearning %v, wait %s; want done", got, wait)
	}
	if s.relearn != nil {
		t.Error("relearned pools not forgotten")
	}
}
