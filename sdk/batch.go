package sdk

import (
	"github.com/mqgate/mqgate/sdk/abi"
)

// batch is one send or consume call: the input the messages are views of, and the
// output the edits are written to as the hook makes them (so that an edit costs one copy
// and nothing is kept per message).
type batch struct {
	in       []byte
	o        []byte  // the output so far
	out      *[]byte // where finish leaves o, for the next call to reuse
	countAt  int     // offset in o of the u32 edit count
	edits    uint32  // edits written
	verdicts int     // offset in o of the verdict bytes (consume), -1 without
}

// message is what send and consume message views share.
type message struct {
	b         *batch
	rec       uint32 // offset of the record in the input
	idx       uint32
	firstEdit int // offset in b.o of this message's first edit, -1 before any
}

// slack is room kept past an edit, for putStr's 8-byte stores.
const slack = 8

// addEdit writes an edit: index, op, str a and, if two, str b. Written for the runtime
// it runs in: Go compiled to WebAssembly pays several nanoseconds for every call (copy
// included), which for the short strings of a property edit is most of the work.
func (m *message) addEdit(op EditOp, a, b string, two bool) {
	bt := m.b
	need := abi.SizeU32 + abi.SizeU8 + abi.StrSize(len(a))
	if two {
		need += abi.StrSize(len(b))
	}
	n := len(bt.o)
	if cap(bt.o)-n < need+slack {
		bt.grow(need + slack)
	}
	o := bt.o[: n+need : cap(bt.o)]
	if m.firstEdit < 0 {
		m.firstEdit = n
	}
	put32(o, n, m.idx)
	o[n+4] = byte(op)
	put32(o, n+5, uint32(len(a)))
	// putStr written out for the common lengths: a call is dearer than the copy.
	if k, at := len(a), n+9; k >= 8 && k <= 16 {
		store64(o, at, load64s(a, 0))
		store64(o, at+k-8, load64s(a, k-8))
	} else {
		putStr(o, at, a)
	}
	if two {
		at := n + 9 + len(a)
		put32(o, at, uint32(len(b)))
		at += 4
		if k := len(b); k >= 4 && k < 8 {
			put32(o, at, load32s(b, 0))
			put32(o, at+k-4, load32s(b, k-4))
		} else if k >= 8 && k <= 16 {
			store64(o, at, load64s(b, 0))
			store64(o, at+k-8, load64s(b, k-8))
		} else {
			putStr(o, at, b)
		}
	}
	bt.o = o
	bt.edits++
}

func (bt *batch) grow(need int) {
	grown := make([]byte, len(bt.o), 2*cap(bt.o)+need)
	copy(grown, bt.o)
	bt.o = grown
}

// putStr writes s at b[off:], which has room for it and slack bytes more. Strings of up
// to 16 bytes take two overlapping loads and stores instead of a call to memmove.
func putStr(b []byte, off int, s string) {
	switch n := len(s); {
	case n > 16:
		copy(b[off:], s)
	case n >= 8:
		store64(b, off, load64s(s, 0))
		store64(b, off+n-8, load64s(s, n-8))
	case n >= 4:
		put32(b, off, load32s(s, 0))
		put32(b, off+n-4, load32s(s, n-4))
	case n > 0:
		b[off], b[off+n/2], b[off+n-1] = s[0], s[n/2], s[n-1]
	}
}

// editsOf decodes the edits of this message written so far.
func (m *message) editsOf() []Edit {
	if m.firstEdit < 0 {
		return nil
	}
	var list []Edit
	d := abi.NewDecoder(m.b.o[m.firstEdit:])
	for d.Remaining() > 0 {
		idx, op := d.U32(), EditOp(d.U8())
		e := Edit{Op: op}
		switch op {
		case SetProperty:
			e.Name, e.Value = d.Str(), d.Str()
		case DeleteProperty:
			e.Name = d.Str()
		case Reject:
			e.Value = d.Str()
		case SetBody:
			e.Body = d.Bytes()
		}
		if d.Err() != nil {
			break
		}
		if idx == m.idx {
			list = append(list, e)
		}
	}
	return list
}

// property returns a property's value after this message's edits so far.
func (m *message) property(p Properties, name string) (string, bool) {
	v, ok := p.Lookup(name)
	if m.firstEdit < 0 {
		return v, ok
	}
	for _, e := range m.editsOf() {
		switch {
		case e.Op == SetProperty && e.Name == name:
			v, ok = e.Value, true
		case e.Op == DeleteProperty && e.Name == name:
			v, ok = "", false
		}
	}
	return v, ok
}

// begin prepares the output of a batch: status OK and the edit count, patched by
// finish.
func (bt *batch) begin(in []byte, out *[]byte) {
	bt.in, bt.out, bt.edits, bt.verdicts, bt.countAt = in, out, 0, -1, 1
	o := *out
	if cap(o) < 4096 {
		o = make([]byte, 0, 4096)
	}
	o = o[:5]
	o[0] = abi.StatusOK
	bt.o = o
}

// beginVerdicts is begin for a consume batch of n messages: status OK, n, n verdicts
// (Deliver), then the edit count.
func (bt *batch) beginVerdicts(in []byte, out *[]byte, n int) {
	bt.in, bt.out, bt.edits, bt.verdicts, bt.countAt = in, out, 0, 5, 5+n
	o := *out
	if cap(o) < 9+n+slack {
		o = make([]byte, 0, max(4096, 2*(9+n)))
	}
	o = o[:9+n]
	o[0] = abi.StatusOK
	put32(o, 1, uint32(n))
	clear(o[5 : 5+n]) // VerdictDeliver
	bt.o = o
}

// finish patches the edit count and returns the output, which it leaves in *out for the
// next call to reuse.
func (bt *batch) finish() []byte {
	o := bt.o
	put32(o, bt.countAt, bt.edits)
	*bt.out = o
	return o
}
