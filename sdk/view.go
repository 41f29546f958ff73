package sdk

import "unsafe"

// The send and consume inputs are tables of fixed-size records whose strings are refs:
// (u32 offset, u32 length) into the input (ABI.md, "Refs and records"). A message view
// reads a field where it lies when the plugin asks for it: Go compiled to WebAssembly is
// slow enough (a few ns a byte touched) that decoding every field of every message, or
// scanning properties byte by byte, would cost more than the call itself.

// str returns the string of the ref at b[at:]. A ref outside b panics, which Dispatch
// turns into an error result: only a broken host writes one.
func str(b []byte, at uint32) string {
	off, n := le32(b, at), le32(b, at+4)
	s := b[off : off+n : off+n]
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// bytesAt returns the bytes of the ref at b[at:], or nil for a ref of offset 0 (bodies the
// host did not copy).
func bytesAt(b []byte, at uint32) []byte {
	off, n := le32(b, at), le32(b, at+4)
	if off == 0 {
		return nil
	}
	return b[off : off+n : off+n]
}

func le64(b []byte, off uint32) uint64 { return uint64(le32(b, off)) | uint64(le32(b, off+4))<<32 }

// appendRef-style helpers for building inputs natively (tests, NewSendMessage).

type builder struct{ b []byte }

// reserve appends n zero bytes and returns their offset.
func (w *builder) reserve(n int) uint32 {
	at := len(w.b)
	w.b = append(w.b, make([]byte, n)...)
	return uint32(at)
}

func (w *builder) put32(at, v uint32) {
	w.b[at], w.b[at+1], w.b[at+2], w.b[at+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func (w *builder) put64(at uint32, v uint64) {
	w.put32(at, uint32(v))
	w.put32(at+4, uint32(v>>32))
}

// ref appends s and writes its ref at at.
func (w *builder) ref(at uint32, s string) {
	w.put32(at, uint32(len(w.b)))
	w.put32(at+4, uint32(len(s)))
	w.b = append(w.b, s...)
}

// props appends a property table of name, value pairs and writes its (offset, count) at at.
func (w *builder) props(at uint32, p Properties) {
	n := p.Len()
	table := w.reserve(16 * n)
	w.put32(at, table)
	w.put32(at+4, uint32(n))
	for i := range n {
		k, v := p.At(i)
		w.ref(table+uint32(16*i), k)
		w.ref(table+uint32(16*i+8), v)
	}
}
