// Package bgp is the operator's embedded BGP watcher: a receive-only GoBGP
// (github.com/osrg/gobgp/v3, as a library) per AnycastClass that peers with
// the fabric and reports what the routers really carry for the class's
// anycast pools.
package bgp
