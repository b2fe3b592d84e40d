package fabric

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	frrRunDir = "/var/run/frr"
	frrBin    = "/usr/lib/frr"
)

// Router is one FRR instance (zebra + bgpd, or bgpd alone) in its own
// namespace, addressed with `-N <namespace>` so vtysh finds it.
type Router struct {
	Name string // role in the fabric: core, tor-west, tor-east, ...
	NS   string // network namespace and FRR pathspace
	ASN  uint32
	dir  string // /var/run/frr/<NS>: config, pid files, sockets, logs
}

// frrNeighbor is one `neighbor` block of a generated bgpd.conf.
type frrNeighbor struct {
	addr     netip.Addr
	asn      uint32
	password string // TCP MD5
	passive  bool   // the watcher never listens, so routers only answer it
	addpath  bool   // addpath-tx-all-paths in every activated family
	v4, v6   bool   // address families activated on this session
}

// frrConfig renders a bgpd.conf. `frr defaults datacenter` gives the 9 s / 3 s
// timers and zero advertisement interval of a data-centre fabric;
// `no bgp ebgp-requires-policy` because FRR otherwise drops every eBGP route
// that has no explicit policy.
func frrConfig(hostname string, asn uint32, routerID netip.Addr, logFile string, multipath bool, neighbors []frrNeighbor) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("frr defaults datacenter")
	w("hostname %s", hostname)
	w("log file %s informational", logFile)
	w("!")
	w("router bgp %d", asn)
	w(" bgp router-id %s", routerID)
	w(" no bgp ebgp-requires-policy")
	w(" no bgp default ipv4-unicast")
	w(" no bgp network import-check")
	if multipath {
		w(" bgp bestpath as-path multipath-relax")
	}
	for _, n := range neighbors {
		w(" neighbor %s remote-as %d", n.addr, n.asn)
		w(" neighbor %s timers connect 2", n.addr)
		if n.password != "" {
			w(" neighbor %s password %s", n.addr, n.password)
		}
		if n.passive {
			w(" neighbor %s passive", n.addr)
		}
	}
	for _, af := range []struct {
		name string
		v6   bool
	}{{"ipv4 unicast", false}, {"ipv6 unicast", true}} {
		w(" address-family %s", af.name)
		if multipath {
			w("  maximum-paths 4")
		}
		for _, n := range neighbors {
			if (af.v6 && !n.v6) || (!af.v6 && !n.v4) {
				continue
			}
			w("  neighbor %s activate", n.addr)
			if n.addpath {
				w("  neighbor %s addpath-tx-all-paths", n.addr)
			}
		}
		w(" exit-address-family")
	}
	w("!")
	return b.String()
}

// withRouterLines adds lines at the end of the `router bgp` block of a configuration
// written by frrConfig (which closes it with its last "!").
func withRouterLines(conf string, lines []string) string {
	i := strings.LastIndex(conf, "!\n")
	var b strings.Builder
	b.WriteString(conf[:i])
	for _, l := range lines {
		b.WriteString(" " + l + "\n")
	}
	b.WriteString(conf[i:])
	return b.String()
}

// startRouter writes the config and starts the daemons inside ns, then waits
// until vtysh answers. zebra=false runs bgpd with -Z (no FIB), which is how
// the ingest benchmark compares BGP processing alone. modules are bgpd's -M
// modules ("bmp").
func startRouter(name, ns string, asn uint32, config string, zebra bool, modules ...string) (*Router, error) {
	r := &Router{Name: name, NS: ns, ASN: asn, dir: filepath.Join(frrRunDir, ns)}
	uid, gid, err := frrIDs()
	if err != nil {
		return nil, err
	}
	// The daemons drop privileges to frr:frr, so everything they open must be theirs.
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	files := map[string]string{"bgpd.conf": config, "zebra.conf": "hostname " + name + "\n"}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, f), []byte(content), 0o640); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{r.dir, filepath.Join(r.dir, "bgpd.conf"), filepath.Join(r.dir, "zebra.conf")} {
		if err := os.Chown(p, uid, gid); err != nil {
			return nil, err
		}
	}
	// -P 0: no vty TCP port; vtysh talks over the unix sockets in r.dir.
	if zebra {
		if _, err := inNS(ns, filepath.Join(frrBin, "zebra"), "-N", ns, "-d", "-P", "0", "-f", filepath.Join(r.dir, "zebra.conf")); err != nil {
			return nil, fmt.Errorf("starting zebra in %s: %w", ns, err)
		}
		if err := waitFor(10*time.Second, func() error {
			_, err := os.Stat(filepath.Join(r.dir, "zserv.api"))
			return err
		}); err != nil {
			return nil, fmt.Errorf("zebra in %s did not open its zserv socket: %w%s", ns, err, r.LogTail())
		}
	}
	args := []string{"-N", ns, "-d", "-P", "0", "-f", filepath.Join(r.dir, "bgpd.conf")}
	if !zebra {
		args = append(args, "-Z")
	}
	for _, m := range modules {
		args = append(args, "-M", m)
	}
	if _, err := inNS(ns, filepath.Join(frrBin, "bgpd"), args...); err != nil {
		return nil, fmt.Errorf("starting bgpd in %s: %w%s", ns, err, r.LogTail())
	}
	if err := waitFor(20*time.Second, func() error {
		_, err := r.Vtysh("show bgp summary json")
		return err
	}); err != nil {
		return nil, fmt.Errorf("bgpd in %s does not answer vtysh: %w%s", ns, err, r.LogTail())
	}
	return r, nil
}

func frrUser() (*user.User, error) {
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, fmt.Errorf("user frr (is the frr package installed?): %w", err)
	}
	return u, nil
}

func frrIDs() (int, int, error) {
	u, err := frrUser()
	if err != nil {
		return 0, 0, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// Vtysh runs one command against this instance and returns its output.
func (r *Router) Vtysh(command string) (string, error) {
	return run("vtysh", "-N", r.NS, "-c", command)
}

// BGPDPid is the pid of this instance's bgpd (for memory measurements).
func (r *Router) BGPDPid() (int, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, "bgpd.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// LogTail returns the end of bgpd's log for error messages.
func (r *Router) LogTail() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "bgpd.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n--- " + r.NS + " bgpd.log (tail) ---\n" + string(b)
}
