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
//   - forwarding on in the client router too, and IPv4 redirects off there: it is a
//     router, and a router ignores redirects. A host on the core's link would not: when
//     a TOR loses its speaker's path it routes the VIP to the core for the ~50 ms until
//     the core drops that TOR, the core forwards the flows it still hashes there back
//     out of the link they came in on, and sends an ICMPv6 redirect naming the TOR's
//     link-local address; a host client took one (the lab's IPv6 walk-through, once in
//     a few runs), and every new connection to the VIP went to an address not on its
//     link for about 10 s, until the neighbour entry failed;
//   - static routes, which BGP does not carry here (only the VIP is
//     announced): each node's default route points at its TOR, each TOR's at
//     the core, and the core reaches each node link through its TOR. The
//     client needs none: its replies come back on its own link, and its route
//     to the VIP is the one BGP gives it.
//
// With mgmt (Options.Mgmt) the nodes also route the fabric's links (the TOR-core links,
// the other node's link, the client's link) through their TOR, so that their default
// route can move to the management network (MgmtDefault) without cutting them off the
// fabric; reverse-path filtering is off on the nodes, as on hosts with several
// interfaces, so that a request from ClientNet reaches the node and only its answer can
// take the wrong way.
func dataPlane(ns map[string]string, mgmt bool) error {
	forwarding := []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"}
	sysctls := map[string][]string{
		"core": append([]string{"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"}, forwarding...),
		"torw": forwarding,
		"tore": forwarding,
	}
	if ns["client"] != "" {
		sysctls["client"] = append([]string{"net.ipv4.conf.all.accept_redirects=0"}, forwarding...)
	}
	if mgmt {
		rp := []string{"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"}
		sysctls["spw"], sysctls["spe"] = rp, rp
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
		{"spw", "default", torWestSpeaker.a6.Addr()},
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
	routes = append(routes, route{"spw", "default", torWestSpeaker.a4.Addr()}, route{"spe", "default", torEastSpeaker.a4.Addr()})
	if mgmt {
		// The fabric's links other than the node's own (connected), for when the default
		// route is on the management network (MgmtDefault).
		for _, l := range []p2p{coreTORWest, coreTOREast, coreClient, torEastSpeaker} {
			routes = append(routes, route{"spw", l.a4.Masked().String(), torWestSpeaker.a4.Addr()})
		}
		for _, l := range []p2p{coreTORWest, coreTOREast, coreClient, torWestSpeaker} {
			routes = append(routes, route{"spe", l.a4.Masked().String(), torEastSpeaker.a4.Addr()})
		}
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

// clientNet gives the client's namespace ClientHost, on its loopback (the kernel here may
// have no dummy interfaces), for the client router to announce ClientNet once it runs
// (announceClientNet).
func clientNet(ns string) error {
	_, err := run("ip", "-n", ns, "addr", "add", netip.PrefixFrom(ClientHost, 32).String(), "dev", "lo")
	return err
}

// announceClientNet has the client router originate ClientNet towards the core.
func announceClientNet(r *Router) error {
	out, err := run("vtysh", "-N", r.NS, "-c", "configure terminal", "-c", fmt.Sprintf("router bgp %d", r.ASN),
		"-c", "address-family ipv4 unicast", "-c", "network "+ClientNet.String())
	if err != nil {
		return fmt.Errorf("announcing %s from the client router: %v: %s", ClientNet, err, out)
	}
	return nil
}

// MgmtDefault moves a node's IPv4 default route ("west" or "east") to its management
// interface (on) or back to its TOR (Options.Mgmt).
func (f *Fabric) MgmtDefault(cluster string, on bool) error {
	if !f.Mgmt {
		return fmt.Errorf("the fabric has no management network (Options.Mgmt)")
	}
	ns, via := f.West.NS, torWestSpeaker.a4.Addr()
	if cluster == "east" {
		ns, via = f.East.NS, torEastSpeaker.a4.Addr()
	}
	if on {
		via = westMgmt.a4.Addr()
		if cluster == "east" {
			via = eastMgmt.a4.Addr()
		}
	}
	_, err := run("ip", "-n", ns, "-4", "route", "replace", "default", "via", via.String())
	return err
}
