package message

import (
	"iter"
	"slices"
	"strings"
)

// Separators of the properties string: name NameValueSeparator value, pairs joined by
// PropertySeparator.
const (
	NameValueSeparator = '\x01'
	PropertySeparator  = '\x02'
)

// Property is one name/value pair.
type Property struct {
	Name, Value string
}

// Properties are a message's properties in the order they were set or decoded.
//
// An ordered slice rather than a map: a message carries about five properties, where a
// linear scan beats hashing, and the order read from the wire is kept so that a decoded
// message re-encodes to the same bytes (Java writes its HashMap's iteration order, and a
// broker may store the same name twice, e.g. WAIT in batch messages). As with Java's
// HashMap.put, the last value of a repeated name is the one Get returns.
//
// The zero value is empty and ready to use. Strings returned by Get alias the decoded input
// string; they are ordinary immutable Go strings.
type Properties struct {
	list []Property
	// trailingSep records a separator after the last pair, which rocketmq-client-go writes
	// and Java does not, so that such a body re-encodes byte for byte.
	trailingSep bool
}

// ParseProperties decodes a properties string (see Properties.Parse).
func ParseProperties(s string) Properties {
	var p Properties
	p.Parse(s)
	return p
}

// Parse replaces p with the properties encoded in s, reusing p's capacity. It accepts what
// Java's MessageDecoder.string2messageProperties accepts and, like it, silently skips pairs
// with an empty name or value and never fails. The strings of p alias s.
func (p *Properties) Parse(s string) {
	old := len(p.list)
	p.list = p.list[:0]
	for i := 0; i < len(s); {
		end := strings.IndexByte(s[i:], PropertySeparator)
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		// Java: the first name/value separator must leave a non-empty name and a non-empty
		// value; the value may itself contain 0x01.
		if kv := strings.IndexByte(s[i:end], NameValueSeparator); kv > 0 && i+kv < end-1 {
			p.list = append(p.list, Property{Name: s[i : i+kv], Value: s[i+kv+1 : end]})
		}
		i = end + 1
	}
	if len(p.list) < old {
		clear(p.list[len(p.list):old]) // pin no strings of the previous contents
	}
	p.trailingSep = len(p.list) > 0 && s[len(s)-1] == PropertySeparator
}

// Len returns the number of pairs, repeated names counted each time.
func (p Properties) Len() int { return len(p.list) }

// At returns the i-th pair, 0 <= i < Len(), in the order All yields them.
func (p Properties) At(i int) Property { return p.list[i] }

// Get returns the value of name, or "" when absent.
func (p Properties) Get(name string) string {
	v, _ := p.Lookup(name)
	return v
}

// Lookup returns the value of name and whether it is present. Of a repeated name, the last
// value wins, as when Java puts the pairs into a HashMap.
func (p Properties) Lookup(name string) (string, bool) {
	for i := len(p.list) - 1; i >= 0; i-- {
		if p.list[i].Name == name {
			return p.list[i].Value, true
		}
	}
	return "", false
}

// Set replaces the value of name, keeping its position, or appends the pair.
func (p *Properties) Set(name, value string) {
	for i := range p.list {
		if p.list[i].Name == name {
			p.list[i].Value = value
			p.deleteFrom(name, i+1)
			return
		}
	}
	p.list = append(p.list, Property{Name: name, Value: value})
}

// Grow makes room for n more pairs, so that setting them allocates at most once.
func (p *Properties) Grow(n int) { p.list = slices.Grow(p.list, n) }

// Delete removes every pair named name, keeping the order of the others.
func (p *Properties) Delete(name string) { p.deleteFrom(name, 0) }

func (p *Properties) deleteFrom(name string, from int) {
	n := from
	for i := from; i < len(p.list); i++ {
		if p.list[i].Name != name {
			p.list[n] = p.list[i]
			n++
		}
	}
	clear(p.list[n:])
	p.list = p.list[:n]
}

// Reset empties p, keeping its capacity.
func (p *Properties) Reset() {
	clear(p.list)
	p.list = p.list[:0]
	p.trailingSep = false
}

// All yields the pairs in order, a repeated name each time it occurs.
func (p Properties) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, kv := range p.list {
			if !yield(kv.Name, kv.Value) {
				return
			}
		}
	}
}

// Clone returns a copy of p that shares no memory with it but its (immutable) strings.
func (p Properties) Clone() Properties {
	if p.list == nil {
		return Properties{}
	}
	return Properties{list: append([]Property(nil), p.list...), trailingSep: p.trailingSep}
}

// EncodedLen returns the length of p's encoding.
func (p Properties) EncodedLen() int {
	if len(p.list) == 0 {
		return 0
	}
	n := 2*len(p.list) - 1
	for _, kv := range p.list {
		n += len(kv.Name) + len(kv.Value)
	}
	if p.trailingSep {
		n++
	}
	return n
}

// AppendTo appends p's encoding to dst, as Java's MessageDecoder.messageProperties2String
// writes it. It does not check names and values for separators; Validate does.
func (p Properties) AppendTo(dst []byte) []byte {
	for i, kv := range p.list {
		if i > 0 {
			dst = append(dst, PropertySeparator)
		}
		dst = append(dst, kv.Name...)
		dst = append(dst, NameValueSeparator)
		dst = append(dst, kv.Value...)
	}
	if p.trailingSep && len(p.list) > 0 {
		dst = append(dst, PropertySeparator)
	}
	return dst
}

// Encode returns p's encoding as a string, the form of the SEND_MESSAGE header's
// properties field.
func (p Properties) Encode() string {
	if len(p.list) == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(p.EncodedLen())
	for i, kv := range p.list {
		if i > 0 {
			b.WriteByte(PropertySeparator)
		}
		b.WriteString(kv.Name)
		b.WriteByte(NameValueSeparator)
		b.WriteString(kv.Value)
	}
	if p.trailingSep {
		b.WriteByte(PropertySeparator)
	}
	return b.String()
}
