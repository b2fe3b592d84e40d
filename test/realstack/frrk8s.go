package realstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// DefaultFRRK8sNamespace is where frr-k8s runs and reads FRRConfigurations.
const DefaultFRRK8sNamespace = "frr-k8s-system"

const (
	frrBin      = "/usr/lib/frr"
	frrReloadPy = "/usr/lib/frr/frr-reload.py"
	frrRunDir   = "/var/run/frr"
	// reloaderDir is where frr-k8s writes frr.conf and finds reloader.pid, and where the
	// reloader writes .status, running-config and last-error, which frr-k8s reads back for
	// FRRNodeState. v0.0.21 takes FRR_CONFIG_FILE and FRR_RELOADER_PID_FILE from the
	// environment but reads the three status files at these fixed paths, so each node gets
	// this directory in a mount namespace of its own instead.
	reloaderDir = "/etc/frr_reloader"
)

// FRRK8s is frr-k8s on one node, as its DaemonSet pod runs it: FRR (zebra, bgpd, bfdd),
// frr-k8s's own reloader script (frr-tools/reloader/frr-reloader.sh, which runs
// frr-reload.py from Debian's frr-pythontools on each SIGHUP) and the frr-k8s controller,
// all in the node's network namespace and in one mount namespace of the node's, where
//
//	/etc/frr_reloader  <- <node dir>/frr_reloader  (frr.conf, reloader.pid, status files)
//	/etc/frr           <- <node dir>/etc-frr       (vtysh.conf, the frr.conf frr-reload.py saves, frr.log)
//	/var/run/frr       <- /var/run/frr/<netns>     (the daemons' sockets and pid files)
//
// are the node's own, as the pod's volumes are. From the root namespace the node's FRR
// answers `vtysh -N <netns>` (Router), and its files are in Dir.
type FRRK8s struct {
	Node       *Node
	Dir        string
	Router     *labfabric.Router // vtysh -N <netns>: FRR's view, for tests
	Controller *Process          // frr-k8s-controller
	Reloader   *Process          // frr-reloader.sh
	Status     *Process          // frr-status: the BGPSessionState exporter
	holder     *Process          // keeps the mount namespace alive
	runDir     string            // /var/run/frr/<netns>
}

// FRRK8sOptions shape frr-k8s on a node.
type FRRK8sOptions struct {
	Namespace string // default frr-k8s-system
	PodName   string // default frr-k8s-<node>
	ASN       uint32 // for Router only (FRR's AS comes from the FRRConfigurations)
	LogLevel  string // default info
	// StatusPoll is the status exporter's --poll-interval: how often it reads FRR's
	// neighbours into BGPSessionStates besides when the FRRNodeState changes (a session
	// that drops changes no FRRNodeState, so this bounds how late it shows). frr-k8s's
	// own default is 2m; default here 2s.
	StatusPoll time.Duration
}

// StartFRRK8s starts FRR, the reloader and the frr-k8s controller on the node:
//
//	ip netns exec NETNS unshare --mount --propagation private -- sh -c 'mount --bind ...; exec sleep infinity'
//	nsenter -t HOLDER -m -n /usr/lib/frr/{zebra,bgpd,bfdd} -d -P 0
//	nsenter -t HOLDER -m -n unshare --mount -- sh -c 'mount -t tmpfs tmpfs /tmp; exec bash frr-reloader.sh'
//	nsenter -t HOLDER -m -n frr-k8s-controller --kubeconfig K --node-name N --namespace NS --pod-name P
//	nsenter -t HOLDER -m -n frr-status --kubeconfig K --node-name N --namespace NS --pod-name P --poll-interval I
//
// (the reloader gets a private /tmp because it saves `show running-config` to the fixed
// /tmp/current.conf, which two nodes would share). The FRR CRDs must be installed
// (Cluster.InstallFRRK8sCRDs). It returns once FRR answers and the controller and the status
// exporter (frr-k8s's frr-status container, which writes a BGPSessionState per neighbour,
// owned by the pod) have started.
func (n *Node) StartFRRK8s(ctx context.Context, o FRRK8sOptions) (*FRRK8s, error) {
	c := n.Cluster
	if o.Namespace == "" {
		o.Namespace = DefaultFRRK8sNamespace
	}
	if o.PodName == "" {
		o.PodName = "frr-k8s-" + n.Name
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.StatusPoll == 0 {
		o.StatusPoll = 2 * time.Second
	}
	if err := StandInPod(ctx, c.Client, o.Namespace, o.PodName, n.Name, map[string]string{"app": "frr-k8s", "component": "frr-k8s"}); err != nil {
		return nil, err
	}
	f := &FRRK8s{Node: n, Dir: filepath.Join(n.Dir, "frr-k8s"), runDir: filepath.Join(frrRunDir, n.NetNS),
		Router: &labfabric.Router{Name: "frr-k8s-" + n.Name, NS: n.NetNS, ASN: o.ASN}}
	if err := f.prepare(); err != nil {
		return nil, err
	}
	c.onClose(f.stopFRR)
	holder, err := startProcess(f.Dir, "mount-namespace", nil, "ip", "netns", "exec", n.NetNS,
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		fmt.Sprintf("mount --bind %q %s && mount --bind %q /etc/frr && mount --bind %q %s && echo ready && exec sleep infinity",
			filepath.Join(f.Dir, "frr_reloader"), reloaderDir, filepath.Join(f.Dir, "etc-frr"), f.runDir, frrRunDir))
	if err != nil {
		return nil, err
	}
	f.holder = c.track(holder)
	if err := holder.waitLog(10*time.Second, "ready"); err != nil {
		return nil, err
	}
	// Never start FRR in the host's namespaces: check that the holder has its own.
	for _, ns := range []string{"mnt", "net"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", holder.Pid(), ns))
		if err != nil || its == mine {
			return nil, fmt.Errorf("node %s: the mount-namespace holder (pid %d) has %s namespace %q (%v), the host's is %q:\n%s",
				n.Name, holder.Pid(), ns, its, err, mine, holder.LogTail(2000))
		}
	}
	enter := []string{"nsenter", "-t", strconv.Itoa(holder.Pid()), "-m", "-n", "--"}

	// FRR as frr-k8s's pod runs it (zebra, bgpd, bfdd), daemonized, no vty TCP port.
	for _, d := range []string{"zebra", "bgpd", "bfdd"} {
		out, err := exec.CommandContext(ctx, enter[0], append(enter[1:], filepath.Join(frrBin, d), "-d", "-P", "0")...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("starting %s on node %s: %w: %s", d, n.Name, err, out)
		}
		if err := waitFile(10*time.Second, filepath.Join(f.runDir, d+".vty")); err != nil {
			return nil, fmt.Errorf("%s on node %s: %w", d, n.Name, err)
		}
	}
	if err := labfabric.WaitFor(20*time.Second, func() error {
		_, err := f.Router.Vtysh("show bgp summary json")
		return err
	}); err != nil {
		return nil, fmt.Errorf("FRR on node %s does not answer vtysh: %w", n.Name, err)
	}

	// The reloader script runs from an open descriptor: /tmp is replaced under it, and the
	// script may live under /tmp. It is told to reload by SIGHUP and stops on SIGTERM or
	// SIGINT, which it traps; a shell cannot trap a signal it was started with ignored, and
	// this process may have been (nohup ignores SIGHUP; a shell's background job, SIGINT),
	// so they are reset to their defaults first, as a pod's container starts with them:
	// otherwise the reloader never reloads, and FRR keeps its first configuration.
	reloader, err := startProcess(f.Dir, "frr-reloader", nil, append(enter,
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`exec 9<"$0" && mount -t tmpfs tmpfs /tmp && exec env --default-signal=HUP,INT,TERM bash /dev/fd/9`, c.Bin.FRRReloader())...)
	if err != nil {
		return nil, err
	}
	f.Reloader = c.track(reloader)
	if err := waitFile(10*time.Second, filepath.Join(f.Dir, "frr_reloader", "reloader.pid")); err != nil {
		return nil, fmt.Errorf("frr-reloader on node %s: %w\n%s", n.Name, err, reloader.LogTail(2000))
	}

	ctl, err := startProcess(f.Dir, "frr-k8s-controller", nil, append(enter, c.Bin.FRRK8sController(),
		"--kubeconfig", c.Kubeconfig, "--node-name", n.Name, "--namespace", o.Namespace, "--pod-name", o.PodName,
		"--metrics-bind-address", "127.0.0.1:7572", "--log-level", o.LogLevel)...)
	if err != nil {
		return nil, err
	}
	f.Controller = c.track(ctl)
	if err := ctl.waitLog(2*time.Minute, "Starting workers"); err != nil {
		return nil, err
	}
	st, err := startProcess(f.Dir, "frr-status", nil, append(enter, c.Bin.FRRStatus(),
		"--kubeconfig", c.Kubeconfig, "--node-name", n.Name, "--namespace", o.Namespace, "--pod-name", o.PodName,
		"--poll-interval", o.StatusPoll.String(), "--log-level", o.LogLevel)...)
	if err != nil {
		return nil, err
	}
	f.Status = c.track(st)
	return f, st.waitLog(2*time.Minute, "Starting workers")
}

// prepare makes the node's directories, owned by frr where FRR writes (its daemons drop
// to frr:frr), and the mount point /etc/frr_reloader (as frr-k8s's pod has it).
func (f *FRRK8s) prepare() error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("user frr (is the frr package installed?): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{reloaderDir, filepath.Join(f.Dir, "frr_reloader"), filepath.Join(f.Dir, "etc-frr"), f.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// frr-reload.py and vtysh read vtysh.conf; integrated config is what frr-k8s's image uses.
	if err := os.WriteFile(filepath.Join(f.Dir, "etc-frr", "vtysh.conf"), []byte("service integrated-vtysh-config\n"), 0o644); err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(f.Dir, "etc-frr"), filepath.Join(f.Dir, "etc-frr", "vtysh.conf"), f.runDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// stopFRR ends the node's FRR daemons (daemonized, so not in any Process's group) by their
// pid files and removes their run directory.
func (f *FRRK8s) stopFRR() { f.signalFRR(syscall.SIGTERM) }

func (f *FRRK8s) signalFRR(sig syscall.Signal) {
	for _, d := range []string{"bfdd", "bgpd", "zebra"} {
		b, err := os.ReadFile(filepath.Join(f.runDir, d+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, sig)
		}
	}
	time.Sleep(200 * time.Millisecond)
	_ = os.RemoveAll(f.runDir)
}

// Kill ends frr-k8s on the node at once, as a crash of its pod would: the controller, the
// reloader, FRR's daemons (SIGKILL: the kernel closes their BGP connections, so the TOR
// drops the sessions at once) and the node's mount namespace. StartFRRK8s starts it
// again, from the FRRConfigurations in the API server.
func (f *FRRK8s) Kill() {
	f.Controller.Kill()
	f.Status.Kill()
	f.Reloader.Kill()
	f.signalFRR(syscall.SIGKILL)
	f.holder.Kill()
}

// ConfigFile is the FRR configuration frr-k8s last wrote (frr.conf in its reloader dir).
func (f *FRRK8s) ConfigFile() string {
	b, _ := os.ReadFile(filepath.Join(f.Dir, "frr_reloader", "frr.conf"))
	return string(b)
}

// ReloadStatus is the reloader's last verdict (".status": "<unix time> success|failure").
func (f *FRRK8s) ReloadStatus() string {
	b, _ := os.ReadFile(filepath.Join(f.Dir, "frr_reloader", ".status"))
	return string(b)
}

// FRRLog is FRR's own log (the frr-k8s config sends it to /etc/frr/frr.log).
func (f *FRRK8s) FRRLog() string {
	b, _ := os.ReadFile(filepath.Join(f.Dir, "etc-frr", "frr.log"))
	return string(b)
}

func waitFile(timeout time.Duration, path string) error {
	return labfabric.WaitFor(timeout, func() error {
		_, err := os.Stat(path)
		return err
	})
}
