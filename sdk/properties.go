package sdk

import (
	"iter"

	"github.com/mqgate/mqgate/sdk/abi"
)

// Properties is a read-only view of a message's properties: the host writes them as a
// table of (name, value) refs, so that a lookup compares lengths and then, rarely, bytes,
// instead of scanning the encoded string. Of a repeated name the last value wins.
type Properties struct {
	b     []byte
	table uint32
	n     uint32
}

// Property names a plugin commonly reads.
const (
	PropertyTags    = "TAGS"
	PropertyKeys    = "KEYS"
	PropertyUniqKey = "UNIQ_KEY"
)

// MayEditProperty reports whether SetProperty and DeleteProperty may name the property
// name: a user's property, KEYS or TAGS. The host refuses an answer
// editing another system property (ABI.md §6); a plugin that takes names from its
// configuration can refuse them at Configure instead.
func MayEditProperty(name string) bool { return abi.HookMayEdit(name) }

// Len returns the number of pairs.
func (p Properties) Len() int { return int(p.n) }

// At returns the i-th pair.
func (p Properties) At(i int) (name, value string) {
	at := p.table + 16*uint32(i)
	return str(p.b, at), str(p.b, at+8)
}

// Lookup returns the value of name and whether it is present.
func (p Properties) Lookup(name string) (string, bool) { return lookup(p.b, p.table, p.n, name) }

// lookup searches a property table from its end, so that the last of a repeated name
// wins and the search stops at the first match; lengths are compared before bytes.
func lookup(b []byte, table, n uint32, name string) (string, bool) {
	for at := table + 16*n; at > table; {
		at -= 16
		if le32(b, at+4) == uint32(len(name)) && equalAt(b, le32(b, at), name) {
			return str(b, at+8), true
		}
	}
	return "", false
}

// equalAt reports whether b[off:] starts with s, comparing 8 bytes at a time: s == a
// string would call the runtime's memequal, which in WebAssembly costs more than
// comparing a property name.
func equalAt(b []byte, off uint32, s string) bool {
	v := b[off : off+uint32(len(s))]
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if load64(v, i) != load64s(s, i) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if v[i] != s[i] {
			return false
		}
	}
	return true
}

// Get returns the value of name, or "".
func (p Properties) Get(name string) string {
	v, _ := p.Lookup(name)
	return v
}

// All yields the pairs in order.
func (p Properties) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := range int(p.n) {
			if !yield(p.At(i)) {
				return
			}
		}
	}
}

// PropertiesOf returns properties of name, value pairs; for tests that build messages.
// Pairs with an empty name or value are left out, as RocketMQ drops them.
func PropertiesOf(nameValues ...string) Properties {
	var w builder
	w.reserve(8)
	var pairs []string
	for i := 0; i+1 < len(nameValues); i += 2 {
		if nameValues[i] != "" && nameValues[i+1] != "" {
			pairs = append(pairs, nameValues[i], nameValues[i+1])
		}
	}
	table := w.reserve(8 * len(pairs))
	for i, s := range pairs {
		w.ref(table+uint32(8*i), s)
	}
	return Properties{b: w.b, table: table, n: uint32(len(pairs) / 2)}
}

// Edit is a change a hook asked for, applied by the host once the hook returns.
type Edit struct {
	Op    EditOp
	Name  string // property name (SetProperty, DeleteProperty)
	Value string // property value (SetProperty) or reason (Reject)
	Body  []byte // new body (SetBody)
}

// EditOp says what an Edit does.
type EditOp uint8

const (
	SetProperty    EditOp = 1
	DeleteProperty EditOp = 2
	Reject         EditOp = 3
	SetBody        EditOp = 4
)
