package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
)

// The stack suite: a module's call stack is Go memory outside its memory limit, bounded by
// the depth the rewriter charges each frame with (stack.go).

func TestHostileGoRecursion(t *testing.T) {
	misbehave(t, PluginConfig{Deadline: time.Second}, "recurse", FailStack, "stack limit")
}

// bombShapes are bodies of functions f (i32) -> i32 that make a frame big in some way
// around call, the code of a call of f (with n+1: without end, or n-1): the bound of a
// frame must hold however it is made big.
var bombShapes = []struct {
	name   string
	locals []byte
	count  uint32
	body   func(call []byte) []byte
}{
	{"a call of itself", nil, 0, func(call []byte) []byte { return call }},
	// 1,000 i64 locals set before the call and read after it, each in a stack slot.
	{"locals live across the call", []byte{wasmgen.I64}, 1000, func(call []byte) []byte {
		var pre, post []byte
		for i := uint32(1); i <= 1000; i++ {
			pre = cat(pre, []byte{0x20, 0x00, 0xAD}, wasmgen.I64Const(int64(i)), []byte{0x7C, 0x21}, leb128.AppendU32(nil, i))
			post = cat(post, []byte{0x20}, leb128.AppendU32(nil, i), []byte{0xA7, 0x6A})
		}
		return cat(pre, call, post)
	}},
	// 1,000 i64 values on the operand stack under the call.
	{"operands under the call", nil, 0, func(call []byte) []byte {
		var pre []byte
		for i := range 1000 {
			pre = cat(pre, []byte{0x20, 0x00, 0xAD}, wasmgen.I64Const(int64(i)), []byte{0x7C})
		}
		return cat(pre, call, []byte{0xAD}, slices.Repeat([]byte{0x7C}, 1000), []byte{0xA7})
	}},
	// 100 vectors (i32x4.splat of n+i) under the call.
	{"vectors under the call", nil, 0, func(call []byte) []byte {
		var pre []byte
		for i := range 100 {
			pre = cat(pre, []byte{0x20, 0x00}, wasmgen.I32Const(int32(i)), []byte{0x6A, 0xFD, 0x11})
		}
		return cat(pre, call, []byte{0xFD, 0x11}, slices.Repeat([]byte{0xFD, 0xAE, 0x01}, 100), []byte{0xFD, 0x1B, 0x00})
	}},
	// After the call, 100 loops nested, 100 i64 locals set in the innermost: a value
	// of each where each loop's paths meet, 10,000 in a frame of 2 KB of code.
	{"phis of nested loops", append([]byte{wasmgen.I32}, slices.Repeat([]byte{wasmgen.I64}, 100)...), 0, func(call []byte) []byte {
		body := cat(call, []byte{0x21, 0x01}, slices.Repeat([]byte{0x03, 0x40}, 100))
		for i := byte(2); i < 102; i++ {
			body = append(body, 0x20, i, 0x42, 0x01, 0x7C, 0x21, i) // local i += 1
		}
		body = cat(body, slices.Repeat([]byte{0x20, 0x00, 0x45, 0x0D, 0x00, 0x0B}, 100), []byte{0x20, 0x01}) // br_if 0 if n == 0: never
		for i := byte(2); i < 102; i++ {
			body = append(body, 0x20, i, 0xA7, 0x6A)
		}
		return body
	}},
}

// callOf is f(n+step).
func callOf(f uint32, step int32) []byte {
	return cat([]byte{0x20, 0x00}, wasmgen.I32Const(step), []byte{0x6A, 0x10}, leb128.AppendU32(nil, f))
}

// bombPlugin is a send hook whose before_send calls f with its input's length if it is
// over 512 bytes (a batch of bombMessages), and answers OK.
func bombPlugin(locals []byte, count uint32, body func(call []byte) []byte) []byte {
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Module()
	f := uint32(len(m.Funcs))
	m.Funcs = append(m.Funcs, wasmgen.Func{Type: wasmgen.TypeI32ToI32, Locals: locals, LocalCount: count, Code: body(callOf(f, 1))})
	for _, e := range m.Exports {
		if e.Name == abi.EntryBeforeSend.Export() {
			m.Funcs[e.Index].Code = cat([]byte{0x20, 0x00}, wasmgen.I32Const(512), []byte{0x4B, 0x04, 0x40, 0x20, 0x00, 0x10},
				leb128.AppendU32(nil, f), []byte{wasmgen.Drop, 0x0B}, wasmgen.Result(16, 5)) // if n > 512: f(n)
		}
	}
	return m.Bytes()
}

const bombMessages = 64

// allocatedBy returns the bytes the Go heap allocated during call, and how much more of
// it is in use after a collection.
func allocatedBy(call func()) (allocated, kept int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	call()
	runtime.ReadMemStats(&after)
	allocated = int64(after.TotalAlloc - before.TotalAlloc)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return allocated, int64(after.HeapInuse) - int64(before.HeapInuse)
}

// stackMemoryBound is what a call may allocate for its stack at most: wazero doubles the
// stack while it is short, so the stacks it allocated add up to four times what it used
// at most, and it uses at most the limit and a frame that cannot recurse (leafSlack).
func stackMemoryBound(limit int) int64 { return 4 * (int64(limit) + leafSlack) }

// A recursion without end fails its call with ErrStackLimit, whatever its frames hold,
// and the plugin serves the next call from a new instance. The stacks it grew on the way
// stay within the bound: a function that called itself grew wazero's stack past 50 MB,
// 150 MB allocated, before wazero's own limit stopped it, an instance's memory limit
// notwithstanding, and kept it if it returned before.
func TestHostileRecursionBomb(t *testing.T) {
	for _, limit := range []int{0, 1 << 20} {
		for _, shape := range bombShapes {
			t.Run(fmt.Sprintf("%s/limit=%d", shape.name, limit), func(t *testing.T) {
				r, _ := newRuntime(t)
				p, err := r.Load(context.Background(), PluginConfig{Name: "bomb", Instances: 1, Policy: Fail, StackLimit: limit, Deadline: 5 * time.Second},
					bombPlugin(shape.locals, shape.count, shape.body))
				if err != nil {
					t.Fatal(err)
				}
				h, _ := NewSendHook(p)
				if err := h.BeforeSend(context.Background(), sendEvents("", "x")); err != nil {
					t.Fatalf("a call under the threshold: %v", err)
				}
				var start time.Time
				allocated, kept := allocatedBy(func() {
					start = time.Now()
					err = h.BeforeSend(context.Background(), sendEvents("", make([]string, bombMessages)...))
				})
				t.Logf("%v after %v; %d KiB allocated, %d KiB kept", err, time.Since(start), allocated>>10, kept>>10)
				var ce *CallError
				if !errors.As(err, &ce) || ce.Failure != FailStack || !errors.Is(err, ErrStackLimit) || !strings.Contains(err.Error(), "stack limit") {
					t.Fatalf("the bomb: %v, want a *CallError of FailStack", err)
				}
				if bound := stackMemoryBound(p.active.Load().cfg.StackLimit); allocated > bound+2<<20 {
					t.Errorf("the call allocated %d KiB, over the stacks' bound of %d KiB", allocated>>10, bound>>10)
				}
				if kept > 4<<20 {
					t.Errorf("%d KiB more in use after the failed call", kept>>10)
				}
				if st := p.Status(); st.Failures != 1 || !strings.Contains(st.LastError, "stack limit") {
					t.Errorf("status after the failure: %+v", st)
				}
				waitFor(t, 10*time.Second, "a replacement instance", func() bool { s := p.Status(); return s.Instances == 1 && s.Idle == 1 })
				if err := h.BeforeSend(context.Background(), sendEvents("", "x")); err != nil {
					t.Fatalf("the next call: %v", err)
				}
			})
		}
	}
}

// A function whose one frame is bounded past the limit fails every call at once.
func TestFrameOverTheStackLimit(t *testing.T) {
	r, _ := newRuntime(t)
	shape := bombShapes[2] // 1,000 operands: some 25 KiB of frame
	p, err := r.Load(context.Background(), PluginConfig{Name: "big", Instances: 1, Policy: Fail, StackLimit: 16 << 10},
		bombPlugin(shape.locals, shape.count, shape.body))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	if err := h.BeforeSend(context.Background(), sendEvents("", make([]string, bombMessages)...)); !errors.Is(err, ErrStackLimit) {
		t.Fatalf("BeforeSend = %v, want ErrStackLimit", err)
	}
}

// Recursion under the limit works, however its functions return, and calls do not add up:
// a call that returns leaves the depth at 0. A million calls of exports that recurse ten
// deep and return through return, br, br_if and br_table, and of one that recurses into
// itself, each leave it so.
func TestStackDepthDoesNotAccumulate(t *testing.T) {
	i32 := byte(wasmgen.I32)
	rec := cat([]byte{0x20, 0x00, 0x45, 0x04, i32}, wasmgen.I32Const(0), []byte{0x05, 0x20, 0x00}, wasmgen.I32Const(1),
		[]byte{0x6B, 0x10, 0x00}, wasmgen.I32Const(1), []byte{0x6A, 0x0B}) // rec(n) = n == 0 ? 0 : rec(n-1)+1
	call := cat(wasmgen.I32Const(10), []byte{0x10, 0x00}) // rec(10)
	// self(n) = n == 0 ? 0 : self(n-1), leaving through br_table to the function's label
	self := cat([]byte{0x20, 0x00, 0x45, 0x04, 0x40}, wasmgen.I32Const(0), []byte{0x0F, 0x0B, 0x20, 0x00}, wasmgen.I32Const(1),
		[]byte{0x6B, 0x10, 0x06, 0x20, 0x00, 0x0E, 0x00, 0x00})
	m := &wasmgen.Module{
		Types: []wasmgen.FuncType{{Params: []byte{i32}, Results: []byte{i32}}},
		Funcs: []wasmgen.Func{
			{Code: rec},                           // 0
			{Code: cat(call, []byte{0x0F})},       // 1: return
			{Code: cat(call, []byte{0x0C, 0x00})}, // 2: br 0
			{Code: cat(call, []byte{0x20, 0x00, 0x0D, 0x00, 0x1A}, wasmgen.I32Const(0))}, // 3: br_if 0
			{Code: cat(call, []byte{0x20, 0x00, 0x0E, 0x01, 0x00, 0x00})},                // 4: br_table 0 0
			{Code: cat(wasmgen.I32Const(1000), []byte{0x10, 0x00})},                      // 5: rec(1000)
			{Code: self}, // 6
		},
		Exports: []wasmgen.Export{{Name: "return", Index: 1}, {Name: "br", Index: 2}, {Name: "br_if", Index: 3},
			{Name: "br_table", Index: 4}, {Name: "deep", Index: 5}, {Name: "self", Index: 6}},
	}
	yields := 0
	mod := instantiateRaw(t, m.Bytes(), &yields)
	depth := mod.ExportedGlobal(depthExport)
	ctx := context.Background()
	for _, name := range []string{"return", "br", "br_if", "br_table", "deep", "self"} {
		f := mod.ExportedFunction(name)
		stack := []uint64{10}
		calls := 1000000
		if name == "deep" {
			calls = 1000
		}
		for i := range calls {
			stack[0] = 10
			if err := f.CallWithStack(ctx, stack); err != nil {
				t.Fatalf("%s: call %d: %v", name, i, err)
			}
			if d := depth.Get(); d != 0 {
				t.Fatalf("%s: depth %d after call %d", name, d, i)
			}
		}
	}
}

// The redactor follows a body nested 512 deep, the most it scans, within half the default
// stack limit, once its goroutine's stack has grown (before, Go's stack growth unwinds the
// frames below from wazero's stack: a first such body is bounded at 3.4 MiB, later ones
// at 5.8, 11 KiB a level); one nested deeper is its own error, not the stack's.
func TestRedactorsDeepestBodyWithinTheStackLimit(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindConsume, Policy: Fail, StackLimit: defaultStackLimit / 2,
		Config: []byte(`{"fields": ["password"]}`)}, "plugins/redactor")
	h, _ := NewConsumeHook(p)
	for _, depth := range []int{512, 512, 512, 513} {
		body := strings.Repeat("[", depth-1) + `{"password":"x"}` + strings.Repeat("]", depth-1)
		msgs := consumed("", body)
		verdicts := make([]instance.ConsumeVerdict, len(msgs))
		err := h.BeforeConsume(context.Background(), consumeCtx, msgs, verdicts)
		switch {
		case depth == 512 && (err != nil || !strings.Contains(string(msgs[0].Body), `"***"`)):
			t.Fatalf("a body %d deep: %v, %.40q", depth, err, msgs[0].Body)
		case depth == 513 && !errors.Is(err, ErrPlugin):
			t.Fatalf("a body %d deep: %v, want the plugin's error", depth, err)
		}
	}
}

func TestStackLimitRefused(t *testing.T) {
	for _, c := range []struct {
		limit int
		want  string
	}{
		{-1, "negative limit"},
		{MaxStackLimit + 1, "StackLimit 33554433 is over the 32 MiB"},
	} {
		cfg := PluginConfig{Name: "a", StackLimit: c.limit}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(StackLimit %d) = %v, want %q", c.limit, err, c.want)
		}
	}
	if got := (PluginConfig{}).withDefaults(abi.KindSend).StackLimit; got != defaultStackLimit {
		t.Errorf("default StackLimit %d", got)
	}
}

// The bound of a frame covers the frame wazero's compiler makes, measured: wazero's
// stack in use (its stack pointer, read by reflection from the function's call engine)
// at the bottom of recursions 20 and 60 deep, against the depth charged meanwhile.
// Measured here (wazero 1.12, amd64), bytes a frame, the compiler's and the bound: 56 and
// 392 for a call of itself; 8,328 and 24,888 for 1,000 i64 locals live across the call;
// 8,200 and 24,708 for 1,000 i64 operands; 1,672 and 5,848 for 100 vectors; 78,504 and
// 84,040 for 100 nested loops of 100 i64 locals set in the innermost.
func TestFrameBoundCoversWazerosFrames(t *testing.T) {
	for _, shape := range bombShapes {
		f := uint32(1)                                                                                         // after the import
		base := cat([]byte{0x20, 0x00, 0x45, 0x04, 0x40, 0x10, 0x00}, wasmgen.I32Const(0), []byte{0x0F, 0x0B}) // n == 0: probe, 0
		m := &wasmgen.Module{
			Types:   []wasmgen.FuncType{{}, {Params: []byte{wasmgen.I32}, Results: []byte{wasmgen.I32}}},
			Imports: []wasmgen.Import{{Module: "m", Name: "probe", Type: 0}},
			Funcs:   []wasmgen.Func{{Type: 1, Locals: shape.locals, LocalCount: shape.count, Code: cat(base, shape.body(callOf(f, -1)))}},
			Exports: []wasmgen.Export{{Name: "f", Index: f}},
			Memory:  &wasmgen.Limits{Min: 1, Max: 1},
		}
		in, err := instrument(m.Bytes(), MaxStackLimit)
		if err != nil {
			t.Fatal(err)
		}
		var used, charged [2]uint64
		for i, n := range []uint64{20, 60} {
			used[i], charged[i] = stackAtTheBottom(t, in.wasm, n)
		}
		frame, bound := float64(used[1]-used[0])/40, float64(charged[1]-charged[0])/40
		t.Logf("%s: a frame of %.0f bytes, bounded at %.0f", shape.name, frame, bound)
		if frame > bound {
			t.Errorf("%s: a frame of %.0f bytes, over its bound of %.0f", shape.name, frame, bound)
		}
	}
}

// stackAtTheBottom calls export f(n) of the instrumented wasm, which imports m.probe, and
// returns the bytes of wazero's stack in use and the depth at the probe's call.
func stackAtTheBottom(t *testing.T, wasm []byte, n uint64) (used, depth uint64) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	var fn api.Function
	var mod api.Module
	known := true
	probe := func(context.Context, api.Module, []uint64) {
		e := reflect.ValueOf(fn).Elem()
		top, ctx := e.FieldByName("stackTop"), e.FieldByName("execCtx")
		if known = top.IsValid() && ctx.IsValid() && ctx.FieldByName("stackPointerBeforeGoCall").IsValid(); known {
			used = top.Uint() - uint64(ctx.FieldByName("stackPointerBeforeGoCall").Pointer())
			depth = mod.ExportedGlobal(depthExport).Get()
		}
	}
	for name, f := range map[string]api.GoModuleFunc{"m": probe, abi.HostModule: func(_ context.Context, m api.Module, _ []uint64) {
		m.ExportedGlobal(budgetExport).(api.MutableGlobal).Set(yieldEvery)
	}} {
		export := "probe"
		if name == abi.HostModule {
			export = yieldImport
		}
		if _, err := r.NewHostModuleBuilder(name).NewFunctionBuilder().WithGoModuleFunction(f, nil, nil).Export(export).Instantiate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mod, err := r.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	fn = mod.ExportedFunction("f")
	if _, err := fn.Call(ctx, n); err != nil {
		t.Fatal(err)
	}
	if !known {
		t.Skipf("wazero's call engine (%T) is not the one measured", fn)
	}
	return used, depth
}
