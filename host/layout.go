package host

import (
	"unsafe"

	"github.com/mqgate/mqgate/message"
)

// layout writes a send or consume input (ABI.md, "Refs and records"): fixed-size records
// up front, strings after them, each referenced by (offset, length). Strings a batch
// repeats (the producer group, topic, broker) are written once and referenced by every
// record; property tables let the guest look a name up without scanning.
type layout struct {
	buf  []byte
	data int // where the next string goes

	// The last string written for a field, for reuse: (offset, length).
	last [4]struct {
		s   string
		off uint32
	}
}

func (l *layout) put32(at int, v uint32) { put32(l.buf, at, v) }
func (l *layout) put64(at int, v uint64) { put64(l.buf, at, v) }

// ref writes the ref of s at at, copying s after the records.
func (l *layout) ref(at int, s string) {
	l.put64(at, refOf(l.data, len(s)))
	l.data += copy(l.buf[l.data:], s)
}

// refOf is a ref's (offset, length) as one little-endian word: one store, not two.
func refOf(off, n int) uint64 { return uint64(uint32(off)) | uint64(uint32(n))<<32 }

// bytesRef is ref for a body; without copy it writes offset 0 and the length only.
func (l *layout) bytesRef(at int, b []byte, copyBytes bool) {
	if !copyBytes {
		l.put32(at, 0)
		l.put32(at+4, uint32(len(b)))
		return
	}
	l.put32(at, uint32(l.data))
	l.put32(at+4, uint32(len(b)))
	l.data += copy(l.buf[l.data:], b)
}

// shared is ref for a string that repeats from record to record: slot k remembers the
// last one written. The strings a batch repeats are most often the same string (one
// event's group, topic and broker are the producer's), which one comparison of pointers
// tells without a call.
func (l *layout) shared(at, k int, s string) {
	if last := &l.last[k]; last.off != 0 && len(last.s) == len(s) && unsafe.StringData(last.s) == unsafe.StringData(s) {
		l.put64(at, refOf(int(last.off), len(s)))
		return
	}
	l.sharedSlow(at, k, s)
}

func (l *layout) sharedSlow(at, k int, s string) {
	if last := &l.last[k]; last.off != 0 && last.s == s {
		l.put64(at, refOf(int(last.off), len(s)))
		return
	}
	l.last[k].s, l.last[k].off = s, uint32(l.data)
	l.ref(at, s)
}

// props writes a property table and its (offset, count) at at. The table and its strings
// are written from locals, the short strings (most names and values) without a call.
func (l *layout) props(at int, p *message.Properties) {
	n := p.Len()
	buf, table := l.buf, l.data
	data := table + 16*n
	put32(buf, at, uint32(table))
	put32(buf, at+4, uint32(n))
	for i := range n {
		kv := p.At(i)
		put64(buf, table+16*i, refOf(data, len(kv.Name)))
		data += putStr(buf, data, kv.Name)
		put64(buf, table+16*i+8, refOf(data, len(kv.Value)))
		data += putStr(buf, data, kv.Value)
	}
	l.data = data
}

// propsSize bounds what props writes.
func propsSize(p *message.Properties) int { return 16*p.Len() + p.EncodedLen() }

// reset prepares l to write into buf, strings starting at data.
func (l *layout) reset(buf []byte, data int) {
	l.buf, l.data = buf, data
	for i := range l.last {
		l.last[i].s, l.last[i].off = "", 0
	}
}

// Record layouts, as ABI.md gives them.
const (
	sendHeader          = 8
	sendRecordSize      = 56
	sendAfterRecordSize = 96

	consumeHeader     = 40
	consumeRecordSize = 48
)
