package fabric

import (
	"fmt"
	"testing"
	"time"
)

// waitFor polls cond until it returns nil or the deadline passes, and then
// returns cond's last error so the caller can say what never became true.
// Polling is only used to wait for convergence; no test asserts on speed.
func waitFor(deadline time.Duration, cond func() error) error {
	end := time.Now().Add(deadline)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("after %s: %w", deadline, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Eventually is waitFor for tests in other packages: it polls cond every
// 100 ms until it returns nil, failing tb with cond's last error after the
// deadline.
func Eventually(tb testing.TB, deadline time.Duration, cond func() error) {
	tb.Helper()
	if err := waitFor(deadline, cond); err != nil {
		tb.Fatalf("%v", err)
	}
}
