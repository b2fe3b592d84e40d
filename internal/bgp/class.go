package bgp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// classWatcher is one class's GoBGP BgpServer (a class has its own ASN and
// router ID, so it cannot share a server) with its sessions and route index.
type classWatcher struct {
	class     string
	log       logr.Logger
	srv       *server.BgpServer
	glog      *gobgpLogger
	queue     *changeQueue
	stopWatch context.CancelFunc
	ix        *index
	asn       uint32
	routerID  netip.Addr

	// mu serialises Apply against event handling. It may be held while
	// calling into GoBGP (GoBGP never waits for our callbacks: its watch
	// channels are unbounded), but the GoBGP logger must never take it.
	mu       sync.Mutex
	stopped  bool // events still in flight after stop are ignored
	pools    pools
	sessions map[string]*session
	byAddr   map[netip.Addr]*session
}

// startClass starts a BgpServer that never listens (ListenPort -1: the
// watcher only dials out), installs the policies and subscribes to events.
func startClass(ctx context.Context, class string, cfg Config, queue *changeQueue, log logr.Logger) (*classWatcher, error) {
	glog := newGobgpLogger(log.WithName("gobgp"))
	// A new diagnosis (connect error, NOTIFICATION, max-prefix) changes a
	// session's Message without necessarily changing its state.
	glog.onNote = func() { queue.push(class, nil, true, time.Now()) }
	srv := server.NewBgpServer(server.LoggerOption(glog))
	go srv.Serve()
	w := &classWatcher{
		class: class, log: log, srv: srv, glog: glog, queue: queue, ix: newIndex(),
		asn: cfg.ASN, routerID: cfg.RouterID, pools: newPools(cfg.Pools),
		sessions: map[string]*session{}, byAddr: map[netip.Addr]*session{},
	}
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: -1,
	}})
	if err == nil {
		err = installPolicies(ctx, srv, w.pools, true)
	}
	if err == nil {
		var watchCtx context.Context
		watchCtx, w.stopWatch = context.WithCancel(context.Background())
		err = srv.WatchEvent(watchCtx, watchRequest(), w.onEvent)
	}
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("starting the BGP watcher for class %s: %w", class, err)
	}
	return w, nil
}

// stop closes every session and stops the server. GoBGP's Serve loop has no
// exit, so one idle goroutine per stopped class remains (see doc.go).
func (w *classWatcher) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	if w.stopWatch != nil {
		w.stopWatch()
	}
	w.srv.Stop()
}

// apply reconciles sessions and pools with cfg; sessions whose config is
// unchanged keep running. Prefixes whose paths changed and the session
// change are pushed as one Change.
func (w *classWatcher) apply(ctx context.Context, cfg Config) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return fmt.Errorf("class %s was restarted or removed during Apply; apply again", w.class)
	}
	now := time.Now()
	passwords := make([]string, 0, len(cfg.Sessions))
	want := map[string]SessionConfig{}
	for _, s := range cfg.Sessions {
		passwords = append(passwords, s.Password)
		want[s.Name] = s
	}
	// Redact new passwords before GoBGP can log anything about them; keep
	// the old ones until they are gone from GoBGP too.
	old := make([]string, 0, len(w.sessions))
	for _, s := range w.sessions {
		old = append(old, s.cfg.Password)
	}
	w.glog.setSecrets(append(passwords, old...))
	defer w.glog.setSecrets(passwords)

	var changed []netip.Prefix
	sessionsChanged := false
	var errs []error

	// Remove sessions that are gone or changed (changed ones are re-added
	// below: GoBGP cannot change a password or ADD-PATH on a live session).
	for name, s := range w.sessions {
		if c, ok := want[name]; ok && c == s.cfg {
			continue
		}
		changed = append(changed, w.removeSession(ctx, s)...)
		sessionsChanged = true
	}

	newPools := newPools(cfg.Pools)
	if !newPools.equal(w.pools) {
		p, err := w.setPools(ctx, newPools)
		changed = append(changed, p...)
		if err != nil {
			errs = append(errs, err)
		}
	}

	for _, c := range cfg.Sessions {
		if _, ok := w.sessions[c.Name]; ok {
			continue
		}
		if err := w.addSession(ctx, c, now); err != nil {
			errs = append(errs, err)
		}
		sessionsChanged = true
	}
	w.updateDebug()
	w.queue.push(w.class, changed, sessionsChanged, now)
	return errors.Join(errs...)
}

func (w *classWatcher) addSession(ctx context.Context, c SessionConfig, now time.Time) error {
	addr := c.Address.Unmap()
	s := &session{cfg: c, state: StateIdle, since: now}
	w.glog.forget(addr)
	w.sessions[c.Name] = s
	w.byAddr[addr] = s
	setEstablished(w.class, c.Name, false)
	w.refreshAccepted(map[string]bool{c.Name: true})
	if err := w.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerConfig(c)}); err != nil {
		delete(w.sessions, c.Name)
		delete(w.byAddr, addr)
		forgetSessionMetrics(w.class, c.Name)
		return fmt.Errorf("adding session %s (%s): %w", c.Name, addr, err)
	}
	w.log.V(1).Info("session configured", "session", c.Name, "address", addr, "asn", c.ASN,
		"addPath", c.AddPathReceive, "maxPrefixes", c.MaxPrefixes, "md5", c.Password != "")
	return nil
}

// removeSession deletes the GoBGP neighbor and the session's paths.
func (w *classWatcher) removeSession(ctx context.Context, s *session) []netip.Prefix {
	addr := s.cfg.Address.Unmap()
	delete(w.sessions, s.cfg.Name)
	delete(w.byAddr, addr) // events still in flight for it are ignored from now on
	if err := w.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
		w.log.Error(err, "deleting session", "session", s.cfg.Name, "address", addr)
	}
	w.glog.forget(addr)
	dropped := w.ix.dropSession(s.cfg.Name)
	forgetSessionMetrics(w.class, s.cfg.Name)
	w.refreshOrigins(dropped)
	return dropped
}

// setPools replaces the import filter. GoBGP gets the new policy and a soft
// reset (so its RIB is filtered again from its Adj-RIB-In); the index drops
// paths now outside and picks up, from the Adj-RIB-In, paths that a grown
// pool now covers.
func (w *classWatcher) setPools(ctx context.Context, ps pools) ([]netip.Prefix, error) {
	old := w.pools
	w.pools = ps
	if err := installPolicies(ctx, w.srv, ps, false); err != nil {
		return nil, err
	}
	changed := w.ix.dropOutside(ps)
	all := map[string]bool{}
	for name := range w.sessions {
		all[name] = true
	}
	w.refreshAccepted(all)
	var added pools
	for _, p := range ps {
		if !old.contains(p) {
			added = append(added, p)
		}
	}
	for _, s := range w.sessions {
		if s.state != StateEstablished {
			continue
		}
		addr := s.cfg.Address.Unmap().String()
		if err := w.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: addr, Soft: true, Direction: api.ResetPeerRequest_IN}); err != nil {
			w.log.Error(err, "soft reset after a pool change", "session", s.cfg.Name)
		}
		if len(added) > 0 {
			p, err := w.rescan(ctx, s, added)
			if err != nil {
				return changed, err
			}
			changed = append(changed, p...)
		}
	}
	w.refreshOrigins(changed)
	return changed, nil
}

// rescan reads a session's Adj-RIB-In for routes inside newly added pools.
// Holding w.mu keeps event handling out meanwhile; events queued during the
// scan are older than the scan's snapshot and re-apply harmlessly.
func (w *classWatcher) rescan(ctx context.Context, s *session, added pools) ([]netip.Prefix, error) {
	var changed []netip.Prefix
	var nlri api.IPAddressPrefix
	for _, f := range families {
		var lookups []*api.TableLookupPrefix
		for _, p := range added {
			if p.Addr().Is4() == (f.Afi == api.Family_AFI_IP) {
				lookups = append(lookups, &api.TableLookupPrefix{Prefix: p.String(), Type: api.TableLookupPrefix_LONGER})
			}
		}
		if len(lookups) == 0 {
			continue
		}
		var paths []*api.Path
		err := w.srv.ListPath(ctx, &api.ListPathRequest{
			TableType: api.TableType_ADJ_IN, Name: s.cfg.Address.Unmap().String(), Family: f, Prefixes: lookups,
		}, func(d *api.Destination) { paths = append(paths, d.Paths...) })
		if err != nil {
			return changed, fmt.Errorf("reading session %s's routes for new pools: %w", s.cfg.Name, err)
		}
		for _, p := range paths {
			prefix, err := pathPrefix(p, &nlri)
			if err != nil || !w.pools.contains(prefix) {
				continue
			}
			path := Path{Session: s.cfg.Name, Prefix: prefix}
			if err := decodePath(p, &path); err != nil {
				continue
			}
			if w.ix.set(path) {
				changed = append(changed, prefix)
			}
		}
	}
	w.refreshAccepted(map[string]bool{s.cfg.Name: true})
	return changed, nil
}

// updateDebug turns GoBGP's debug level on while any session is down, so its
// connect errors reach describe().
func (w *classWatcher) updateDebug() {
	down := false
	for _, s := range w.sessions {
		down = down || s.state != StateEstablished
	}
	w.glog.debug.Store(down)
}

// refreshAccepted updates the accepted-paths gauge of the named sessions.
func (w *classWatcher) refreshAccepted(sessions map[string]bool) {
	for name := range sessions {
		sessionPrefixes.WithLabelValues(w.class, name, "accepted").Set(float64(w.ix.acceptedBy(name)))
	}
}

// refreshOrigins updates the per-prefix origin gauge.
func (w *classWatcher) refreshOrigins(prefixes []netip.Prefix) {
	for _, p := range prefixes {
		if n := w.ix.origins(p); n > 0 {
			prefixOrigins.WithLabelValues(w.class, p.String()).Set(float64(n))
		} else {
			prefixOrigins.DeleteLabelValues(w.class, p.String())
		}
	}
}

// peerCounts is what only GoBGP knows of a session: the paths it received and whether
// the prefix limit shut it down.
type peerCounts struct {
	received      uint64
	prefixLimited bool
}

// states reports every session, sorted by name. Received comes from GoBGP's
// Adj-RIB-In count, which GoBGP computes by walking the table: cheap for a
// pool's worth of routes, about 10 ms for a million.
func (w *classWatcher) states(ctx context.Context) []SessionState {
	peers := map[netip.Addr]peerCounts{}
	err := w.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		var pc peerCounts
		for _, af := range p.GetAfiSafis() {
			pc.received += af.GetState().GetReceived()
		}
		pc.prefixLimited = p.GetState().GetAdminState() == api.PeerState_PFX_CT
		peers[a.Unmap()] = pc
	})
	if err != nil {
		w.log.Error(err, "listing sessions")
	}
	return w.snapshot(peers)
}

// quickStates reports every session's state and sync, sorted by name, from the watcher's
// own bookkeeping: no call into GoBGP, whose management requests queue behind the BGP
// work (states adds the prefix counts). Received and Accepted are left zero.
func (w *classWatcher) quickStates() []SessionState {
	return w.snapshot(nil)
}

// snapshot builds the sessions' states; with peers (GoBGP's counts) it also fills in the
// prefix counts and their gauges.
func (w *classWatcher) snapshot(peers map[netip.Addr]peerCounts) []SessionState {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	need := w.pools.afis()
	out := make([]SessionState, 0, len(w.sessions))
	for _, s := range w.sessions {
		addr := s.cfg.Address.Unmap()
		pc := peers[addr]
		st := SessionState{Name: s.cfg.Name, State: s.state, Since: s.since,
			Message: describe(s, w.glog.note(addr), pc.prefixLimited)}
		st.Synced, st.SyncIn = s.synced(need, now)
		if peers != nil {
			st.Received, st.Accepted = pc.received, uint64(w.ix.acceptedBy(s.cfg.Name))
			sessionPrefixes.WithLabelValues(w.class, s.cfg.Name, "received").Set(float64(st.Received))
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SessionState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
