package interop

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// Available says why this machine cannot run the interop tests (not root, or
// BIRD 2, ExaBGP or iproute2 missing), or nil when it can.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the interop tests need root to create network namespaces")
	}
	for _, b := range []string{"bird", "birdc", "exabgp", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("the interop tests need %s (apt-get install -y bird2 exabgp iproute2): %w", b, err)
		}
	}
	return nil
}

// Require skips tb (outside CI) or fails it (in CI: the interop tests must
// never be skipped there) when this machine cannot run BIRD and ExaBGP in
// network namespaces.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if labfabric.InCI() { // CI=true
			tb.Fatalf("CI is set, so this is a failure, not a skip: %v", err)
		}
		tb.Skip(err)
	}
}
