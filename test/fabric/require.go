package fabric

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the CI environment variable asks for strict mode, in
// which a fabric that cannot be built fails the test instead of skipping it.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Require skips (outside CI) or fails (in CI) tb when this machine cannot
// build a fabric: not root, or FRR / gobgpd / iproute2 missing.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		unavailable(tb, "the BGP fabric needs root to create network namespaces; run the tests as root")
	}
	bins := []string{
		filepath.Join(frrBin, "zebra"), filepath.Join(frrBin, "bgpd"),
		"vtysh", "gobgpd", "gobgp", "ip",
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			unavailable(tb, "the BGP fabric needs %s (apt-get install -y frr gobgpd iproute2): %v", b, err)
		}
	}
}

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("CI is set, so this is a failure, not a skip: "+format, args...)
	}
	tb.Skipf(format, args...)
}
