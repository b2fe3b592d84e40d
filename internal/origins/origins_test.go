package origins

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
)

var (
	now     = time.Date(2025, 12, 5, 10, 0, 0, 500, time.UTC)
	earlier = metav1.NewTime(now.Add(-time.Hour))
	vip     = netip.MustParsePrefix("192.168.155.151/32")
	other   = netip.MustParsePrefix("192.168.155.200/32")
)

func testClass() *v1alpha1.AnycastClass {
	local := int64(65011)
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: "dc"},
		Spec: v1alpha1.AnycastClassSpec{Clusters: []v1alpha1.ClusterMember{
			{Name: "west", ASN: 65001, Peers: []v1alpha1.Peer{{Name: "tor", ASN: 64001}, {Name: "tor2", ASN: 64003, LocalASN: &local}}},
			{Name: "east", ASN: 65002},
		}},
		Status: v1alpha1.AnycastClassStatus{Sessions: []v1alpha1.SessionStatus{{Name: "core", State: bgp.StateEstablished}}},
	}
}

// member is one status.clusters entry: "west" (advertise), "east:drained",
// "east:drained:Prepend", "east:Withdraw".
func member(s string) v1alpha1.IngressClusterStatus {
	parts := strings.Split(s, ":")
	cs := v1alpha1.IngressClusterStatus{Name: parts[0], Programmed: true, Advertisement: "Advertise"}
	for _, p := range parts[1:] {
		switch p {
		case "drained":
			cs.Drained, cs.Advertisement = true, "Withdraw"
		default:
			cs.Advertisement = p
		}
	}
	return cs
}

func ingress(name, addr string, members ...string) v1alpha1.AnycastIngress {
	ing := v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: "hello-world", Name: name}}
	ing.Status.Address = addr
	for _, m := range members {
		ing.Status.Clusters = append(ing.Status.Clusters, member(m))
	}
	return ing
}

func path(session string, prefix netip.Prefix, asPath ...uint32) bgp.Path {
	origin := uint32(0)
	if len(asPath) > 0 {
		origin = asPath[len(asPath)-1]
	}
	return bgp.Path{Session: session, Prefix: prefix, ASPath: asPath, OriginAS: origin}
}

// short renders entries as "prefix AS kind member ingress seenBy".
func short(es []v1alpha1.UnexpectedOrigin) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s %d %s %s %s %s", e.Prefix, e.OriginAS, e.Kind, e.Member, e.Ingress, strings.Join(e.SeenBy, ",")))
	}
	return out
}

func TestFind(t *testing.T) {
	hello := ingress("hello", "192.168.155.151", "west", "east")
	for _, c := range []struct {
		name      string
		paths     []bgp.Path
		ingresses []v1alpha1.AnycastIngress
		want      []string
		status    metav1.ConditionStatus
		reason    v1alpha1.Reason
	}{{
		name:      "both members announce their VIP",
		paths:     []bgp.Path{path("core", vip, 64666, 64001, 65001), path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		status:    metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:      "a prefix no ingress has, from a member",
		paths:     []bgp.Path{path("core", vip, 64666, 64001, 65001), path("core", other, 64666, 64001, 65001)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		want:      []string{"192.168.155.200/32 65001 Unowned west  core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:   "the VIP after its ingress was deleted",
		paths:  []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		want:   []string{"192.168.155.151/32 65002 Unowned east  core"},
		status: metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "a covering prefix of a VIP is no ingress's address",
		paths:     []bgp.Path{path("core", netip.MustParsePrefix("192.168.155.128/25"), 64666, 64001, 65001)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		want:      []string{"192.168.155.128/25 65001 Unowned west  core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "a drained member still announces",
		paths:     []bgp.Path{path("core", vip, 64666, 64001, 65001), path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("hello", "192.168.155.151", "west", "east:drained")},
		want:      []string{"192.168.155.151/32 65002 Drained east hello-world/hello core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "a member withdrawn by the health gate still announces",
		paths:     []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("hello", "192.168.155.151", "west", "east:Withdraw")},
		want:      []string{"192.168.155.151/32 65002 Drained east hello-world/hello core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "a member drained by prepending is asked to keep announcing",
		paths:     []bgp.Path{path("core", vip, 64666, 64002, 65002, 65002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("hello", "192.168.155.151", "west", "east:drained:Prepend")},
		status:    metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:      "a member that is not one of the ingress's",
		paths:     []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("hello", "192.168.155.151", "west")},
		want:      []string{"192.168.155.151/32 65002 NotProgrammed east hello-world/hello core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:  "a member not programmed right now keeps what it was given",
		paths: []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{func() v1alpha1.AnycastIngress {
			i := ingress("hello", "192.168.155.151", "west", "east")
			i.Status.Clusters[1].Programmed = false
			return i
		}()},
		status: metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:      "an ingress never reconciled has said nothing of its members",
		paths:     []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("hello", "192.168.155.151")},
		status:    metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:  "spec.address alone is no ownership",
		paths: []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{func() v1alpha1.AnycastIngress {
			i := ingress("hello", "")
			i.Spec.Address = vip.Addr().String()
			return i
		}()},
		want:   []string{"192.168.155.151/32 65002 Unowned east  core"},
		status: metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "a peer's localASN is its member's",
		paths:     []bgp.Path{path("core", vip, 64666, 64003, 65011)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		status:    metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:      "an unknown origin AS hijacks a VIP, seen on the core and over BMP",
		paths:     []bgp.Path{path("core", vip, 64666, 64002, 65002, 65099), path("tor-east", vip, 65002, 65099), path("core", vip, 64666, 64001, 65001)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		want:      []string{"192.168.155.151/32 65099 UnknownOrigin  hello-world/hello core,tor-east"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:      "an unknown origin on a prefix nobody owns is UnknownOrigin",
		paths:     []bgp.Path{path("core", other, 64666, 65099)},
		ingresses: []v1alpha1.AnycastIngress{hello},
		want:      []string{"192.168.155.200/32 65099 UnknownOrigin   core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:   "a path without origin AS (the router's own)",
		paths:  []bgp.Path{path("core", other)},
		want:   []string{"192.168.155.200/32 0 UnknownOrigin   core"},
		status: metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}, {
		name:  "two ingresses claim one VIP: one that explains the member is enough",
		paths: []bgp.Path{path("core", vip, 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("a", "192.168.155.151", "west", "east:drained"),
			ingress("b", "192.168.155.151", "west", "east")},
		status: metav1.ConditionTrue, reason: v1alpha1.ReasonNoneUnexpected,
	}, {
		name:      "IPv6 VIPs are host prefixes too",
		paths:     []bgp.Path{path("core", netip.MustParsePrefix("2001:db8::151/128"), 64666, 64002, 65002)},
		ingresses: []v1alpha1.AnycastIngress{ingress("v6", "2001:db8::151", "west")},
		want:      []string{"2001:db8::151/128 65002 NotProgrammed east hello-world/v6 core"},
		status:    metav1.ConditionFalse, reason: v1alpha1.ReasonUnexpectedOrigins,
	}} {
		t.Run(c.name, func(t *testing.T) {
			res := Find(Input{Class: testClass(), Paths: c.paths, Held: len(c.paths), Ingresses: c.ingresses, Now: now})
			if got := short(res.Entries); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if res.Status != c.status || res.Reason != c.reason {
				t.Errorf("condition %s/%s (%s), want %s/%s", res.Status, res.Reason, res.Message, c.status, c.reason)
			}
			total := 0
			for _, n := range res.Counts {
				total += n
			}
			if total != len(c.want) {
				t.Errorf("counts %v, want %d in all", res.Counts, len(c.want))
			}
			for _, e := range res.Entries {
				if e.Since == nil || !e.Since.Time.Equal(now.Truncate(time.Second)) {
					t.Errorf("a new entry's since is %v, want now (to the second)", e.Since)
				}
				if !strings.Contains(res.Message, e.Prefix) || !strings.Contains(res.Message, string(e.Kind)) {
					t.Errorf("message %q does not name %s (%s)", res.Message, e.Prefix, e.Kind)
				}
			}
		})
	}
}

// TestSinceIsKept: an entry that stays keeps its since, also when its kind changes (it
// has been unexplained all along); one that went and comes back starts again.
func TestSinceIsKept(t *testing.T) {
	prev := []v1alpha1.UnexpectedOrigin{
		{Prefix: "192.168.155.151/32", OriginAS: 65002, Kind: v1alpha1.OriginDrained, Since: &earlier},
		{Prefix: "192.168.155.200/32", OriginAS: 65002, Kind: v1alpha1.OriginUnowned, Since: &earlier},
	}
	res := Find(Input{Class: testClass(), Now: now, Previous: prev,
		Paths: []bgp.Path{path("core", vip, 64666, 64002, 65002), path("core", other, 64666, 64001, 65001)}})
	if len(res.Entries) != 2 {
		t.Fatalf("entries %v", short(res.Entries))
	}
	if e := res.Entries[0]; e.Kind != v1alpha1.OriginUnowned || !e.Since.Equal(&earlier) {
		t.Errorf("the drained VIP whose ingress is gone: %s since %v, want Unowned since %v", e.Kind, e.Since, earlier)
	}
	if e := res.Entries[1]; e.OriginAS != 65001 || !e.Since.Time.Equal(now.Truncate(time.Second)) {
		t.Errorf("another origin of a listed prefix is a new entry: %+v", e)
	}
	ev := Events(prev, res.Entries)
	if len(ev) != 2 {
		t.Fatalf("events %+v, want two: the kind that changed and the new origin", ev)
	}
	for _, e := range ev {
		if e.Type != "Warning" || e.Reason != "UnexpectedOrigins" || !strings.Contains(e.Note, "nothing is withdrawn") {
			t.Errorf("event %+v", e)
		}
	}
	if ev := Events(res.Entries, res.Entries); len(ev) != 0 {
		t.Errorf("an unchanged list raised events: %+v", ev)
	}
}

// TestBounded: more unexpected origins than the status holds: the most serious kinds are
// kept, presented by prefix; the counts and the message count them all; a bounded read
// of the paths says so.
func TestBounded(t *testing.T) {
	var paths []bgp.Path
	for i := range 40 {
		paths = append(paths, path("core", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 155, byte(i)}), 32), 64666, 64001, 65001))
	}
	paths = append(paths, path("core", netip.MustParsePrefix("192.168.155.250/32"), 64666, 65099))
	res := Find(Input{Class: testClass(), Paths: paths, Held: 100, Now: now})
	if len(res.Entries) != v1alpha1.MaxUnexpectedOrigins {
		t.Fatalf("%d entries, want %d", len(res.Entries), v1alpha1.MaxUnexpectedOrigins)
	}
	if res.Counts[v1alpha1.OriginUnowned] != 40 || res.Counts[v1alpha1.OriginUnknown] != 1 {
		t.Errorf("counts %v", res.Counts)
	}
	last := res.Entries[len(res.Entries)-1]
	if last.Kind != v1alpha1.OriginUnknown || last.Prefix != "192.168.155.250/32" {
		t.Errorf("the unknown origin must be kept, and the list sorted by prefix: last is %+v", last)
	}
	for _, want := range []string{"41 prefix origin(s)", "and 36 more", "only the first 41 of the 100 paths"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not say %q", res.Message, want)
		}
	}
}

// TestBlind: with no session up and no path, nothing can be said.
func TestBlind(t *testing.T) {
	class := testClass()
	class.Status.Sessions[0].State = "Active"
	res := Find(Input{Class: class, Now: now})
	if res.Status != metav1.ConditionUnknown || res.Reason != v1alpha1.ReasonWatcherNotEstablished {
		t.Errorf("no session up: %s/%s, want Unknown/WatcherNotEstablished", res.Status, res.Reason)
	}
	class.Status.BMP = &v1alpha1.BMPStatus{Routers: []v1alpha1.BMPRouterStatus{{Name: "tor-west", Connected: true}}}
	if res := Find(Input{Class: class, Now: now}); res.Status != metav1.ConditionTrue {
		t.Errorf("a BMP router streams and reports nothing unexpected: %s/%s", res.Status, res.Reason)
	}
}

// TestIngressChanged: only what Find reads of an ingress brings the class back.
func TestIngressChanged(t *testing.T) {
	a := ingress("hello", "192.168.155.151", "west", "east")
	for _, c := range []struct {
		name   string
		change func(*v1alpha1.AnycastIngress)
		want   bool
	}{
		{"nothing", func(*v1alpha1.AnycastIngress) {}, false},
		{"a condition", func(i *v1alpha1.AnycastIngress) { i.Status.Conditions = []metav1.Condition{{Type: "Ready"}} }, false},
		{"paths", func(i *v1alpha1.AnycastIngress) { i.Status.Paths = []v1alpha1.PathStatus{{Session: "core"}} }, false},
		{"the address", func(i *v1alpha1.AnycastIngress) { i.Status.Address = "192.168.155.152" }, true},
		{"a drain", func(i *v1alpha1.AnycastIngress) { i.Status.Clusters[1].Drained = true }, true},
		{"an advertisement", func(i *v1alpha1.AnycastIngress) { i.Status.Clusters[1].Advertisement = "Withdraw" }, true},
		{"a member leaves", func(i *v1alpha1.AnycastIngress) { i.Status.Clusters = i.Status.Clusters[:1] }, true},
	} {
		b := a.DeepCopy()
		c.change(b)
		if got := IngressChanged(&a, b); got != c.want {
			t.Errorf("%s: changed = %v, want %v", c.name, got, c.want)
		}
	}
}
