package host

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
)

// FuzzInstrument feeds the rewriter modules mutated from small real ones. It must never
// panic, and a module wazero accepts must still be accepted once instrumented: a rewrite
// that broke a valid module (a local, a branch depth or a function index off by one)
// would refuse a good plugin, or worse, change what it does. Modules the rewriter refuses
// by design (a start function, proposals it cannot decode) are skipped.
func FuzzInstrument(f *testing.F) {
	f.Add(wasmgen.Plugin{Version: abi.Version, Kind: abi.KindSend}.Bytes())
	f.Add(wasmgen.Enricher("x-gateway", "eu-1", true))
	bulk := append([]byte{0x03, 0x40}, wasmgen.I32Const(0)...) // loop: memory.fill, memory.copy
	bulk = append(bulk, wasmgen.I32Const(0)...)
	bulk = append(append(bulk, wasmgen.I32Const(64)...), 0xFC, 0x0B, 0x00)
	bulk = append(bulk, wasmgen.I32Const(0)...)
	bulk = append(bulk, wasmgen.I32Const(8)...)
	bulk = append(append(bulk, wasmgen.I32Const(32)...), 0xFC, 0x0A, 0x00, 0x00)
	bulk = append(bulk, 0x0B, wasmgen.Unreachable)
	m := wasmgen.Plugin{Version: abi.Version, Kind: abi.KindSend, Entry: bulk}.Module()
	m.Memory = &wasmgen.Limits{Min: 1, Max: 1}
	f.Add(m.Bytes())
	// Straight-line code long enough for checkpoints within it: in blocks left by
	// branches, around calls, in an if's arms, past a br_table, in a loop's body, with
	// values on the operand stack.
	m, _ = straightLine()
	get := []byte{0x20, 0x00}
	m.Funcs = append(m.Funcs,
		wasmgen.Func{Code: cat(get, get, []byte{0x04, wasmgen.I32}, twice(straightRun), get, []byte{0x05}, twice(straightRun), get, []byte{0x0B, 0x6A})},
		wasmgen.Func{Code: cat([]byte{0x02, 0x40, 0x02, 0x40}, get, []byte{0x0E, 0x01, 0x00, 0x01, 0x0B}, twice(straightRun), []byte{0x0B}, twice(straightRun), get)},
		wasmgen.Func{Code: cat([]byte{0x03, 0x40}, twice(straightRun), get, []byte{0x0D, 0x00, 0x0B}, get)})
	f.Add(m.Bytes())
	// A br_table whose targets repeat a label: each a basic block (maxFlow).
	m = wasmgen.Plugin{Version: abi.Version, Kind: abi.KindSend, Entry: cat([]byte{0x02, 0x40, 0x02, 0x40, 0x20, 0x00, 0x0E, 0x04, 0x00, 0x01, 0x00, 0x01, 0x00, 0x0B, 0x0B}, wasmgen.Result(16, 5))}.Module()
	f.Add(m.Bytes())
	// Element and data segments, active and passive (maxElements, maxDataSegments).
	m = wasmgen.Plugin{Version: abi.Version, Kind: abi.KindSend}.Module()
	m.Table = 2
	m.Data = []wasmgen.Segment{{Offset: 64, Bytes: []byte("abc")}}
	elems := cat([]byte{0x02, 0x00, 0x41, 0x00, 0x0B, 0x01, 0x00}, []byte{0x01, 0x00, 0x02, 0x00, 0x01})
	f.Add(withSection(withSection(m.Bytes(), secElement, elems), secData, []byte{0x02, 0x00, 0x41, 0x00, 0x0B, 0x01, 0x01, 0x01, 0x02, 0x78, 0x79}))

	ctx := context.Background()
	r := wazero.NewRuntime(ctx) // the host's validation: wazero's core features
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		in, err := instrument(wasm, defaultStackLimit)
		if err != nil || in.hasStart {
			return
		}
		orig, err := r.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		orig.Close(ctx)
		cm, err := r.CompileModule(ctx, in.wasm)
		if err != nil {
			t.Fatalf("wazero accepts the module but not its instrumented form: %v", err)
		}
		cm.Close(ctx)
	})
}
