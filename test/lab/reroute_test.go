package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/traffic"
)

// TestRerouteWindows: a reroute's window runs from a TOR's change shortly before the
// core's (a withdrawal: the TOR drops the speaker's route first) to a TOR's change
// shortly after it (a return: the core installs the multipath route before the TOR's
// kernel has the speaker's route back, as the real-stack lab showed, 49 ms apart); a TOR
// change belongs to the nearest reroute only, and one far from any core change to none.
func TestRerouteWindows(t *testing.T) {
	at := func(ms int) time.Time {
		return time.Date(2026, 12, 5, 8, 24, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
	}
	core := []labfabric.RouteChange{
		{At: at(1000), From: []string{"a", "b"}, To: []string{"a"}},  // drain: the TOR moved 52 ms before
		{At: at(30000), From: []string{"a"}, To: []string{"a", "b"}}, // undrain: the TOR follows 49 ms after
		{At: at(30001), From: []string{"a", "b"}, To: []string{"a", "b"}},
	}
	tor := []time.Time{at(30049), at(948), at(20000)}
	got := reroutesOf(core, tor)
	if len(got) != 2 {
		t.Fatalf("%d reroutes, want 2 (the core's two events 1 ms apart are one): %+v", len(got), got)
	}
	if !got[0].Start.Equal(at(948)) || !got[0].End.Equal(at(1000)) {
		t.Errorf("drain window %s..%s, want the TOR's change at +948ms to the core's at +1000ms", got[0].Start, got[0].End)
	}
	if !got[1].Start.Equal(at(30000)) || !got[1].End.Equal(at(30049)) || !got[1].At.Equal(at(30001)) {
		t.Errorf("undrain window %s..%s (core %s), want the core's change at +30000ms to the TOR's at +30049ms", got[1].Start, got[1].End, got[1].At)
	}
	// A request started 15 ms after the core's change on undrain and ended 20 ms later
	// was in flight while the path moved; one 3 s later was not.
	in := func(start, end time.Time) bool { _, ok := inFlightAt(start, end, got); return ok }
	if !in(at(30015), at(30019)) {
		t.Error("a request in flight between the core's and the TOR's change on undrain is not matched with the reroute")
	}
	if in(at(33000), at(33004)) || in(at(20000), at(20004)) {
		t.Error("a request far from any core change is matched with a reroute")
	}
}

// TestFailureWhere: a failure at no reroute says the stage it reached and the core's next
// hop for its flow, or why there is none (no connection made: no source port to ask the
// core about), never an empty via "".
func TestFailureWhere(t *testing.T) {
	local := netip.MustParseAddrPort("10.99.0.2:40123")
	for _, c := range []struct {
		f    Failure
		want string
	}{
		{Failure{Result: traffic.Result{Reached: "connected", Local: local}, Via: "10.0.1.2"}, "reached connected; the core sends this flow via 10.0.1.2 now"},
		{Failure{Result: traffic.Result{Reached: "request sent", Local: local}}, "reached request sent; the core's next hop for this flow is unknown"},
		{Failure{Result: traffic.Result{Reached: "dialing"}}, "reached dialing; no connection was made, so no flow to look up at the core"},
		{Failure{}, "no stage recorded; no connection was made, so no flow to look up at the core"},
	} {
		if got := c.f.where(); got != c.want {
			t.Errorf("where() = %q, want %q", got, c.want)
		}
	}
}

// TestOutsideReport: the walk's error for an outage at no reroute sums it up in a few
// lines (how many failed, when, by path and by how, the first and the last, what the core
// did), not one line per request: the end of a failed run's output must still hold the
// lab's events around it.
func TestOutsideReport(t *testing.T) {
	from := time.Date(2026, 12, 6, 21, 25, 4, 221_000_000, time.UTC)
	step := &StepTraffic{From: from, Reroutes: []Reroute{{RouteChange: labfabric.RouteChange{At: from.Add(140 * time.Millisecond), From: []string{"w", "e"}, To: []string{"w"}}}}}
	var fs []Failure
	for i := range 300 {
		start := from.Add(300*time.Millisecond + time.Duration(i)*33*time.Millisecond)
		path := []string{"/hello", "/api", "https /hello"}[i%3]
		fs = append(fs, Failure{Path: path, Result: traffic.Result{Start: start, End: start.Add(2 * time.Second), Err: "context deadline exceeded", Reached: "dialing"}})
	}
	got := (&Lab{}).outsideReport("stop east's speaker", step, fs)
	for _, want := range []string{
		"stop east's speaker: 300 request(s) failed at no reroute, started from 21:25:04.521 to 21:25:14.388 (300ms to 10.167s into the step)",
		"by path map[/api:100 /hello:100 https /hello:100]",
		"300 x context deadline exceeded [reached dialing; no connection was made, so no flow to look up at the core]",
		"/hello 21:25:04.521..21:25:06.521, no connection",
		"the core moved its path w,e -> w at 21:25:04.361",
		"from 21:25:01.521 to 21:25:17.388, 0 event(s) in the lab:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n > 10 {
		t.Errorf("%d lines for one outage:\n%s", n+1, got)
	}
}

// TestRedirectsIn reads the redirects received from /proc/net/snmp6 and /proc/net/snmp
// as this kernel prints them.
func TestRedirectsIn(t *testing.T) {
	snmp6 := "Icmp6InMsgs                     	14\nIcmp6InRedirects                	7\nIcmp6OutRedirects               	0\n"
	if n := redirectsIn(snmp6, "Icmp6InRedirects"); n != 7 {
		t.Errorf("snmp6: %d, want 7", n)
	}
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos\nIcmp: 9 0 0 1 0 0 0 3 5\n"
	if n := redirectsIn(snmp, "Icmp:"); n != 3 {
		t.Errorf("snmp: %d, want 3", n)
	}
	if n := redirectsIn("", "Icmp:"); n != 0 {
		t.Errorf("empty: %d", n)
	}
}

// TestAfter reads the word after a key in `ip` output: a neighbour's MAC, a link's, a
// route's next hop; nothing when the key is missing or last.
func TestAfter(t *testing.T) {
	for _, c := range []struct{ line, key, want string }{
		{"fe80::1 dev to-core lladdr 9a:01:70:de:f7:7b router STALE", "lladdr", "9a:01:70:de:f7:7b"},
		{"fe80::1 dev to-core router FAILED", "lladdr", ""},
		{"5: to-client@if4: <UP> mtu 1500 link/ether 92:96:cb:b9:a3:d2 brd ff:ff:ff:ff:ff:ff", "link/ether", "92:96:cb:b9:a3:d2"},
		{"192.0.2.1 from 198.18.100.10 via 198.18.1.2 dev to-torw", "via", "198.18.1.2"},
		{"ends with via", "via", ""},
	} {
		if got := after(c.line, c.key); got != c.want {
			t.Errorf("after(%q, %q) = %q, want %q", c.line, c.key, got, c.want)
		}
	}
}
