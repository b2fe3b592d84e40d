package bgp

import (
	"fmt"
	"strconv"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// updateAttrs are the attributes of one UPDATE the status needs, decoded
// once per UPDATE and only when one of its paths is inside the pools. The
// slices are shared by that UPDATE's paths and never modified.
type updateAttrs struct {
	asPath      []uint32
	origin      uint32
	communities []string
}

func decodeAttrs(attrs []bgp.PathAttributeInterface, as4 bool) *updateAttrs {
	out := &updateAttrs{}
	var asPath, as4Path []segment
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				asPath = append(asPath, segment{typ: seg.GetType(), as: seg.GetAS()})
			}
		case *bgp.PathAttributeAs4Path:
			for _, seg := range a.Value {
				as4Path = append(as4Path, segment{typ: seg.Type, as: seg.AS})
			}
		case *bgp.PathAttributeCommunities:
			for _, c := range a.Value {
				out.communities = append(out.communities, strconv.FormatUint(uint64(c>>16), 10)+":"+strconv.FormatUint(uint64(c&0xffff), 10))
			}
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range a.Values {
				out.communities = append(out.communities, fmt.Sprintf("large:%d:%d:%d", c.ASN, c.LocalData1, c.LocalData2))
			}
		}
	}
	segs := asPath
	if !as4 && len(as4Path) > 0 {
		segs = mergeAS4(segs, as4Path)
	}
	out.asPath, out.origin = flattenASPath(segs)
	return out
}

// segment is one AS_PATH segment.
type segment struct {
	typ uint8
	as  []uint32
}

// mergeAS4 rebuilds the 4-octet AS path from a 2-octet session's AS_PATH
// (where AS_TRANS stands for each large ASN) and its AS4_PATH (RFC 6793
// 4.2.3): the leading ASes AS4_PATH lacks come from AS_PATH, the rest from
// AS4_PATH. An AS4_PATH longer than AS_PATH is ignored, as the RFC says.
func mergeAS4(asPath, as4Path []segment) []segment {
	n, n4 := countAS(asPath), countAS(as4Path)
	if n4 > n {
		return asPath
	}
	keep := n - n4
	var out []segment
	for _, s := range asPath {
		if keep == 0 {
			break
		}
		if s.typ == bgp.BGP_ASPATH_ATTR_TYPE_SET {
			out = append(out, s)
			keep--
			continue
		}
		k := min(keep, len(s.as))
		out = append(out, segment{typ: s.typ, as: s.as[:k]})
		keep -= k
	}
	return append(out, as4Path...)
}

// countAS counts ASes as RFC 6793 does: an AS_SET counts as one.
func countAS(segs []segment) int {
	n := 0
	for _, s := range segs {
		switch s.typ {
		case bgp.BGP_ASPATH_ATTR_TYPE_SET:
			n++
		case bgp.BGP_ASPATH_ATTR_TYPE_SEQ:
			n += len(s.as)
		}
	}
	return n
}

// flattenASPath lists the ASes in order and finds the origin: the last AS of
// a final AS_SEQUENCE. A path ending in an AS_SET (an aggregate) has no
// single origin, so 0. Confederation segments are internal to the
// neighbouring AS and are left out.
func flattenASPath(segs []segment) ([]uint32, uint32) {
	var path []uint32
	var origin uint32
	for _, s := range segs {
		switch s.typ {
		case bgp.BGP_ASPATH_ATTR_TYPE_SEQ:
			path = append(path, s.as...)
			if len(s.as) > 0 {
				origin = s.as[len(s.as)-1]
			}
		case bgp.BGP_ASPATH_ATTR_TYPE_SET:
			path = append(path, s.as...)
			if len(s.as) > 0 {
				origin = 0
			}
		}
	}
	return path, origin
}
