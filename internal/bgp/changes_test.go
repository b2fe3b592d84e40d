package bgp

import (
	"net/netip"
	"testing"
	"time"
)

// TestChangeQueueCoalesces: with nobody reading, pushes never block and
// merge per class: union of prefixes, earliest ReceivedAt, Sessions or-ed,
// classes delivered in the order they first became pending.
func TestChangeQueueCoalesces(t *testing.T) {
	q := newChangeQueue()
	defer q.close()
	t0 := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 155, byte(i % 7)}), 32)
			q.push("a", []netip.Prefix{p}, false, t0.Add(time.Duration(i%13)*time.Millisecond))
		}
		q.push("b", nil, true, t0.Add(time.Second))
		q.push("a", nil, true, t0.Add(time.Hour))
		q.push("c", nil, false, t0) // empty: dropped
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("push blocked without a consumer")
	}

	// The first "a" change may already be in flight (taken before the rest
	// was pushed); everything after it must be merged into one.
	var got []Change
collect:
	for {
		select {
		case c := <-q.out:
			got = append(got, c)
		case <-time.After(500 * time.Millisecond):
			break collect
		}
	}
	// Which pushes the in-flight change took depends on scheduling: all of the 10,000
	// "a" pushes may be in it, and then the last "a" push (t0+1h) comes after "b"
	// became pending and is delivered after it. Either way: at most three changes, "b"
	// once, an "a" delivered before "b" carries the earliest time of what it merged, one
	// after "b" is the last push alone.
	prefixes := map[netip.Prefix]bool{}
	sessionsA, seenB, bs := false, false, 0
	var classes []string
	for _, c := range got {
		classes = append(classes, c.Class)
		switch c.Class {
		case "a":
			for _, p := range c.Prefixes {
				prefixes[p] = true
			}
			sessionsA = sessionsA || c.Sessions
			if !seenB && c.ReceivedAt.After(t0.Add(12*time.Millisecond)) {
				t.Errorf("ReceivedAt %s is not the earliest of the merged changes", c.ReceivedAt.Sub(t0))
			}
			if seenB && (!c.ReceivedAt.Equal(t0.Add(time.Hour)) || len(c.Prefixes) != 0) {
				t.Errorf("an a change after b must be the last push alone: %+v", c)
			}
		case "b":
			seenB = true
			bs++
			if !c.Sessions || !c.ReceivedAt.Equal(t0.Add(time.Second)) {
				t.Errorf("class b change %+v", c)
			}
		}
	}
	if len(got) > 3 || bs != 1 {
		t.Errorf("delivered %v; want at most one in-flight change, then a and b merged", classes)
	}
	if len(prefixes) != 7 || !sessionsA {
		t.Errorf("merged class a: %d prefixes (want 7), sessions %v (want true)", len(prefixes), sessionsA)
	}
}
