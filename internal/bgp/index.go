package bgp

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
)

// pathKey identifies one path of a prefix: the session it came from and its
// ADD-PATH identifier (0 without ADD-PATH, so a session has one path then).
// For a path a router reported over BMP, session is the router's name, and
// peer and rib say which of its neighbours' tables it is from (zero for a
// BGP session's paths).
type pathKey struct {
	session string
	peer    netip.Addr
	rib     RIB
	id      uint32
}

// keyOf is the index key of p.
func keyOf(p Path) pathKey { return pathKey{p.Session, p.Peer, p.RIB, p.PathID} }

// index is one class's route index: every path currently held per prefix,
// across sessions. Only prefixes inside the pools are ever stored.
type index struct {
	mu       sync.RWMutex
	byPrefix map[netip.Prefix]map[pathKey]Path
	// Per session: the prefixes it holds a path for, and its paths (with ADD-PATH
	// a prefix can have several paths from one session).
	acceptedPrefixes map[string]int
	acceptedPaths    map[string]int
}

func newIndex() *index {
	return &index{byPrefix: map[netip.Prefix]map[pathKey]Path{}, acceptedPrefixes: map[string]int{}, acceptedPaths: map[string]int{}}
}

// holds reports whether paths has one from session (a prefix's paths are few:
// one per session and ADD-PATH id).
func holds(paths map[pathKey]Path, session string) bool {
	for k := range paths {
		if k.session == session {
			return true
		}
	}
	return false
}

// addTo moves a per-session counter by d, forgetting sessions that reach 0.
func addTo(m map[string]int, session string, d int) {
	if m[session] += d; m[session] == 0 {
		delete(m, session)
	}
}

// set stores p, replacing the path with the same session and path id. It
// reports whether anything a reader can see changed (a re-sent identical
// path does not count, and keeps its original Since).
func (ix *index) set(p Path) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	paths := ix.byPrefix[p.Prefix]
	if paths == nil {
		paths = map[pathKey]Path{}
		ix.byPrefix[p.Prefix] = paths
	}
	k := keyOf(p)
	if old, ok := paths[k]; ok {
		if samePath(old, p) {
			return false
		}
	} else {
		if !holds(paths, p.Session) {
			addTo(ix.acceptedPrefixes, p.Session, 1)
		}
		addTo(ix.acceptedPaths, p.Session, 1)
	}
	paths[k] = p
	return true
}

// remove deletes one path and reports whether it was there.
func (ix *index) remove(k pathKey, prefix netip.Prefix) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.removeLocked(k, prefix)
}

func (ix *index) removeLocked(k pathKey, prefix netip.Prefix) bool {
	paths := ix.byPrefix[prefix]
	if _, ok := paths[k]; !ok {
		return false
	}
	delete(paths, k)
	if len(paths) == 0 {
		delete(ix.byPrefix, prefix)
	}
	addTo(ix.acceptedPaths, k.session, -1)
	if !holds(paths, k.session) {
		addTo(ix.acceptedPrefixes, k.session, -1)
	}
	return true
}

// dropSession removes every path of a session (it went down or was
// removed) and returns the prefixes that lost a path.
func (ix *index) dropSession(session string) []netip.Prefix {
	return ix.dropWhere(func(k pathKey, _ netip.Prefix) bool { return k.session == session })
}

// keysOf lists the paths a BGP session holds.
func (ix *index) keysOf(session string) []staleKey {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []staleKey
	for prefix, paths := range ix.byPrefix {
		for k := range paths {
			if k.session == session {
				out = append(out, staleKey{prefix, k.id})
			}
		}
	}
	return out
}

// dropOutside removes paths whose prefix is no longer inside the pools.
func (ix *index) dropOutside(ps pools) []netip.Prefix {
	return ix.dropWhere(func(_ pathKey, p netip.Prefix) bool { return !ps.contains(p) })
}

func (ix *index) dropWhere(match func(pathKey, netip.Prefix) bool) []netip.Prefix {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var changed []netip.Prefix
	for prefix, paths := range ix.byPrefix {
		hit := false
		for k := range paths {
			if match(k, prefix) {
				ix.removeLocked(k, prefix)
				hit = true
			}
		}
		if hit {
			changed = append(changed, prefix)
		}
	}
	return changed
}

// paths returns copies of every path held for prefix, sorted by session,
// BMP peer and RIB, path id, next hop and AS path, so callers get a stable
// order.
func (ix *index) paths(prefix netip.Prefix) []Path {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	held := ix.byPrefix[prefix]
	return sortedCopies(held, make([]Path, 0, len(held)))
}

// all returns copies of the paths of every prefix, by prefix and then in paths' order: at
// most limit of them (0: no limit), and how many are held. One pass under the read lock.
func (ix *index) all(limit int) ([]Path, int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	prefixes := make([]netip.Prefix, 0, len(ix.byPrefix))
	total := 0
	for p, held := range ix.byPrefix {
		prefixes = append(prefixes, p)
		total += len(held)
	}
	slices.SortFunc(prefixes, comparePrefix)
	var out []Path
	for _, p := range prefixes {
		if limit > 0 && len(out)+len(ix.byPrefix[p]) > limit {
			break // whole prefixes only: a prefix's paths are judged together
		}
		out = sortedCopies(ix.byPrefix[p], out)
	}
	return out, total
}

// sortedCopies appends copies of one prefix's paths to out, sorted by session, BMP peer
// and RIB, path id, next hop and AS path. The caller holds the read lock.
func sortedCopies(held map[pathKey]Path, out []Path) []Path {
	start := len(out)
	for _, p := range held {
		p.ASPath = slices.Clone(p.ASPath)
		p.Communities = slices.Clone(p.Communities)
		out = append(out, p)
	}
	slices.SortFunc(out[start:], func(a, b Path) int {
		return cmp.Or(
			cmp.Compare(a.Session, b.Session),
			a.Peer.Compare(b.Peer),
			cmp.Compare(a.RIB, b.RIB),
			cmp.Compare(a.PathID, b.PathID),
			a.NextHop.Compare(b.NextHop),
			slices.Compare(a.ASPath, b.ASPath),
		)
	})
	return out
}

// prefixes lists every prefix with at least one path.
func (ix *index) prefixes() []netip.Prefix {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]netip.Prefix, 0, len(ix.byPrefix))
	for p := range ix.byPrefix {
		out = append(out, p)
	}
	return out
}

// origins counts the distinct origin ASes of a prefix (0 excluded).
func (ix *index) origins(prefix netip.Prefix) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	seen := map[uint32]bool{}
	for _, p := range ix.byPrefix[prefix] {
		if p.OriginAS != 0 {
			seen[p.OriginAS] = true
		}
	}
	return len(seen)
}

// acceptedBy is the number of prefixes, and of paths, held from a session.
func (ix *index) acceptedBy(session string) (prefixes, paths int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.acceptedPrefixes[session], ix.acceptedPaths[session]
}

// acceptedByPeer counts, per BMP neighbour of a router (session), the
// prefixes held from it, in any of its tables. It walks the index, which
// holds only paths inside the pools.
func (ix *index) acceptedByPeer(session string) map[netip.Addr]int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := map[netip.Addr]int{}
	for _, paths := range ix.byPrefix {
		seen := map[netip.Addr]bool{}
		for k := range paths {
			if k.session == session && !seen[k.peer] {
				seen[k.peer] = true
				out[k.peer]++
			}
		}
	}
	return out
}

func samePath(a, b Path) bool {
	return a.NextHop == b.NextHop && a.OriginAS == b.OriginAS &&
		slices.Equal(a.ASPath, b.ASPath) && slices.Equal(a.Communities, b.Communities)
}
