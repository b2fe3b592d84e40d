// Package bgp is the operator's BGP watcher: receive-only BGP sessions built
// on GoBGP's packet library (github.com/osrg/gobgp/v3/pkg/packet/bgp,
// embedded), one set per AnycastClass, peering with the fabric so the status
// can say what the routers really carry for the class's anycast pools, not
// what the speakers intend to send; and a BMP collector (see "BMP" below) that
// routers stream their view to, feeding the same route index.
//
// # Why not a GoBGP BgpServer
//
// The watcher needs a BGP session, not a router: it never selects, installs
// or sends routes. GoBGP's server keeps every path a router sends, with all
// its attributes, in its Adj-RIB-In before any import policy runs (about
// 950 MiB of RSS and 10 s for a million routes, where FRR bgpd took 7 s),
// and reports why a session is down only through its log lines. So each
// session is the watcher's own receive-only speaker (fsm.go: RFC 4271,
// active side) on GoBGP's packet library (pkg/packet/bgp), which encodes and
// decodes every message and applies RFC 7606's error handling. A path outside
// the pools costs 12 (IPv4) or 24 (IPv6) bytes, its key; only paths inside
// the pools have their attributes decoded and kept (BenchmarkIngest1M: a
// million routes, 1,000 in the pools, in 0.7 s at about 110 MiB peak RSS for
// the whole test process, while FRR bgpd took 8.7 s in the same run).
//
// # What it does
//
//   - Its sessions only dial (nothing listens for BGP) and never advertise: its OPEN
//     offers ADD-PATH receive only, and the only UPDATE it sends is the
//     End-of-RIB marker, one per negotiated family, empty (no route, no
//     attribute but an empty MP_UNREACH_NLRI for IPv6), to a router that
//     announced graceful restart: RFC 4724 asks for it even with nothing to
//     send, and a restarting router (BIRD with -R, FRR, GoBGP) holds its own
//     table back until every graceful-restart peer has sent it.
//   - Every session negotiates IPv4 and IPv6 unicast, whatever its transport,
//     with 4-octet ASNs, route refresh, and graceful restart without address
//     families (End-of-RIB support only: routers then mark the end of their
//     table, so the session is synced as soon as it is in).
//   - Only routes inside the class pools (a /32 or /128 VIP inside a pool
//     matches) are kept; everything else is counted and dropped.
//     SessionState reports Received (the prefixes the router currently
//     announces: re-announcements replace, withdrawals remove) and Accepted
//     (kept), and, as ReceivedPaths and AcceptedPaths, the paths: with
//     ADD-PATH one prefix arrives once per path id.
//   - A max-prefix guard per session (SessionConfig.MaxPrefixes, per address
//     family, counted before filtering, in prefixes: a prefix with many
//     ADD-PATH path ids counts once): when the router sends more, the
//     watcher sends Cease/Maximum Number of Prefixes and keeps the session
//     down until its configuration changes (any Apply that changes it).
//   - TCP MD5 (SessionConfig.Password) and the eBGP TTL (1, or Multihop) are
//     set on the socket before the SYN. Linux drops segments whose MD5
//     signature is wrong or missing without answering, so a password
//     mismatch is indistinguishable from an unreachable router: the session
//     stays in Active and SessionState.Message says "no answer from peer"
//     and names the password as the first thing to check. An OPEN with the
//     wrong AS, a bad hold time or identifier is refused with its
//     NOTIFICATION and the message says which.
//   - The route index holds, per prefix, every path per session (ADD-PATH
//     path ids kept apart): next hop, AS path (AS4_PATH merged for a router
//     without 4-octet ASNs), origin AS (the last AS: the cluster's),
//     communities, and since when. A session going down drops its paths,
//     except when its router restarts gracefully (graceful.go, RFC 4724
//     receiving side): a router that announced graceful restart for a family
//     and loses its connection without a NOTIFICATION keeps forwarding, so
//     its last paths stay, stale, until it is back and has resent its table
//     (End-of-RIB), or its restart time (MaxRetain at most) runs out.
//     SessionState.Retained counts them; the status reports the VIP as last
//     seen and names the restarting router. A router in helper mode (FRR's
//     default) announces no family: its paths go at once.
//   - When the pools grow, every Established session asks its router for
//     the table again (ROUTE-REFRESH; a router without it is reconnected):
//     routes outside the old pools were never kept. Until they have arrived
//     the session lists the new pools in SessionState.Relearning, and the
//     status treats a VIP inside them as it does before Synced; the rest of
//     the class's VIPs are unaffected.
//   - Changes reach the reconcilers on Manager.Changes(), pushed by the
//     session goroutines as UPDATEs and state changes arrive (no polling),
//     and coalesced per class so a slow consumer never blocks BGP. A change
//     of the prefix counters alone is pushed too (Change.Counters), at most
//     every CountersEvery per class.
//   - Prometheus: anycast_watcher_session_established, anycast_watcher_prefixes
//     (kind=received|accepted), anycast_watcher_origins, and
//     anycast_watcher_update_to_status_seconds, which the controller feeds
//     through ObserveStatusDelay.
//   - Passwords are never logged: they go only into the socket option.
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
// recommended: the watcher needs only the pools (a full table costs it the
// transfer and about 12 bytes per route, see above). They also satisfy FRR's
// "bgp ebgp-requires-policy" (on by default outside the datacenter profile),
// without which FRR sends an eBGP neighbor nothing at all. Set MaxPrefixes
// above the number of VIPs you expect (prefixes: a VIP counts once however
// many clusters' paths ADD-PATH brings), so a router misconfigured to send its
// full table is cut off rather than absorbed.
//
// # BMP
//
// Config.BMP makes the class's watcher a BMP collector (RFC 7854, bmp.go,
// bmpstream.go): many network teams will not add a BGP peer to a core router,
// but routers already stream BMP to monitoring stations, read-only by design,
// with each router's Adj-RIB-In per neighbour. Decoding is GoBGP's
// (pkg/packet/bmp, and pkg/packet/bgp for the UPDATEs inside).
//
//   - It listens (BMPConfig.Listen) and admits a connection only from a
//     configured router's source address; any other is closed before a byte
//     is read, logged (the first time per address) and listed in
//     BMPState.Refused (the latest 8 addresses, with their counts). A new
//     connection from a router replaces its current one and the view with it.
//   - It never writes to a router's connection: BMP gives a collector nothing
//     to send. TCP keepalives (the kernel's) find routers that vanished.
//   - Initiation must come first (its sysName and sysDescr are kept); Peer Up
//     starts a neighbour's view afresh (its OPENs say whether its UPDATEs carry
//     ADD-PATH ids), Peer Down drops it, Route Monitoring feeds it, statistics
//     give the router's own Adj-RIB-In count (types 7 and 9: FRR 8.4 sends
//     neither), Termination ends the stream with its reason; Route Mirroring
//     and unknown message types are skipped (every message carries its
//     length).
//   - What is kept: pre- and post-policy Adj-RIB-In of the router's global
//     neighbours and its Loc-RIB (RFC 9069), each path indexed under the
//     router's name (Path.Session) with the neighbour (Path.Peer, PeerAS) and
//     table (Path.RIB), so a VIP's paths say which router saw which cluster's
//     path, from which neighbour. Neighbours in other routing instances (route
//     distinguisher peers) and Adj-RIB-Out (RFC 8671) are skipped. A path from
//     a pre-policy table counts as seen even when the router's import policy
//     rejects it: stream post-policy (or Loc-RIB) only where that matters.
//   - As for a BGP session, only the keys of routes outside the pools are kept
//     (12 or 24 bytes each, per neighbour and table); MaxPrefixes bounds each
//     neighbour's table per family, MaxPeers the neighbours, bmpMaxMessage a
//     message (256 KiB). A stream over a limit is dropped with the router's
//     view, and the router is refused until its configuration changes (the
//     max-prefix rule of sessions); a stream cut mid-message, malformed (not
//     starting with an Initiation, another BMP version, an undecodable
//     Initiation or Termination) or closed is dropped with the router's view,
//     and the router may reconnect and resend its table. Other routers'
//     streams are untouched: each connection has its own goroutine and state.
//   - Synced: as for a session, once every neighbour that is up has sent its
//     End-of-RIB for every family of the pools (in any table), or by the same
//     time rule (SyncMin, SyncQuiet, SyncMax) from the connection.
//     BMPState.Sessions gives each router as a SessionState (Established while
//     connected) for whatever judges the sessions.
//   - When the pools grow, every router's connection is closed: BMP cannot ask
//     for a table again, and a router resends it all when it reconnects (FRR:
//     within its bmp connect min-retry).
//   - Metrics: anycast_watcher_session_established and anycast_watcher_prefixes
//     with the router's name as session, anycast_watcher_bmp_refused_total and
//     anycast_watcher_bmp_streams_ended_total (by reason).
//
// FRR (bgpd started with -M bmp; Debian's has the module):
//
//	router bgp 64001
//	 bmp targets anycast-operator
//	  bmp connect 192.168.8.99 port 11019 min-retry 1000 max-retry 30000
//	  bmp monitor ipv4 unicast post-policy
//	  bmp monitor ipv6 unicast post-policy
//	  bmp stats interval 10000
//
// FRR 8.4 reports pre-policy tables only for neighbours with "neighbor X
// soft-reconfiguration inbound" (otherwise their pre-policy messages are
// withdrawals), prepends its own AS to the AS paths of its post-policy messages
// (the origin, the last AS, is right), never includes ADD-PATH ids in BMP and
// has no Loc-RIB. BenchmarkBMPIngest1M measures the collector on a million
// routes beside FRR's BGP ingest.
//
// # Known limits
//
//   - BGP sessions are active side only: the router must accept the
//     watcher's connection (or be passive towards it); the watcher accepts
//     BGP connections from nobody. Only the BMP collector listens.
//   - BMP: a collector per class, so two classes need distinct listen ports
//     or addresses; only the operator's leader listens; no TCP MD5 or TLS on
//     BMP connections (trust is the source address, and the network path).
//   - No enhanced route refresh (RFC 7313): after a pool grows, the new
//     pools stop Relearning by the quiet-time rule, not by a marker.
//   - No extended messages (RFC 8654): UPDATEs are at most 4096 bytes.
//   - As a graceful-restart receiver it keeps a restarting router's last
//     paths only as above (graceful.go): a router in helper mode, one that
//     ends the session with a NOTIFICATION, or one back without its
//     forwarding state loses them at once, and the status then says what is
//     missing. The watcher itself never restarts gracefully: it announces no
//     family, so a router keeps nothing of it (there is nothing to keep).
package bgp
