package watcher_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// originsFollow bounds how long the class may take to show or drop an unexpected origin
// in this test: generous, since the machine is shared; the "within a second" is
// shown by the delays the test logs, not asserted.
const originsFollow = 20 * time.Second

// TestUnexpectedOrigins (issue 19, point 3): on the FRR fabric, what the routers carry
// inside the pools that no ingress explains appears on the class (status.unexpectedOrigins,
// OriginsExplained=False, the anycast_unexpected_origins gauge, a Warning event) and goes
// when it stops: a pool prefix a speaker announces that no ingress has (Unowned, three
// times), a drained member that announces the VIP (Drained), the VIP hijacked with an
// origin AS that is no member's, injected through east's speaker (UnknownOrigin), and the
// VIP still announced after its ingress is deleted (Unowned). Each delay, from the
// speaker's change to the class status that shows it, is logged. The operator never acts:
// the members' MetalLB objects of the ingress stay as they were.
func TestUnexpectedOrigins(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	const name = "origins"
	vip := netip.MustParsePrefix("192.168.155.161/32")
	stray := netip.MustParsePrefix("192.168.155.200/32")
	create(t, class(name, f, nil))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, name) })
	create(t, &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "hello-world"},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: name, Address: vip.Addr().String()},
	})
	f.West.Announce(vip)
	f.East.Announce(vip)
	waitIngress(t, name, "Advertised by both members", func(i *v1alpha1.AnycastIngress) error {
		return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionAdvertised, metav1.ConditionTrue, "Advertised")
	})
	explained := func() error {
		cls, err := getClass(name)
		if err != nil {
			return err
		}
		if len(cls.Status.UnexpectedOrigins) > 0 {
			return fmt.Errorf("unexpected origins %+v", cls.Status.UnexpectedOrigins)
		}
		return testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionOriginsExplained, metav1.ConditionTrue, string(v1alpha1.ReasonNoneUnexpected))
	}
	testenv.Eventually(t, "OriginsExplained=True while the members announce their VIP", converge, explained)
	objects := memberObjects(t, name)

	var appeared, went []time.Duration
	t.Run("a pool prefix no ingress has", func(t *testing.T) {
		for round := range 3 {
			f.West.Announce(stray)
			d := follow(t, "Unowned appears", expect(name, stray, fabric.WestASN, v1alpha1.OriginUnowned, "west", ""))
			appeared = append(appeared, d)
			checkGauge(t, name, v1alpha1.OriginUnowned, 1)
			cls, _ := getClass(name)
			if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionOriginsExplained, metav1.ConditionFalse, string(v1alpha1.ReasonUnexpectedOrigins)); err != nil {
				t.Error(err)
			}
			if !strings.Contains(message2(cls.Status.Conditions, v1alpha1.ConditionOriginsExplained), stray.String()) {
				t.Errorf("the condition does not name %s: %s", stray, message2(cls.Status.Conditions, v1alpha1.ConditionOriginsExplained))
			}
			f.West.Withdraw(stray)
			d = follow(t, "Unowned goes", explained)
			went = append(went, d)
			checkGauge(t, name, v1alpha1.OriginUnowned, 0)
			t.Logf("round %d: %s announced by west: on the class %s later; withdrawn: gone %s later",
				round+1, stray, appeared[len(appeared)-1].Round(time.Millisecond), d.Round(time.Millisecond))
		}
		warningEvent(t, name, stray.String())
		if after := memberObjects(t, name); !sameObjects(objects, after) {
			t.Errorf("the ingress's member objects changed while a stray prefix was reported:\nbefore %v\nafter  %v", objects, after)
		}
	})

	t.Run("a drained member still announces", func(t *testing.T) {
		f.East.Withdraw(vip)
		testenv.Eventually(t, "drain east", converge, func() error {
			cur := getIngress(t, name)
			cur.Spec.Drain = []string{"east"}
			return west.Client.Update(context.Background(), cur)
		})
		waitIngress(t, name, "east drained and gone from the routers", func(i *v1alpha1.AnycastIngress) error {
			return testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionDrained, metav1.ConditionTrue, "Withdrawn")
		})
		testenv.Eventually(t, "nothing unexpected while drained east is silent", originsFollow, explained)
		// East's speaker stands in for a MetalLB that did not withdraw.
		f.East.Announce(vip)
		d := follow(t, "Drained appears", expect(name, vip, fabric.EastASN, v1alpha1.OriginDrained, "east", "hello-world/"+name))
		appeared = append(appeared, d)
		checkGauge(t, name, v1alpha1.OriginDrained, 1)
		f.East.Withdraw(vip)
		g := follow(t, "Drained goes", explained)
		went = append(went, g)
		t.Logf("drained east announced %s: on the class %s later; withdrawn: gone %s later", vip, d.Round(time.Millisecond), g.Round(time.Millisecond))
		warningEvent(t, name, vip.String()+" from east")
	})

	t.Run("an origin AS that is no member's", func(t *testing.T) {
		objects := memberObjects(t, name)
		// Injected through east's speaker with an AS path of its own: the routers carry
		// 64002 65002 65099, the origin 65099 is no member's.
		hijack := func(op string) {
			t.Helper()
			args := []string{"netns", "exec", f.East.NS, "gobgp", "-u", "127.0.0.1", "-p", "50051", "global", "rib", "-a", "ipv4", op, vip.String()}
			if op == "add" {
				args = append(args, "origin", "igp", "aspath", fmt.Sprint(fabric.DefaultRogueASN))
			}
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("gobgp %s: %v: %s", op, err, out)
			}
		}
		t.Cleanup(func() {
			_ = exec.Command("ip", "netns", "exec", f.East.NS, "gobgp", "-u", "127.0.0.1", "-p", "50051", "global", "rib", "-a", "ipv4", "del", vip.String()).Run()
		})
		hijack("add")
		d := follow(t, "UnknownOrigin appears", expect(name, vip, fabric.DefaultRogueASN, v1alpha1.OriginUnknown, "", "hello-world/"+name))
		appeared = append(appeared, d)
		checkGauge(t, name, v1alpha1.OriginUnknown, 1)
		if ing := getIngress(t, name); !slices.ContainsFunc(ing.Status.Clusters, func(c v1alpha1.IngressClusterStatus) bool {
			return c.Name == "west" && c.Advertisement == string(render.Advertise)
		}) {
			t.Errorf("west must still be asked to advertise: %+v", ing.Status.Clusters)
		}
		hijack("del")
		g := follow(t, "UnknownOrigin goes", explained)
		went = append(went, g)
		t.Logf("%s injected with origin AS %d: on the class %s later; removed: gone %s later", vip, fabric.DefaultRogueASN, d.Round(time.Millisecond), g.Round(time.Millisecond))
		warningEvent(t, name, fmt.Sprintf("AS %d is no member's", fabric.DefaultRogueASN))
		if after := memberObjects(t, name); !sameObjects(objects, after) {
			t.Errorf("the ingress's member objects changed while a hijack was reported:\nbefore %v\nafter  %v", objects, after)
		}
	})

	t.Run("the VIP still announced after its ingress is deleted", func(t *testing.T) {
		if err := west.Client.Delete(context.Background(), getIngress(t, name)); err != nil {
			t.Fatal(err)
		}
		// West's speaker stands in for a MetalLB that has not caught up.
		d := follow(t, "Unowned VIP appears", expect(name, vip, fabric.WestASN, v1alpha1.OriginUnowned, "west", ""))
		t.Logf("ingress deleted: its VIP, still announced by west, on the class as Unowned %s after the delete call", d.Round(time.Millisecond))
		f.West.Withdraw(vip)
		g := follow(t, "Unowned VIP goes", explained)
		went = append(went, g)
		t.Logf("withdrawn: gone %s later", g.Round(time.Millisecond))
	})

	t.Logf("unexpected origin on the class after the speaker's change (path arrival): %s", summary(appeared))
	t.Logf("unexpected origin gone from the class after the speaker's withdrawal: %s", summary(went))
}

// follow polls f every 20 ms until it holds and returns how long that took; a failure
// after originsFollow fails the test.
func follow(t *testing.T, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < originsFollow {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, originsFollow, err)
	return 0
}

// expect checks that the class lists exactly one unexpected origin, as described.
func expect(class string, prefix netip.Prefix, origin uint32, kind v1alpha1.OriginKind, member, ingress string) func() error {
	return func() error {
		cls, err := getClass(class)
		if err != nil {
			return err
		}
		if len(cls.Status.UnexpectedOrigins) != 1 {
			return fmt.Errorf("unexpected origins %+v, want one", cls.Status.UnexpectedOrigins)
		}
		e := cls.Status.UnexpectedOrigins[0]
		if e.Prefix != prefix.String() || e.OriginAS != int64(origin) || e.Kind != kind || e.Member != member || e.Ingress != ingress ||
			!slices.Equal(e.SeenBy, []string{"core"}) || e.Since == nil {
			return fmt.Errorf("entry %+v, want %s from AS %d, %s, member %q, ingress %q, seen by core, with since", e, prefix, origin, kind, member, ingress)
		}
		return testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionOriginsExplained, metav1.ConditionFalse, string(v1alpha1.ReasonUnexpectedOrigins))
	}
}

func getClass(name string) (*v1alpha1.AnycastClass, error) {
	cls := &v1alpha1.AnycastClass{}
	return cls, west.Client.Get(context.Background(), client.ObjectKey{Name: name}, cls)
}

// checkGauge reads the operator's anycast_unexpected_origins{class,kind} (it runs in this
// process) until it is want.
func checkGauge(t *testing.T, class string, kind v1alpha1.OriginKind, want float64) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("anycast_unexpected_origins{kind=%s} = %v", kind, want), originsFollow, func() error {
		families, err := crmetrics.Registry.Gather()
		if err != nil {
			return err
		}
		for _, fam := range families {
			if fam.GetName() != "anycast_unexpected_origins" {
				continue
			}
			for _, m := range fam.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["class"] == class && labels["kind"] == string(kind) {
					if got := m.GetGauge().GetValue(); got != want {
						return fmt.Errorf("got %v", got)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no series")
	})
}

// warningEvent waits for a Warning event UnexpectedOrigins on the class whose note says
// what.
func warningEvent(t *testing.T, class, what string) {
	t.Helper()
	testenv.Eventually(t, "a Warning event naming "+what, originsFollow, func() error {
		list := &eventsv1.EventList{}
		if err := west.Client.List(context.Background(), list); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Kind != "AnycastClass" || e.Regarding.Name != class {
				continue
			}
			if e.Type == "Warning" && e.Reason == string(v1alpha1.ReasonUnexpectedOrigins) && strings.Contains(e.Note, what) {
				return nil
			}
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Note)
		}
		return fmt.Errorf("events on the class: %v", seen)
	})
}

// memberObjects are the resource versions of the ingress's MetalLB objects on both
// members: what the operator would change to act on an origin.
func memberObjects(t *testing.T, ingress string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ref := owner.Ingress(ingress, "hello-world", ingress) // the class has the ingress's name
	for cluster, env := range map[string]*testenv.Env{"west": west, "east": east} {
		for _, gvk := range []struct{ g, v, k string }{{"metallb.io", "v1beta1", "IPAddressPool"}, {"metallb.io", "v1beta1", "BGPAdvertisement"}} {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion(gvk.g + "/" + gvk.v)
			list.SetKind(gvk.k + "List")
			if err := env.Client.List(context.Background(), list, client.MatchingLabelsSelector{Selector: ref.Selector()}); err != nil {
				t.Fatal(err)
			}
			for _, o := range list.Items {
				out[cluster+"/"+gvk.k+"/"+o.GetName()] = o.GetResourceVersion()
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no MetalLB objects of the ingress on the members")
	}
	return out
}

func sameObjects(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%d samples, min %s, median %s, max %s (%s)", len(s), s[0].Round(time.Millisecond),
		s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), strings.Join(parts, ", "))
}
