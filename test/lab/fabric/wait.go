package fabric

import (
	"fmt"
	"time"
)

// WaitFor polls cond every 100 ms until it returns nil or the deadline
// passes, and then returns cond's last error so the caller can say what
// never became true. Polling is only used to wait for convergence.
func WaitFor(deadline time.Duration, cond func() error) error {
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

func waitFor(deadline time.Duration, cond func() error) error { return WaitFor(deadline, cond) }
