package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/sdk/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// More looping calls than Ps: every call still ends near its deadline. A deadline counted
// in a ticker's fires stretched here twenty-fold (200 ms became 4 s), the ticker's
// goroutine rarely getting a P.
func TestDeadlineHoldsWhenLoopingCallsOutnumberTheCPUs(t *testing.T) {
	r, _ := newRuntime(t)
	n := 4 * runtime.GOMAXPROCS(0)
	const deadline = 200 * time.Millisecond
	p, err := r.Load(context.Background(), PluginConfig{Name: "loops", Instances: n, MaxInstances: n, Policy: Fail, QuarantineAfter: -1, Deadline: deadline},
		wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: wasmgen.InfiniteLoop}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	type result struct {
		err error
		d   time.Duration
	}
	results := make(chan result, n)
	for range n {
		go func() {
			start := time.Now()
			err := h.BeforeSend(context.Background(), sendEvents("", "x"))
			results <- result{err, time.Since(start)}
		}()
	}
	var worst time.Duration
	for range n {
		res := <-results
		if !errors.Is(res.err, ErrDeadline) {
			t.Fatalf("BeforeSend = %v, want ErrDeadline", res.err)
		}
		worst = max(worst, res.d)
	}
	t.Logf("%d looping calls on GOMAXPROCS=%d, deadline %v: the slowest returned after %v", n, runtime.GOMAXPROCS(0), deadline, worst)
	if worst > 1500*time.Millisecond {
		t.Fatalf("a %v deadline held a call for %v", deadline, worst)
	}
}

// A loop whose every iteration fills 16 MiB still ends near a 10 ms deadline: the fill is
// charged by its length (instrument.go). Counted as one checkpoint, it ran 4096 fills,
// over two seconds, before a look at the clock.
func TestDeadlineEndsALoopOfBulkMemoryInstructions(t *testing.T) {
	r, _ := newRuntime(t)
	const fill = 16 << 20
	var code []byte
	code = append(code, 0x03, 0x40) // loop
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(0)...)
	code = append(code, wasmgen.I32Const(fill)...)
	code = append(code, 0xFC, 0x0B, 0x00) // memory.fill
	code = append(code, 0x0C, 0x00)       // br 0
	code = append(code, 0x0B, wasmgen.Unreachable)
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: code}.Module()
	m.Memory = &wasmgen.Limits{Min: fill / pageSize, Max: fill / pageSize}
	p, err := r.Load(context.Background(), PluginConfig{Name: "fill", Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond}, m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	endsNearItsDeadline(t, 500*time.Millisecond, func() error { return h.BeforeSend(context.Background(), sendEvents("", "x")) })
}

// A loop whose body is a long run of straight-line code (a chain of 2^17 divisions, about
// a millisecond of work) still ends near a 10 ms deadline, and lets Go's collector stop
// the world meanwhile: the rewriter adds a checkpoint along straight-line code, every
// straightRun instructions (instrument.go). Counted as one checkpoint an iteration, it ran
// 8192 iterations (the first 4096 before the call's clock starts), some 8 seconds, before
// a look at the clock, and a GC from another goroutine waited about as long: the module
// is 393 KiB, and the limit lets one hold 80 times that.
func TestDeadlineEndsALoopOfStraightLineCode(t *testing.T) {
	r, _ := newRuntime(t)
	const divisions = 1 << 17
	code := append([]byte{0x03, 0x40}, wasmgen.I32Const(-1)...) // loop, i32.const -1
	for range divisions {
		code = append(code, 0x23, 0x00, 0x6E) // global.get 0 (1, mutable), i32.div_u
	}
	code = append(code, wasmgen.Drop, 0x0C, 0x00, 0x0B, wasmgen.Unreachable) // drop, br 0, end
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: code}.Module()
	m.Globals = [][]byte{cat([]byte{wasmgen.I32, 0x01}, wasmgen.I32Const(1), []byte{0x0B})}
	p, err := r.Load(context.Background(), PluginConfig{Name: "straight", Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond}, m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	endsNearItsDeadline(t, 500*time.Millisecond, func() error {
		longestGC := collectGarbage()
		err := h.BeforeSend(context.Background(), sendEvents("", "x"))
		gc := longestGC()
		t.Logf("the longest GC from another goroutine took %v", gc)
		if gc > 500*time.Millisecond {
			t.Errorf("a GC waited %v for the plugin", gc)
		}
		return err
	})
}

// collectGarbage runs garbage collections on another goroutine until the function it
// returns is called, which returns the longest: each GC stops the world, so it waits for
// a plugin's code to reach a safepoint (a yield).
func collectGarbage() (longest func() time.Duration) {
	stop, worst := make(chan struct{}), make(chan time.Duration)
	go func() {
		var w time.Duration
		for {
			select {
			case <-stop:
				worst <- w
				return
			default:
			}
			start := time.Now()
			runtime.GC()
			w = max(w, time.Since(start))
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-worst
	}
}

// endsNearItsDeadline checks that call, of a plugin with a 10 ms deadline, fails with
// ErrDeadline within bound (generous: the machine may be loaded; an overrun is seconds).
func endsNearItsDeadline(t *testing.T, bound time.Duration, call func() error) {
	t.Helper()
	start := time.Now()
	err := call()
	d := time.Since(start)
	t.Logf("%v after %v", err, d)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("the call = %v, want ErrDeadline", err)
	}
	if d > bound {
		t.Fatalf("a 10 ms deadline ended the call after %v", d)
	}
}

// A loop over host functions that each do much work for the guest (random_get, fd_write,
// hmac_sha1 of 16 MiB) still ends near a 10 ms deadline: a call passes one checkpoint
// per iteration, so without the host functions looking at the deadline themselves
// (guest.spent) it ran 4096 of them, seconds to minutes of host CPU, before a look.
func TestDeadlineEndsALoopOfCostlyHostCalls(t *testing.T) {
	const size = 16 << 20
	const i32 = byte(wasmgen.I32)
	for _, c := range []struct {
		name   string
		kind   abi.Kind
		module string
		fn     string
		typ    wasmgen.FuncType
		setup  []byte // before the loop
		args   []byte
	}{
		{"random_get", abi.KindSend, abi.WASIModule, "random_get", wasmgen.FuncType{Params: []byte{i32, i32}, Results: []byte{i32}},
			nil, cat(wasmgen.I32Const(0), wasmgen.I32Const(size))},
		// fd_write(stdout, iovs at 0, 1 iovec, nwritten at 8); the iovec: 16 MiB from 64.
		{"fd_write", abi.KindSend, abi.WASIModule, "fd_write", wasmgen.FuncType{Params: []byte{i32, i32, i32, i32}, Results: []byte{i32}},
			cat(wasmgen.I32Const(0), wasmgen.I32Const(64), []byte{0x36, 0x02, 0x00}, wasmgen.I32Const(4), wasmgen.I32Const(size-64), []byte{0x36, 0x02, 0x00}),
			cat(wasmgen.I32Const(1), wasmgen.I32Const(0), wasmgen.I32Const(1), wasmgen.I32Const(8))},
		{"hmac_sha1", abi.KindRPC, abi.HostModule, abi.HostHMACSHA1, wasmgen.FuncType{Params: []byte{i32, i32, i32, i32, i32}, Results: []byte{i32}},
			nil, cat(wasmgen.I32Const(0), wasmgen.I32Const(16), wasmgen.I32Const(0), wasmgen.I32Const(size), wasmgen.I32Const(0))},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newRuntime(t)
			entry := cat(c.setup, []byte{0x03, 0x40}, c.args, []byte{0x10, 0x00, wasmgen.Drop, 0x0C, 0x00, 0x0B, wasmgen.Unreachable})
			m := wasmgen.Plugin{Version: 1, Kind: c.kind, Entry: entry, Imports: []wasmgen.Import{{Module: c.module, Name: c.fn}}}.Module()
			m.Types = append(slices.Clip(m.Types), c.typ)
			m.Imports[0].Type = uint32(len(m.Types) - 1)
			m.Memory = &wasmgen.Limits{Min: size / pageSize, Max: size / pageSize}
			p, err := r.Load(context.Background(), PluginConfig{Name: c.name, Kind: c.kind, Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond}, m.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			endsNearItsDeadline(t, 2*time.Second, func() error {
				if c.kind == abi.KindRPC {
					h, _ := NewRPCHook(p)
					return h.BeforeRequest("127.0.0.1:10911", &remoting.Command{Code: int32(remoting.SendMessage)})
				}
				h, _ := NewSendHook(p)
				return h.BeforeSend(context.Background(), sendEvents("", "x"))
			})
		})
	}
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// An allocation strategy's random source (guestRand around a fixed seed) gives the bytes
// wazero's default gives: gateways of this version and of versions before it, sharing a
// group, must compute the same assignment.
func TestDeterministicRandomSourceIsWazeros(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	m := &wasmgen.Module{
		Types:        []wasmgen.FuncType{{Params: []byte{wasmgen.I32, wasmgen.I32}, Results: []byte{wasmgen.I32}}, {}},
		Imports:      []wasmgen.Import{{Module: abi.WASIModule, Name: "random_get", Type: 0}},
		Funcs:        []wasmgen.Func{{Type: 1, Code: cat(wasmgen.I32Const(0), wasmgen.I32Const(64), []byte{0x10, 0x00, wasmgen.Drop})}},
		Memory:       &wasmgen.Limits{Min: 1, Max: 1},
		ExportMemory: true,
		Exports:      []wasmgen.Export{{Name: "fill", Index: 1}},
	}
	cm, err := r.CompileModule(ctx, m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{}
	g.stdout, g.stderr = stream{g: g}, stream{g: g}
	var got [2][]byte
	for i, cfg := range []wazero.ModuleConfig{wazero.NewModuleConfig(), moduleConfig(g, true)} {
		mod, err := r.InstantiateModule(ctx, cm, cfg.WithName(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // the stream goes on from call to call
			if _, err := mod.ExportedFunction("fill").Call(ctx); err != nil {
				t.Fatal(err)
			}
			b, _ := mod.Memory().Read(0, 64)
			got[i] = append(got[i], b...)
		}
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatalf("random_get of a deterministic instance:\n%x\nwazero's default:\n%x", got[1], got[0])
	}
}

// A loop over host calls that each do work under costlyWork, but much of it, still ends
// near a 10 ms deadline: the work adds up across calls (guest.spent), and the WASI
// functions count what their arguments ask for (wasi.go). Before, each call was one
// instruction to the checkpoints and looked at the deadline only past costlyWork: 200
// random_get of 65,535 bytes an iteration, fd_write of 4 million empty iovecs, and
// poll_oneoff of 400,000 subscriptions ran for minutes.
func TestDeadlineEndsALoopOfHostCallsUnderCostlyWork(t *testing.T) {
	const mem = 32 << 20
	const i32 = byte(wasmgen.I32)
	const iovs = 1 << 20 // iovecs and subscriptions from here, past the input buffer
	subs := int32((mem - iovs) / 80)
	for _, c := range []struct {
		name  string
		fn    string
		typ   wasmgen.FuncType
		args  []byte
		calls int // an iteration
	}{
		{"random_get", "random_get", wasmgen.FuncType{Params: []byte{i32, i32}, Results: []byte{i32}},
			cat(wasmgen.I32Const(iovs), wasmgen.I32Const(costlyWork-1)), 200},
		// fd_write(stdout, every iovec empty, nwritten at 0)
		{"fd_write", "fd_write", wasmgen.FuncType{Params: []byte{i32, i32, i32, i32}, Results: []byte{i32}},
			cat(wasmgen.I32Const(1), wasmgen.I32Const(iovs), wasmgen.I32Const((mem-iovs)/8), wasmgen.I32Const(0)), 1},
		// poll_oneoff: every subscription a clock's of 0 ns; refused past maxSubscriptions
		{"poll_oneoff", "poll_oneoff", wasmgen.FuncType{Params: []byte{i32, i32, i32, i32}, Results: []byte{i32}},
			cat(wasmgen.I32Const(iovs), wasmgen.I32Const(iovs+48*subs), wasmgen.I32Const(subs), wasmgen.I32Const(0)), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newRuntime(t)
			call := cat(c.args, []byte{0x10, 0x00, wasmgen.Drop})
			entry := cat([]byte{0x03, 0x40}, slices.Repeat(call, c.calls), []byte{0x0C, 0x00, 0x0B, wasmgen.Unreachable})
			m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: entry, Imports: []wasmgen.Import{{Module: abi.WASIModule, Name: c.fn}}}.Module()
			m.Types = append(slices.Clip(m.Types), c.typ)
			m.Imports[0].Type = uint32(len(m.Types) - 1)
			m.Memory = &wasmgen.Limits{Min: mem / pageSize, Max: mem / pageSize}
			p, err := r.Load(context.Background(), PluginConfig{Name: c.name, Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond}, m.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			h, _ := NewSendHook(p)
			for range 3 {
				endsNearItsDeadline(t, 500*time.Millisecond, func() error { return h.BeforeSend(context.Background(), sendEvents("", "x")) })
			}
		})
	}
}

// Deep recursions whose every frame ends with a long run of straight-line code (here 247
// square roots after the recursive call) unwind past a checkpoint a frame, so a call
// that repeats them ends near its deadline and lets the collector stop the world
// meanwhile: code after a call that may recurse runs at most tailRun instructions before
// a checkpoint (instrument.go). A return passes none: one recursion a million frames deep
// descended in some 60 ms, a checkpoint a frame, and unwound for 1.5 s more without one,
// every goroutine of a concurrent GC waiting as long. The stack limit now stops a
// recursion thousands of frames deep (TestHostileRecursionBomb); this one is 2,000 deep.
func TestDeadlineEndsADeepRecursionsUnwinding(t *testing.T) {
	r, _ := newRuntime(t)
	const depth, roots = 2000, 247
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Module()
	f := uint32(len(m.Funcs)) // (i32) -> i32: f(n) = n == 0 ? 0 : g(f(n-1)), g 247 square roots
	m.Funcs = append(m.Funcs, wasmgen.Func{Type: wasmgen.TypeI32ToI32, Code: cat(
		[]byte{0x20, 0x00, 0x45, 0x04, wasmgen.I32}, wasmgen.I32Const(0), // local.get 0, i32.eqz, if (result i32), 0
		[]byte{0x05, 0x20, 0x00}, wasmgen.I32Const(1), []byte{0x6B, 0x10}, leb128.AppendU32(nil, f), // else f(n-1)
		[]byte{0xB8}, slices.Repeat([]byte{0x9F}, roots), []byte{0xFC, 0x03, 0x0B})}) // f64.convert_i32_u, f64.sqrt..., i32.trunc_sat_f64_u, end
	for _, e := range m.Exports {
		if e.Name == abi.EntryBeforeSend.Export() { // loop: f(depth)
			m.Funcs[e.Index].Code = cat([]byte{0x03, 0x40}, wasmgen.I32Const(depth), []byte{0x10}, leb128.AppendU32(nil, f),
				[]byte{wasmgen.Drop, 0x0C, 0x00, 0x0B, wasmgen.Unreachable})
		}
	}
	const deadline = 200 * time.Millisecond
	p, err := r.Load(context.Background(), PluginConfig{Name: "recursion", Instances: 1, Policy: Fail, Deadline: deadline}, m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	// The best of three calls: a busy machine (CI's race runs beside other packages)
	// stretches one now and then to over 3x.
	best := time.Duration(math.MaxInt64)
	for range 3 {
		longestGC := collectGarbage()
		start := time.Now()
		err := h.BeforeSend(context.Background(), sendEvents("", "x"))
		d := time.Since(start)
		gc := longestGC()
		t.Logf("%v after %v; the longest GC from another goroutine took %v", err, d, gc)
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("the call = %v, want ErrDeadline", err)
		}
		best = min(best, max(d, gc))
	}
	if best > 3*deadline {
		t.Fatalf("a %v deadline ended the quickest of three calls (or a GC meanwhile) after %v", deadline, best)
	}
}
