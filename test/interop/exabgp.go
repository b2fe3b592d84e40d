package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
)

// ExaBGPOptions shape an ExaBGP 4 speaker that peers with the watcher,
// passively (the watcher dials), for IPv4 and IPv6 unicast.
type ExaBGPOptions struct {
	ASN        uint32 // its local-as, what its OPEN says
	WatcherASN uint32 // its peer-as, what it expects in the watcher's OPEN
	// AddPathSend announces ADD-PATH send: routes may carry path-information.
	AddPathSend bool
	// GracefulRestart, when set, announces graceful restart with this restart time.
	GracefulRestart time.Duration
}

// ExaBGP is one ExaBGP process in a namespace. Tests drive it through its API:
// Send writes commands ("announce route ...") to a text-encoder process, and
// every message it receives from the watcher (OPEN, UPDATE, NOTIFICATION) and
// its session changes are recorded as JSON by another (Messages).
type ExaBGP struct {
	tb   testing.TB
	proc proc
	link Link
	dir  string
}

// StartExaBGP configures and starts ExaBGP; tb.Cleanup stops it.
func StartExaBGP(tb testing.TB, n *Net, l Link, opts ExaBGPOptions) *ExaBGP {
	tb.Helper()
	e := &ExaBGP{tb: tb, proc: proc{ns: l.NS, name: "ExaBGP"}, link: l, dir: n.routerDir(l)}
	if err := syscall.Mkfifo(e.path("ctl.fifo"), 0o600); err != nil {
		tb.Fatal(err)
	}
	// The command process keeps the FIFO open for reading and writing, so it
	// never sees end-of-file between two of the test's writes. The recorder must
	// not redirect its own stdout: ExaBGP takes a closed stdout for a dead helper.
	scripts := map[string]string{
		"ctl.sh": "#!/bin/sh\nexec cat 0<>" + e.path("ctl.fifo") + "\n",
		"mon.sh": "#!/bin/sh\ncat >>" + e.path("messages.json") + "\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(e.path(name), []byte(body), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("ExaBGP in %s at teardown; its log:\n%s", l.NS, e.LogTail(60))
		}
		e.Stop()
	})
	e.Start(opts)
	return e
}

func (e *ExaBGP) path(name string) string { return filepath.Join(e.dir, name) }

func (e *ExaBGP) config(o ExaBGPOptions) string {
	var caps []string
	caps = append(caps, "route-refresh;")
	if o.AddPathSend {
		caps = append(caps, "add-path send;")
	}
	if o.GracefulRestart > 0 {
		caps = append(caps, fmt.Sprintf("graceful-restart %d;", int(o.GracefulRestart.Seconds())))
	}
	return fmt.Sprintf(`process ctl {
  run %s;
  encoder text;
}
process mon {
  run %s;
  encoder json;
}
neighbor %s {
  router-id %s;
  local-address %s;
  local-as %d;
  peer-as %d;
  passive true;
  hold-time 9;
  family { ipv4 unicast; ipv6 unicast; }
  capability { %s }
  api { processes [ ctl ]; }
  api mon { processes [ mon ]; receive { parsed; open; update; notification; } neighbor-changes; }
}
`, e.path("ctl.sh"), e.path("mon.sh"), e.link.WatcherAddr, e.link.RouterAddr, e.link.RouterAddr, o.ASN, o.WatcherASN, strings.Join(caps, " "))
}

// Start (re)writes the configuration and runs ExaBGP, listening on the
// router's address of the link.
func (e *ExaBGP) Start(o ExaBGPOptions) {
	e.tb.Helper()
	conf := e.path("exabgp.conf")
	if err := os.WriteFile(conf, []byte(e.config(o)), 0o644); err != nil {
		e.tb.Fatal(err)
	}
	if err := e.proc.start([]string{
		"exabgp.tcp.bind=" + e.link.RouterAddr.String(), "exabgp.tcp.port=179",
		// Root in a test namespace: keep root (the helpers' files are root's),
		// no CLI pipes, no acknowledgements to the command process (its stdin is
		// the FIFO), the log in a file.
		"exabgp.daemon.user=root", "exabgp.daemon.drop=false", "exabgp.daemon.daemonize=false",
		"exabgp.api.cli=false", "exabgp.api.ack=false",
		"exabgp.log.destination=" + e.path("exabgp.log"),
	}, "exabgp", conf); err != nil {
		e.tb.Fatal(err)
	}
	// Ready once it listens.
	if err := labfabric.WaitFor(15*time.Second, func() error {
		if gone, out := e.proc.exited(); gone {
			return fmt.Errorf("ExaBGP exited: %s", out)
		}
		out, err := run("ip", "netns", "exec", e.link.NS, "ss", "-Hltn", "sport = :179")
		if err != nil {
			return err
		}
		if !strings.Contains(out, e.link.RouterAddr.String()+":179") {
			return fmt.Errorf("not listening yet")
		}
		return nil
	}); err != nil {
		e.tb.Fatalf("ExaBGP did not come up: %v; its log:\n%s", err, e.LogTail(30))
	}
}

// Stop ends ExaBGP (SIGTERM: it closes its session with a Cease).
func (e *ExaBGP) Stop() { e.proc.stop(10 * time.Second) }

// Send gives ExaBGP API commands, one per line ("announce route 192.168.155.151/32
// next-hop self path-information 0.0.0.1").
func (e *ExaBGP) Send(commands ...string) {
	e.tb.Helper()
	f, err := os.OpenFile(e.path("ctl.fifo"), os.O_WRONLY, 0)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(commands, "\n") + "\n"); err != nil {
		e.tb.Fatal(err)
	}
}

// Message is one event ExaBGP recorded: a message received from the watcher
// (Type open, update or notification, Direction receive) or a session change
// (Type state).
type Message struct {
	Type     string          `json:"type"`
	Neighbor messageNeighbor `json:"neighbor"`
}

type messageNeighbor struct {
	Direction    string         `json:"direction"`
	State        string         `json:"state"`
	Message      map[string]any `json:"message"`
	Notification map[string]any `json:"notification"`
}

// EndOfRIB is the family ("ipv4 unicast") of an End-of-RIB marker, or "".
func (m Message) EndOfRIB() string {
	eor, ok := m.Neighbor.Message["eor"].(map[string]any)
	if m.Type != "update" || !ok {
		return ""
	}
	return fmt.Sprintf("%v %v", eor["afi"], eor["safi"])
}

// Messages returns everything ExaBGP has recorded so far, oldest first.
func (e *ExaBGP) Messages() []Message {
	e.tb.Helper()
	f, err := os.Open(e.path("messages.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.tb.Fatal(err)
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // a line being written
		}
		out = append(out, m)
	}
	return out
}

// LogTail is the end of ExaBGP's log, and its output.
func (e *ExaBGP) LogTail(lines int) string {
	return tail(e.path("exabgp.log"), lines) + "\n" + e.proc.output()
}
