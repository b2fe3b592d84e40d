package fabric

import (
	"fmt"
	"net/netip"
	"time"
)

// BMPOptions point a router's BMP (RFC 7854) stream at a collector.
type BMPOptions struct {
	// Collector is where the router connects (the watcher's end of its link).
	Collector netip.AddrPort
	// Tables are the `bmp monitor` tables, for IPv4 and IPv6 unicast:
	// "pre-policy", "post-policy" (FRR 8.4 has no Loc-RIB). Default both.
	Tables []string
	// StatsInterval, if set, has the router send statistics reports.
	StatsInterval time.Duration
}

// BMPTarget is the `bmp targets` block of a bgpd configuration (inside `router bgp`, for
// a bgpd started with -M bmp) that streams to opts.Collector, retrying every 100 ms to
// 1 s: FRR's defaults are 30 s to 12 min, longer than any test waits for a collector
// that started after the router. The lines are in configuration-file form; vtysh takes
// them one by one as well.
func BMPTarget(opts BMPOptions) []string {
	tables := opts.Tables
	if len(tables) == 0 {
		tables = []string{"pre-policy", "post-policy"}
	}
	lines := []string{
		"bmp targets collector",
		fmt.Sprintf(" bmp connect %s port %d min-retry 100 max-retry 1000", opts.Collector.Addr(), opts.Collector.Port()),
	}
	for _, af := range []string{"ipv4", "ipv6"} {
		for _, t := range tables {
			lines = append(lines, fmt.Sprintf(" bmp monitor %s unicast %s", af, t))
		}
	}
	if opts.StatsInterval > 0 {
		lines = append(lines, fmt.Sprintf(" bmp stats interval %d", opts.StatsInterval.Milliseconds()))
	}
	return append(lines, "exit")
}
