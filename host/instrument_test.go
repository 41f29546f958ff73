package host

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
)

// instantiateRaw compiles an instrumented module in a bare runtime whose yield counts its
// calls, and returns the instance.
func instantiateRaw(t *testing.T, wasm []byte, yields *int) api.Module {
	t.Helper()
	in, err := instrument(wasm, defaultStackLimit)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	_, err = r.NewHostModuleBuilder(abi.HostModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, _ []uint64) {
			*yields++
			m.ExportedGlobal(budgetExport).(api.MutableGlobal).Set(yieldEvery)
		}), nil, nil).Export(yieldImport).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.Instantiate(ctx, in.wasm)
	if err != nil {
		t.Fatalf("the instrumented module does not instantiate: %v", err)
	}
	return mod
}

// The added import moves every defined function up by one: calls, exports, element
// segments (tables) and the name section must follow.
func TestInstrumentRenumbersFunctions(t *testing.T) {
	types := []wasmgen.FuncType{{Results: []byte{wasmgen.I32}}, {Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}}
	m := &wasmgen.Module{
		Types:   types,
		Imports: []wasmgen.Import{{Module: "env", Name: "f", Type: 0}}, // function 0
		Funcs: []wasmgen.Func{
			{Type: 0, Code: wasmgen.I32Const(42)},                          // 1: 42
			{Type: 0, Code: []byte{0x10, 0x01}},                            // 2: call 1
			{Type: 0, Code: append(wasmgen.I32Const(0), 0x11, 0x00, 0x00)}, // 3: call_indirect table[0]
			{Type: 1, Code: append([]byte{0x03, 0x40, 0x0B}, 0x20, 0x00)},  // 4: a loop, then its argument
		},
		Table:   1,
		Elems:   []uint32{1},
		Exports: []wasmgen.Export{{Name: "direct", Index: 2}, {Name: "indirect", Index: 3}, {Name: "loop", Index: 4}},
		Customs: []wasmgen.Custom{{Name: "name", Data: append([]byte{1, 6, 1, 2, 3}, "via"...)}},
	}
	yields := 0
	// Satisfy env.f with a module of its own.
	in, err := instrument(m.Bytes(), defaultStackLimit)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	r.NewHostModuleBuilder("env").NewFunctionBuilder().WithFunc(func() int32 { return 7 }).Export("f").Instantiate(ctx)
	r.NewHostModuleBuilder(abi.HostModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) { yields++ }), nil, nil).
		Export(yieldImport).Instantiate(ctx)
	mod, err := r.Instantiate(ctx, in.wasm)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{"direct": 42, "indirect": 42} {
		res, err := mod.ExportedFunction(name).Call(ctx)
		if err != nil || res[0] != want {
			t.Errorf("%s() = %v, %v; want %d", name, res, err, want)
		}
	}
	if res, err := mod.ExportedFunction("loop").Call(ctx, 9); err != nil || res[0] != 9 {
		t.Errorf("loop(9) = %v, %v", res, err)
	}
	if yields != 0 {
		t.Errorf("yield called %d times within the first budget", yields)
	}
	if g := mod.ExportedGlobal(budgetExport); g == nil || g.Get() >= yieldEvery {
		t.Errorf("budget %v: the checkpoints did not run", g)
	}
}

func TestInstrumentYieldsInALongLoop(t *testing.T) {
	// A loop of 100,000 iterations: a countdown in a local.
	loop := []byte{0x41}
	loop = leb128.AppendS64(loop, 100000)
	loop = append(loop, 0x21, 0x00, // local.set 0 (the parameter)
		0x03, 0x40, // loop
		0x20, 0x00, 0x41, 0x01, 0x6B, 0x22, 0x00, // local.get 0, i32.const 1, i32.sub, local.tee 0
		0x0D, 0x00, // br_if 0
		0x0B, // end
		0x20, 0x00)
	m := &wasmgen.Module{
		Types:   []wasmgen.FuncType{{Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
		Funcs:   []wasmgen.Func{{Type: 0, Code: loop}},
		Exports: []wasmgen.Export{{Name: "count", Index: 0}},
	}
	yields := 0
	mod := instantiateRaw(t, m.Bytes(), &yields)
	if _, err := mod.ExportedFunction("count").Call(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if want := 100000 / yieldEvery; yields < want {
		t.Fatalf("yield called %d times in 100000 iterations, want at least %d", yields, want)
	}
}

// The entry checkpoint bounds recursion: a function that may recurse keeps it, and a
// recursion without loops still yields; a function that calls nothing, or opens with a
// loop (whose head has one), goes without it.
func TestInstrumentEntryCheckpoints(t *testing.T) {
	// count(n) = n == 0 ? 0 : count(n-1): 100,000 calls deep at most, no loop.
	recurse := []byte{0x20, 0x00, 0x45, 0x04, 0x7F, 0x41, 0x00, 0x05, // local.get 0, i32.eqz, if (result i32) 0 else
		0x20, 0x00, 0x41, 0x01, 0x6B, 0x10, 0x00, 0x0B} // count(n-1) end
	for _, tc := range []struct {
		name        string
		code        []byte
		checkpoints int // per call of a function that returns at once (argument 0)
	}{
		{"a leaf without loops", []byte{0x20, 0x00}, 0},
		{"a leaf with a loop", []byte{0x03, 0x40, 0x0B, 0x20, 0x00}, 1},
		{"a caller opening with a loop", []byte{0x02, 0x40, 0x03, 0x40, 0x0B, 0x0B, 0x20, 0x00, 0x10, 0x01}, 1},
		{"a caller opening with a branch", []byte{0x02, 0x40, 0x0C, 0x00, 0x03, 0x40, 0x0B, 0x0B, 0x20, 0x00, 0x10, 0x01}, 1},
		{"a recursion", recurse, 1},
		{"a leaf of shortRun instructions", cat(twice(shortRun/2-1), []byte{0x20, 0x00, 0x45}), 0},
		{"a longer leaf", cat(twice(shortRun/2), []byte{0x20, 0x00}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &wasmgen.Module{
				Types:   []wasmgen.FuncType{{Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
				Funcs:   []wasmgen.Func{{Type: 0, Code: tc.code}, {Type: 0, Code: []byte{0x20, 0x00}}}, // 1: a leaf
				Exports: []wasmgen.Export{{Name: "f", Index: 0}},
			}
			yields := 0
			mod := instantiateRaw(t, m.Bytes(), &yields)
			budget := mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
			budget.Set(1 << 20)
			if _, err := mod.ExportedFunction("f").Call(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
			if got := 1<<20 - int(int32(budget.Get())); got != tc.checkpoints {
				t.Errorf("%d checkpoints in a call, want %d", got, tc.checkpoints)
			}
		})
	}
	m := &wasmgen.Module{
		Types:   []wasmgen.FuncType{{Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
		Funcs:   []wasmgen.Func{{Type: 0, Code: recurse}},
		Exports: []wasmgen.Export{{Name: "f", Index: 0}},
	}
	yields := 0
	mod := instantiateRaw(t, m.Bytes(), &yields)
	for range 100 { // as deep as the stack limit allows, a hundred times
		if _, err := mod.ExportedFunction("f").Call(context.Background(), 1000); err != nil {
			t.Fatal(err)
		}
	}
	if want := 100000 / yieldEvery; yields < want {
		t.Fatalf("yield called %d times in 100000 recursive calls, want at least %d", yields, want)
	}
}

// twice is n times local.get 0, drop: 2n instructions of straight-line code.
func twice(n int) []byte { return bytes.Repeat([]byte{0x20, 0x00, 0x1A}, n) }

// straightLine is a module of functions of type (i32) -> (i32) that return their argument
// after straight-line code, exported by the names of the map, which tells how many
// instructions each runs. Function 0 is a leaf of shortRun-1 instructions.
func straightLine() (*wasmgen.Module, map[string]int) {
	const blocks = 64
	leaf := cat([]byte{0x20, 0x00}, twice(shortRun/2-1))
	// One block: straightRun-1 instructions, the last a branch out of it, then one no path
	// reaches, where a count blind to branches would put every checkpoint.
	left := cat([]byte{0x02, 0x40}, twice(straightRun/2-1), []byte{0x0C, 0x00, wasmgen.Unreachable, 0x0B})
	calls := blocks * straightRun / shortRun
	cases := []struct {
		name string
		code []byte
		runs int
	}{
		{"run", twice(blocks * straightRun / 2), blocks * straightRun},
		{"left", bytes.Repeat(left, blocks), blocks * (straightRun - 1)},
		{"calls", bytes.Repeat([]byte{0x20, 0x00, 0x10, 0x00, 0x1A}, calls), calls * (3 + shortRun - 1)},
	}
	m := &wasmgen.Module{
		Types: []wasmgen.FuncType{{Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
		Funcs: []wasmgen.Func{{Type: 0, Code: leaf}},
	}
	runs := map[string]int{}
	for i, c := range cases { // the argument on the stack throughout
		m.Funcs = append(m.Funcs, wasmgen.Func{Type: 0, Code: cat([]byte{0x20, 0x00}, c.code)})
		m.Exports = append(m.Exports, wasmgen.Export{Name: c.name, Index: uint32(i + 1)})
		runs[c.name] = 1 + c.runs
	}
	return m, runs
}

// Straight-line code passes a checkpoint every straightRun instructions at most, however
// it is laid out: one long run; blocks each left by a branch just before the checkpoint
// a count along the bytes would put at their end; calls of a function too short to have
// a checkpoint of its own, whose instructions count in its caller.
func TestInstrumentChecksStraightLineCode(t *testing.T) {
	m, runs := straightLine()
	yields := 0
	mod := instantiateRaw(t, m.Bytes(), &yields)
	budget := mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
	for name, n := range runs {
		budget.Set(1 << 20)
		res, err := mod.ExportedFunction(name).Call(context.Background(), 9)
		if err != nil || res[0] != 9 {
			t.Fatalf("%s(9) = %v, %v", name, res, err)
		}
		checkpoints := 1<<20 - int(int32(budget.Get()))
		t.Logf("%s: %d instructions, %d checkpoints", name, n, checkpoints)
		if n > straightRun*(checkpoints+1) {
			t.Errorf("%s: %d instructions passed %d checkpoints, want one every %d instructions at least", name, n, checkpoints, straightRun)
		}
	}
}

func TestInstrumentRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		wasm []byte
		want string
	}{
		"a global that is not there (the budget's index)": {
			(&wasmgen.Module{Types: []wasmgen.FuncType{{Results: []byte{wasmgen.I32}}},
				Funcs:   []wasmgen.Func{{Type: 0, Code: []byte{0x23, 0x00}}},
				Exports: []wasmgen.Export{{Name: "f"}}}).Bytes(),
			"global index 0 out of range"},
		"the reserved export name": {
			(&wasmgen.Module{Types: []wasmgen.FuncType{{}}, Funcs: []wasmgen.Func{{Type: 0}},
				Exports: []wasmgen.Export{{Name: budgetExport}}}).Bytes(),
			"a name the host reserves"},
		"no exports": {(&wasmgen.Module{Types: []wasmgen.FuncType{{}}, Funcs: []wasmgen.Func{{Type: 0}}}).Bytes(), "exports nothing"},
		// Counts the bytes cannot hold (found by FuzzInstrument): a type of 2^29 parameters,
		// and 2^32-1 imports, each looped over for a minute before.
		"a forged parameter count": {[]byte("\x00asm\x01\x00\x00\x00\x01\x07\x01\x60\x80\x80\x80\x80\x02"), "exceeds"},
		"a forged import count":    {[]byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f"), "exceeds"},
	} {
		if _, err := instrument(c.wasm, defaultStackLimit); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestLoopingPluginDoesNotStallTheGC: code compiled from WebAssembly has no safepoints;
// without the checkpoints' yield, a looping plugin would keep Go's garbage collector from
// stopping the world, and with it every goroutine of the gateway.
func TestLoopingPluginDoesNotStallTheGC(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Deadline: time.Second})
	done := make(chan error)
	go func() { done <- h.BeforeSend(context.Background(), sendEvents("", "loop")) }()
	waitFor(t, 5*time.Second, "the loop to start", func() bool { return p.Status().Idle == 0 })
	start := time.Now()
	runtime.GC()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a GC took %v while a plugin looped", d)
	}
	if err := <-done; err != nil {
		t.Fatalf("policy skip: %v", err)
	}
}

// The built-in plugins survive instrumentation: every one of them loads in the suite;
// this checks their size grows by the checkpoints only.
func TestInstrumentOverhead(t *testing.T) {
	wasm := plugintest.Build(t, "plugins/averagely")
	in, err := instrument(wasm, defaultStackLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("averagely: %d bytes, %d instrumented (+%.1f%%)", len(wasm), len(in.wasm), 100*float64(len(in.wasm)-len(wasm))/float64(len(wasm)))
	if len(in.wasm) > len(wasm)*3/2 {
		t.Fatal("instrumentation grew the module by more than half")
	}
}

// A bulk instruction is charged by its length: a loop of 1 MiB memory.fill and
// memory.copy yields on every one of them, where counting its iterations alone would
// yield once in yieldEvery. The charge keeps the length in a local of its own, past the
// function's parameters and locals, which keep their values.
func TestInstrumentChargesBulkMemoryByLength(t *testing.T) {
	const size = 1 << 20
	var code []byte
	code = append(code, 0x41, 0x07, 0x21, 0x01) // local.set 1 (a declared local) = 7
	code = append(code, 0x03, 0x40)             // loop
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(size)...)
	code = append(code, 0xFC, 0x0B, 0x00) // memory.fill
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(size)...)
	code = append(code, 0xFC, 0x0A, 0x00, 0x00)                   // memory.copy
	code = append(code, 0x20, 0x00, 0x41, 0x01, 0x6B, 0x22, 0x00, // local.get 0, i32.const 1, i32.sub, local.tee 0
		0x0D, 0x00, // br_if 0
		0x0B,                         // end
		0x20, 0x01, 0x20, 0x00, 0x6A) // local 1 + local 0: 7
	m := &wasmgen.Module{
		Types:   []wasmgen.FuncType{{Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
		Funcs:   []wasmgen.Func{{Type: 0, Locals: []byte{wasmgen.I32}, Code: code}},
		Memory:  &wasmgen.Limits{Min: size / pageSize, Max: size / pageSize},
		Exports: []wasmgen.Export{{Name: "fill", Index: 0}},
	}
	const iterations = 64
	yields := 0
	mod := instantiateRaw(t, m.Bytes(), &yields)
	res, err := mod.ExportedFunction("fill").Call(context.Background(), iterations)
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != 7 {
		t.Fatalf("fill returned %d, want 7: the locals were disturbed", res[0])
	}
	if want := 2 * iterations * (size >> bulkShift) / yieldEvery; yields < want {
		t.Fatalf("yield called %d times over %d bulk instructions of 1 MiB, want at least %d", yields, 2*iterations, want)
	}
}
