package controller

import (
	"errors"
	"fmt"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// TestWithTransient: a member cache still starting is waited for (short requeue, no
// error); any other transient error is returned for backoff, with all errors.
func TestWithTransient(t *testing.T) {
	starting := fmt.Errorf("cluster east: reading BGPPeer metallb-system/x: %w", &cache.ErrCacheNotStarted{})
	other := errors.New("cluster west: connection refused")

	if res, err := withTransient(ctrl.Result{RequeueAfter: time.Minute}, nil); err != nil || res.RequeueAfter != time.Minute {
		t.Errorf("no errors: %v %v", res, err)
	}
	if res, err := withTransient(ctrl.Result{RequeueAfter: time.Minute}, []error{starting}); err != nil || res.RequeueAfter != cacheStartRetry {
		t.Errorf("cache starting: %v %v, want a requeue after %s and no error", res, err, cacheStartRetry)
	}
	if res, err := withTransient(ctrl.Result{RequeueAfter: 100 * time.Millisecond}, []error{starting}); err != nil || res.RequeueAfter != 100*time.Millisecond {
		t.Errorf("an earlier requeue must be kept: %v %v", res, err)
	}
	_, err := withTransient(ctrl.Result{}, []error{starting, other})
	if !errors.Is(err, other) || !errors.As(err, new(*cache.ErrCacheNotStarted)) {
		t.Errorf("mixed errors: %v, want both returned", err)
	}
}
