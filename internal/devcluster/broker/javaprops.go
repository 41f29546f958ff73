package broker

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mqgate/mqgate/message"
)

// javaProps is a message's properties as the Java broker holds them: a java.util.HashMap
// filled by MessageDecoder.string2messageProperties and then changed with put and remove.
// The broker stores MessageDecoder.messageProperties2String of that map, so the stored
// order is the map's iteration order, not the producer's: a consumer of a real broker sees
// "color, KEYS, UNIQ_KEY, CLUSTER, TAGS" for a message sent as "KEYS, color, UNIQ_KEY,
// TAGS" (recordings 054, 485). javaProps reproduces that order.
//
// HashMap iterates by bucket (the spread String.hashCode masked by the table size), and
// within a bucket in insertion order, which resizes preserve; the table doubles from 16
// whenever the size exceeds three quarters of it and never shrinks. A key put again after
// a remove goes to the tail of its bucket. (Java turns a bucket of eight entries into a
// tree; no message carries that many colliding names.)
type javaProps struct {
	entries []javaProp // in insertion order
	table   uint32     // current table size
}

type javaProp struct {
	key, value string
	hash       uint32 // spread hash: h ^ h>>>16
}

func (p *javaProps) reset() {
	clear(p.entries)
	p.entries = p.entries[:0]
	p.table = 16
}

// parse resets p and puts the pairs of s, as string2messageProperties does: pairs split on
// 0x02, name and value on the first 0x01, pairs with an empty name or value skipped.
func (p *javaProps) parse(s string) {
	p.reset()
	for len(s) > 0 {
		pair := s
		if i := strings.IndexByte(s, message.PropertySeparator); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if kv := strings.IndexByte(pair, message.NameValueSeparator); kv > 0 && kv < len(pair)-1 {
			p.put(pair[:kv], pair[kv+1:])
		}
	}
}

func (p *javaProps) find(key string) int {
	for i := range p.entries {
		if p.entries[i].key == key {
			return i
		}
	}
	return -1
}

// get returns the value of key.
func (p *javaProps) get(key string) (string, bool) {
	if i := p.find(key); i >= 0 {
		return p.entries[i].value, true
	}
	return "", false
}

// put sets key, keeping its place when present (HashMap.put).
func (p *javaProps) put(key, value string) {
	if i := p.find(key); i >= 0 {
		p.entries[i].value = value
		return
	}
	h := javaHash(key)
	p.entries = append(p.entries, javaProp{key: key, value: value, hash: h ^ h>>16})
	if p.table == 0 {
		p.table = 16
	}
	for uint32(len(p.entries)) > p.table/4*3 {
		p.table <<= 1
	}
}

// remove deletes key and returns its value (HashMap.remove).
func (p *javaProps) remove(key string) (string, bool) {
	i := p.find(key)
	if i < 0 {
		return "", false
	}
	v := p.entries[i].value
	p.entries = slices.Delete(p.entries, i, i+1)
	return v, true
}

// order sorts the entries into iteration order; stable, so insertion order is kept
// within a bucket. Sorting in place keeps that invariant for later puts too: entries of
// one bucket stay in insertion order whatever their position.
func (p *javaProps) order() {
	mask := p.table - 1
	slices.SortStableFunc(p.entries, func(a, b javaProp) int {
		return int(a.hash&mask) - int(b.hash&mask)
	})
}

// writeTo replaces dst's pairs with p's in iteration order, reusing dst's capacity.
func (p *javaProps) writeTo(dst *message.Properties) {
	p.order()
	dst.Reset()
	for i := range p.entries {
		dst.Set(p.entries[i].key, p.entries[i].value)
	}
}

// appendEncoded appends messageProperties2String of p.
func (p *javaProps) appendEncoded(dst []byte) []byte {
	p.order()
	for i := range p.entries {
		if i > 0 {
			dst = append(dst, message.PropertySeparator)
		}
		dst = append(dst, p.entries[i].key...)
		dst = append(dst, message.NameValueSeparator)
		dst = append(dst, p.entries[i].value...)
	}
	return dst
}

// javaHash is Java's String.hashCode over UTF-16 code units.
func javaHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			h = 31*h + uint32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
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
