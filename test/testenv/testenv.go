// Package testenv starts real kube-apiservers (envtest: kube-apiserver and etcd processes)
// with every CRD the operator touches installed from its upstream source: this project's,
// MetalLB's (config/crd/bases of the pinned module), frr-k8s's (config/crd/bases of the
// module the real components are built from), Gateway API's standard channel
// (config/crd/standard of the pinned module) and Skupper's (the directory in SKUPPER_CRDS).
// It is for tests only.
package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/anycast-operator/anycast-operator/internal/scheme"
)

// Env is one running API server.
type Env struct {
	// Name says which cluster this plays (west, east, ...), for messages.
	Name    string
	Config  *rest.Config
	Client  client.Client
	Scheme  *runtime.Scheme
	env     *envtest.Environment
	certDir string
}

// Start starts an API server named name with every CRD installed.
func Start(name string) (*Env, error) {
	crds, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	return start(name, crds)
}

// StartBare starts an API server with only this project's CRDs: a member where MetalLB,
// Gateway API and Skupper are not installed.
func StartBare(name string) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return start(name, []string{filepath.Join(root, "config", "crd", "bases")})
}

func start(name string, crds []string) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	reapOrphansOnce(assets)
	s := scheme.New()
	// A fixed certificate directory lets a test stop and start the API server again with
	// the same serving certificate and client CA, so kubeconfigs handed out stay valid.
	certDir, err := os.MkdirTemp("", "envtest-"+name+"-")
	if err != nil {
		return nil, err
	}
	api := &envtest.APIServer{CertDir: certDir}
	// A real cluster's Service range (kubeadm's default is a /12): envtest's own, a /24,
	// runs out after ~250 Services, and a test package that creates several hundred
	// Gateways (each with its LoadBalancer Service) over its tests fills it, since envtest
	// has no namespace or garbage collector to delete what earlier tests left.
	api.Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	env := &envtest.Environment{
		ControlPlane:          envtest.ControlPlane{APIServer: api},
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		Scheme:                s,
		// A shared 2-core CI machine can be slow to bring up etcd and the API server.
		ControlPlaneStartTimeout: 2 * time.Minute,
		// A graceful kube-apiserver shutdown waits for open watches and can take over a
		// minute; tests lose nothing by killing it after a few seconds.
		ControlPlaneStopTimeout: 3 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting envtest %s (assets %s): %w", name, assets, err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Name: name, Config: cfg, Client: c, Scheme: s, env: env, certDir: certDir}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	err := e.env.Stop()
	_ = os.RemoveAll(e.certDir)
	return err
}

// StopAPIServer kills only the API server (etcd keeps the data), as a crash or an outage
// of the member would: a graceful stop can take tens of seconds while watches drain.
func (e *Env) StopAPIServer() error {
	api := e.env.ControlPlane.APIServer
	if err := api.Stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return err
	}
	_, err := e.WaitRefused(30 * time.Second)
	return err
}

// WaitRefused waits until the API server refuses connections (it was told to stop) and
// says when it first did.
func (e *Env) WaitRefused(timeout time.Duration) (time.Time, error) {
	api := e.env.ControlPlane.APIServer
	addr := net.JoinHostPort(api.SecureServing.Address, api.SecureServing.Port)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return time.Now(), nil
		}
		_ = c.Close()
	}
	return time.Time{}, fmt.Errorf("the API server of %s still answers on %s %s after being told to stop", e.Name, addr, timeout)
}

// StartAPIServer starts the API server again on the same address with the same
// certificates.
func (e *Env) StartAPIServer() error { return e.env.ControlPlane.APIServer.Start() }

// Kubeconfig is an admin kubeconfig for this API server.
func (e *Env) Kubeconfig() []byte { return e.env.KubeConfig }

// Environment exposes the underlying envtest environment (to stop and restart the API
// server in resilience tests).
func (e *Env) Environment() *envtest.Environment { return e.env }

// RepoRoot is the directory holding this module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/anycast-operator/anycast-operator\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod of github.com/anycast-operator/anycast-operator not found above the working directory")
		}
		dir = parent
	}
}

// AssetsDir finds kube-apiserver and etcd: KUBEBUILDER_ASSETS, or the build of
// hack/envtest-assets.sh in bin/k8s.
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "k8s", "*", "kube-apiserver"))
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "etcd")); err == nil {
			return filepath.Dir(m), nil
		}
	}
	return "", fmt.Errorf("no kube-apiserver/etcd for envtest: set KUBEBUILDER_ASSETS or run `make envtest-assets` (builds them into bin/k8s)")
}

// CRDPaths lists the CRD directories: this project's, MetalLB's, frr-k8s's, Gateway API's
// standard channel and Skupper's.
func CRDPaths() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	metallb, err := moduleDir(root, "go.universe.tf/metallb")
	if err != nil {
		return nil, err
	}
	gateway, err := moduleDir(root, "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	skupper, err := SkupperCRDDir()
	if err != nil {
		return nil, err
	}
	frrk8s, err := FRRK8sCRDDir()
	if err != nil {
		return nil, err
	}
	return []string{
		filepath.Join(root, "config", "crd", "bases"),
		filepath.Join(metallb, "config", "crd", "bases"),
		frrk8s,
		filepath.Join(gateway, "config", "crd", "standard"),
		skupper,
	}, nil
}

// SkupperCRDDir is SKUPPER_CRDS, or ../shared/crds/skupper, or bin/skupper-crds (written by
// `make skupper-crds`).
func SkupperCRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	candidates := []string{
		os.Getenv("SKUPPER_CRDS"),
		filepath.Join(root, "..", "shared", "crds", "skupper"),
		filepath.Join(root, "bin", "skupper-crds"),
	}
	for _, d := range candidates {
		if d == "" {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(m) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("no Skupper CRDs: set SKUPPER_CRDS to a directory of skupper.io CRD files or run `make skupper-crds`")
}

// moduleDir is the directory of a required module in the module cache, downloading it if
// needed (the module proxy is the only network a build needs).
func moduleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err == nil && dir != "" {
		return dir, nil
	}
	dl := exec.Command("go", "mod", "download", module)
	dl.Dir = root
	if b, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("locating module %s: %v: %s", module, err, b)
	}
	out, err = cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "", fmt.Errorf("locating module %s: %v", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// FRRK8sCRDDir is a directory of the CRDs of the frr-k8s whose version
// hack/real-components.env names (FRRK8S_VERSION): FRRConfiguration, BGPSessionState and
// FRRNodeState, as the real frr-k8s the lab runs reads and writes them. The project's
// module does not require frr-k8s (MetalLB v0.16.2 requires a newer one than the module
// proxy serves), so the module comes from `go mod download module@version`, which leaves
// go.mod alone. Its CRDs are copied to bin/frrk8s-crds-<version> with the one fix
// hack/real-components.sh makes too: v0.0.21 declares its ASN fields `format: int32` with
// `maximum: 4294967295`, which a v1.36 kube-apiserver refuses in every object ("Maximum
// boundary value must be of type integer with format int32"); MetalLB v0.16 changed the
// same fields to int64.
func FRRK8sCRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "hack", "real-components.env"))
	if err != nil {
		return "", err
	}
	version := ""
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "FRRK8S_VERSION="); ok {
			version = strings.TrimSpace(v)
		}
	}
	if version == "" {
		return "", fmt.Errorf("hack/real-components.env names no FRRK8S_VERSION")
	}
	dir := filepath.Join(root, "bin", "frrk8s-crds-"+version)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.yaml")); len(m) > 0 {
		return dir, nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/metallb/frr-k8s@"+version)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("downloading github.com/metallb/frr-k8s@%s: %w", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("locating github.com/metallb/frr-k8s@%s: %v", version, err)
	}
	srcs, err := filepath.Glob(filepath.Join(mod.Dir, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(srcs) == 0 {
		return "", fmt.Errorf("github.com/metallb/frr-k8s@%s has no CRDs in config/crd/bases", version)
	}
	// Written aside and renamed: test processes running at once see all of it or none.
	tmp, err := os.MkdirTemp(filepath.Join(root, "bin"), "frrk8s-crds-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	asn32 := regexp.MustCompile(`format: int32(\n *maximum: 4294967295)\n`)
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		b = asn32.ReplaceAll(b, []byte("format: int64$1\n"))
		if err := os.WriteFile(filepath.Join(tmp, filepath.Base(src)), b, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.yaml")); len(m) == 0 {
			return "", err
		}
	}
	return dir, nil
}
