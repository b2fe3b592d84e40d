package bgp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// sessionRIB is what the watcher keeps of everything a router sends on one
// session: only the keys (prefix and ADD-PATH id) of the paths it currently
// announces, so Received is exact (a re-announcement replaces, a withdrawal
// removes) and the max-prefix guard counts what the router really holds out,
// at 12 (IPv4) or 24 (IPv6) bytes a path. Attributes are decoded and kept
// only for paths inside the pools (the route index). This is why the watcher
// runs its own receive-only session on GoBGP's packet library rather than a
// GoBGP BgpServer, whose Adj-RIB-In keeps every received path with all its
// attributes before any import policy runs (about 950 MiB for a million
// routes; see BenchmarkIngest1M).
//
// Counts are of prefixes, per family, as MaxPrefixes and the status promise:
// with ADD-PATH one prefix can arrive with many path ids (a core sending every
// cluster's path), which must neither trip the limit nor inflate the
// counters. Without ADD-PATH every path has id 0, so paths are prefixes; with
// it, familyRIB.perPrefix counts the paths of each prefix (nil for a family
// without ADD-PATH, so a plain session pays nothing for it).
//
// Owned by the session's goroutine.
type sessionRIB struct {
	v4 familyRIB[v4Key]
	v6 familyRIB[v6Key]
}

type v4Key struct {
	addr [4]byte
	bits uint8
	id   uint32
}

type v6Key struct {
	addr [16]byte
	bits uint8
	id   uint32
}

// familyRIB is one address family of a sessionRIB: its paths, and with
// ADD-PATH the number of paths of each prefix (keyed by the path key with id 0).
type familyRIB[K comparable] struct {
	paths     map[K]struct{}
	perPrefix map[K]uint32 // nil without ADD-PATH: every path is a prefix
}

func newFamilyRIB[K comparable](addPath bool) familyRIB[K] {
	f := familyRIB[K]{paths: map[K]struct{}{}}
	if addPath {
		f.perPrefix = map[K]uint32{}
	}
	return f
}

func (f *familyRIB[K]) add(path, prefix K) {
	if _, ok := f.paths[path]; ok {
		return
	}
	f.paths[path] = struct{}{}
	if f.perPrefix != nil {
		f.perPrefix[prefix]++
	}
}

func (f *familyRIB[K]) remove(path, prefix K) {
	if _, ok := f.paths[path]; !ok {
		return
	}
	delete(f.paths, path)
	if f.perPrefix != nil {
		if f.perPrefix[prefix]--; f.perPrefix[prefix] == 0 {
			delete(f.perPrefix, prefix)
		}
	}
}

// prefixes counts the family's distinct prefixes.
func (f *familyRIB[K]) prefixes() int {
	if f.perPrefix != nil {
		return len(f.perPrefix)
	}
	return len(f.paths)
}

// newSessionRIB makes the RIB of one connection; addPath4 and addPath6 say
// whether ADD-PATH receive was negotiated for the family.
func newSessionRIB(addPath4, addPath6 bool) *sessionRIB {
	return &sessionRIB{v4: newFamilyRIB[v4Key](addPath4), v6: newFamilyRIB[v6Key](addPath6)}
}

func (r *sessionRIB) add(p netip.Prefix, id uint32) {
	if p.Addr().Is4() {
		r.v4.add(v4Key{p.Addr().As4(), uint8(p.Bits()), id}, v4Key{p.Addr().As4(), uint8(p.Bits()), 0})
	} else {
		r.v6.add(v6Key{p.Addr().As16(), uint8(p.Bits()), id}, v6Key{p.Addr().As16(), uint8(p.Bits()), 0})
	}
}

func (r *sessionRIB) remove(p netip.Prefix, id uint32) {
	if p.Addr().Is4() {
		r.v4.remove(v4Key{p.Addr().As4(), uint8(p.Bits()), id}, v4Key{p.Addr().As4(), uint8(p.Bits()), 0})
	} else {
		r.v6.remove(v6Key{p.Addr().As16(), uint8(p.Bits()), id}, v6Key{p.Addr().As16(), uint8(p.Bits()), 0})
	}
}

func (r *sessionRIB) paths() int { return len(r.v4.paths) + len(r.v6.paths) }

// prefixes counts the distinct prefixes of both families.
func (r *sessionRIB) prefixes() int { return r.v4.prefixes() + r.v6.prefixes() }

// indexOp is one change to the route index found in an UPDATE: the path
// key withdrawn, or the path announced.
type indexOp struct {
	withdraw bool
	prefix   netip.Prefix
	key      pathKey
	path     Path
}

// update handles one UPDATE: malformed ones per RFC 7606 (treat as
// withdraw where it allows, otherwise a NOTIFICATION and a reset), End-of-RIB
// markers, then every withdrawn and announced path: counted in the session's
// RIB, and, when inside the pools, applied to the route index. It returns an
// error when the session must end (malformed beyond repair, or over the
// max-prefix limit).
func (w *classWatcher) update(s *session, c *wire, neg *negotiated, rib *sessionRIB, body []byte, now time.Time) error {
	m, err := bgp.ParseBGPBody(&bgp.BGPHeader{Type: bgp.BGP_MSG_UPDATE, Len: uint16(len(body) + bgp.BGP_HEADER_LENGTH)}, body, neg.decode)
	withdrawAll := false
	if err != nil {
		if m == nil {
			return messageError(c, err)
		}
		if withdrawAll, err = w.tolerate(s, c, err); err != nil {
			return err
		}
	}
	u := m.Body.(*bgp.BGPUpdate)
	if eor, f := u.IsEndOfRib(); eor && !withdrawAll {
		w.endOfRIB(s, f, now)
		return nil
	}
	if !withdrawAll {
		if ok, err := bgp.ValidateUpdateMsg(u, neg.families, s.cfg.ASN != w.asn, false, true); !ok {
			var me *bgp.MessageError
			if errors.As(err, &me) && me.TypeCode == 0 {
				// A family the session did not negotiate: ignore the message.
				w.log.V(1).Info("ignoring UPDATE", "session", s.cfg.Name, "reason", me.Message)
				return nil
			}
			if withdrawAll, err = w.tolerate(s, c, err); err != nil {
				return err
			}
		}
	}

	ops := updateOps(u, withdrawAll, neg.as4, rib, *w.poolsNow.Load(), Path{Session: s.cfg.Name}, now)
	countsMoved := s.setReceived(rib.prefixes(), rib.paths())
	if f, name, over := rib.overLimit(s.cfg.MaxPrefixes); over {
		afi, safi := bgp.RouteFamilyToAfiSafi(f)
		data := make([]byte, 7)
		binary.BigEndian.PutUint16(data, afi)
		data[2] = safi
		binary.BigEndian.PutUint32(data[3:], s.cfg.MaxPrefixes)
		c.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED, data)
		return &prefixLimitError{family: name}
	}
	if w.applyOps(s, ops, now) || countsMoved {
		w.countersMoved(now)
	}
	return nil
}

// updateOps walks one UPDATE: every withdrawn and announced path is counted in
// rib, and those inside pools become index operations for the source that
// from names (Session, and for BMP Peer, PeerAS and RIB). Attributes are
// decoded once, and only when a path is inside the pools. withdrawAll (RFC
// 7606 treat-as-withdraw) withdraws the announced paths too.
func updateOps(u *bgp.BGPUpdate, withdrawAll, as4 bool, rib *sessionRIB, pools pools, from Path, now time.Time) []indexOp {
	var ops []indexOp
	key := func(id uint32) pathKey { return pathKey{from.Session, from.Peer, from.RIB, id} }
	withdraw := func(n bgp.AddrPrefixInterface) {
		p, id, ok := nlriPrefix(n)
		if !ok {
			return
		}
		rib.remove(p, id)
		if pools.contains(p) {
			ops = append(ops, indexOp{withdraw: true, prefix: p, key: key(id)})
		}
	}
	var attrs *updateAttrs
	announce := func(n bgp.AddrPrefixInterface, nextHop netip.Addr) {
		p, id, ok := nlriPrefix(n)
		if !ok {
			return
		}
		rib.add(p, id)
		if !pools.contains(p) {
			return
		}
		if attrs == nil {
			attrs = decodeAttrs(u.PathAttributes, as4)
		}
		path := from
		path.Prefix, path.NextHop, path.ASPath, path.OriginAS = p, nextHop, attrs.asPath, attrs.origin
		path.Communities, path.PathID, path.Since = attrs.communities, id, now
		ops = append(ops, indexOp{prefix: p, key: key(id), path: path})
	}

	for _, n := range u.WithdrawnRoutes {
		withdraw(n)
	}
	var nextHop netip.Addr
	for _, a := range u.PathAttributes {
		switch a := a.(type) {
		case *bgp.PathAttributeMpUnreachNLRI:
			for _, n := range a.Value {
				withdraw(n)
			}
		case *bgp.PathAttributeNextHop:
			nextHop, _ = netip.AddrFromSlice(a.Value)
			nextHop = nextHop.Unmap()
		}
	}
	for _, n := range u.NLRI {
		if withdrawAll {
			withdraw(n)
		} else {
			announce(n, nextHop)
		}
	}
	for _, a := range u.PathAttributes {
		if a, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
			nh, _ := netip.AddrFromSlice(a.Nexthop)
			for _, n := range a.Value {
				if withdrawAll {
					withdraw(n)
				} else {
					announce(n, nh.Unmap())
				}
			}
		}
	}
	return ops
}

// overLimit reports the first family in which r holds more than limit
// prefixes (0: no limit), with its name for people.
func (r *sessionRIB) overLimit(limit uint32) (bgp.RouteFamily, string, bool) {
	if limit == 0 {
		return 0, "", false
	}
	switch {
	case r.v4.prefixes() > int(limit):
		return bgp.RF_IPv4_UC, "ipv4-unicast", true
	case r.v6.prefixes() > int(limit):
		return bgp.RF_IPv6_UC, "ipv6-unicast", true
	}
	return 0, "", false
}

// tolerate applies RFC 7606 to a malformed UPDATE: an attribute to discard
// is ignored, treat-as-withdraw withdraws every prefix of the message, and
// anything else resets the session with the NOTIFICATION the error names.
func (w *classWatcher) tolerate(s *session, c *wire, err error) (withdrawAll bool, _ error) {
	var me *bgp.MessageError
	if !errors.As(err, &me) {
		return false, err
	}
	switch me.ErrorHandling {
	case bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		w.log.V(1).Info("discarding a malformed attribute", "session", s.cfg.Name, "reason", me.Message)
		return false, nil
	case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
		w.log.Info("malformed UPDATE treated as withdraw (RFC 7606)", "session", s.cfg.Name, "reason", me.Message)
		return true, nil
	default:
		return false, messageError(c, err)
	}
}

// applyOps applies one UPDATE's in-pool changes to the index, unless the
// session was removed meanwhile, and reports whether the session's accepted
// prefix count moved. Pools are checked again under the lock: an Apply may
// have shrunk them since the UPDATE was filtered.
func (w *classWatcher) applyOps(s *session, ops []indexOp, now time.Time) bool {
	w.mu.Lock()
	if w.stopped || s.removed || s.state != StateEstablished {
		w.mu.Unlock()
		return false
	}
	s.lastUpdate = now
	for _, op := range ops {
		s.freshen(op.prefix, op.key.id)
	}
	before, _ := w.ix.acceptedBy(s.cfg.Name)
	changed := w.indexOps(ops)
	after, _ := w.ix.acceptedBy(s.cfg.Name)
	w.mu.Unlock()
	w.published(s.cfg.Name, changed, now)
	return after != before
}

// indexOps applies one UPDATE's operations to the index and returns the
// prefixes whose paths changed. The caller holds w.mu.
func (w *classWatcher) indexOps(ops []indexOp) []netip.Prefix {
	var changed []netip.Prefix
	for _, op := range ops {
		var hit bool
		switch {
		case op.withdraw:
			hit = w.ix.remove(op.key, op.prefix)
		case w.pools.contains(op.prefix):
			hit = w.ix.set(op.path)
		}
		if hit {
			changed = append(changed, op.prefix)
		}
	}
	return changed
}

// published pushes the paths a source's message changed to the reconcilers,
// with the gauges they move.
func (w *classWatcher) published(source string, changed []netip.Prefix, now time.Time) {
	if len(changed) == 0 {
		return
	}
	w.refreshAccepted(map[string]bool{source: true})
	w.refreshOrigins(changed)
	w.queue.push(w.class, changed, false, now)
}

// endOfRIB records a family's End-of-RIB marker; once every family of the
// pools has one, the session is synced (its view of every prefix complete).
func (w *classWatcher) endOfRIB(s *session, f bgp.RouteFamily, now time.Time) {
	afi, _ := bgp.RouteFamilyToAfiSafi(f)
	w.mu.Lock()
	if w.stopped || s.removed || s.state != StateEstablished {
		w.mu.Unlock()
		return
	}
	need := w.pools.afis()
	was, _ := s.synced(need, now)
	if s.eor == nil {
		s.eor = map[uint16]bool{}
	}
	s.eor[afi] = true
	is, _ := s.synced(need, now)
	// The router has resent this family's table: what it did not resend of
	// the paths kept over its restart is gone.
	dropped := w.dropStale(s, func(a uint16) bool { return a == afi })
	w.mu.Unlock()
	w.log.V(1).Info("End-of-RIB received", "session", s.cfg.Name, "afi", afi, "synced", is)
	if len(dropped) > 0 {
		w.settle(s, dropped, now)
	} else if is && !was {
		w.queue.push(w.class, nil, true, now)
	}
}

// nlriPrefix is an IPv4 or IPv6 unicast NLRI's prefix (IPv4 in 4-byte form,
// host bits cleared) and ADD-PATH id.
func nlriPrefix(n bgp.AddrPrefixInterface) (netip.Prefix, uint32, bool) {
	switch n := n.(type) {
	case *bgp.IPv6AddrPrefix:
		a, ok := netip.AddrFromSlice(n.Prefix.To16())
		if !ok {
			return netip.Prefix{}, 0, false
		}
		return netip.PrefixFrom(a, int(n.Length)).Masked(), n.PathIdentifier(), true
	case *bgp.IPAddrPrefix:
		a, ok := netip.AddrFromSlice(n.Prefix.To4())
		if !ok {
			return netip.Prefix{}, 0, false
		}
		return netip.PrefixFrom(a, int(n.Length)).Masked(), n.PathIdentifier(), true
	}
	return netip.Prefix{}, 0, false
}
