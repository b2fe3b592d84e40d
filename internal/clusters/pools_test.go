package clusters

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestPoolAddressKeys: an entry of one address (a full-length prefix, a range from an
// address to itself, IPv4 or IPv6) is indexed by that address; anything wider, or that
// does not parse, is "wide", so the overlap check still reads it.
func TestPoolAddressKeys(t *testing.T) {
	for _, c := range []struct {
		entries []string
		want    []string
	}{
		{[]string{"192.0.2.5/32"}, []string{"addr/192.0.2.5"}},
		{[]string{" 192.0.2.6 - 192.0.2.6 "}, []string{"addr/192.0.2.6"}},
		{[]string{"2001:db8::1/128"}, []string{"addr/2001:db8::1"}},
		{[]string{"192.0.2.0/24"}, []string{PoolWide}},
		{[]string{"192.0.2.1-192.0.2.9"}, []string{PoolWide}},
		{[]string{"not an address"}, []string{PoolWide}},
		{[]string{"192.0.2.0/31", "192.0.2.7/32", "10.0.0.0/8"}, []string{PoolWide, "addr/192.0.2.7"}},
		{nil, nil},
	} {
		u := &unstructured.Unstructured{Object: map[string]interface{}{}}
		var entries []interface{}
		for _, e := range c.entries {
			entries = append(entries, e)
		}
		if entries != nil {
			_ = unstructured.SetNestedSlice(u.Object, entries, "spec", "addresses")
		}
		got := poolAddressKeys(u)
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: keys %q, want %q", c.entries, got, want)
		}
	}
}
