package realstack

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is one API server (an envtest kube-apiserver: test/testenv's, or the lab's
// control planes) with the real components that play its cluster. Every process it starts
// logs to a file in Dir and is stopped by Close, in reverse order.
type Cluster struct {
	Name       string
	Config     *rest.Config
	Client     client.Client
	Bin        Binaries
	Dir        string // logs, kubeconfig and per-node state
	Kubeconfig string // admin kubeconfig, valid in the root namespace and in every Node's
	// Started, if set, is told of every process the cluster starts (the lab records their
	// pids, so that a crashed lab's processes are found and stopped).
	Started func(*Process)

	mu      sync.Mutex
	procs   []*Process
	closers []func()
}

// NewCluster prepares a cluster on an API server (its admin config, a client and the
// kubeconfig bytes; the MetalLB, Gateway API and project CRDs installed): it writes the
// kubeconfig into dir.
func NewCluster(name string, cfg *rest.Config, cl client.Client, kubeconfig []byte, bin Binaries, dir string) (*Cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	return &Cluster{Name: name, Config: cfg, Client: cl, Bin: bin, Dir: dir, Kubeconfig: kc}, nil
}

// APIAddr is the API server's host:port (127.0.0.1:<port> in the root namespace).
func (c *Cluster) APIAddr() (string, error) {
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		return "", err
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return u.Host, nil
}

// InstallFRRK8sCRDs installs frr-k8s's CRDs (FRRConfiguration, BGPSessionState,
// FRRNodeState) from its module, as built by hack/real-components.sh: MetalLB's speaker in
// frr-k8s mode writes FRRConfigurations, and frr-k8s reads them.
func (c *Cluster) InstallFRRK8sCRDs() error {
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{c.Bin.FRRK8sCRDs()}, ErrorIfPathMissing: true,
	})
	return err
}

// track remembers a process for Close.
func (c *Cluster) track(p *Process) *Process {
	c.mu.Lock()
	c.procs = append(c.procs, p)
	started := c.Started
	c.mu.Unlock()
	if started != nil {
		started(p)
	}
	return p
}

func (c *Cluster) onClose(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closers = append(c.closers, f)
}

// Processes lists every process started so far (running or not), for log scans.
func (c *Cluster) Processes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.procs)
}

// Close stops every process and undoes every setup, newest first. The API server is the
// caller's.
func (c *Cluster) Close() {
	c.mu.Lock()
	procs, closers := c.procs, c.closers
	c.procs, c.closers = nil, nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// Node is one Kubernetes node of the cluster: a network namespace (made by the caller,
// for instance a speaker namespace of test/fabric) where the node's components run, and
// its Node object. The API server is reachable from inside the namespace at the very
// address of the kubeconfig, through a Forwarder.
type Node struct {
	Name  string // Kubernetes node name
	NetNS string // network namespace
	Dir   string
	// IPs are the node's addresses (its InternalIPs), which pods on the host network of
	// the node (StandInPod with HostNetwork) report as theirs.
	IPs     []netip.Addr
	Cluster *Cluster
}

// AddNode registers node name, living in network namespace netns with addresses ips: the
// Node object (a stand-in for its kubelet's) and the API server forwarder.
func (c *Cluster) AddNode(ctx context.Context, name, netns string, ips ...netip.Addr) (*Node, error) {
	if err := StandInNode(ctx, c.Client, name, nil, ips...); err != nil {
		return nil, err
	}
	addr, err := c.APIAddr()
	if err != nil {
		return nil, err
	}
	fwd, err := Forward(netns, addr)
	if err != nil {
		return nil, err
	}
	c.onClose(fwd.Close)
	dir := filepath.Join(c.Dir, "node-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Node{Name: name, NetNS: netns, Dir: dir, IPs: ips, Cluster: c}, nil
}

// FreePort asks the kernel for a free TCP port on the root namespace's loopback.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
