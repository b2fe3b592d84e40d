package bgp

import (
	"context"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
)

// GlobalRIB lists the prefixes in the class's GoBGP global RIB (both
// families): what GoBGP's own import policy let in. Tests use it to check
// the policy, independently of the index, which filters on its own.
func GlobalRIB(m *Manager, class string) []netip.Prefix {
	w := m.class(class)
	if w == nil {
		return nil
	}
	var out []netip.Prefix
	for _, f := range families {
		_ = w.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f},
			func(d *api.Destination) {
				if p, err := netip.ParsePrefix(d.Prefix); err == nil {
					out = append(out, p)
				}
			})
	}
	slices.SortFunc(out, comparePrefix)
	return out
}
