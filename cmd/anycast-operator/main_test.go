package main

import (
	"bytes"
	"strings"
	"testing"
)

// A worker count below one is refused before anything starts, with exit code 2 and the
// flag named.
func TestIngressWorkersBelowOneIsRefused(t *testing.T) {
	for _, v := range []string{"0", "-3"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"--ingress-workers=" + v}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--ingress-workers must be at least 1, got "+v) {
			t.Errorf("--ingress-workers=%s: exit %d, %q", v, code, stderr.String())
		}
	}
}
