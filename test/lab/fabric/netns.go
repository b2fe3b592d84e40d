package fabric

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Every object a fabric creates outside its own namespaces is named after a
// "block": a small integer owned by one live process, recorded in
// stateDir/<block>.pid. The block number keeps names and root-namespace
// addresses unique when several test binaries (go test ./... runs packages in
// parallel) build fabrics at the same time, and the pid file lets the next run
// recognise and remove what a crashed run left behind.
const (
	stateDir   = "/run/acf"
	namePrefix = "acf-"
	maxBlocks  = 64
)

// blockNS is the namespace name for role in block n, e.g. "acf-3-core".
func blockNS(n int, role string) string { return fmt.Sprintf("%s%d-%s", namePrefix, n, role) }

// rootIf is the root-namespace end of a watcher link, e.g. "acf3-core"; Linux
// limits interface names to 15 bytes, so roles stay short.
func rootIf(n int, role string) string { return fmt.Sprintf("acf%d-%s", n, role) }

// acquireBlock takes the lowest free block, removing leftovers of dead owners
// on the way (all of them, not only the one it takes).
func acquireBlock() (int, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return 0, err
	}
	lock, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file releases it anyway

	owned := map[int]bool{}
	for n := 0; n < maxBlocks; n++ {
		if pid, ok := blockOwner(n); ok && processAlive(pid) {
			owned[n] = true
		}
	}
	if err := sweepLeftovers(owned); err != nil {
		return 0, err
	}
	for n := 0; n < maxBlocks; n++ {
		if owned[n] {
			continue
		}
		pidFile := filepath.Join(stateDir, strconv.Itoa(n)+".pid")
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return 0, err
		}
		return n, nil
	}
	return 0, fmt.Errorf("all %d fabric blocks are in use by live processes", maxBlocks)
}

func releaseBlock(n int) {
	_ = os.Remove(filepath.Join(stateDir, strconv.Itoa(n)+".pid"))
}

// BlockOwner is the pid of the live process that owns block n, or 0 when no live process
// does (a block is anyone's to take once its owner is dead).
func BlockOwner(n int) int {
	if pid, ok := blockOwner(n); ok && processAlive(pid) {
		return pid
	}
	return 0
}

func blockOwner(n int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(stateDir, strconv.Itoa(n)+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// sweepLeftovers deletes namespaces (and the processes inside them), FRR run
// directories and pid files of every block not owned by a live process.
func sweepLeftovers(owned map[int]bool) error {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line) // "acf-3-core (id: 5)"
		if len(fields) == 0 {
			continue
		}
		name := fields[0]
		n, ok := blockOf(name)
		if !ok || owned[n] {
			continue
		}
		if err := deleteNS(name); err != nil {
			return fmt.Errorf("removing leftover namespace %s: %w", name, err)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(frrRunDir, namePrefix+"*"))
	for _, d := range dirs {
		if n, ok := blockOf(filepath.Base(d)); ok && !owned[n] {
			_ = os.RemoveAll(d)
		}
	}
	for n := 0; n < maxBlocks; n++ {
		if !owned[n] {
			scratch, _ := filepath.Glob(filepath.Join(stateDir, fmt.Sprintf("%d-*", n)))
			for _, d := range scratch {
				_ = os.RemoveAll(d)
			}
			releaseBlock(n)
		}
	}
	return nil
}

// blockOf parses "acf-<n>-<role>".
func blockOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// createNS makes a namespace with its loopback up. Forwarding stays off
// unless Options.DataPlane turns it on (dataplane.go): most tests exercise
// the control plane alone (BGP and zebra's FIB).
func createNS(name string) error {
	if _, err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	_, err := run("ip", "-n", name, "link", "set", "lo", "up")
	return err
}

// deleteNS kills every process left in the namespace (only processes this
// package started run there) and removes it; its veths disappear with it.
func deleteNS(name string) error {
	for attempt := 0; attempt < 50; attempt++ {
		out, _ := run("ip", "netns", "pids", name)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if attempt > 20 {
			sig = syscall.SIGKILL
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, sig)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err := run("ip", "netns", "del", name)
	return err
}

// endpoint is one side of a point-to-point link; ns "" means the root namespace.
type endpoint struct {
	ns, ifname string
	v4, v6     netip.Prefix
}

// link creates a veth pair between two endpoints and brings both ends up.
// IPv6 addresses are added with nodad: duplicate address detection would
// keep them tentative (unusable for BGP) for a second or two after creation.
func link(a, b endpoint) error {
	args := []string{"link", "add", a.ifname}
	if a.ns != "" {
		args = append(args, "netns", a.ns)
	}
	args = append(args, "type", "veth", "peer", "name", b.ifname)
	if b.ns != "" {
		args = append(args, "netns", b.ns)
	}
	if _, err := run("ip", args...); err != nil {
		return err
	}
	for _, e := range []endpoint{a, b} {
		ip := []string{}
		if e.ns != "" {
			ip = []string{"-n", e.ns}
		}
		cmds := [][]string{
			append(append([]string{}, ip...), "addr", "add", e.v4.String(), "dev", e.ifname),
			append(append([]string{}, ip...), "link", "set", e.ifname, "up"),
		}
		if e.v6.IsValid() {
			cmds = append(cmds, append(append([]string{}, ip...), "-6", "addr", "add", e.v6.String(), "dev", e.ifname, "nodad"))
		}
		for _, c := range cmds {
			if _, err := run("ip", c...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sweep removes what fabrics of processes that are no longer alive left
// behind: their namespaces (and the FRR and gobgpd processes in them), FRR
// run directories, scratch files and blocks. Live fabrics are untouched.
func Sweep() error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file releases it anyway
	owned := map[int]bool{}
	for n := 0; n < maxBlocks; n++ {
		if pid, ok := blockOwner(n); ok && processAlive(pid) {
			owned[n] = true
		}
	}
	return sweepLeftovers(owned)
}

// BlockNamespaces lists the namespaces that exist for block n.
func BlockNamespaces(n int) []string {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if b, ok := blockOf(fields[0]); ok && b == n {
			names = append(names, fields[0])
		}
	}
	return names
}
