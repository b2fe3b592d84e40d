package schemacheck

import (
	"math"
	"sort"
	"strings"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Mutator changes objects in ways their schema makes plausible: values of the right type
// taken from the schema's enums and from a dictionary of the values this domain is made
// of (addresses, prefixes, ASNs, durations, names of the reference topology, boundaries),
// fields added, removed and duplicated. Every choice is read from a byte string, so a
// coverage-guided fuzzer (go test -fuzz) that mutates the bytes explores the objects, and
// the same bytes always give the same object. Once the bytes run out, every choice is 0
// and mutation stops.
type Mutator struct {
	data []byte
	pos  int
}

// NewMutator reads its choices from data.
func NewMutator(data []byte) *Mutator { return &Mutator{data: data} }

// Done reports whether every byte was used.
func (m *Mutator) Done() bool { return m.pos >= len(m.data) }

// Byte returns the next choice byte (0 once exhausted).
func (m *Mutator) Byte() byte {
	if m.pos >= len(m.data) {
		m.pos++
		return 0
	}
	b := m.data[m.pos]
	m.pos++
	return b
}

// Intn returns a choice in [0, n); n <= 0 gives 0.
func (m *Mutator) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	v := int(m.Byte())
	if n > 256 {
		v = v<<8 | int(m.Byte())
	}
	return v % n
}

// Bool returns a choice.
func (m *Mutator) Bool() bool { return m.Byte()&1 == 1 }

// Strings is the dictionary string values are drawn from (besides schema enums).
var Strings = []string{
	"", "a", "west", "east", "north", "tor", "tor2", "core", "hello", "hello-world", "backend", "datacenter", "default",
	"192.168.155.151", "192.168.155.152", "192.168.155.0", "192.168.155.255", "192.168.156.1", "10.0.63.254", "10.1.63.254",
	"0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1", "2001:db8:155::151", "2001:0db8::0001", "::ffff:192.168.155.151", "fe80::1%eth0",
	"192.168.155.0/24", "192.168.155.151/32", "192.168.155.1/24", "2001:db8:155::/64", "2001:db8:155::151/128", "0.0.0.0/0", "::/0", "10.0.0.0/8", "192.168.155.0/33",
	"1s", "3s", "9s", "0s", "90s", "1h", "-1s", "300ms", "65535s", "65536s", "1.5s", "3.5s", "9.5s", "1m30s", "2h", "nine",
	"64512:1", "65535:65535", "0:0", "65536:1", "no-export", "no-advertise", "large:1:2:3", "large:4294967295:1:1", "alias",
	"*.apps.example.com", "apps.example.com", "example.com", "*", "*.*.example.com",
	"/", "/api", "/hello", "api", "/a b", "//", "/api/",
	"app=backend", "app in (a,b)", "a=b,c!=d", "in(", "!app", "app",
	"metallb-system", "anycast-system", "openshift-default", "envoy", "example.com/gateway-controller",
	"A", "UPPER", "with space", "ünïcode", "a.b", "a.b.c", "-x", "x-", "a_b", "0", "1", "true", "null",
	"line\nbreak", "tab\t", "\x00", "'", "\"", "${x}", "{{x}}",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 253), strings.Repeat("a.", 130),
}

// Ints is the dictionary integer values are drawn from.
var Ints = []int64{
	0, 1, -1, 2, 3, 8, 9, 10, 31, 32, 33, 64, 80, 100, 128, 129, 179, 255, 256, 300, 443, 1000, 8080, 9999, 10000,
	64001, 64002, 64512, 64666, 64999, 65001, 65002, 65003, 65535, 65536, 23456,
	math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MinInt64,
}

// Mutate applies up to 1+data-chosen mutations to obj, guided by the schema of its kind
// when the checker knows it (otherwise by the values it holds). apiVersion, kind and
// status are left alone; metadata.name and metadata.namespace may change. It returns the
// number of mutations made.
func (m *Mutator) Mutate(c *Checker, obj *unstructured.Unstructured) int {
	var s *structuralschema.Structural
	if c != nil {
		if k, ok := c.kinds[obj.GroupVersionKind()]; ok {
			s = k.structural
		}
	}
	return m.mutateRoot(obj.Object, s, true)
}

// MutateValue mutates free-form JSON (a map without a schema) the same way.
func (m *Mutator) MutateValue(v map[string]interface{}) int {
	return m.mutateRoot(v, nil, false)
}

func (m *Mutator) mutateRoot(root map[string]interface{}, s *structuralschema.Structural, resource bool) int {
	n := 1 + m.Intn(8)
	done := 0
	for i := 0; i < n && !m.Done(); i++ {
		var slots []slot
		collect(&slots, root, s, resource, 0)
		if len(slots) == 0 {
			break
		}
		if m.apply(slots[m.Intn(len(slots))]) {
			done++
		}
	}
	return done
}

// slot is a place in an object: a present value, an absent property, a new map key, or
// the end of a list.
type slot struct {
	// parentMap and key: a property (key "" adds a new key to a map).
	parentMap map[string]interface{}
	key       string
	// list, index and setList: a list element (index -1 appends); setList writes a list
	// of another length back where the list came from.
	list    []interface{}
	index   int
	setList func([]interface{})
	schema  *structuralschema.Structural
	present bool
}

func (sl slot) get() interface{} {
	if sl.parentMap != nil {
		return sl.parentMap[sl.key]
	}
	if sl.index >= 0 && sl.index < len(sl.list) {
		return sl.list[sl.index]
	}
	return nil
}

func (sl slot) set(v interface{}) {
	switch {
	case sl.parentMap != nil:
		sl.parentMap[sl.key] = v
	case sl.index >= 0 && sl.index < len(sl.list):
		sl.list[sl.index] = v
	default:
		sl.setList(append(append([]interface{}{}, sl.list...), v))
	}
}

func (sl slot) remove() {
	switch {
	case sl.parentMap != nil:
		delete(sl.parentMap, sl.key)
	case sl.index >= 0 && sl.index < len(sl.list):
		out := append([]interface{}{}, sl.list[:sl.index]...)
		sl.setList(append(out, sl.list[sl.index+1:]...))
	}
}

const maxDepth = 12

// collect lists the slots of x in a stable order (sorted keys).
func collect(out *[]slot, x map[string]interface{}, s *structuralschema.Structural, resource bool, depth int) {
	if depth > maxDepth {
		return
	}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	if s != nil {
		for k := range s.Properties {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if resource && depth == 0 {
			switch k {
			case "apiVersion", "kind", "status":
				continue
			case "metadata":
				md, ok := x[k].(map[string]interface{})
				if !ok {
					continue
				}
				for _, mk := range []string{"name", "namespace"} {
					if _, present := md[mk]; present {
						*out = append(*out, slot{parentMap: md, key: mk, index: -1, schema: &structuralschema.Structural{Generic: structuralschema.Generic{Type: "string"}}, present: true})
					}
				}
				continue
			}
		}
		var cs *structuralschema.Structural
		if s != nil {
			if p, ok := s.Properties[k]; ok {
				cs = &p
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
				cs = s.AdditionalProperties.Structural
			}
		}
		v, present := x[k]
		*out = append(*out, slot{parentMap: x, key: k, index: -1, schema: cs, present: present})
		key := k
		collectValue(out, v, cs, func(l []interface{}) { x[key] = l }, depth)
	}
	// A new key in a map (labels, annotations, free-form maps).
	if s != nil && s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
		*out = append(*out, slot{parentMap: x, key: "", index: -1, schema: s.AdditionalProperties.Structural})
	}
}

func collectValue(out *[]slot, v interface{}, s *structuralschema.Structural, setList func([]interface{}), depth int) {
	switch t := v.(type) {
	case map[string]interface{}:
		collect(out, t, s, false, depth+1)
	case []interface{}:
		if depth > maxDepth {
			return
		}
		var is *structuralschema.Structural
		if s != nil {
			is = s.Items
		}
		for i := range t {
			*out = append(*out, slot{list: t, index: i, setList: setList, schema: is, present: true})
			idx := i
			collectValue(out, t[i], is, func(l []interface{}) { t[idx] = l }, depth+1)
		}
		*out = append(*out, slot{list: t, index: -1, setList: setList, schema: is})
	}
}

// apply performs one mutation at sl.
func (m *Mutator) apply(sl slot) bool {
	if sl.parentMap != nil && sl.key == "" {
		key := m.pick(nil)
		if key == "" {
			key = "k"
		}
		sl.parentMap[key] = m.gen(sl.schema, 0)
		return true
	}
	switch m.Intn(6) {
	case 0: // remove
		if !sl.present {
			return false
		}
		sl.remove()
	case 1, 2: // a fresh value of the schema's type
		sl.set(m.gen(sl.schema, 0))
	default: // tweak the current value
		if !sl.present {
			sl.set(m.gen(sl.schema, 0))
		} else {
			sl.set(m.tweak(sl.get(), sl.schema))
		}
	}
	return true
}

func (m *Mutator) tweak(cur interface{}, s *structuralschema.Structural) interface{} {
	switch v := cur.(type) {
	case string:
		switch m.Intn(6) {
		case 0:
			return v + m.pick(s)
		case 1:
			if len(v) > 0 {
				return v[:m.Intn(len(v))]
			}
			return m.pick(s)
		case 2:
			return strings.ToUpper(v)
		case 3:
			return v + v
		default:
			return m.pick(s)
		}
	case int64, int, float64:
		i := toInt(v)
		switch m.Intn(4) {
		case 0:
			return i + 1
		case 1:
			return i - 1
		case 2:
			return -i
		default:
			return Ints[m.Intn(len(Ints))]
		}
	case bool:
		return !v
	case []interface{}:
		if len(v) == 0 {
			return []interface{}{m.gen(itemsOf(s), 0)}
		}
		i := m.Intn(len(v))
		switch m.Intn(3) {
		case 0: // duplicate an element
			return append(append([]interface{}{}, v...), runtime.DeepCopyJSONValue(v[i]))
		case 1: // drop all
			return []interface{}{}
		default: // swap with the first
			out := append([]interface{}{}, v...)
			out[0], out[i] = out[i], out[0]
			return out
		}
	case map[string]interface{}:
		if len(v) == 0 {
			return m.gen(s, 0)
		}
		return map[string]interface{}{}
	case nil:
		return m.gen(s, 0)
	}
	return cur
}

func itemsOf(s *structuralschema.Structural) *structuralschema.Structural {
	if s == nil {
		return nil
	}
	return s.Items
}

func toInt(v interface{}) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// pick draws a string: an enum value of the schema, or a dictionary word.
func (m *Mutator) pick(s *structuralschema.Structural) string {
	if s != nil && s.ValueValidation != nil && len(s.ValueValidation.Enum) > 0 && m.Bool() {
		if str, ok := s.ValueValidation.Enum[m.Intn(len(s.ValueValidation.Enum))].Object.(string); ok {
			return str
		}
	}
	return Strings[m.Intn(len(Strings))]
}

// gen builds a value for s: objects with their required properties and some others,
// lists of up to three items, scalars from the dictionaries. Without a schema it picks a
// scalar.
func (m *Mutator) gen(s *structuralschema.Structural, depth int) interface{} {
	if s == nil {
		switch m.Intn(3) {
		case 0:
			return Ints[m.Intn(len(Ints))]
		case 1:
			return m.Bool()
		default:
			return m.pick(nil)
		}
	}
	if s.XIntOrString {
		if m.Bool() {
			return Ints[m.Intn(len(Ints))]
		}
		return m.pick(s)
	}
	switch s.Type {
	case "object":
		out := map[string]interface{}{}
		if depth > 6 {
			return out
		}
		required := map[string]bool{}
		if s.ValueValidation != nil {
			for _, r := range s.ValueValidation.Required {
				required[r] = true
			}
		}
		keys := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if required[k] || m.Intn(4) == 0 {
				p := s.Properties[k]
				out[k] = m.gen(&p, depth+1)
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil && m.Bool() {
			out[m.pick(nil)] = m.gen(s.AdditionalProperties.Structural, depth+1)
		}
		return out
	case "array":
		n := m.Intn(4)
		out := make([]interface{}, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, m.gen(s.Items, depth+1))
		}
		return out
	case "integer", "number":
		return Ints[m.Intn(len(Ints))]
	case "boolean":
		return m.Bool()
	case "string":
		return m.pick(s)
	}
	return m.pick(s)
}
