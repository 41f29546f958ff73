package gateway

import (
	"github.com/mqgate/mqgate/sdk/abi"
)

// The plugin tests' modules: the built-in plugins and host's hostile ones, built from
// their sources by internal/plugintest, and small hand-written modules that break one
// rule of the ABI (host/internal/wasmgen is internal to host).

// rawModule is a minimal module that speaks the ABI (every entry point answers status OK
// and nothing else), but for the rule it breaks.
type rawModule struct {
	version int32    // what mqgate_abi_version returns
	kind    abi.Kind // what mqgate_kind returns
	omit    string   // an export left out
	imports []string // WASI functions imported
}

func (m rawModule) bytes() []byte {
	u32 := func(b []byte, v uint32) []byte {
		for {
			c := byte(v & 0x7F)
			v >>= 7
			if v == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	s64 := func(b []byte, v int64) []byte {
		for {
			c := byte(v & 0x7F)
			v >>= 7
			if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	name := func(b []byte, s string) []byte { return append(u32(b, uint32(len(s))), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(u32(append(out, id), uint32(len(body))), body...)
	}
	const i32, i64 = 0x7F, 0x7E
	types := [][2][]byte{{nil, {i32}}, {{i32}, {i32}}, {{i32}, {i64}}, {nil, nil}}
	type fn struct {
		export string
		typ    uint32
		code   []byte
	}
	ok := s64([]byte{0x42}, int64(abi.PackResult(16, 5))) // i64.const: 5 zero bytes at 16
	fns := []fn{
		{abi.ExportABIVersion, 0, s64([]byte{0x41}, int64(m.version))},
		{abi.ExportKind, 0, s64([]byte{0x41}, int64(m.kind))},
		{abi.ExportBuffer, 1, s64([]byte{0x41}, 1024)},
		{abi.EntryInit.Export(), 2, ok},
	}
	entries := m.kind.Entries()
	if len(entries) == 0 {
		entries = abi.KindAllocate.Entries() // an unknown kind: exports as if allocate
	}
	for _, e := range entries[1:] {
		fns = append(fns, fn{e.Export(), 2, ok})
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	b := u32(nil, uint32(len(types)))
	for _, t := range types {
		b = append(u32(append(b, 0x60), uint32(len(t[0]))), t[0]...)
		b = append(u32(b, uint32(len(t[1]))), t[1]...)
	}
	out = section(out, 1, b)
	if len(m.imports) > 0 {
		b = u32(nil, uint32(len(m.imports)))
		for _, im := range m.imports {
			b = u32(append(name(name(b, abi.WASIModule), im), 0), 3)
		}
		out = section(out, 2, b)
	}
	b = u32(nil, uint32(len(fns)))
	for _, f := range fns {
		b = u32(b, f.typ)
	}
	out = section(out, 3, b)
	out = section(out, 5, []byte{1, 1, 1, 1}) // one memory of 1 page, max 1
	var exports [][]byte
	exports = append(exports, append(name(nil, abi.ExportMemory), 2, 0))
	for i, f := range fns {
		if f.export != m.omit {
			exports = append(exports, u32(append(name(nil, f.export), 0), uint32(len(m.imports)+i)))
		}
	}
	b = u32(nil, uint32(len(exports)))
	for _, e := range exports {
		b = append(b, e...)
	}
	out = section(out, 7, b)
	b = u32(nil, uint32(len(fns)))
	for _, f := range fns {
		body := append([]byte{0}, f.code...) // no locals
		body = append(body, 0x0B)
		b = append(u32(b, uint32(len(body))), body...)
	}
	return section(out, 10, b)
}
