package watcher_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// counterFollow bounds how long the class's counters may trail the routers: the
// watcher publishes a counter move at once, or CountersEvery (2 s) after the
// previous one, and the class reconcile writes it. Without that push the class
// learnt of counters only from its periodic reconcile, 30 s apart.
const counterFollow = 6 * time.Second

// TestClassCountersFollowTheRouters (issue 14, point 5): the class's session
// counters count prefixes, not ADD-PATH paths (the VIP the core sends with
// both clusters' paths is one prefix), and follow what the routers send within
// seconds, also when nothing but the counters moves (a route outside the pools
// comes and goes): three times, so a periodic reconcile that happens to fall
// in the window cannot pass for the push.
func TestClassCountersFollowTheRouters(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	vip := netip.MustParsePrefix("192.168.155.151/32")
	f.West.Announce(vip)
	f.East.Announce(vip)
	create(t, class("counters", f, nil))
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "counters") })

	session := func() (v1alpha1.SessionStatus, error) {
		cls := &v1alpha1.AnycastClass{}
		if err := west.Client.Get(context.Background(), client.ObjectKey{Name: "counters"}, cls); err != nil {
			return v1alpha1.SessionStatus{}, err
		}
		if len(cls.Status.Sessions) != 1 || cls.Status.Sessions[0].State != "Established" {
			return v1alpha1.SessionStatus{}, fmt.Errorf("sessions %+v", cls.Status.Sessions)
		}
		return cls.Status.Sessions[0], nil
	}
	counts := func(received, accepted int64) func() error {
		return func() error {
			s, err := session()
			if err != nil {
				return err
			}
			if s.ReceivedPrefixes != received || s.AcceptedPrefixes != accepted {
				return fmt.Errorf("received %d, accepted %d prefixes; want %d and %d", s.ReceivedPrefixes, s.AcceptedPrefixes, received, accepted)
			}
			return nil
		}
	}
	// Both clusters' paths of the VIP (ADD-PATH): one prefix.
	testenv.Eventually(t, "the class counts the VIP once", converge, counts(1, 1))

	others := []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24"), netip.MustParsePrefix("10.99.1.0/24"), netip.MustParsePrefix("10.99.2.0/24")}
	for i, p := range others {
		start := time.Now()
		f.West.Announce(p) // outside the pools: only the received counter moves
		testenv.Eventually(t, fmt.Sprintf("receivedPrefixes follows the announcement of %s", p), counterFollow, counts(int64(2+i), 1))
		t.Logf("%s announced: the class said so %s later", p, time.Since(start).Round(10*time.Millisecond))
	}
	start := time.Now()
	for _, p := range others {
		f.West.Withdraw(p)
	}
	testenv.Eventually(t, "receivedPrefixes follows the withdrawals", counterFollow, counts(1, 1))
	t.Logf("withdrawn: the class said so %s later", time.Since(start).Round(10*time.Millisecond))
}
