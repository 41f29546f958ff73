package wasmgen

import (
	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/sdk/abi"
)

// Value types.
const (
	I32 = 0x7F
	I64 = 0x7E
)

// Module is a module to encode. Function indices count imports first.
type Module struct {
	Types   []FuncType
	Imports []Import
	Funcs   []Func
	Memory  *Limits // defined memory, exported as "memory" when ExportMemory
	// Table, when not zero, defines a funcref table of that many entries, filled from 0
	// with Elems (function indices).
	Table   uint32
	Elems   []uint32
	Globals [][]byte
	Exports []Export
	Start   *uint32
	Data    []Segment
	Customs []Custom

	ExportMemory bool
}

// FuncType is a function signature.
type FuncType struct{ Params, Results []byte }

// Import is an imported function (Kind 0) or memory (Kind 2).
type Import struct {
	Module, Name string
	Kind         byte
	Type         uint32 // function type index
}

// Func is a defined function: its type, the types of its locals beyond the parameters,
// and its body's instructions, without the final end.
type Func struct {
	Type   uint32
	Locals []byte
	Code   []byte
	// LocalCount, when not zero, declares LocalCount locals of type Locals[0], in one
	// group, instead of Locals.
	LocalCount uint32
}

// Limits of a memory, in pages.
type Limits struct{ Min, Max uint32 }

// Export is an export of Kind 0 function, 2 memory or 3 global.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Segment is an active data segment: Bytes written to memory 0 at Offset at instantiation.
type Segment struct {
	Offset uint32
	Bytes  []byte
}

// Custom is a custom section.
type Custom struct {
	Name string
	Data []byte
}

func name(b []byte, s string) []byte { return append(leb128.AppendU32(b, uint32(len(s))), s...) }

func section(out []byte, id byte, body []byte) []byte {
	return append(leb128.AppendU32(append(out, id), uint32(len(body))), body...)
}

// Bytes encodes m.
func (m *Module) Bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	if len(m.Types) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Types)))
		for _, t := range m.Types {
			b = append(b, 0x60)
			b = append(leb128.AppendU32(b, uint32(len(t.Params))), t.Params...)
			b = append(leb128.AppendU32(b, uint32(len(t.Results))), t.Results...)
		}
		out = section(out, 1, b)
	}
	if len(m.Imports) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Imports)))
		for _, im := range m.Imports {
			b = name(name(b, im.Module), im.Name)
			b = append(b, im.Kind)
			if im.Kind == 2 {
				b = leb128.AppendU32(append(b, 0x00), 1)
			} else {
				b = leb128.AppendU32(b, im.Type)
			}
		}
		out = section(out, 2, b)
	}
	if len(m.Funcs) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Funcs)))
		for _, f := range m.Funcs {
			b = leb128.AppendU32(b, f.Type)
		}
		out = section(out, 3, b)
	}
	if m.Table > 0 {
		b := leb128.AppendU32(nil, 1)
		b = append(b, 0x70, 0x00)
		out = section(out, 4, leb128.AppendU32(b, m.Table))
	}
	if m.Memory != nil {
		b := leb128.AppendU32(nil, 1)
		b = leb128.AppendU32(leb128.AppendU32(append(b, 0x01), m.Memory.Min), m.Memory.Max)
		out = section(out, 5, b)
	}
	if len(m.Globals) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Globals)))
		for _, g := range m.Globals {
			b = append(b, g...)
		}
		out = section(out, 6, b)
	}
	exports := m.Exports
	if m.ExportMemory {
		exports = append([]Export{{Name: "memory", Kind: 2}}, exports...)
	}
	if len(exports) > 0 {
		b := leb128.AppendU32(nil, uint32(len(exports)))
		for _, e := range exports {
			b = leb128.AppendU32(append(name(b, e.Name), e.Kind), e.Index)
		}
		out = section(out, 7, b)
	}
	if m.Start != nil {
		out = section(out, 8, leb128.AppendU32(nil, *m.Start))
	}
	if len(m.Elems) > 0 {
		b := leb128.AppendU32(nil, 1)
		b = append(leb128.AppendU32(b, 0), 0x41, 0x00, 0x0B) // active, table 0, offset i32.const 0
		b = leb128.AppendU32(b, uint32(len(m.Elems)))
		for _, f := range m.Elems {
			b = leb128.AppendU32(b, f)
		}
		out = section(out, 9, b)
	}
	if len(m.Funcs) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Funcs)))
		for _, f := range m.Funcs {
			body := leb128.AppendU32(nil, uint32(len(f.Locals))) // one group per local
			for _, t := range f.Locals {
				body = append(leb128.AppendU32(body, 1), t)
			}
			if f.LocalCount != 0 {
				body = append(leb128.AppendU32(leb128.AppendU32(nil, 1), f.LocalCount), f.Locals[0])
			}
			body = append(append(body, f.Code...), 0x0B)
			b = append(leb128.AppendU32(b, uint32(len(body))), body...)
		}
		out = section(out, 10, b)
	}
	if len(m.Data) > 0 {
		b := leb128.AppendU32(nil, uint32(len(m.Data)))
		for _, d := range m.Data {
			b = append(append(leb128.AppendU32(b, 0), I32Const(int32(d.Offset))...), 0x0B) // memory 0, offset
			b = append(leb128.AppendU32(b, uint32(len(d.Bytes))), d.Bytes...)
		}
		out = section(out, 11, b)
	}
	for _, c := range m.Customs {
		out = section(out, 0, append(name(nil, c.Name), c.Data...))
	}
	return out
}

// Instructions.

// I32Const is i32.const v.
func I32Const(v int32) []byte { return leb128.AppendS64([]byte{0x41}, int64(v)) }

// I64Const is i64.const v.
func I64Const(v int64) []byte { return leb128.AppendS64([]byte{0x42}, v) }

// Result is i64.const of an entry point result: ptr and len packed.
func Result(ptr, n uint32) []byte { return I64Const(int64(abi.PackResult(ptr, n))) }

const (
	Unreachable = 0x00
	Drop        = 0x1A
)

// InfiniteLoop is loop br 0 end, then unreachable.
var InfiniteLoop = []byte{0x03, 0x40, 0x0C, 0x00, 0x0B, 0x00}

// Plugin describes a minimal module that speaks the ABI: every entry point answers the
// (zero) bytes at address 16, which read as status OK and a zero count.
type Plugin struct {
	Version int32
	Kind    abi.Kind
	// Entry replaces the body of the kind's entry points (after init); nil answers OK.
	Entry []byte
	// Omit leaves out the export of that name.
	Omit string
	// Imports are added (function type 3: () -> ()); Extra* add to the module.
	Imports []Import
	Start   bool
	Customs []Custom
	// EntryType overrides the type of the entry points (index into the types).
	EntryType uint32
}

// Types of Plugin modules.
var pluginTypes = []FuncType{
	{nil, []byte{I32}},         // 0: () -> i32
	{[]byte{I32}, []byte{I32}}, // 1: (i32) -> i32
	{[]byte{I32}, []byte{I64}}, // 2: (i32) -> i64
	{nil, nil},                 // 3: () -> ()
}

// TypeI32ToI32 is the index of (i32) -> i32 among a Plugin's types.
const TypeI32ToI32 = 1

// Module returns p's module.
func (p Plugin) Module() *Module {
	m := &Module{Types: pluginTypes, Memory: &Limits{Min: 1, Max: 1}, ExportMemory: p.Omit != "memory", Customs: p.Customs}
	m.Imports = append(m.Imports, p.Imports...)
	for i := range m.Imports {
		m.Imports[i].Type = 3
	}
	base := uint32(len(m.Imports))
	entryType := uint32(2)
	if p.EntryType != 0 {
		entryType = p.EntryType
	}
	add := func(export string, typ uint32, code []byte) {
		idx := base + uint32(len(m.Funcs))
		m.Funcs = append(m.Funcs, Func{Type: typ, Code: code})
		if export != p.Omit {
			m.Exports = append(m.Exports, Export{Name: export, Kind: 0, Index: idx})
		}
	}
	add(abi.ExportABIVersion, 0, I32Const(p.Version))
	add(abi.ExportKind, 0, I32Const(int32(p.Kind)))
	add(abi.ExportBuffer, 1, I32Const(1024))
	add(abi.EntryInit.Export(), 2, Result(16, 5))
	entries := p.Kind.Entries()
	if len(entries) == 0 {
		entries = []abi.Entry{abi.EntryInit, abi.EntryAllocate} // an unknown kind: exports as if allocate
	}
	for _, e := range entries[1:] {
		code := p.Entry
		if code == nil {
			code = Result(16, 5)
		}
		add(e.Export(), entryType, code)
	}
	if p.Start {
		add("", 3, nil)
		s := base + uint32(len(m.Funcs)) - 1
		m.Start = &s
	}
	return m
}

// Bytes returns p's module encoded.
func (p Plugin) Bytes() []byte { return p.Module().Bytes() }
