package bgp

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// BMPState is a class's BMP collector as the status shows it.
type BMPState struct {
	// Listen is the configured address; Listening whether the collector
	// listens on it, and Message why not.
	Listen    netip.AddrPort
	Listening bool
	Message   string
	// Address is where it listens (Listen with the port a port 0 picked).
	Address netip.AddrPort
	// Routers are the configured routers, sorted by name.
	Routers []BMPRouterState
	// Refused are the latest addresses whose connections were refused, newest
	// first (at most 8).
	Refused []BMPRefusal
}

// BMPRouterState is one router's BMP session.
type BMPRouterState struct {
	Name    string
	Address netip.Addr
	// Connected says whether the router is streaming; Since when it connected
	// or last disconnected; Remote its connection's address and port.
	Connected bool
	Since     time.Time
	Remote    netip.AddrPort
	// SysName and SysDescr are what the router's Initiation said.
	SysName, SysDescr string
	// Received sums the prefixes the router reports per neighbour (each
	// neighbour's largest table); Accepted counts the prefixes inside the
	// pools held from it (across neighbours and tables).
	Received, Accepted uint64
	// Synced and SyncIn: as SessionState's, for the router's whole view.
	Synced bool
	SyncIn time.Duration
	// Message says why the router is not connected, or why its last stream
	// ended; it also counts the reconnections refused meanwhile when the
	// router broke its limits.
	Message string
	// Peers are the neighbours it reports (and its Loc-RIB), sorted by address.
	Peers []BMPPeerState
}

// BMPPeerState is one neighbour a router reports over BMP.
type BMPPeerState struct {
	// Address is the neighbour's (invalid for the router's Loc-RIB, LocRIB).
	Address netip.Addr
	LocRIB  bool
	ASN     uint32
	Up      bool
	Since   time.Time
	// Received is the prefixes the router reports for it (its largest
	// table), Accepted those inside the pools; Tables the tables the router
	// reports (pre-policy, post-policy, Loc-RIB). ReportedRoutes is the
	// router's own count of its Adj-RIB-In from its statistics reports, -1
	// without one.
	Received, Accepted uint64
	Tables             []RIB
	ReportedRoutes     int64
	// Synced: the router sent its End-of-RIB for every family of the pools.
	Synced bool
	// Message is why the neighbour went down, from the router's Peer Down.
	Message string
}

// BMPRefusal is a connection from an address no router of the class has.
type BMPRefusal struct {
	Address     netip.Addr
	Attempts    uint64
	First, Last time.Time
}

// BMP reports the class's collector; the zero BMPState when it has none.
func (m *Manager) BMP(class string) BMPState {
	w := m.class(class)
	if w == nil {
		return BMPState{}
	}
	return w.bmpState()
}

// Sessions expresses each router as a session of the routers' view, for
// whatever checks the sessions: Established while the router is connected,
// with the router's counts, sync and message.
func (s BMPState) Sessions() []SessionState {
	out := make([]SessionState, 0, len(s.Routers))
	for _, r := range s.Routers {
		st := SessionState{Name: r.Name, State: StateIdle, Since: r.Since, Received: r.Received, Accepted: r.Accepted,
			ReceivedPaths: r.Received, AcceptedPaths: r.Accepted, Synced: r.Synced, SyncIn: r.SyncIn, Message: r.Message}
		if r.Connected {
			st.State = StateEstablished
		}
		out = append(out, st)
	}
	return out
}

func (w *classWatcher) bmpState() BMPState {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.bmp
	if c == nil {
		return BMPState{}
	}
	now := time.Now()
	need := w.pools.afis()
	out := BMPState{Listen: c.cfg.Listen, Listening: c.ln != nil, Message: c.listenErr, Refused: slices.Clone(c.refused)}
	if c.ln != nil {
		if ta, ok := c.ln.Addr().(*net.TCPAddr); ok {
			out.Address = ta.AddrPort()
		}
	}
	for _, r := range c.routers {
		accepted, _ := w.ix.acceptedBy(r.cfg.Name)
		rs := BMPRouterState{Name: r.cfg.Name, Address: r.cfg.Address, Connected: r.conn != nil, Since: r.since, Remote: r.remote,
			SysName: r.sysName, SysDescr: r.sysDescr, Received: uint64(r.receivedPrefixes()), Accepted: uint64(accepted),
			Message: r.describe()}
		rs.Synced, rs.SyncIn = r.isSynced(need, now)
		byPeer := w.ix.acceptedByPeer(r.cfg.Name)
		for _, p := range r.peers {
			ps := BMPPeerState{Address: p.addr, LocRIB: p.locRIB, ASN: p.asn, Up: p.up, Since: p.since,
				Received: uint64(p.receivedPrefixes()), Accepted: uint64(byPeer[p.addr]), ReportedRoutes: p.reported, Message: p.down}
			for t := range p.received {
				ps.Tables = append(ps.Tables, t)
			}
			slices.Sort(ps.Tables)
			ps.Synced = len(need) > 0
			for _, afi := range need {
				ps.Synced = ps.Synced && p.eor[afi]
			}
			rs.Peers = append(rs.Peers, ps)
		}
		slices.SortFunc(rs.Peers, func(a, b BMPPeerState) int { return a.Address.Compare(b.Address) })
		out.Routers = append(out.Routers, rs)
	}
	slices.SortFunc(out.Routers, func(a, b BMPRouterState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// describe says why a router is not connected, or what ended its last stream.
// The caller holds w.mu.
func (r *bmpRouter) describe() string {
	switch {
	case r.conn != nil:
		return ""
	case r.limited && r.refusedSince > 0:
		return fmt.Sprintf("%s; %d reconnections refused since", r.note, r.refusedSince)
	case r.limited:
		return r.note
	case r.note != "":
		return r.note + "; waiting for the router to reconnect"
	default:
		return "not connected yet: the router has not opened its BMP session to the collector"
	}
}
