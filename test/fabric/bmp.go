package fabric

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// BMPOptions point a router's BMP (RFC 7854) stream at a collector.
type BMPOptions = labfabric.BMPOptions

// frrRunDir is where test/lab/fabric keeps each FRR instance's files
// (/var/run/frr/<namespace>, FRR's pathspace for -N).
const frrRunDir = "/var/run/frr"

// EnableBMP restarts r's bgpd with FRR's BMP module (bgpd -M bmp: a module
// cannot be loaded into a running bgpd) and configures a `bmp targets` that
// connects to opts.Collector, retrying every 100 ms to 1 s (FRR's defaults
// are 30 s to 12 min). It waits until every neighbour that was Established
// before the restart is again. The router keeps its configuration file;
// zebra keeps running.
func EnableBMP(tb testing.TB, r *Router, opts BMPOptions) {
	tb.Helper()
	if err := enableBMP(r, opts); err != nil {
		tb.Fatalf("enabling BMP on %s: %v", r.Name, err)
	}
}

func enableBMP(r *Router, opts BMPOptions) error {
	before, err := r.Neighbors()
	if err != nil {
		return err
	}
	var up []netip.Addr
	for a, n := range before {
		if n.State == "Established" {
			up = append(up, a)
		}
	}
	slices.SortFunc(up, netip.Addr.Compare)
	pid, err := r.BGPDPid()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	if err := labfabric.WaitFor(20*time.Second, func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("bgpd %d still running", pid)
		}
		return nil
	}); err != nil {
		return err
	}
	dir := filepath.Join(frrRunDir, r.NS)
	out, err := exec.Command("ip", "netns", "exec", r.NS, "/usr/lib/frr/bgpd", "-N", r.NS, "-d", "-P", "0",
		"-f", filepath.Join(dir, "bgpd.conf"), "-M", "bmp").CombinedOutput()
	if err != nil {
		return fmt.Errorf("starting bgpd -M bmp: %v: %s", err, out)
	}
	if err := labfabric.WaitFor(20*time.Second, func() error {
		_, err := r.Vtysh("show bgp summary json")
		return err
	}); err != nil {
		return fmt.Errorf("bgpd -M bmp does not answer vtysh: %w%s", err, r.LogTail())
	}
	args := []string{"-N", r.NS, "-c", "configure terminal", "-c", fmt.Sprintf("router bgp %d", r.ASN)}
	for _, l := range labfabric.BMPTarget(opts) {
		args = append(args, "-c", strings.TrimSpace(l))
	}
	out, err = exec.Command("vtysh", args...).CombinedOutput()
	var complaints []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// vtysh's own configuration file is optional; it says so on every run.
		if l != "" && !strings.Contains(l, "vtysh.conf") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		return fmt.Errorf("configuring BMP: %v: %s", err, strings.Join(complaints, "\n"))
	}
	return r.WaitEstablished(60*time.Second, up...)
}

// BMPSessions is FRR's `show bmp` for r: its targets and their connections.
func BMPSessions(r *Router) string {
	out, err := r.Vtysh("show bmp")
	if err != nil {
		return err.Error()
	}
	return out
}
