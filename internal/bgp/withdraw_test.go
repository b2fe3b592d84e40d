package bgp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// TestWithdrawalAndReturn: east stops announcing, first by withdrawing the
// VIP, then by its speaker going away entirely; each time a Change names the
// VIP and only west's origin remains; each time east comes back both do.
func TestWithdrawalAndReturn(t *testing.T) {
	f := fabric.Start(t, fabric.Options{})
	f.West.Announce(vip)
	f.East.Announce(vip)
	m, _ := newManager(t)
	apply(t, m, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{coreSession(f)}})
	waitPaths(t, m, vip, origins(fabric.WestASN, fabric.EastASN))

	for _, step := range []struct {
		name      string
		stop, ret func()
	}{
		{"withdraw", func() { f.East.Withdraw(vip) }, func() { f.East.Announce(vip) }},
		{"speaker down", f.East.Stop, f.East.Start},
	} {
		t.Run(step.name, func(t *testing.T) {
			drainChanges(m)
			start := time.Now()
			step.stop()
			c := waitChange(t, m, vip)
			if c.ReceivedAt.Before(start) {
				t.Errorf("Change.ReceivedAt %s is before east stopped (%s)", c.ReceivedAt, start)
			}
			waitPaths(t, m, vip, origins(fabric.WestASN))
			waitFIB(t, f, vip, 1)

			drainChanges(m)
			step.ret()
			waitChange(t, m, vip)
			waitPaths(t, m, vip, origins(fabric.WestASN, fabric.EastASN))
		})
	}
}
