package host

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
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
	start := time.Now()
	err = h.BeforeSend(context.Background(), sendEvents("", "x"))
	d := time.Since(start)
	t.Logf("BeforeSend = %v after %v", err, d)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("BeforeSend = %v, want ErrDeadline", err)
	}
	if d > 500*time.Millisecond {
		t.Fatalf("a 10 ms deadline ended the call after %v", d)
	}
}
