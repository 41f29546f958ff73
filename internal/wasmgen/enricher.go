package wasmgen

import (
	"encoding/binary"

	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/sdk/abi"
)

// Enricher returns a send hook written straight in WebAssembly, with no language runtime:
// the work of plugins/enricher for one property, compiled in. It sets property name to
// value on every message that lacks it (the last value of a repeated name counting), or
// on every message with overwrite; it declares itself headers-only and answers as ABI.md
// says (§5 before_send, §6 edits). It is what a send hook compiled from a language without
// a garbage-collected runtime (C, Rust, Zig) would be: the host's benchmarks run it beside
// the sdk's Go plugin, to tell the sandbox's share of a call from the Go guest's.
//
// Memory: the input buffer is at 64 KiB; the output follows the input, 8-byte aligned;
// mqgate_buffer grows the memory to hold an input of the size asked and the largest
// output it can lead to (one edit per 56-byte record).
func Enricher(name, value string, overwrite bool) []byte {
	const (
		in      = 1 << 16 // the input buffer's address
		minRec  = 56      // the size of a before_send record
		outInit = 16      // where init answers
	)
	editSize := int32(4 + 1 + 4 + len(name) + 4 + len(value))
	m := &Module{
		Types: []FuncType{
			{nil, []byte{I32}},         // 0: () -> i32
			{[]byte{I32}, []byte{I32}}, // 1: (i32) -> i32
			{[]byte{I32}, []byte{I64}}, // 2: (i32) -> i64
		},
		Memory:       &Limits{Min: 2, Max: 65536},
		ExportMemory: true,
	}
	add := func(export string, typ uint32, locals []byte, code []byte) {
		m.Exports = append(m.Exports, Export{Name: export, Kind: 0, Index: uint32(len(m.Funcs))})
		m.Funcs = append(m.Funcs, Func{Type: typ, Locals: locals, Code: code})
	}
	add(abi.ExportABIVersion, 0, nil, I32Const(abi.Version))
	add(abi.ExportKind, 0, nil, I32Const(int32(abi.KindSend)))

	// mqgate_buffer(size): grow the memory to in + size + the largest output, answer in;
	// 0 for a negative size or when the memory cannot grow.
	{
		const size, need = 0, 1
		var a asm
		a.get(size).i32(0).op(opI32LtS).ifThen().i32(0).op(opReturn).end()
		a.get(size).i32(minRec).op(opI32DivU).i32(1).op(opI32Add).i32(editSize).op(opI32Mul).
			get(size).op(opI32Add).i32(in + 64).op(opI32Add).set(need)
		a.get(need).op(opMemorySize, 0).i32(16).op(opI32Shl).op(opI32GtU).ifThen()
		a.get(need).op(opMemorySize, 0).i32(16).op(opI32Shl).op(opI32Sub).i32(0xFFFF).op(opI32Add).i32(16).op(opI32ShrU).
			op(opMemoryGrow, 0).i32(-1).op(opI32Eq).ifThen().i32(0).op(opReturn).end()
		a.end()
		a.i32(in)
		add(abi.ExportBuffer, 1, []byte{I32}, a.b)
	}

	// mqgate_init: status OK and the flags (headers only).
	{
		var a asm
		a.i32(outInit).i32(0).store8(0)
		a.i32(outInit).i32(int32(abi.FlagHeadersOnly)).store32(1)
		a.b = append(a.b, Result(outInit, 5)...)
		add(abi.EntryInit.Export(), 2, nil, a.b)
	}

	// mqgate_before_send(len).
	{
		const (
			length = iota // the parameter
			n
			stride
			rec
			i
			out
			p
			table
			j
			e
			str
			edits
		)
		locals := []byte{I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32}
		var a asm
		a.i32(in).load32(0).set(n)
		a.i32(in).load32(4).set(stride)
		a.get(length).i32(7).op(opI32Add).i32(-8).op(opI32And).i32(in).op(opI32Add).set(out)
		a.get(out).i32(5).op(opI32Add).set(p)
		a.i32(in + 8).set(rec)
		a.block().loop() // one message a turn
		a.get(i).get(n).op(opI32GeU).brIf(1)
		if !overwrite {
			a.block() // left when the message has the property: no edit
			a.get(rec).load32(40).i32(in).op(opI32Add).set(table)
			a.get(rec).load32(44).set(j)
			a.block().loop() // the properties, from the last; left when none is the name
			a.get(j).op(opI32Eqz).brIf(1)
			a.get(j).i32(1).op(opI32Sub).set(j)
			a.get(table).get(j).i32(4).op(opI32Shl).op(opI32Add).set(e)
			a.get(e).load32(4).i32(int32(len(name))).op(opI32Eq).ifThen()
			a.get(e).load32(0).i32(in).op(opI32Add).set(str)
			k := 0
			for ; k+8 <= len(name); k += 8 {
				a.get(str).load64(uint32(k)).i64(int64(binary.LittleEndian.Uint64([]byte(name[k:])))).op(opI64Ne).brIf(1)
			}
			for ; k < len(name); k++ {
				a.get(str).load8u(uint32(k)).i32(int32(name[k])).op(opI32Ne).brIf(1)
			}
			a.br(3) // found
			a.end()
			a.br(0)
			a.end().end() // loop, block: absent
		}
		// The edit: index, SET_PROPERTY, name, value.
		a.get(p).get(i).store32(0)
		a.get(p).i32(1).store8(4)
		a.get(p).i32(int32(len(name))).store32(5)
		a.storeBytes(p, 9, name)
		a.get(p).i32(int32(len(value))).store32(uint32(9 + len(name)))
		a.storeBytes(p, uint32(13+len(name)), value)
		a.get(p).i32(editSize).op(opI32Add).set(p)
		a.get(edits).i32(1).op(opI32Add).set(edits)
		if !overwrite {
			a.end() // block: found
		}
		a.get(rec).get(stride).op(opI32Add).set(rec)
		a.get(i).i32(1).op(opI32Add).set(i)
		a.br(0)
		a.end().end() // loop, block: every message done
		a.get(out).i32(0).store8(0)
		a.get(out).get(edits).store32(1)
		a.get(out).op(opI64ExtendI32U).i64(32).op(opI64Shl)
		a.get(p).get(out).op(opI32Sub).op(opI64ExtendI32U).op(opI64Or)
		add(abi.EntryBeforeSend.Export(), 2, locals, a.b)
	}

	// mqgate_after_send: never called (no FlagAfter); status OK and no edit.
	add(abi.EntryAfterSend.Export(), 2, nil, Result(0, 5))
	return m.Bytes()
}

// Opcodes of the instructions asm writes.
const (
	opBlock         = 0x02
	opLoop          = 0x03
	opIf            = 0x04
	opEnd           = 0x0B
	opBr            = 0x0C
	opBrIf          = 0x0D
	opReturn        = 0x0F
	opLocalGet      = 0x20
	opLocalSet      = 0x21
	opI32Load       = 0x28
	opI64Load       = 0x29
	opI32Load8U     = 0x2D
	opI32Store      = 0x36
	opI64Store      = 0x37
	opI32Store8     = 0x3A
	opMemorySize    = 0x3F
	opMemoryGrow    = 0x40
	opI32Const      = 0x41
	opI64Const      = 0x42
	opI32Eqz        = 0x45
	opI32Eq         = 0x46
	opI32Ne         = 0x47
	opI32LtS        = 0x48
	opI32GtU        = 0x4B
	opI32GeU        = 0x4F
	opI64Ne         = 0x52
	opI32Add        = 0x6A
	opI32Sub        = 0x6B
	opI32Mul        = 0x6C
	opI32DivU       = 0x6E
	opI32And        = 0x71
	opI32Shl        = 0x74
	opI32ShrU       = 0x76
	opI64Or         = 0x84
	opI64Shl        = 0x86
	opI64ExtendI32U = 0xAD
	blockEmpty      = 0x40
)

// asm appends instructions; its methods chain.
type asm struct{ b []byte }

func (a *asm) op(bs ...byte) *asm   { a.b = append(a.b, bs...); return a }
func (a *asm) get(l uint32) *asm    { a.b = leb128.AppendU32(append(a.b, opLocalGet), l); return a }
func (a *asm) set(l uint32) *asm    { a.b = leb128.AppendU32(append(a.b, opLocalSet), l); return a }
func (a *asm) i32(v int32) *asm     { a.b = append(a.b, I32Const(v)...); return a }
func (a *asm) i64(v int64) *asm     { a.b = append(a.b, I64Const(v)...); return a }
func (a *asm) block() *asm          { return a.op(opBlock, blockEmpty) }
func (a *asm) loop() *asm           { return a.op(opLoop, blockEmpty) }
func (a *asm) ifThen() *asm         { return a.op(opIf, blockEmpty) }
func (a *asm) end() *asm            { return a.op(opEnd) }
func (a *asm) br(depth uint32) *asm { a.b = leb128.AppendU32(append(a.b, opBr), depth); return a }
func (a *asm) brIf(d uint32) *asm   { a.b = leb128.AppendU32(append(a.b, opBrIf), d); return a }

// mem appends a memory instruction with alignment 1 (any address) and offset off.
func (a *asm) mem(op byte, off uint32) *asm {
	a.b = leb128.AppendU32(append(a.b, op, 0), off)
	return a
}
func (a *asm) load32(off uint32) *asm  { return a.mem(opI32Load, off) }
func (a *asm) load64(off uint32) *asm  { return a.mem(opI64Load, off) }
func (a *asm) load8u(off uint32) *asm  { return a.mem(opI32Load8U, off) }
func (a *asm) store32(off uint32) *asm { return a.mem(opI32Store, off) }
func (a *asm) store64(off uint32) *asm { return a.mem(opI64Store, off) }
func (a *asm) store8(off uint32) *asm  { return a.mem(opI32Store8, off) }

// storeBytes stores s at the address in local base plus off: eight bytes a store, then
// one.
func (a *asm) storeBytes(base, off uint32, s string) {
	k := 0
	for ; k+8 <= len(s); k += 8 {
		a.get(base).i64(int64(binary.LittleEndian.Uint64([]byte(s[k:])))).store64(off + uint32(k))
	}
	for ; k < len(s); k++ {
		a.get(base).i32(int32(s[k])).store8(off + uint32(k))
	}
}
