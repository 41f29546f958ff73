package host

import (
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/internal/leb128"
)

// The WebAssembly binary format, as much of it as instrument needs.

const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	secTag      = 13
)

// sectionRank is the position a known section must have in a module.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCnt: 11, secCode: 12, secData: 13,
}

var errNotWasm = errors.New("not a WebAssembly module (bad magic number or version)")

// reader decodes the primitives of the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("integer too long"))
	return 0
}

// count reads the length of a vector. Every element takes a byte at least, so a count
// beyond the bytes left is refused at once: a loop over a forged count of four billion
// would otherwise spin (and append) long after the reader ran out of input.
func (r *reader) count() uint32 {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("count %d exceeds the %d bytes left", n, len(r.b)-r.off))
		return 0
	}
	return n
}

// s64 skips a signed LEB128 of at most 10 bytes (also used for s32 and s33).
func (r *reader) s64() {
	for range 10 {
		if c := r.byte(); r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.fail(errors.New("integer too long"))
}

func (r *reader) name() string {
	return string(r.bytes(int(r.u32())))
}

func (r *reader) limits() {
	switch flags := r.byte(); flags {
	case 0x00, 0x04:
		r.u32()
	case 0x01, 0x03, 0x05, 0x07:
		r.u32()
		r.u32()
	default:
		r.fail(fmt.Errorf("unknown limits flags 0x%02X", flags))
	}
}

func (r *reader) valType() {
	switch t := r.byte(); t {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x69:
	default:
		r.fail(fmt.Errorf("unsupported value type 0x%02X", t))
	}
}

// blockType skips a block type: empty (0x40), a value type, or a type index (s33).
func (r *reader) blockType() {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x69:
			r.off++
			return
		}
	}
	r.s64()
}

// blockBytes reads a block type and returns the bytes of the values the block takes and
// leaves: none (0x40), one of a value type, or the parameters and results of the type an
// index (s33) names, 0 if it names none.
func (r *reader) blockBytes(sigs []signature) int64 {
	if r.off < len(r.b) {
		switch t := r.b[r.off]; t {
		case 0x40:
			r.off++
			return 0
		case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x69:
			r.off++
			return int64(valueSize(t))
		}
	}
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if c&0x40 != 0 || v >= uint64(len(sigs)) {
				return 0 // negative (a value type the reader does not know) or out of range: invalid
			}
			return sigs[v].paramBytes + sigs[v].resultBytes
		}
	}
	r.fail(errors.New("integer too long"))
	return 0
}

// memArg skips a memarg: alignment flags (bit 6: a memory index follows) and offset.
func (r *reader) memArg() {
	if flags := r.u32(); flags&0x40 != 0 {
		r.u32()
	}
	r.s64() // offset: u32, or u64 for memory64; skipping it the same way is safe
}

func (r *reader) prefixFC() error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	default:
		return fmt.Errorf("unsupported instruction 0xFC %d", sub)
	}
	return nil
}

func (r *reader) prefixFD() error {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads, stores, load zero
		r.memArg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		r.memArg()
		r.byte()
	case sub <= 0x113: // everything else up to relaxed SIMD has no immediates
	default:
		return fmt.Errorf("unsupported instruction 0xFD %d", sub)
	}
	return nil
}

func appendName(b []byte, s string) []byte { return append(leb128.AppendU32(b, uint32(len(s))), s...) }
