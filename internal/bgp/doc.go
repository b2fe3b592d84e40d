// Package bgp is the operator's BGP watcher: GoBGP (github.com/osrg/gobgp/v3)
// embedded as a library, one BgpServer per AnycastClass, peering receive-only
// with the fabric so the status can say what the routers really carry for the
// class's anycast pools, not what the speakers intend to send.
//
// # What it does
//
//   - It only dials (ListenPort -1) and never advertises: the export policy
//     is an explicit reject-all statement with default REJECT.
//   - Every session carries IPv4 and IPv6 unicast, whatever its transport.
//   - The import policy keeps only routes inside the class pools (a /32 or
//     /128 VIP inside a pool matches); everything else is counted as
//     received and dropped. SessionState reports Received (all) and
//     Accepted (kept).
//   - A max-prefix guard per session (SessionConfig.MaxPrefixes, per address
//     family, counted before filtering): when the router sends more, the
//     watcher sends Cease/Maximum Number of Prefixes and keeps the session
//     down until its configuration changes (any Apply that changes it).
//   - TCP MD5 (SessionConfig.Password). Linux drops segments whose MD5
//     signature is wrong or missing without answering, so a password
//     mismatch is indistinguishable from an unreachable router: the session
//     stays in Active and SessionState.Message says "no answer from peer"
//     and names the password as the first thing to check.
//   - The route index holds, per prefix, every path per session (ADD-PATH
//     path ids kept apart): next hop, AS path, origin AS (the last AS: the
//     cluster's), communities, and since when. A session going down drops
//     its paths.
//   - Changes reach the reconcilers on Manager.Changes(), driven by GoBGP's
//     event API (peer state and Adj-RIB-In update events; no polling), and
//     coalesced per class so a slow consumer never blocks BGP.
//   - Prometheus: anycast_watcher_session_established, anycast_watcher_prefixes
//     (kind=received|accepted), anycast_watcher_origins, and
//     anycast_watcher_update_to_status_seconds, which the controller feeds
//     through ObserveStatusDelay.
//   - Passwords are never logged: GoBGP's log output passes through a logr
//     adapter that redacts them.
//
// # Which sessions you need
//
// The status must tell which clusters originate a VIP, so the watcher must
// see one path per cluster. A router normally sends only its best path, and
// a core with ECMP over two clusters still sends one. Two ways to see all:
//
// 1. One session to the router that sees every cluster (the core, or a route
// reflector) with ADD-PATH: AddPathReceive on the watcher session and, on the
// router, "send all paths" for both families. This is the recommended set-up:
// one session, every path.
//
// 2. Without ADD-PATH, one session per router next to each cluster (per
// TOR). A TOR's best path for the VIP is its own cluster's (the shorter AS
// path), so each TOR session shows that cluster. Use this when the core
// cannot send all paths; it costs one session per TOR, and a TOR that has lost
// its cluster's route sends whatever path it uses instead (correctly showing
// the origin it has, not the missing one).
//
// Both can be combined; paths are kept per session.
//
// # Router configuration (FRR)
//
// For a watcher with ASN 64999 at 192.168.8.99 and pool 192.168.155.0/24:
//
//	ip prefix-list ANYCAST-POOLS seq 5 permit 192.168.155.0/24 le 32
//	ipv6 prefix-list ANYCAST-POOLS6 seq 5 permit 2001:db8:155::/64 le 128
//	router bgp 64666
//	 neighbor 192.168.8.99 remote-as 64999
//	 neighbor 192.168.8.99 description anycast-operator watcher
//	 neighbor 192.168.8.99 passive
//	 neighbor 192.168.8.99 password <the Secret's value>
//	 address-family ipv4 unicast
//	  neighbor 192.168.8.99 activate
//	  neighbor 192.168.8.99 addpath-tx-all-paths
//	  neighbor 192.168.8.99 prefix-list ANYCAST-POOLS out
//	 exit-address-family
//	 address-family ipv6 unicast
//	  neighbor 192.168.8.99 activate
//	  neighbor 192.168.8.99 addpath-tx-all-paths
//	  neighbor 192.168.8.99 prefix-list ANYCAST-POOLS6 out
//	 exit-address-family
//
// "passive" because the watcher never accepts connections; "password" only
// with a password in the class; "addpath-tx-all-paths" only on the core
// session (leave it out on per-TOR sessions). The outbound prefix-lists are
// strongly recommended: the watcher needs only the pools, and a router that
// sends its full table makes the watcher hold all of it (GoBGP keeps every
// received route in its Adj-RIB-In, before filtering: about 350 MiB of heap
// per million routes, see the ingest benchmark). They also satisfy FRR's
// "bgp ebgp-requires-policy" (on by default outside the datacenter profile),
// without which FRR sends an eBGP neighbor nothing at all. Set MaxPrefixes
// above the number of VIPs you expect, so a router misconfigured to send its
// full table is cut off rather than absorbed.
//
// # Known limits
//
//   - GoBGP's Serve loop cannot be stopped: Remove (or a change of ASN or
//     router ID) leaves one idle goroutine and an empty BgpServer behind.
//   - GoBGP's max-prefix check counts its whole Adj-RIB-In on every UPDATE;
//     harmless with limits in the thousands, quadratic for a full table
//     with a limit above a million (so leave MaxPrefixes well below that).
//   - Received is GoBGP's Adj-RIB-In count, computed by walking the table
//     when Sessions is called (about 10 ms for a million routes); the
//     received gauge is refreshed then, not continuously.
//   - A full table is expensive (BenchmarkIngest1M, 2 cores, 1,000,000
//     routes of which 1,000 in the pools): GoBGP keeps all of them in its
//     Adj-RIB-In (about 358 MiB live heap), peaks near 950 MiB RSS, and
//     takes 10-11 s (19 s of CPU) where FRR bgpd takes 7 s (6-7 s of CPU)
//     with the default GOGC; GOGC=400 brought it to 7.6 s at 1.9 GiB,
//     GOMEMLIMIT=700MiB to about 730 MiB at 23 s. Filter on the router
//     (see above) so the watcher receives only the pools.
//   - GoBGP time-stamps paths in whole seconds, so Change.ReceivedAt is
//     taken when the event reaches the watcher's handler, after GoBGP's own
//     processing of the UPDATE.
package bgp
