package remoting

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field is one extFields entry.
type Field struct {
	Key, Value string
}

// ExtFields are a command's extFields in wire order. A slice rather than a map: commands
// carry a dozen fields, a linear scan beats hashing at that size, and the order read from
// the wire is kept so that a decoded command re-encodes to the same bytes.
type ExtFields []Field

// Get returns the value of key, or "" when absent.
func (e ExtFields) Get(key string) string {
	v, _ := e.Lookup(key)
	return v
}

// Lookup returns the value of key and whether it is present.
func (e ExtFields) Lookup(key string) (string, bool) {
	for i := range e {
		if e[i].Key == key {
			return e[i].Value, true
		}
	}
	return "", false
}

// Set replaces the value of key, or appends it.
func (e *ExtFields) Set(key, value string) {
	for i := range *e {
		if (*e)[i].Key == key {
			(*e)[i].Value = value
			return
		}
	}
	*e = append(*e, Field{Key: key, Value: value})
}

// Delete removes key if present, keeping the order of the others.
func (e *ExtFields) Delete(key string) {
	for i := range *e {
		if (*e)[i].Key == key {
			*e = append((*e)[:i], (*e)[i+1:]...)
			return
		}
	}
}

func (e ExtFields) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range e {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.Key)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(f.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units.
func javaStringHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			h = 31*h + uint32(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + uint32(0xD800+(r>>10))
			h = 31*h + uint32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + uint32(r)
	}
	return h
}

// javaHashMapCapacity is the table size of a java.util.HashMap created with the default
// capacity after n insertions: it doubles from 16 whenever the size exceeds 3/4 of it.
func javaHashMapCapacity(n int) uint32 {
	c := uint32(16)
	for uint32(n) > c/4*3 {
		c <<= 1
	}
	return c
}

// javaBucket is the bucket a key falls in within a HashMap table of size capacity.
func javaBucket(key string, capacity uint32) uint32 {
	h := javaStringHash(key)
	return (h ^ h>>16) & (capacity - 1)
}
