// Command anycast-lab runs the reference topology on this machine (`make lab`):
//
//	anycast-lab [up] [flags]   bring the lab up, print the table, walk through a drain,
//	                           an undrain and a speaker failure with timings (the client
//	                           router beyond the core keeping a path), tear down
//	anycast-lab down [flags]   remove everything a lab left (`make lab-down`)
//
// Environment: LAB_KEEP=1 keeps the lab up after the walk-through, refreshing the table,
// until interrupted (or `make lab-down`); LAB_STACK=real|standin|auto picks what plays
// MetalLB and the Gateway implementation (real: the upstream MetalLB, frr-k8s and Traefik
// with HTTP traffic to the VIP; standin: this project's stand-ins, what a machine without
// root gets); LAB_IPV6=1 walks through on an IPv6 VIP (real stack, both members in
// frr-k8s mode); LAB_FABRIC=frr|gobgp|auto picks the BGP fabric; LAB_WATCHER=bmp has the
// watcher collect BMP from the core and the TORs instead of peering with the core (FRR
// fabric); LAB_WALK=0 skips the walk-through. See docs/lab.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/anycast-operator/anycast-operator/test/lab"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func envBool(key string) bool {
	v := strings.ToLower(os.Getenv(key))
	return v != "" && v != "0" && v != "false" && v != "no"
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "up"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("anycast-lab "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", envOr("LAB_DIR", "lab"), "directory for everything the lab writes (kubeconfigs, pid files, etcd data, logs)")
	fabric := fs.String("fabric", envOr("LAB_FABRIC", lab.FabricAuto), "BGP fabric: auto (FRR when root with FRR installed, else GoBGP), frr or gobgp")
	stack := fs.String("stack", envOr("LAB_STACK", lab.StackAuto), "what plays MetalLB and the Gateway implementation: auto (real when it can run), real (the upstream MetalLB, frr-k8s, Traefik, real traffic) or standin")
	ipv6 := fs.Bool("ipv6", envBool("LAB_IPV6"), "walk through on an IPv6 VIP: real stack, both members in MetalLB frr-k8s mode (LAB_IPV6=1)")
	watcher := fs.String("watcher", envOr("LAB_WATCHER", "bgp"), "how the watcher reads the routers: bgp (a receive-only session to the core) or bmp (the core and the TORs stream BMP to it; FRR fabric)")
	operator := fs.String("operator", "bin/anycast-operator", "the operator binary to run (make build)")
	keep := fs.Bool("keep", envBool("LAB_KEEP"), "stay up after the walk-through until interrupted (LAB_KEEP=1)")
	walk := fs.Bool("walk", envOr("LAB_WALK", "1") != "0", "walk through drain, undrain, speaker stop and restart (LAB_WALK=0 skips)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *watcher != "bgp" && *watcher != "bmp" {
		fmt.Fprintf(stderr, "anycast-lab: unknown watcher %q (bgp or bmp)\n", *watcher)
		return 2
	}
	// controller-runtime's clients would log here; the lab prints what matters itself.
	log.SetLogger(logr.Discard())
	switch cmd {
	case "down":
		rec := lab.ReadRecord(*dir)
		if err := lab.Down(*dir); err != nil {
			fmt.Fprintln(stderr, "anycast-lab down:", err)
			return 1
		}
		if left := append(rec.Leftovers(), lab.Strays(*dir)...); len(left) > 0 {
			fmt.Fprintf(stderr, "anycast-lab down: still there: %s\n", strings.Join(left, ", "))
			return 1
		}
		fmt.Fprintf(stdout, "lab in %s removed (processes, network namespaces, files)\n", rec.Dir)
		return 0
	case "up":
	default:
		fmt.Fprintf(stderr, "anycast-lab: unknown command %q (up or down)\n", cmd)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	fmt.Fprintf(stdout, "anycast lab: the reference topology on this machine (directory %s)\n", *dir)
	l, err := lab.Up(ctx, lab.Options{Dir: *dir, Fabric: *fabric, Stack: *stack, IPv6: *ipv6, BMP: *watcher == "bmp", OperatorBinary: *operator, Out: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "\nanycast-lab: %v\n", err)
		return 1
	}
	defer func() {
		fmt.Fprintln(stdout, "\ntearing down...")
		t := time.Now()
		l.Close()
		fmt.Fprintf(stdout, "lab removed in %s: no process, namespace or file left\n", fmtDur(time.Since(t)))
	}()
	fmt.Fprintf(stdout, "  %-58s %s\n", "READY (total)", fmtDur(time.Since(start)))
	fmt.Fprintf(stdout, "\nSTACK: %s (%s)\n", strings.ToUpper(l.StackMode), l.StackReason)
	fmt.Fprintf(stdout, "BGP fabric: %s (%s)\n", strings.ToUpper(l.FabricMode), l.FabricReason)
	if *watcher == "bmp" {
		fmt.Fprintln(stdout, "watcher: BMP collector; the core and both TORs stream their Adj-RIB-In (pre- and post-policy) to it, no BGP session")
	}
	if l.IPv6Refusal != "" {
		fmt.Fprintf(stdout, "an IPv6 VIP on the native member west: refused before anything was applied: %s\n", l.IPv6Refusal)
	}
	fmt.Fprintf(stdout, "kubectl --kubeconfig %s get anycastclasses,anycastingresses -A   (east: %s)\n\n", l.Kubeconfig("west"), l.Kubeconfig("east"))
	fmt.Fprint(stdout, l.Snapshot(ctx).Render())

	if *walk {
		fmt.Fprintln(stdout, "\nwalk-through (each time measured from the action until the check held):")
		steps, err := l.WalkThrough(ctx, stdout, true)
		fmt.Fprintln(stdout, "\nsummary")
		for _, s := range steps {
			for _, c := range s.Checks {
				fmt.Fprintf(stdout, "  %-22s %-70s %s\n", s.Name, c.What, fmtDur(c.Took))
			}
			if s.Traffic != nil {
				fmt.Fprintf(stdout, "  %-22s %s\n", s.Name, s.Traffic)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "\nanycast-lab: walk-through failed: %v\n", err)
			for _, d := range l.Diagnostics() {
				fmt.Fprintf(stderr, "  %s\n", d)
			}
			if !*keep {
				return 1
			}
			fmt.Fprintf(stderr, "LAB_KEEP: the failed lab stays up for inspection\n")
		}
	}
	if *walk && l.StackMode == lab.StackReal && !*ipv6 {
		if code := speakersAndReturnPath(ctx, l, stdout, stderr); code != 0 && !*keep {
			return code
		}
	}
	if problems := realProblems(ctx, l); len(problems) > 0 {
		fmt.Fprintf(stderr, "\nanycast-lab: the real components objected:\n  %s\n", strings.Join(problems, "\n  "))
		return 1
	}
	if !*keep {
		return 0
	}
	fmt.Fprintf(stdout, "\nLAB_KEEP: the lab stays up; Ctrl-C or `make lab-down` removes it.\n")
	live := false
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			live = true
		}
	}
	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
		s := l.Snapshot(ctx)
		if !l.OperatorRunning() {
			fmt.Fprint(stdout, s.Render())
			fmt.Fprintln(stderr, "anycast-lab: the operator exited; see", l.Dir+"/operator.log")
			return 1
		}
		table := s.Render()
		if live {
			// Redraw in place: home, clear screen.
			fmt.Fprint(stdout, "\033[H\033[2J"+table+"\nLAB_KEEP: Ctrl-C or `make lab-down` removes the lab.\n")
			continue
		}
		// Not a terminal: print when something other than the clock changed.
		body := table[strings.IndexByte(table, '\n')+1:]
		if body != last {
			fmt.Fprint(stdout, "\n"+table)
			last = body
		}
	}
}

// realProblems lists what the real components objected to: a configuration MetalLB
// rejected, an object Traefik did not accept.
func realProblems(ctx context.Context, l *lab.Lab) []string {
	var out []string
	for _, e := range l.ConfigErrors() {
		out = append(out, fmt.Sprintf("%s rejected its configuration: %s", e.Process, e.Message))
	}
	return append(out, l.TraefikVerdicts(ctx)...)
}

func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// speakersAndReturnPath shows, after the walk-through, the speakers' own view of their
// sessions (TOR east shuts its session to east's node; the class shows it from frr-k8s's
// BGPSessionStates) and why the nodes learn the clients' network from their TORs (east's
// receive off: its answers leave through the management network and are lost).
func speakersAndReturnPath(ctx context.Context, l *lab.Lab, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "\nthe speakers' sessions: TOR east shuts its BGP session to east's node (neighbor ... shutdown)")
	down, up, err := l.TORSessionDown(ctx, "east")
	if err != nil {
		fmt.Fprintf(stderr, "anycast-lab: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "  %-80s %s\n", "the class shows east's speakers' session down (SpeakerSessionsEstablished=False)", fmtDur(down))
	fmt.Fprintf(stdout, "  %-80s %s\n", "reopened: Established again, both clusters serving", fmtDur(up))
	fmt.Fprintf(stdout, "\nthe return path: east's node gets its default route on a management network; the requests come from the client's network %s\n", lab.ClientNet)
	r, err := l.AsymmetricReturn(ctx, "east")
	if err != nil {
		fmt.Fprintf(stderr, "anycast-lab: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "  east's node: %s\n", r.DefaultRoute)
	fmt.Fprintf(stdout, "  receive on: east's node routes %s; its FRR's BGP neighbours: %s\n", r.RouteWith, strings.Join(r.Sessions, ", "))
	fmt.Fprintf(stdout, "  receive off (spec.clusters[east].receive: {mode: None}): route gone after %s; %s (east's answers leave through the management network)\n", fmtDur(r.RouteGoneAfter), r.Off)
	fmt.Fprintf(stdout, "  receive on again: route back after %s; %s\n", fmtDur(r.RouteBackAfter), r.On)
	if r.Off.ByCluster["east"] != 0 || r.Off.Failed == 0 || r.On.Failed != 0 {
		fmt.Fprintln(stderr, "anycast-lab: the return-path check did not show what it should")
		return 1
	}
	return 0
}
