package controller

import (
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// cacheStartRetry is how soon a reconcile that found a member's cache still starting
// looks again.
const cacheStartRetry = time.Second

// withTransient turns a reconcile's transient errors into its return. A member whose
// cache is still starting (right after the operator, or the member registry, started
// it) is expected, not a failure: when that is all that went wrong, the reconcile is
// requeued shortly instead of logging a Reconciler error. Anything else goes back to
// controller-runtime for backoff.
func withTransient(res ctrl.Result, errs []error) (ctrl.Result, error) {
	if len(errs) == 0 {
		return res, nil
	}
	for _, err := range errs {
		var starting *cache.ErrCacheNotStarted
		if !errors.As(err, &starting) {
			return res, errors.Join(errs...)
		}
	}
	if res.RequeueAfter == 0 || res.RequeueAfter > cacheStartRetry {
		res.RequeueAfter = cacheStartRetry
	}
	return res, nil
}
