package fabric

import (
	"fmt"
	"net/netip"
)

// dataPlane makes the fabric forward packets between the client and the nodes
// (Options.DataPlane), given the namespaces by role:
//
//   - forwarding on in the core and the TORs, IPv4 and IPv6 (a new namespace
//     forwards nothing);
//   - fib_multipath_hash_policy=1 at the core, IPv4 and IPv6: its ECMP route
//     hashes on the layer-4 five-tuple, so connections from one client with
//     different source ports take different paths, as a data-centre core
//     is configured (the kernel's default hashes on addresses alone, which
//     would send every connection of one client down one path);
//   - static routes, which BGP does not carry here (only the VIP is
//     announced): each node's default route points at its TOR, each TOR's at
//     the core, and the core reaches each node link through its TOR. The
//     client needs none: its replies come back on its own link, and its route
//     to the VIP is the one BGP gives it.
func dataPlane(ns map[string]string) error {
	forwarding := []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"}
	sysctls := map[string][]string{
		"core": append([]string{"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"}, forwarding...),
		"torw": forwarding,
		"tore": forwarding,
	}
	for role, kv := range sysctls {
		if _, err := inNS(ns[role], "sysctl", append([]string{"-q", "-w"}, kv...)...); err != nil {
			return fmt.Errorf("data plane: %w", err)
		}
	}
	type route struct {
		role, dst string
		via       netip.Addr
	}
	routes := []route{
		{"spw", "default", torWestSpeaker.a4.Addr()},
		{"spw", "default", torWestSpeaker.a6.Addr()},
		{"spe", "default", torEastSpeaker.a4.Addr()},
		{"spe", "default", torEastSpeaker.a6.Addr()},
		{"torw", "default", coreTORWest.a4.Addr()},
		{"torw", "default", coreTORWest.a6.Addr()},
		{"tore", "default", coreTOREast.a4.Addr()},
		{"tore", "default", coreTOREast.a6.Addr()},
		{"core", torWestSpeaker.a4.Masked().String(), coreTORWest.b4.Addr()},
		{"core", torWestSpeaker.a6.Masked().String(), coreTORWest.b6.Addr()},
		{"core", torEastSpeaker.a4.Masked().String(), coreTOREast.b4.Addr()},
		{"core", torEastSpeaker.a6.Masked().String(), coreTOREast.b6.Addr()},
	}
	for _, r := range routes {
		family := "-4"
		if r.via.Is6() {
			family = "-6"
		}
		if _, err := run("ip", "-n", ns[r.role], family, "route", "add", r.dst, "via", r.via.String()); err != nil {
			return fmt.Errorf("data plane: %w", err)
		}
	}
	return nil
}
