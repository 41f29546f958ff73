package abi

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// Sizes of the fixed-width fields.
const (
	SizeU8  = 1
	SizeU32 = 4
	SizeI64 = 8
)

// StrSize is the encoded size of a str of n bytes: a u32 length and the bytes.
func StrSize(n int) int { return SizeU32 + n }

// Encoder writes fields into a buffer sized beforehand. Writing past its end panics:
// the host computes the size of what it writes exactly, so an overflow is a bug, not
// input to recover from.
type Encoder struct {
	Buf []byte
	Off int
}

// U8 writes one byte.
func (e *Encoder) U8(v uint8) {
	e.Buf[e.Off] = v
	e.Off++
}

// U32 writes a little-endian uint32.
func (e *Encoder) U32(v uint32) {
	binary.LittleEndian.PutUint32(e.Buf[e.Off:], v)
	e.Off += 4
}

// I32 writes a little-endian int32.
func (e *Encoder) I32(v int32) { e.U32(uint32(v)) }

// I64 writes a little-endian int64.
func (e *Encoder) I64(v int64) {
	binary.LittleEndian.PutUint64(e.Buf[e.Off:], uint64(v))
	e.Off += 8
}

// Str writes a str: a u32 length, then the bytes.
func (e *Encoder) Str(s string) {
	e.U32(uint32(len(s)))
	e.Off += copy(e.Buf[e.Off:e.Off+len(s)], s)
}

// Bytes writes b as a str.
func (e *Encoder) Bytes(b []byte) {
	e.U32(uint32(len(b)))
	e.Off += copy(e.Buf[e.Off:e.Off+len(b)], b)
}

// Reserve returns the next n bytes for the caller to fill and skips them.
func (e *Encoder) Reserve(n int) []byte {
	b := e.Buf[e.Off : e.Off+n : e.Off+n]
	e.Off += n
	return b
}

// PutU32 overwrites the first four bytes of b, for a count known only after its elements.
func PutU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// Append functions grow a slice, for outputs whose size is not known beforehand.

func AppendU8(b []byte, v uint8) []byte   { return append(b, v) }
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func AppendI32(b []byte, v int32) []byte  { return binary.LittleEndian.AppendUint32(b, uint32(v)) }
func AppendI64(b []byte, v int64) []byte  { return binary.LittleEndian.AppendUint64(b, uint64(v)) }
func AppendStr(b []byte, s string) []byte { return append(AppendU32(b, uint32(len(s))), s...) }
func AppendBytes(b, v []byte) []byte      { return append(AppendU32(b, uint32(len(v))), v...) }

// ErrTruncated is the error of a Decoder that ran past the end of its input.
var ErrTruncated = errors.New("abi: input truncated")

// Decoder reads fields from a buffer. The first read past the end sets Err and every
// later read returns zero values, so a caller checks Err once at the end.
//
// Str and Bytes return views of the buffer, not copies: they are valid as long as the
// buffer is and must be copied by whoever keeps them.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) Decoder { return Decoder{buf: b} }

// Reset makes d read b from the start.
func (d *Decoder) Reset(b []byte) { *d = Decoder{buf: b} }

// Err returns ErrTruncated once a read ran past the end.
func (d *Decoder) Err() error { return d.err }

// Offset returns the offset of the next read.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

func (d *Decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.buf)-d.off {
		d.err = ErrTruncated
		d.off = len(d.buf)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

// U32 reads a little-endian uint32.
func (d *Decoder) U32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// I32 reads a little-endian int32.
func (d *Decoder) I32() int32 { return int32(d.U32()) }

// I64 reads a little-endian int64.
func (d *Decoder) I64() int64 {
	if b := d.take(8); b != nil {
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// Bytes reads a str as a view of the buffer.
func (d *Decoder) Bytes() []byte {
	n := d.U32()
	if n > uint32(len(d.buf)-d.off) {
		d.take(-1)
		return nil
	}
	return d.take(int(n))
}

// Bytes0 reads n raw bytes (no length prefix) as a view of the buffer.
func (d *Decoder) Bytes0(n int) []byte { return d.take(n) }

// Str reads a str as a string sharing the buffer's memory: it changes if the buffer
// does, so it must not outlive the buffer's current contents.
func (d *Decoder) Str() string {
	b := d.Bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Count reads a u32 element count and checks that count elements of at least minSize
// bytes each fit in what is left, so that a hostile count cannot make the reader
// allocate for elements that are not there. A count that does not fit sets Err.
func (d *Decoder) Count(minSize int) int {
	n := d.U32()
	if d.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if uint64(n)*uint64(minSize) > uint64(len(d.buf)-d.off) {
		d.take(-1)
		return 0
	}
	return int(n)
}
