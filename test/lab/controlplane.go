package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/anycast-operator/anycast-operator/internal/scheme"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// cluster is one control plane of the lab: kube-apiserver and etcd (the envtest
// binaries), with every CRD the operator touches. Its etcd data, certificates and logs
// live in <dir>/<name>/, its admin kubeconfig in <dir>/<name>.kubeconfig.
type cluster struct {
	Name       string
	Dir        string
	Kubeconfig string // path
	Config     *rest.Config
	Client     client.WithWatch
	env        *envtest.Environment
	logs       []*os.File
}

// serviceCIDRs are the control planes' Service ranges: dual-stack, as a cluster serving
// IPv6 VIPs must be (MetalLB gives a Service an address only of its ClusterIP's family).
const serviceCIDRs = "10.0.0.0/24,fd00:10:96::/112"

// startCluster starts a control plane with the project's and the upstream CRDs (and
// extraCRDs: frr-k8s's on the real stack) and records its processes.
func startCluster(labDir, name string, extraCRDs ...string) (*cluster, error) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		return nil, err
	}
	crds, err := testenv.CRDPaths()
	if err != nil {
		return nil, err
	}
	crds = append(crds, extraCRDs...)
	dir := filepath.Join(labDir, name)
	for _, d := range []string{filepath.Join(dir, "etcd"), filepath.Join(dir, "certs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	c := &cluster{Name: name, Dir: dir, Kubeconfig: filepath.Join(labDir, name+".kubeconfig")}
	open := func(f string) (*os.File, error) {
		lf, err := os.OpenFile(filepath.Join(dir, f), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err == nil {
			c.logs = append(c.logs, lf)
		}
		return lf, err
	}
	apiLog, err := open("kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	etcdLog, err := open("etcd.log")
	if err != nil {
		c.closeLogs()
		return nil, err
	}
	c.env = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{CertDir: filepath.Join(dir, "certs"), Out: apiLog, Err: apiLog},
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(dir, "etcd"), Out: etcdLog, Err: etcdLog},
		},
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        crds,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme.New(),
		ControlPlaneStartTimeout: 2 * time.Minute,
		// A graceful kube-apiserver stop waits for watches to drain: not worth it here.
		ControlPlaneStopTimeout: 3 * time.Second,
	}
	c.env.ControlPlane.APIServer.Configure().Set("service-cluster-ip-range", serviceCIDRs)
	cfg, startErr := c.env.Start()
	// Record the processes even when the start failed half-way, so Down finds them.
	recErr := c.record(labDir)
	if startErr != nil {
		c.stop()
		return nil, fmt.Errorf("starting the %s control plane (kube-apiserver and etcd from %s): %w", name, assets, startErr)
	}
	if recErr != nil {
		c.stop()
		return nil, recErr
	}
	cfg.QPS, cfg.Burst = 200, 400
	c.Config = cfg
	if c.Client, err = client.NewWithWatch(cfg, client.Options{Scheme: c.env.Scheme}); err != nil {
		c.stop()
		return nil, err
	}
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// record writes the pid files of this control plane's kube-apiserver and etcd, found
// among this process's children by the directories on their command lines.
func (c *cluster) record(labDir string) error {
	var list []error
	for _, p := range []struct{ name, bin, arg string }{
		{c.Name + "-etcd", "etcd", filepath.Join(c.Dir, "etcd")},
		{c.Name + "-kube-apiserver", "kube-apiserver", filepath.Join(c.Dir, "certs")},
	} {
		for _, pid := range childrenMatching(p.bin, p.arg) {
			list = append(list, recordProc(labDir, p.name, pid))
		}
	}
	return errs(list...)
}

// APIServerURL is the control plane's address.
func (c *cluster) APIServerURL() string {
	if c.Config == nil {
		return ""
	}
	return c.Config.Host
}

func (c *cluster) stop() {
	if c.env != nil {
		_ = c.env.Stop()
	}
	c.closeLogs()
}

func (c *cluster) closeLogs() {
	for _, f := range c.logs {
		_ = f.Close()
	}
	c.logs = nil
}
