package fabric

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// InCI reports whether the CI environment variable asks for strict mode, in
// which a fabric that cannot be built fails a test instead of skipping it.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Available says why this machine cannot build a fabric (not root, or FRR,
// gobgpd or iproute2 missing), or nil when it can.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the BGP fabric needs root to create network namespaces; run as root")
	}
	bins := []string{
		filepath.Join(frrBin, "zebra"), filepath.Join(frrBin, "bgpd"),
		"vtysh", "gobgpd", "gobgp", "ip",
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("the BGP fabric needs %s (apt-get install -y frr gobgpd iproute2): %w", b, err)
		}
	}
	if _, err := frrUser(); err != nil {
		return err
	}
	return nil
}
