package fabric

import (
	"fmt"
	"net/netip"
)

// Address plan. Links inside namespaces use fixed addresses from the RFC 2544
// benchmarking range (198.18.0.0/15) and its IPv6 counterpart 2001:2::/48
// (RFC 5180): they are private to each fabric, so concurrent fabrics can
// reuse them. Links that end in the root namespace (where the watcher, i.e.
// the test process, lives) are shared by every fabric on the machine, so they
// are carved per block from 198.19.<block>.0/24 and 2001:2:0:1<block><k>::/64.

// p2p is one /30 (and /64) point-to-point link: side a gets .1/::1, side b .2/::2.
type p2p struct{ a4, b4, a6, b6 netip.Prefix }

func nsLink(third int) p2p {
	return p2p{
		a4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/30", third)),
		b4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.2/30", third)),
		a6: netip.MustParsePrefix(fmt.Sprintf("2001:2:0:%d::1/64", third)),
		b6: netip.MustParsePrefix(fmt.Sprintf("2001:2:0:%d::2/64", third)),
	}
}

// rootLink is the k-th watcher link of a block; side a is the watcher.
func rootLink(block, k int) p2p {
	base := 4 * k
	hextet := 0x1000 + block*16 + k
	return p2p{
		a4: netip.MustParsePrefix(fmt.Sprintf("198.19.%d.%d/30", block, base+1)),
		b4: netip.MustParsePrefix(fmt.Sprintf("198.19.%d.%d/30", block, base+2)),
		a6: netip.MustParsePrefix(fmt.Sprintf("2001:2:0:%x::1/64", hextet)),
		b6: netip.MustParsePrefix(fmt.Sprintf("2001:2:0:%x::2/64", hextet)),
	}
}

// Watcher links of a block, by k.
const (
	linkCore = iota
	linkTORWest
	linkTOREast
	linkRogue
	linkFeed
)

// Namespaced links, by third octet.
var (
	coreTORWest    = nsLink(1)
	coreTOREast    = nsLink(2)
	coreClient     = nsLink(3)
	torWestSpeaker = nsLink(11)
	torEastSpeaker = nsLink(12)
	westMgmt       = nsLink(31) // node west to the management namespace (Options.Mgmt)
	eastMgmt       = nsLink(32)
	feedRouter     = nsLink(21)
)

// ClientNet is the client router's own network (Options.Mgmt): it holds the address the
// clients send from (ClientHost), and the client router announces it to the core, which
// passes it on to the TORs. Inside 198.18.0.0/15, as the sample class's receive filter
// expects the clients' networks to be.
var (
	ClientNet  = netip.MustParsePrefix("198.18.100.0/24")
	ClientHost = netip.MustParseAddr("198.18.100.1")
)
