package testenv

import (
	"cmp"
	"sync"
	"testing"
)

// Parallel runs do(0), ..., do(n-1) on workers goroutines and, once all are done, fails
// the test with the first error they returned and how many there were (a test's bulk creates: many objects, a few at
// a time, so that an API server on a 2-core machine is kept busy but not swamped).
func Parallel(tb testing.TB, workers, n int, do func(i int) error) {
	tb.Helper()
	work := make(chan int)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = do(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		tb.Fatalf("%d of %d failed; the first: %v", failed, n, first)
	}
}
