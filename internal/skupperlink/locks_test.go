package skupperlink

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNetworkLocks: one network's work is serialised, other networks do not wait, and a
// lock is forgotten once nobody holds or waits for it (the map does not grow with every
// class and namespace ever seen).
func TestNetworkLocks(t *testing.T) {
	var n networkLocks
	var inside atomic.Int32
	var overlap atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				unlock := n.lock("dc/team-a")
				if inside.Add(1) > 1 {
					overlap.Store(true)
				}
				time.Sleep(10 * time.Microsecond)
				inside.Add(-1)
				unlock()
			}
		}()
	}
	// Another network is never blocked by the busy one.
	done := make(chan struct{})
	go func() {
		unlock := n.lock("dc/team-b")
		unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lock on another network waited for the busy one")
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("two holders of one network's lock at once")
	}
	if h := n.held(); h != 0 {
		t.Errorf("%d locks left after every holder released, want 0", h)
	}
}

// TestNetworkCleanMemo: a network found clean is remembered for that class generation
// only, and forgotten when it is needed again or one of its objects is seen.
func TestNetworkCleanMemo(t *testing.T) {
	var n networkLocks
	if n.isClean("dc/team-a", 3) {
		t.Fatal("clean before anything was recorded")
	}
	n.markClean("dc/team-a", 3)
	if !n.isClean("dc/team-a", 3) {
		t.Error("not clean at the generation it was found clean")
	}
	if n.isClean("dc/team-a", 4) {
		t.Error("clean at a newer class generation: the class changed, the network must be checked again")
	}
	if n.isClean("dc/team-b", 3) {
		t.Error("another network inherited the memo")
	}
	n.dirty("dc/team-a")
	if n.isClean("dc/team-a", 3) {
		t.Error("still clean after dirty")
	}
}
