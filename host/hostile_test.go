package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/sdk/abi"
)

// The hostile suite: each test loads or calls a module that misbehaves in one way and
// checks what a user sees (the error, the policy's outcome, Status), that the gateway
// still serves (the next call works) and that nothing is lost (messages unchanged,
// verdicts Deliver, or the failure reported to the caller).

// refused loads wasm and requires a *LoadError matching reason and mentioning detail.
func refused(t *testing.T, r *Runtime, cfg PluginConfig, wasm []byte, reason error, detail string) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "hostile"
	}
	cfg.Instances = 1
	p, err := r.Load(context.Background(), cfg, wasm)
	if err == nil {
		p.Close(context.Background())
		t.Fatal("module loaded")
	}
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, reason) {
		t.Fatalf("error %v (%T), want a *LoadError for %v", err, err, reason)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q does not mention %q", err, detail)
	}
	t.Logf("user sees: %v", err)
}

// refusedAtOnce requires wasm refused as an invalid module, naming detail, within a
// second: a module that would cost the compiler or the instances dear is refused before
// it costs anything.
func refusedAtOnce(t *testing.T, r *Runtime, wasm []byte, detail string) {
	t.Helper()
	start := time.Now()
	refused(t, r, PluginConfig{}, wasm, ErrInvalidModule, detail)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %v", d)
	}
}

func TestHostileMissingExport(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Omit: abi.ExportKind}.Bytes(),
		ErrMissingExport, `no export "mqgate_kind"`)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Omit: "mqgate_allocate"}.Bytes(),
		ErrMissingExport, `kind allocate needs it: no export "mqgate_allocate"`)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Omit: "memory"}.Bytes(),
		ErrMissingExport, `no exported memory "memory"`)
}

func TestHostileMistypedExport(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		EntryType: wasmgen.TypeI32ToI32, Entry: wasmgen.I32Const(0)}.Bytes(),
		ErrMissingExport, `export "mqgate_allocate" has type (i32) -> (i32), want (i32) -> (i64)`)
}

func TestHostileWrongABIVersion(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 2, Kind: abi.KindAllocate}.Bytes(),
		ErrABIVersion, "mqgate_abi_version returned 2; this gateway speaks ABI version 1")
}

func TestHostileUnknownKind(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: 9}.Bytes(),
		ErrUnknownKind, "mqgate_kind returned 9, which is no plugin kind")
}

func TestHostileKindOtherThanTheSlots(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{Kind: KindSend}, plugintest.Build(t, "plugins/averagely"),
		ErrWrongKind, "module is a plugin of kind allocate, the slot takes kind send")
}

func TestHostileFilesystemImport(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Imports: []wasmgen.Import{{Module: abi.WASIModule, Name: "path_open"}}}.Bytes(),
		ErrForbiddenImport, "imports wasi_snapshot_preview1.path_open, which ABI v1 does not grant")
}

func TestHostileNetworkImport(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Imports: []wasmgen.Import{{Module: abi.WASIModule, Name: "fd_write"}, {Module: abi.WASIModule, Name: "sock_accept"}}}.Bytes(),
		ErrForbiddenImport, "wasi_snapshot_preview1.sock_accept")
}

func TestHostileForeignImports(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Imports: []wasmgen.Import{{Module: "env", Name: "abort"}}}.Bytes(),
		ErrForbiddenImport, `imports "abort" from module "env"`)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Imports: []wasmgen.Import{{Module: abi.HostModule, Name: "exec"}}}.Bytes(),
		ErrForbiddenImport, "mqgate.exec, which is not a host function")
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Imports: []wasmgen.Import{{Module: "env", Name: "memory", Kind: 2}}}.Bytes(),
		ErrForbiddenImport, "env.memory, a memory")
}

// mqgate.hmac_sha1 is granted to RPC hooks only: a send hook or strategy that imports it
// is refused, an RPC hook is not.
func TestHostileHMACOutsideAnRPCHook(t *testing.T) {
	r, _ := newRuntime(t)
	withHMAC := func(kind abi.Kind) []byte {
		m := wasmgen.Plugin{Version: 1, Kind: kind}.Module()
		i32 := byte(wasmgen.I32)
		m.Types = append(slices.Clone(m.Types), wasmgen.FuncType{Params: []byte{i32, i32, i32, i32, i32}, Results: []byte{i32}})
		m.Imports = []wasmgen.Import{{Module: abi.HostModule, Name: abi.HostHMACSHA1, Type: uint32(len(m.Types) - 1)}}
		for i := range m.Exports { // every function moves up by the import
			if m.Exports[i].Kind == 0 {
				m.Exports[i].Index++
			}
		}
		return m.Bytes()
	}
	for _, kind := range []abi.Kind{abi.KindSend, abi.KindConsume, abi.KindAllocate} {
		refused(t, r, PluginConfig{}, withHMAC(kind), ErrForbiddenImport,
			"imports mqgate.hmac_sha1, which ABI v1 grants to RPC hooks only, and is a plugin of kind "+kind.String())
	}
	p, err := r.Load(context.Background(), PluginConfig{Name: "rpc", Instances: 1}, withHMAC(abi.KindRPC))
	if err != nil {
		t.Fatalf("an RPC hook importing hmac_sha1 refused: %v", err)
	}
	p.Close(context.Background())
}

func TestHostileInvalidBytes(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, []byte("#!/bin/sh\nrm -rf /\n"), ErrInvalidModule, "not a WebAssembly module")
	good := wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate}.Bytes()
	refused(t, r, PluginConfig{}, good[:len(good)-3], ErrInvalidModule, "cannot decode the module")
	// Decodable, but not valid: an entry point that returns nothing where an i64 is due.
	bad := wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Entry: []byte{wasmgen.Drop}}.Bytes()
	refused(t, r, PluginConfig{}, bad, ErrInvalidModule, "invalid module")
	// An instruction of the threads proposal, which the host does not run.
	atomic := wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Entry: []byte{0xFE, 0x03, 0x00}}.Bytes()
	refused(t, r, PluginConfig{}, atomic, ErrInvalidModule, "unsupported instruction 0xFE")
}

func TestHostileModuleOverSizeLimit(t *testing.T) {
	r, _ := newRuntime(t, func(c *Config) { c.MaxModuleSize = 1 << 20 })
	big := wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate,
		Customs: []wasmgen.Custom{{Name: "padding", Data: make([]byte, 1<<20)}}}.Bytes()
	refused(t, r, PluginConfig{}, big, ErrModuleTooLarge, "over the limit of 1048576")
}

func TestHostileStartFunction(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{}, wasmgen.Plugin{Version: 1, Kind: abi.KindAllocate, Start: true}.Bytes(),
		ErrInvalidModule, "module has a start function")
}

func TestHostileMemoryTooLargeAtStart(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{MemoryLimit: 1 << 20}, plugintest.Build(t, "plugins/averagely"),
		ErrInvalidModule, "pages of memory at start, over its limit of 16")
}

func TestHostileInitNeverEnds(t *testing.T) {
	r, _ := newRuntime(t)
	wasm := plugintest.Build(t, "host/testdata/hostile/slowinit")
	cfg := PluginConfig{InitDeadline: 200 * time.Millisecond}
	refused(t, r, cfg, wasm, ErrInitFailed, "_initialize: deadline exceeded")
	start := time.Now() // compiled now: what is left is the deadline
	refused(t, r, cfg, wasm, ErrInitFailed, "_initialize: deadline exceeded")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusing took %v", d)
	}
}

func TestHostileBadConfiguration(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{Config: []byte(`{"accessKey":"RocketMQ"}`)}, plugintest.Build(t, "plugins/acl"),
		ErrInitFailed, "config: accessKey and secretKey are required")
}

// behaviors loads the hostile send hook with the policy.
func behaviors(t *testing.T, r *Runtime, cfg PluginConfig) (*Plugin, *SendHook) {
	t.Helper()
	cfg.Kind = KindSend
	p := load(t, r, cfg, "host/testdata/hostile/behaviors")
	h, err := NewSendHook(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, h
}

// misbehave sends one message with the body under policy Skip and then Fail, and checks
// the failure: Skip sends the message unchanged, Fail reports a *CallError of the kind.
// Then it checks the slot still serves.
func misbehave(t *testing.T, cfg PluginConfig, body string, want Failure, detail string) {
	t.Helper()
	r, _ := newRuntime(t)
	for _, policy := range []Policy{Skip, Fail} {
		cfg.Policy = policy
		cfg.Name = "behaviors-" + policy.String()
		p, h := behaviors(t, r, cfg)
		evs := sendEvents("TagA", body)
		before := evs[0].Message.Clone()
		start := time.Now()
		err := h.BeforeSend(context.Background(), evs)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the failed call took %v", d)
		}
		switch policy {
		case Skip:
			if err != nil {
				t.Fatalf("policy skip: BeforeSend = %v", err)
			}
		case Fail:
			var ce *CallError
			if !errors.As(err, &ce) || ce.Failure != want || !errors.Is(err, failureErrs[want]) {
				t.Fatalf("policy fail: BeforeSend = %v, want a %v *CallError", err, want)
			}
			if !strings.Contains(err.Error(), detail) {
				t.Fatalf("error %q does not mention %q", err, detail)
			}
			t.Logf("user sees: %v", err)
		}
		if m := evs[0].Message; string(m.Body) != string(before.Body) || m.Properties.Encode() != before.Properties.Encode() || evs[0].Reject != "" {
			t.Fatalf("the message changed: %+v, reject %q", m, evs[0].Reject)
		}
		st := p.Status()
		if st.Failures != 1 || !strings.Contains(st.LastError, want.String()) {
			t.Fatalf("status after the failure: %+v", st)
		}
		serving(t, p, h)
	}
}

// serving checks the slot answers a well-behaved call, with its instances back to their
// number.
func serving(t *testing.T, p *Plugin, h *SendHook) {
	t.Helper()
	evs := sendEvents("TagA", "tag")
	if err := h.BeforeSend(context.Background(), evs); err != nil {
		t.Fatalf("the next call failed: %v", err)
	}
	if got := evs[0].Message.Properties.Get("seen"); got != "TagA" {
		t.Fatalf("the next call did not run: seen=%q", got)
	}
	waitFor(t, 10*time.Second, "the pool to be whole again", func() bool {
		s := p.Status()
		return s.Instances >= 1 && s.Idle == s.Instances
	})
}

func TestHostileInfiniteLoop(t *testing.T) {
	misbehave(t, PluginConfig{Deadline: 20 * time.Millisecond}, "loop", FailDeadline, "deadline exceeded: interrupted after about")
}

func TestHostileMemoryBomb(t *testing.T) {
	misbehave(t, PluginConfig{MemoryLimit: 16 << 20, Deadline: time.Second}, "bomb", FailMemory, "more than its 16 MiB of memory")
}

// A plugin that allocates on every call must not run out of memory. The Go runtime of a
// module runs only inside calls, and its collector's goroutines only when the sdk yields
// to them; without that, this runs out of 8 MiB within a few thousand calls.
func TestGarbageIsCollectedAcrossCalls(t *testing.T) {
	r, _ := newRuntime(t)
	// Collections run within calls: give them time.
	p, h := behaviors(t, r, PluginConfig{Policy: Fail, MemoryLimit: 8 << 20, Deadline: 2 * time.Second})
	for i := range 10000 { // 10 million small objects
		if err := h.BeforeSend(context.Background(), sendEvents("", "garbage")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if st := p.Status(); st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
	// The same in the allocation sandbox, whose clock is a fake.
	a := load(t, r, PluginConfig{Name: "garbage", Kind: KindAllocate, Policy: Fail, MemoryLimit: 8 << 20, Deadline: 2 * time.Second,
		Config: []byte("garbage")},
		"host/testdata/hostile/badalloc")
	s, _ := NewAllocateStrategy(a, nil)
	clients, qs := clientIDs(2), queues(4)
	for i := range 10000 {
		if _, err := s.Allocate("g", clients[0], clients, qs); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
}

func TestHostileNilDereference(t *testing.T) {
	// The sdk recovers the panic: the call fails, the instance lives on.
	misbehave(t, PluginConfig{}, "nil", FailError, "plugin panicked: runtime error: invalid memory address or nil pointer dereference")
}

func TestHostileUnrecoveredPanic(t *testing.T) {
	// A panic in a goroutine kills Go's runtime: the instance is replaced.
	misbehave(t, PluginConfig{Deadline: time.Second}, "goexit", FailTrap, "stderr: panic: runtime error: invalid memory address or nil pointer dereference; [signal")
}

func TestHostileExit(t *testing.T) {
	misbehave(t, PluginConfig{}, "exit", FailTrap, "module exited with code 3")
}

func TestHostileErrorAnswer(t *testing.T) {
	misbehave(t, PluginConfig{}, "error", FailError, "refused by the behaviors plugin")
}

func TestHostileHugeOutput(t *testing.T) {
	misbehave(t, PluginConfig{MemoryLimit: 128 << 20, Deadline: 2 * time.Second}, "huge", FailBadResult, "exceeds the limit of 16777216")
}

func TestHostileResultOutsideMemory(t *testing.T) {
	r, _ := newRuntime(t)
	p, err := r.Load(context.Background(), PluginConfig{Name: "raw", Instances: 1, Policy: Fail},
		wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: wasmgen.Result(0xFFFF0000, 0x10000)}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	err = h.BeforeSend(context.Background(), sendEvents("", "x"))
	if !errors.Is(err, ErrBadResult) || !strings.Contains(err.Error(), "is outside the module's 65536 bytes of memory") {
		t.Fatalf("BeforeSend = %v", err)
	}
	t.Logf("user sees: %v", err)
}

func TestHostileUnreachable(t *testing.T) {
	r, _ := newRuntime(t)
	p, err := r.Load(context.Background(), PluginConfig{Name: "raw", Instances: 1, Policy: Fail},
		wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: []byte{wasmgen.Unreachable}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	err = h.BeforeSend(context.Background(), sendEvents("", "x"))
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("BeforeSend = %v", err)
	}
	t.Logf("user sees: %v", err)
	waitFor(t, 5*time.Second, "a replacement instance", func() bool { return p.Status().Idle == 1 })
}

func TestHostileLoopInAModuleNotBuiltWithGo(t *testing.T) {
	r, _ := newRuntime(t)
	p, err := r.Load(context.Background(), PluginConfig{Name: "raw", Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond},
		wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: wasmgen.InfiniteLoop}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	if err := h.BeforeSend(context.Background(), sendEvents("", "x")); !errors.Is(err, ErrDeadline) {
		t.Fatalf("BeforeSend = %v", err)
	}
}

func TestHostileConsumeHookTrapLosesNothing(t *testing.T) {
	r, _ := newRuntime(t)
	for _, policy := range []Policy{Skip, Fail} {
		p, err := r.Load(context.Background(), PluginConfig{Name: "raw-" + policy.String(), Instances: 1, Policy: policy},
			wasmgen.Plugin{Version: 1, Kind: abi.KindConsume, Entry: []byte{wasmgen.Unreachable}}.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		h, _ := NewConsumeHook(p)
		msgs := []*message.Ext{{Message: message.Message{Topic: "T", Body: []byte("b")}}}
		verdicts := []instance.ConsumeVerdict{instance.Deliver}
		err = h.BeforeConsume(context.Background(), &instance.ConsumeContext{ConsumerGroup: "g"}, msgs, verdicts)
		if policy == Fail && !errors.Is(err, ErrTrap) || policy == Skip && err != nil {
			t.Fatalf("policy %v: BeforeConsume = %v", policy, err)
		}
		if verdicts[0] != instance.Deliver || string(msgs[0].Body) != "b" {
			t.Fatalf("policy %v: verdict %v, body %q", policy, verdicts[0], msgs[0].Body)
		}
	}
}

func TestHostileLogFlood(t *testing.T) {
	r, logs := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Deadline: 2 * time.Second})
	if err := h.BeforeSend(context.Background(), sendEvents("", "flood")); err != nil {
		t.Fatal(err)
	}
	lines := logs.count("flood line")
	if lines == 0 || lines > defaultLogLimit/len("flood line 0") {
		t.Fatalf("%d lines of the flood logged", lines)
	}
	if strings.Contains(logs.String(), strings.Repeat("x", 100)) {
		t.Fatal("a 1 MiB stdout line was logged")
	}
	if s := p.Status(); s.DroppedLogBytes < 1<<20 {
		t.Fatalf("dropped %d bytes of log", s.DroppedLogBytes)
	}
	serving(t, p, h)
}

func TestHostileBadPropertyName(t *testing.T) {
	misbehave(t, PluginConfig{}, "badprop", FailBadResult, `property "bad\x01name": names and values cannot hold 0x01 or 0x02`)
}

// A hook setting a system property (TRAN_MSG: the send would be a transaction's half
// that nothing commits, and the message lost) fails its call; the message goes as it was
// under skip, and not at all under fail.
func TestHostileSystemProperty(t *testing.T) {
	misbehave(t, PluginConfig{}, "halfmsg", FailBadResult, `property "TRAN_MSG" is the system's`)
}

// The enricher configured with a system property refuses it at load, naming it, rather
// than failing at every message.
func TestEnricherRefusesASystemPropertyAtLoad(t *testing.T) {
	r, _ := newRuntime(t)
	refused(t, r, PluginConfig{Kind: KindSend, Config: []byte(`{"properties": {"TRAN_MSG": "true"}}`)},
		plugintest.Build(t, "plugins/enricher"), ErrInitFailed, "property TRAN_MSG: a system property")
}

// badAlloc loads the hostile strategy answering as mode says, with the policy.
func badAlloc(t *testing.T, r *Runtime, mode string, policy Policy) *AllocateStrategy {
	t.Helper()
	p := load(t, r, PluginConfig{Name: "badalloc-" + mode + "-" + policy.String(), Kind: KindAllocate, Policy: policy, Config: []byte(mode)},
		"host/testdata/hostile/badalloc")
	s, err := NewAllocateStrategy(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testBadIndices(t *testing.T, mode, detail string) {
	r, _ := newRuntime(t)
	clients, qs := clientIDs(3), queues(8)
	// Fallback: the built-in strategy answers.
	got, err := badAlloc(t, r, mode, Fallback).Allocate("g", clients[1], clients, qs)
	if want := []int{3, 4, 5}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("fallback answered %v, %v; want averagely's %v", got, err, want)
	}
	// Fail: the rebalance fails, and keeps the queues it has.
	_, err = badAlloc(t, r, mode, Fail).Allocate("g", clients[1], clients, qs)
	if !errors.Is(err, ErrBadResult) || !strings.Contains(err.Error(), detail) {
		t.Fatalf("fail policy: %v, want a bad result mentioning %q", err, detail)
	}
	t.Logf("user sees: %v", err)
}

func TestHostileQueueIndexOutOfRange(t *testing.T) {
	testBadIndices(t, "range", "queue index 8 out of range: 8 queues")
}

func TestHostileNegativeQueueIndex(t *testing.T) {
	testBadIndices(t, "negative", "queue index -1 out of range")
}

func TestHostileDuplicateQueueIndex(t *testing.T) {
	testBadIndices(t, "dup", "queue index 0 given twice")
}

func TestHostileMoreIndicesThanQueues(t *testing.T) {
	testBadIndices(t, "toomany", "9 indices for 8 queues")
}

// answerAt is where rawAnswer's modules keep their answer: past the inputs of the tests,
// which the host writes from 1 KiB on.
const answerAt = 6 << 20

// rawAnswer returns a module of kind k, of at least 8 MiB of memory, whose entry points
// answer out (status byte included), which a data segment places at answerAt.
func rawAnswer(k abi.Kind, out []byte) []byte {
	pages := max(uint32((answerAt+len(out))/pageSize+1), 128)
	m := wasmgen.Plugin{Version: 1, Kind: k, Entry: wasmgen.Result(answerAt, uint32(len(out)))}.Module()
	m.Memory = &wasmgen.Limits{Min: pages, Max: pages}
	m.Data = []wasmgen.Segment{{Offset: answerAt, Bytes: out}}
	return m.Bytes()
}

// An answer of edits of distinct properties of one message would cost the host time
// growing with their square, after the deadline (40000 took seconds): it is refused as
// soon as it passes the bound.
func TestHostileEditFloodIsRefusedQuickly(t *testing.T) {
	r, _ := newRuntime(t)
	const n = 40000
	sets := append([]byte{abi.StatusOK}, editAnswer(manySets(0, n)...)...)
	fields := abi.AppendU32([]byte{abi.StatusOK}, n)
	for k := range n {
		fields = abi.AppendStr(abi.AppendStr(fields, fmt.Sprintf("f%06d", k)), "v")
	}
	for _, k := range []abi.Kind{abi.KindSend, abi.KindRPC} {
		out := sets
		if k == abi.KindRPC {
			out = fields
		}
		p, err := r.Load(context.Background(), PluginConfig{Name: "flood-" + k.String(), Instances: 1, Policy: Fail, MemoryLimit: 64 << 20}, rawAnswer(k, out))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if k == abi.KindSend {
			h, _ := NewSendHook(p)
			evs := sendEvents("", "x")
			err = h.BeforeSend(context.Background(), evs)
			if evs[0].Message.Properties.Get("p000000") != "" {
				t.Fatal("a refused answer set a property")
			}
		} else {
			h, _ := NewRPCHook(p)
			req := &remoting.Command{Code: 10}
			err = h.BeforeRequest("127.0.0.1:10911", req)
			if len(req.Ext) != 0 {
				t.Fatalf("a refused answer set %d extFields", len(req.Ext))
			}
		}
		if d := time.Since(start); !errors.Is(err, ErrBadResult) || d > time.Second {
			t.Fatalf("%v: %d edits of one message: %v after %v", k, n, err, d)
		}
		t.Logf("user sees: %v", err)
	}
}

// An RPC hook may add extFields and replace those in Ext, not set a field of the request's
// typed header: set again after the header's, it wins at the broker, and would move a send
// to another topic, or rewrite its properties past the send hooks' rules.
func TestHostileRPCHookRewritingTheHeader(t *testing.T) {
	r, _ := newRuntime(t)
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"a field of its own", "x-signature", true},
		{"an Ext field", "x-trace", true},
		{"the header's topic", "topic", false},
	} {
		answer := abi.AppendStr(abi.AppendStr(abi.AppendU32([]byte{abi.StatusOK}, 1), tc.key), "evil")
		p, err := r.Load(context.Background(), PluginConfig{Name: "rewrite-" + tc.key, Kind: KindRPC, Instances: 1, Policy: Fail}, rawAnswer(abi.KindRPC, answer))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := NewRPCHook(p)
		req := remoting.NewRequest(remoting.GetRouteInfoByTopic, &remoting.RouteInfoRequest{Topic: "Orders"})
		req.Ext.Set("x-trace", "t1")
		err = h.BeforeRequest("127.0.0.1:9876", req)
		switch {
		case tc.ok && (err != nil || req.Ext.Get(tc.key) != "evil"):
			t.Errorf("%s: %v, extFields %v", tc.name, err, req.Ext)
		case !tc.ok && (!errors.Is(err, ErrBadResult) || !strings.Contains(err.Error(), `extFields key "topic" is the request header's`)):
			t.Errorf("%s: %v, want a bad result naming the key", tc.name, err)
		case !tc.ok && (len(req.Ext) != 1 || req.Ext.Get("topic") != ""):
			t.Errorf("%s: a refused answer changed the request: %v", tc.name, req.Ext)
		}
		p.Close(context.Background())
	}
}

// A module that got over a refused memory.grow (it checks for -1, as it should) and later
// traps for another reason is told the trap, not that it asked for too much memory.
func TestRefusedGrowthOvercomeIsNotBlamedForALaterTrap(t *testing.T) {
	r, _ := newRuntime(t)
	// First call: flag the global, grow by 10,000 pages (refused: past 32 MiB), answer OK.
	// Later calls: unreachable.
	entry := []byte{0x23, 0x00, 0x45, 0x04, 0x40} // global.get 0, i32.eqz, if
	entry = append(append(entry, wasmgen.I32Const(1)...), 0x24, 0x00)
	entry = append(append(entry, wasmgen.I32Const(10000)...), 0x40, 0x00, wasmgen.Drop)
	entry = append(append(entry, wasmgen.Result(16, 5)...), 0x0F, 0x0B, wasmgen.Unreachable)
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: entry}.Module()
	m.Memory = &wasmgen.Limits{Min: 1, Max: 65536}
	m.Globals = [][]byte{append([]byte{wasmgen.I32, 0x01}, append(wasmgen.I32Const(0), 0x0B)...)}
	p, err := r.Load(context.Background(), PluginConfig{Name: "grows", Instances: 1, Policy: Fail}, m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	if err := h.BeforeSend(context.Background(), sendEvents("", "x")); err != nil {
		t.Fatalf("the call that got over a refused growth: %v", err)
	}
	err = h.BeforeSend(context.Background(), sendEvents("", "x"))
	if !errors.Is(err, ErrTrap) || errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("the trap after it: %v, want ErrTrap", err)
	}
}

// withTables returns wasm with its table section replaced by tables of the limits given
// (a nil Max: none), funcref.
func withTables(wasm []byte, tables ...wasmgen.Limits) []byte {
	body := leb128.AppendU32(nil, uint32(len(tables)))
	for _, l := range tables {
		body = append(body, 0x70, 0x01)
		if l.Max == 0 {
			body[len(body)-1] = 0x00
		}
		body = leb128.AppendU32(body, l.Min)
		if l.Max != 0 {
			body = leb128.AppendU32(body, l.Max)
		}
	}
	return withSection(wasm, secTable, body)
}

// withSection returns wasm with its section id replaced by one of that body, or the
// section added in its place.
func withSection(wasm []byte, sec byte, body []byte) []byte {
	out := append([]byte(nil), wasm[:8]...)
	r := reader{b: wasm, off: 8}
	done := false
	for r.off < len(r.b) {
		start := r.off
		id := r.byte()
		r.bytes(int(r.u32()))
		if rank, ok := sectionRank[id]; !done && id != secCustom && ok && rank >= sectionRank[sec] {
			out = append(leb128.AppendU32(append(out, sec), uint32(len(body))), body...)
			done = true
			if id == sec {
				continue
			}
		}
		out = append(out, wasm[start:r.off]...)
	}
	if !done {
		out = append(leb128.AppendU32(append(out, sec), uint32(len(body))), body...)
	}
	return out
}

// A table is Go memory outside the instance's memory limit: a module's tables hold at
// most maxTableElements references. A table declared without a maximum grew by 2^28
// references (2 GiB, a second of a 10 ms call, the collector waiting) in one table.grow,
// and the instruction allowed 2^31, enough to bring the gateway down; a module could
// declare any number of tables of 2^27 references each.
func TestHostileTablesBounded(t *testing.T) {
	r, _ := newRuntime(t)
	// grow table 0 by 2^28; trap unless refused (-1)
	entry := cat([]byte{0xD0, 0x70}, wasmgen.I32Const(1<<28), []byte{0xFC, 0x0F, 0x00}, wasmgen.I32Const(-1),
		[]byte{0x47, 0x04, 0x40, wasmgen.Unreachable, 0x0B}, wasmgen.Result(16, 5))
	wasm := withTables(wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: entry}.Bytes(), wasmgen.Limits{Min: 0})
	p, err := r.Load(context.Background(), PluginConfig{Name: "grow", Instances: 1, Policy: Fail, Deadline: 10 * time.Millisecond}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	for range 3 {
		start := time.Now()
		if err := h.BeforeSend(context.Background(), sendEvents("", "x")); err != nil {
			t.Fatalf("table.grow by 2^28 was not refused: %v after %v", err, time.Since(start))
		}
	}
	plugin := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes()
	refused(t, r, PluginConfig{}, withTables(plugin, wasmgen.Limits{Min: 1 << 27}), ErrInvalidModule,
		"table 0: 134217728 elements at start: tables may hold 1048576 in all")
	refused(t, r, PluginConfig{}, withTables(plugin, wasmgen.Limits{Min: 1 << 19, Max: 1 << 19}, wasmgen.Limits{Min: 1 << 19, Max: 1 << 19}, wasmgen.Limits{Min: 1}), ErrInvalidModule,
		"table 2: 1 elements at start")
}

// A module whose functions have too many basic blocks for wazero to compile in seconds
// is refused at once: the compiler's time grows with their square. One function of
// 20,000 blocks in a row, each with a conditional branch (a 140 KB module), took about
// five seconds to compile, and some 200 KiB of loops a minute; a 32 MiB module, days.
func TestHostileControlFlowTooLargeToCompile(t *testing.T) {
	r, _ := newRuntime(t, func(c *Config) { c.CacheDir = "off" })
	unit := []byte{0x02, 0x40, 0x20, 0x00, 0x0D, 0x00, 0x0B} // block, local.get 0, br_if 0, end
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Module()
	m.Funcs = append(m.Funcs, wasmgen.Func{Type: 2, Code: cat(slices.Repeat(unit, 20000), wasmgen.Result(16, 5))})
	refusedAtOnce(t, r, m.Bytes(), "function 6 (of the code section) has 40157 basic blocks")
}

// A br_table is as many basic blocks to wazero's compiler as it has targets (a
// trampoline each), and its time grows with their square (each is added to the
// predecessors of its target after a scan of those before): one br_table of 2^17 targets
// (a 128 KiB module) took three seconds to compile, one of 2^20 two and a half minutes.
// Such a module is refused at once, its targets counted among the basic blocks (maxFlow).
func TestHostileBrTableTooLargeToCompile(t *testing.T) {
	r, _ := newRuntime(t, func(c *Config) { c.CacheDir = "off" })
	const targets = 1 << 17
	code := cat([]byte{0x02, 0x40, 0x20, 0x00, 0x0E}, leb128.AppendU32(nil, targets), make([]byte, targets+1), []byte{0x0B}, wasmgen.Result(16, 5))
	wasm := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Entry: code}.Bytes() // block, local.get 0, br_table 0 0 ... 0, end
	refusedAtOnce(t, r, wasm, "basic blocks")
}

// A module that declares more locals than the host compiles (maxLocals) is refused at
// once: a local costs a few bytes to declare and wazero's compiler some 20 ns and 8 bytes.
// A 1 KB module of 100 functions of a million locals each took 0.7 s and 900 MB to
// load; one of 8 KB and 1,000 such functions, 20 s and 7.6 GB; the size limit allowed
// thousands of times that.
func TestHostileTooManyLocals(t *testing.T) {
	r, _ := newRuntime(t, func(c *Config) { c.CacheDir = "off" })
	m := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Module()
	for range 100 {
		m.Funcs = append(m.Funcs, wasmgen.Func{Type: 3, Locals: []byte{wasmgen.I64}, LocalCount: 1 << 20})
	}
	refusedAtOnce(t, r, m.Bytes(), "has 1048576 locals")
}

// A module is refused at once when it declares more of a kind than the host allows
// (maxTypes and the others): wazero spends Go memory on each, outside the instance's
// memory limit, when it compiles the module and, for most kinds, in every instance
// again, and each costs the module a few bytes. Of 2 MiB modules: 700,000 empty tables
// took 77 MB and 57 ms an instance; 2 million entries of a passive element segment 163 MB
// at load and 82 MB and 150 ms an instance; a million empty data segments 80 MB and 24
// MB an instance; 420,000 globals 36 MB an instance; 700,000 types 1.2 s and 725 MB of
// allocations to load; 500,000 empty functions 1.5 s and 125 MB. The size limit allows
// sixteen times each, and a slot keeps up to 4 × GOMAXPROCS instances.
func TestHostileDeclarationsBounded(t *testing.T) {
	r, _ := newRuntime(t, func(c *Config) { c.CacheDir = "off" })
	plugin := func() *wasmgen.Module { return wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Module() }
	vec := func(n int, item ...byte) []byte {
		return append(leb128.AppendU32(nil, uint32(n)), bytes.Repeat(item, n)...)
	}
	for _, c := range []struct {
		name   string
		wasm   func() []byte
		detail string
	}{
		{"types", func() []byte {
			m := plugin()
			m.Types = append(slices.Clip(m.Types), make([]wasmgen.FuncType, 1<<16+1-len(m.Types))...)
			return m.Bytes()
		}, "65537 types"},
		{"functions", func() []byte {
			m := plugin()
			m.Funcs = append(m.Funcs, slices.Repeat([]wasmgen.Func{{Type: 3}}, 1<<18+1-len(m.Funcs))...) // () -> ()
			return m.Bytes()
		}, "262145 functions"},
		{"imports", func() []byte {
			p := wasmgen.Plugin{Version: 1, Kind: abi.KindSend, Imports: slices.Repeat([]wasmgen.Import{{Module: abi.HostModule, Name: abi.HostLog}}, 1<<10+1)}
			m := p.Module()
			m.Types = append(slices.Clip(m.Types), wasmgen.FuncType{Params: []byte{wasmgen.I32, wasmgen.I32, wasmgen.I32}})
			for i := range m.Imports {
				m.Imports[i].Type = uint32(len(m.Types) - 1)
			}
			return m.Bytes()
		}, "1025 imports"},
		{"tables", func() []byte { return withSection(plugin().Bytes(), secTable, vec(1<<10+1, 0x70, 0x00, 0x00)) }, "1025 tables"},
		{"globals", func() []byte {
			m := plugin()
			m.Globals = slices.Repeat([][]byte{cat([]byte{wasmgen.I32, 0x00}, wasmgen.I32Const(0), []byte{0x0B})}, 1<<14+1)
			return m.Bytes()
		}, "16385 globals"},
		{"exports", func() []byte {
			m := plugin()
			for i := len(m.Exports) + 1; i <= 1<<14; i++ { // the memory's export first
				m.Exports = append(m.Exports, wasmgen.Export{Name: strconv.Itoa(i), Index: 0})
			}
			return m.Bytes()
		}, "16385 exports"},
		{"element segments", func() []byte { // active, table 0 at 0, no function
			m := plugin()
			m.Table = 1
			return withSection(m.Bytes(), secElement, vec(1<<17+1, 0x00, 0x41, 0x00, 0x0B, 0x00))
		}, "131073 element segments and entries"},
		{"element entries", func() []byte { // one passive segment of 2^17 references to function 0
			return withSection(plugin().Bytes(), secElement, cat([]byte{0x01, 0x01, 0x00}, vec(1<<17, 0x00)))
		}, "131073 element segments and entries"},
		{"data segments", func() []byte { return withSection(plugin().Bytes(), secData, vec(1<<19+1, 0x01, 0x00)) }, "524289 data segments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wasm := c.wasm()
			refusedAtOnce(t, r, wasm, "module declares "+c.detail)
		})
	}
}
