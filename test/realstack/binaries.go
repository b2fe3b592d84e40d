package realstack

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// Binaries are the real components built by hack/real-components.sh.
type Binaries struct {
	// Versions is hack/real-components.env (METALLB_VERSION, FRRK8S_VERSION, ...).
	Versions map[string]string
	// MetalLB holds controller and speaker.
	MetalLB string
	// FRRK8s holds frr-k8s-controller, frr-status, frr-reloader.sh and crds/.
	FRRK8s string
	// Traefik holds traefik.
	Traefik string
}

// MetalLBController, MetalLBSpeaker, FRRK8sController, FRRReloader, FRRStatus and TraefikBinary are
// the executables' paths.
func (b Binaries) MetalLBController() string { return filepath.Join(b.MetalLB, "controller") }
func (b Binaries) MetalLBSpeaker() string    { return filepath.Join(b.MetalLB, "speaker") }
func (b Binaries) FRRK8sController() string  { return filepath.Join(b.FRRK8s, "frr-k8s-controller") }
func (b Binaries) FRRReloader() string       { return filepath.Join(b.FRRK8s, "frr-reloader.sh") }
func (b Binaries) FRRStatus() string         { return filepath.Join(b.FRRK8s, "frr-status") }
func (b Binaries) FRRK8sCRDs() string        { return filepath.Join(b.FRRK8s, "crds") }
func (b Binaries) TraefikBinary() string     { return filepath.Join(b.Traefik, "traefik") }

// Components are the names hack/real-components.sh builds.
const (
	ComponentMetalLB = "metallb"
	ComponentFRRK8s  = "frr-k8s"
	ComponentTraefik = "traefik"
)

// Locate finds the builds of hack/real-components.sh for the versions named in
// hack/real-components.env, in REAL_COMPONENTS_DIR or bin/real, and checks that the
// given components (all when none is named) are there. It does not build them
// (`make real-components` does); it says what is missing.
func Locate(components ...string) (Binaries, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	versions, err := readEnvFile(filepath.Join(root, "hack", "real-components.env"))
	if err != nil {
		return Binaries{}, err
	}
	dir := os.Getenv("REAL_COMPONENTS_DIR")
	if dir == "" {
		dir = filepath.Join(root, "bin", "real")
	}
	b := Binaries{
		Versions: versions,
		MetalLB:  filepath.Join(dir, "metallb-"+versions["METALLB_VERSION"]),
		FRRK8s:   filepath.Join(dir, "frr-k8s-"+versions["FRRK8S_VERSION"]),
		Traefik:  filepath.Join(dir, "traefik-"+versions["TRAEFIK_VERSION"]),
	}
	if len(components) == 0 {
		components = []string{ComponentMetalLB, ComponentFRRK8s, ComponentTraefik}
	}
	files := map[string][]string{
		ComponentMetalLB: {b.MetalLBController(), b.MetalLBSpeaker()},
		ComponentFRRK8s:  {b.FRRK8sController(), b.FRRStatus(), b.FRRReloader(), b.FRRK8sCRDs()},
		ComponentTraefik: {b.TraefikBinary()},
	}
	var missing []string
	for _, c := range components {
		fs, ok := files[c]
		if !ok {
			return b, fmt.Errorf("unknown real component %q", c)
		}
		for _, f := range fs {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("real components not built (run `make real-components`): missing %s", strings.Join(missing, ", "))
	}
	return b, nil
}

// readEnvFile reads KEY=value lines; # starts a comment line.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: not KEY=value: %q", path, line)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out, sc.Err()
}

// Tools says which host tools the real stack needs and are missing: root (network and
// mount namespaces), iproute2, util-linux's nsenter and unshare, FRR (zebra, bgpd, bfdd,
// vtysh) and frr-pythontools' frr-reload.py (the reloader frr-k8s runs beside FRR), and
// flock and python3 (which that reloader calls).
func Tools() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the real stack needs root (network and mount namespaces)")
	}
	var missing []string
	for _, b := range []string{"ip", "nsenter", "unshare", "mount", "flock", "python3", "vtysh", "bash",
		"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", frrReloadPy} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real stack needs %s (apt-get install -y frr frr-pythontools iproute2 util-linux)", strings.Join(missing, ", "))
	}
	return nil
}
