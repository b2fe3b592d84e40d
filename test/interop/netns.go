package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// Every object a Net creates outside its own namespaces is named after a
// "block": a small integer held by one test at a time through an exclusive
// flock on stateDir/<block>.lock, which the kernel drops when the process
// dies, so concurrent test binaries never share names or root-namespace
// addresses, and a crashed run's block is free again, with its leftovers
// removed by the next test that looks. Own directory, name prefix and address
// range: the FRR fabric's blocks (test/lab/fabric) never meet these.
const (
	stateDir   = "/run/aci"
	namePrefix = "aci-"
	maxBlocks  = 32
)

// Net is one test's network namespaces, each joined to the test process (the
// root namespace, where the watcher dials from) by a veth pair.
type Net struct {
	tb    testing.TB
	block int
	lock  *os.File // holds the block
	links int
	dir   string // scratch directory for the routers' files
}

// Link is a veth pair between the test process and a router's namespace.
type Link struct {
	NS                        string
	WatcherAddr, RouterAddr   netip.Addr // IPv4, /30
	WatcherAddr6, RouterAddr6 netip.Addr // IPv6, /64
}

// NewNet takes a block for the test; tb.Cleanup removes its namespaces, the
// processes in them and its scratch files.
func NewNet(tb testing.TB) *Net {
	tb.Helper()
	Require(tb)
	block, lock, err := acquireBlock()
	if err != nil {
		tb.Fatalf("interop network: %v", err)
	}
	dir := filepath.Join(stateDir, fmt.Sprintf("%d-run", block))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	n := &Net{tb: tb, block: block, lock: lock, dir: dir}
	tb.Cleanup(func() {
		if err := clean(block); err != nil {
			tb.Logf("interop network: %v", err)
		}
		lock.Close() // releases the block
	})
	return n
}

// routerDir makes and returns the scratch directory of the router on link l.
func (n *Net) routerDir(l Link) string {
	n.tb.Helper()
	dir := filepath.Join(n.dir, l.NS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.tb.Fatal(err)
	}
	return dir
}

// Link creates a namespace for a router (role: short, e.g. "bird") and its
// link to the test process. Addresses come from the RFC 2544 benchmarking
// range, carved per block: 198.19.(192+block).(4k+1..2)/30 and
// 2001:2:0:(0x2000+16*block+k)::1..2/64; the FRR fabric's blocks use
// 198.19.0-63.
func (n *Net) Link(role string) Link {
	n.tb.Helper()
	k := n.links
	n.links++
	if k >= 16 {
		n.tb.Fatalf("at most 16 links per test")
	}
	l := Link{
		NS:           fmt.Sprintf("%s%d-%s", namePrefix, n.block, role),
		WatcherAddr:  netip.MustParseAddr(fmt.Sprintf("198.19.%d.%d", 192+n.block, 4*k+1)),
		RouterAddr:   netip.MustParseAddr(fmt.Sprintf("198.19.%d.%d", 192+n.block, 4*k+2)),
		WatcherAddr6: netip.MustParseAddr(fmt.Sprintf("2001:2:0:%x::1", 0x2000+16*n.block+k)),
		RouterAddr6:  netip.MustParseAddr(fmt.Sprintf("2001:2:0:%x::2", 0x2000+16*n.block+k)),
	}
	rootIf := fmt.Sprintf("aci%d-%d", n.block, k)
	steps := [][]string{
		{"netns", "add", l.NS},
		{"-n", l.NS, "link", "set", "lo", "up"},
		{"link", "add", rootIf, "type", "veth", "peer", "name", "eth0", "netns", l.NS},
		{"addr", "add", l.WatcherAddr.String() + "/30", "dev", rootIf},
		{"-6", "addr", "add", l.WatcherAddr6.String() + "/64", "dev", rootIf, "nodad"},
		{"link", "set", rootIf, "up"},
		{"-n", l.NS, "addr", "add", l.RouterAddr.String() + "/30", "dev", "eth0"},
		// nodad: duplicate address detection would keep the address tentative,
		// unusable for BGP, for a second or two.
		{"-n", l.NS, "-6", "addr", "add", l.RouterAddr6.String() + "/64", "dev", "eth0", "nodad"},
		{"-n", l.NS, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if _, err := run("ip", s...); err != nil {
			n.tb.Fatalf("interop network: %v", err)
		}
	}
	return l
}

// commandTimeout bounds every helper command (ip, birdc, ss): they answer in
// milliseconds when healthy.
const commandTimeout = 30 * time.Second

// run executes a command and returns its stdout; the error carries stderr.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// acquireBlock takes the lowest block no live process holds, and removes what
// crashed runs left in every free block on the way.
func acquireBlock() (int, *os.File, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return 0, nil, err
	}
	taken, held := -1, (*os.File)(nil)
	for n := range maxBlocks {
		f, err := os.OpenFile(filepath.Join(stateDir, fmt.Sprintf("%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 0, nil, err
		}
		// Go opens files close-on-exec: the routers a test starts never inherit
		// the lock, so it goes with the test process.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // held by a live test
			continue
		}
		if err := clean(n); err != nil {
			f.Close()
			return 0, nil, fmt.Errorf("removing what a crashed run left in block %d: %w", n, err)
		}
		if taken >= 0 {
			f.Close()
			continue
		}
		taken, held = n, f
	}
	if taken < 0 {
		return 0, nil, fmt.Errorf("all %d interop blocks are held by live tests", maxBlocks)
	}
	return taken, held, nil
}

// clean removes a block's namespaces (and the processes in them), the test
// process's ends of their veths, and scratch files.
func clean(n int) error {
	for _, ns := range blockNamespaces(n) {
		if err := deleteNS(ns); err != nil {
			return err
		}
	}
	if err := deleteRootLinks(n); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(stateDir, fmt.Sprintf("%d-run", n)))
}

// deleteRootLinks removes block n's veth ends in the root namespace ("aci<n>-<k>")
// and waits until none is left. A namespace's deletion takes its veths with it,
// but the kernel does that after `ip netns del` returns: the next test of the
// block, in the same process, could find its link's name still taken ("File
// exists"), as CI once did.
func deleteRootLinks(n int) error {
	prefix := fmt.Sprintf("aci%d-", n)
	return labfabric.WaitFor(10*time.Second, func() error {
		out, err := run("ip", "-o", "link", "show")
		if err != nil {
			return err
		}
		var left []string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if strings.HasPrefix(name, prefix) {
				left = append(left, name)
				_, _ = run("ip", "link", "del", name) // gone meanwhile is fine
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("links %v of block %d still there", left, n)
		}
		return nil
	})
}

// blockNamespaces lists the namespaces of block n ("aci-<n>-<role>"): ip netns
// keeps one file per namespace in /run/netns.
func blockNamespaces(n int) []string {
	paths, _ := filepath.Glob(fmt.Sprintf("/run/netns/%s%d-*", namePrefix, n))
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths
}

// deleteNS removes a namespace; its veth goes with it. The routers a test
// started are stopped by their own cleanups first, so whatever still runs
// inside belongs to a run that crashed, and is killed outright.
func deleteNS(name string) error {
	err := labfabric.WaitFor(10*time.Second, func() error {
		out, _ := run("ip", "netns", "pids", name)
		pids := strings.Fields(out)
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if len(pids) > 0 {
			return fmt.Errorf("processes %v still in namespace %s", pids, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = run("ip", "netns", "del", name)
	return err
}
