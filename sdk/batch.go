package sdk

import (
	"github.com/mqgate/mqgate/sdk/abi"
)

// batch is one send or consume call: the input the messages are views of, and the
// output the edits are written to as the hook makes them (so that an edit costs one copy
// and nothing is kept per message).
type batch struct {
	in       []byte
	out      *[]byte
	countAt  int    // offset in *out of the u32 edit count
	edits    uint32 // edits written
	verdicts int    // offset in *out of the verdict bytes (consume), -1 without
}

// message is what send and consume message views share.
type message struct {
	b         *batch
	rec       uint32 // offset of the record in the input
	idx       uint32
	firstEdit int // offset in *b.out of this message's first edit, -1 before any
}

func (m *message) addEdit(op EditOp, a, b string, two bool) {
	o := *m.b.out
	need := abi.SizeU32 + abi.SizeU8 + abi.StrSize(len(a))
	if two {
		need += abi.StrSize(len(b))
	}
	n := len(o)
	if cap(o)-n < need {
		grown := make([]byte, n, 2*cap(o)+need)
		copy(grown, o)
		o = grown
	}
	o = o[:n+need]
	if m.firstEdit < 0 {
		m.firstEdit = n
	}
	put32(o, n, m.idx)
	o[n+4] = byte(op)
	put32(o, n+5, uint32(len(a)))
	copy(o[n+9:], a)
	if two {
		at := n + 9 + len(a)
		put32(o, at, uint32(len(b)))
		copy(o[at+4:], b)
	}
	*m.b.out = o
	m.b.edits++
}

// editsOf decodes the edits of this message written so far.
func (m *message) editsOf() []Edit {
	if m.firstEdit < 0 {
		return nil
	}
	var list []Edit
	d := abi.NewDecoder((*m.b.out)[m.firstEdit:])
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
	*out = o
}

// beginVerdicts is begin for a consume batch of n messages: status OK, n, n verdicts
// (Deliver), then the edit count.
func (bt *batch) beginVerdicts(in []byte, out *[]byte, n int) {
	bt.in, bt.out, bt.edits, bt.verdicts, bt.countAt = in, out, 0, 5, 5+n
	o := *out
	if cap(o) < 9+n {
		o = make([]byte, 0, max(4096, 2*(9+n)))
	}
	o = o[:9+n]
	o[0] = abi.StatusOK
	put32(o, 1, uint32(n))
	clear(o[5 : 5+n]) // VerdictDeliver
	*out = o
}

func (bt *batch) finish() []byte {
	o := *bt.out
	put32(o, bt.countAt, bt.edits)
	return o
}
