package bgp

import (
	"net/netip"
	"slices"
)

// HeldPrefixes lists every prefix the class's route index holds a path for:
// the only routes whose attributes the watcher keeps. Tests use it to check
// the import filter (nothing outside the pools is kept).
func HeldPrefixes(m *Manager, class string) []netip.Prefix {
	w := m.class(class)
	if w == nil {
		return nil
	}
	out := w.ix.prefixes()
	slices.SortFunc(out, comparePrefix)
	return out
}
