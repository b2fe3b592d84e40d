package bgp

import (
	"fmt"
	"net/netip"
	"strconv"

	api "github.com/osrg/gobgp/v3/api"
)

// pathPrefix decodes only the prefix of a GoBGP path. It runs for every
// route the router sends (a full table is a million of them), so it avoids
// decoding attributes; nlri is reused between calls.
func pathPrefix(p *api.Path, nlri *api.IPAddressPrefix) (netip.Prefix, error) {
	if err := p.GetNlri().UnmarshalTo(nlri); err != nil {
		return netip.Prefix{}, fmt.Errorf("unexpected NLRI %s: %w", p.GetNlri().GetTypeUrl(), err)
	}
	a, err := netip.ParseAddr(nlri.Prefix)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), int(nlri.PrefixLen)).Masked(), nil
}

// decodePath fills the attributes the status needs: next hop, AS path,
// origin AS and communities, and Since from GoBGP's receive time (whole
// seconds; the event handler overrides it with its own, finer clock).
func decodePath(p *api.Path, out *Path) error {
	out.PathID = p.GetIdentifier()
	if age := p.GetAge(); age != nil {
		out.Since = age.AsTime()
	}
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("attribute %s: %w", a.GetTypeUrl(), err)
		}
		switch attr := m.(type) {
		case *api.NextHopAttribute:
			out.NextHop, _ = netip.ParseAddr(attr.NextHop)
		case *api.MpReachNLRIAttribute:
			// First next hop is the global one; a link-local may follow.
			if len(attr.NextHops) > 0 {
				out.NextHop, _ = netip.ParseAddr(attr.NextHops[0])
			}
		case *api.AsPathAttribute:
			out.ASPath, out.OriginAS = flattenASPath(attr.Segments)
		case *api.CommunitiesAttribute:
			for _, c := range attr.Communities {
				out.Communities = append(out.Communities, strconv.FormatUint(uint64(c>>16), 10)+":"+strconv.FormatUint(uint64(c&0xffff), 10))
			}
		case *api.LargeCommunitiesAttribute:
			for _, c := range attr.Communities {
				out.Communities = append(out.Communities, fmt.Sprintf("large:%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2))
			}
		}
	}
	out.NextHop = out.NextHop.Unmap()
	return nil
}

// flattenASPath lists the ASes in order and finds the origin: the last AS of
// a final AS_SEQUENCE. A path ending in an AS_SET (an aggregate) has no
// single origin, so 0. Confederation segments are internal to the
// neighbouring AS and are left out.
func flattenASPath(segs []*api.AsSegment) ([]uint32, uint32) {
	var path []uint32
	var origin uint32
	for _, s := range segs {
		switch s.Type {
		case api.AsSegment_AS_SEQUENCE:
			path = append(path, s.Numbers...)
			if len(s.Numbers) > 0 {
				origin = s.Numbers[len(s.Numbers)-1]
			}
		case api.AsSegment_AS_SET:
			path = append(path, s.Numbers...)
			if len(s.Numbers) > 0 {
				origin = 0
			}
		}
	}
	return path, origin
}
