package routerview

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// viewOf is a fixed watcher view: the paths and sessions a Manager would report.
type viewOf struct {
	paths    []bgp.Path
	sessions []bgp.SessionState
}

func (v viewOf) Apply(context.Context, string, bgp.Config) error { return nil }
func (v viewOf) Remove(context.Context, string) error            { return nil }
func (v viewOf) Paths(string, netip.Prefix) []bgp.Path           { return v.paths }
func (v viewOf) Sessions(string) []bgp.SessionState              { return v.sessions }
func (v viewOf) ClassPaths(string, int) ([]bgp.Path, int)        { return v.paths, len(v.paths) }
func (v viewOf) BMP(string) bgp.BMPState                         { return bgp.BMPState{} }

// TestAdvertisedWhileRouterRestarts: the only session is down, but its router is
// restarting gracefully and the watcher kept its table: the VIP is reported as the
// routers last carried it, and the message says so. Without kept paths the view is
// unknown.
func TestAdvertisedWhileRouterRestarts(t *testing.T) {
	class := &v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: v1alpha1.AnycastClassSpec{
		Watcher:  &v1alpha1.Watcher{},
		Clusters: []v1alpha1.ClusterMember{{Name: "west", ASN: 65001}, {Name: "east", ASN: 65002}},
	}}
	vip := netip.MustParseAddr("192.168.155.151")
	paths := []bgp.Path{
		{Session: "core", Prefix: netip.PrefixFrom(vip, 32), OriginAS: 65001, ASPath: []uint32{64500, 65001}},
		{Session: "core", Prefix: netip.PrefixFrom(vip, 32), PathID: 2, OriginAS: 65002, ASPath: []uint32{64500, 65002}},
	}
	down := bgp.SessionState{Name: "core", State: bgp.StateActive, Message: "session went down"}
	restarting := down
	restarting.Retained, restarting.RetainedUntil = 2, time.Now().Add(time.Minute)

	for _, tc := range []struct {
		name           string
		view           viewOf
		status         metav1.ConditionStatus
		reason, saying string
	}{
		{"restarting", viewOf{paths, []bgp.SessionState{restarting}}, metav1.ConditionTrue, "Advertised", "core, whose router is restarting gracefully"},
		{"down", viewOf{nil, []bgp.SessionState{down}}, metav1.ConditionUnknown, string(v1alpha1.ReasonWatcherNotEstablished), "no watcher session is established"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &status.Observation{Generation: 1, Now: metav1.Now(), Watcher: Observation(class, tc.view, vip), Members: []status.Member{
				{Name: "west", Outcome: status.Programmed, Advertisement: &render.Advertisement{Mode: render.Advertise}},
				{Name: "east", Outcome: status.Programmed, Advertisement: &render.Advertisement{Mode: render.Advertise}},
			}}
			st := status.Ingress(obs).Status
			c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionAdvertised)
			if c == nil || c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.saying) {
				t.Fatalf("Advertised = %+v; want %s %s saying %q", c, tc.status, tc.reason, tc.saying)
			}
		})
	}
}
