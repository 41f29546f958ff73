package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
)

func enricherConfig(version int) []byte {
	return fmt.Appendf(nil, `{"properties": {"x-version": "%d"}, "overwrite": true}`, version)
}

// TestHotSwapUnderLoad swaps versions while goroutines send through the hook: no call
// fails, and every message carries the header of one of the versions.
func TestHotSwapUnderLoad(t *testing.T) {
	r, _ := newRuntime(t)
	wasm := plugintest.Build(t, "plugins/enricher")
	p, err := r.Load(context.Background(), PluginConfig{Name: "enricher", Kind: KindSend, Policy: Fail, Instances: 2, Config: enricherConfig(1)}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	const swaps = 8
	var (
		stop  atomic.Bool
		calls atomic.Int64
		wg    sync.WaitGroup
		errs  = make(chan error, 4)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				evs := sendEvents("TagA", "a", "b")
				if err := h.BeforeSend(context.Background(), evs); err != nil {
					errs <- err
					return
				}
				for _, ev := range evs {
					v, err := strconv.Atoi(ev.Message.Properties.Get("x-version"))
					if err != nil || v < 1 || v > swaps+1 {
						errs <- fmt.Errorf("x-version %q", ev.Message.Properties.Get("x-version"))
						return
					}
				}
				calls.Add(1)
			}
		}()
	}
	for v := 2; v <= swaps+1; v++ {
		waitFor(t, 10*time.Second, "calls between swaps", func() bool { return calls.Load() >= int64(v*20) || len(errs) > 0 })
		if err := p.Swap(context.Background(), wasm, enricherConfig(v)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "calls on the last version", func() bool { return calls.Load() >= int64((swaps+2)*20) || len(errs) > 0 })
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a call failed during the swaps: %v", err)
	}
	st := p.Status()
	if st.Version != swaps+1 || st.Previous != swaps || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}
	evs := sendEvents("", "x")
	h.BeforeSend(context.Background(), evs)
	if got := evs[0].Message.Properties.Get("x-version"); got != strconv.Itoa(swaps+1) {
		t.Fatalf("after the swaps x-version=%s", got)
	}
	t.Logf("%d calls across %d swaps", calls.Load(), swaps)
}

func TestRollback(t *testing.T) {
	r, _ := newRuntime(t)
	wasm := plugintest.Build(t, "plugins/enricher")
	p, err := r.Load(context.Background(), PluginConfig{Name: "enricher", Kind: KindSend, Instances: 1, Config: enricherConfig(1)}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	version := func() string {
		evs := sendEvents("", "x")
		if err := h.BeforeSend(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		return evs[0].Message.Properties.Get("x-version")
	}
	if err := p.Rollback(context.Background()); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("Rollback with no previous version: %v", err)
	}
	if err := p.Swap(context.Background(), wasm, enricherConfig(2)); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != "2" {
		t.Fatalf("after Swap: %s", v)
	}
	if err := p.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, st := version(), p.Status(); v != "1" || st.Version != 1 || st.Previous != 2 {
		t.Fatalf("after Rollback: %s, %+v", v, st)
	}
	if err := p.Rollback(context.Background()); err != nil { // and forward again
		t.Fatal(err)
	}
	if v := version(); v != "2" {
		t.Fatalf("after the second Rollback: %s", v)
	}
	// A refused module leaves the slot as it was.
	if err := p.Swap(context.Background(), []byte("garbage"), nil); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Swap of garbage: %v", err)
	}
	if err := p.Swap(context.Background(), plugintest.Build(t, "plugins/averagely"), nil); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("Swap to another kind: %v", err)
	}
	if v, st := version(), p.Status(); v != "2" || st.Version != 2 {
		t.Fatalf("after refused swaps: %s, %+v", v, st)
	}
}

// A call in flight on a version finishes on it, even when that version is swapped out
// and retired meanwhile.
func TestSwapLetsCallsInFlightFinish(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Policy: Fail, Deadline: 5 * time.Second})
	wasm := plugintest.Build(t, "host/testdata/hostile/behaviors")
	done := make(chan error)
	go func() {
		evs := sendEvents("", "spin:300")
		done <- h.BeforeSend(context.Background(), evs)
	}()
	waitFor(t, 5*time.Second, "the call to start", func() bool { return p.Status().Idle == 0 })
	for range 2 { // the second swap retires the version the call runs on
		if err := p.Swap(context.Background(), wasm, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the call in flight failed: %v", err)
	}
}

func TestQuarantine(t *testing.T) {
	r, logs := newRuntime(t)
	for _, policy := range []Policy{Skip, Fail} {
		t.Run(policy.String(), func(t *testing.T) {
			p, h := behaviors(t, r, PluginConfig{Name: "q-" + policy.String(), Policy: policy, QuarantineAfter: 3})
			for range 3 {
				h.BeforeSend(context.Background(), sendEvents("", "error"))
			}
			st := p.Status()
			if !st.Quarantined || st.ConsecutiveFailures != 3 || st.Failures != 3 {
				t.Fatalf("after 3 failures: %+v", st)
			}
			if logs.count(`msg="plugin quarantined" plugin=q-`+policy.String()) != 1 {
				t.Fatalf("quarantine not logged once:\n%s", logs)
			}
			// Quarantined: the module is not called, the policy answers.
			evs := sendEvents("TagA", "tag")
			err := h.BeforeSend(context.Background(), evs)
			if policy == Fail && !errors.Is(err, ErrQuarantined) || policy == Skip && err != nil {
				t.Fatalf("quarantined call: %v", err)
			}
			if evs[0].Message.Properties.Get("seen") != "" || p.Status().Skipped != 1 || p.Status().Calls != 3 {
				t.Fatalf("a quarantined plugin was called: %+v", p.Status())
			}
			p.Resume()
			evs = sendEvents("TagA", "tag")
			if err := h.BeforeSend(context.Background(), evs); err != nil || evs[0].Message.Properties.Get("seen") != "TagA" {
				t.Fatalf("after Resume: %v", err)
			}
			if st := p.Status(); st.Quarantined || st.ConsecutiveFailures != 0 {
				t.Fatalf("after Resume: %+v", st)
			}
		})
	}
}

// Successes in between reset the count: only consecutive failures quarantine.
func TestQuarantineNeedsConsecutiveFailures(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{QuarantineAfter: 2})
	for range 5 {
		h.BeforeSend(context.Background(), sendEvents("", "error"))
		h.BeforeSend(context.Background(), sendEvents("", "ok"))
	}
	if st := p.Status(); st.Quarantined || st.Failures != 5 {
		t.Fatalf("%+v", st)
	}
}

// Calls still in flight on a version swapped out count for that version only: their
// failures do not quarantine the new version, and their successes do not clear its count.
func TestFailuresOfASwappedOutVersionDoNotQuarantineTheNew(t *testing.T) {
	r, _ := newRuntime(t)
	wasm := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes()
	p, err := r.Load(context.Background(), PluginConfig{Name: "q", Instances: 4, MaxInstances: 4, QuarantineAfter: 3}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var old [4]call // calls of version 1, in flight across the swap
	for i := range old {
		if err := p.begin(&old[i], abi.EntryBeforeSend); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // the runtime's Close waits for every call to end
			if old[i].g != nil {
				old[i].end()
			}
		})
	}
	if err := p.Swap(context.Background(), wasm, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		old[i].fail(failure{kind: FailError, detail: "v1 failed"})
		old[i].g = nil
	}
	if st := p.Status(); st.Quarantined || st.ConsecutiveFailures != 0 {
		t.Fatalf("3 failures of version 1 after the swap: version %d quarantined %v, %d consecutive failures", st.Version, st.Quarantined, st.ConsecutiveFailures)
	}
	for range 2 {
		var c call
		if err := p.begin(&c, abi.EntryBeforeSend); err != nil {
			t.Fatal(err)
		}
		c.fail(failure{kind: FailError, detail: "v2 failed"})
	}
	old[3].end()
	old[3].g = nil
	if st := p.Status(); st.ConsecutiveFailures != 2 {
		t.Fatalf("a success of version 1 left version 2 %d consecutive failures, want 2", st.ConsecutiveFailures)
	}
}

func TestPoolGrowsOnDemandUpToItsBound(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Policy: Fail, Instances: 1, MaxInstances: 3, Deadline: 5 * time.Second})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.BeforeSend(context.Background(), sendEvents("", "spin:200"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Status(); st.Instances < 2 || st.Instances > 3 || st.Idle != st.Instances {
		t.Fatalf("after 3 concurrent calls: %+v", st)
	}
}

func TestMaxInstancesBoundsTheDefaultInstances(t *testing.T) {
	old := runtime.GOMAXPROCS(8) // the default Instances, over MaxInstances
	defer runtime.GOMAXPROCS(old)
	r, _ := newRuntime(t)
	wasm := wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes()
	done := make(chan error, 1)
	go func() {
		p, err := r.Load(context.Background(), PluginConfig{Name: "bounded", MaxInstances: 2}, wasm)
		if err != nil {
			done <- err
			return
		}
		if st := p.Status(); st.Instances != 2 {
			err = fmt.Errorf("Load created %d instances, MaxInstances is 2", st.Instances)
		} else if err = p.Swap(context.Background(), wasm, nil); err == nil {
			err = p.Close(context.Background())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Load and Swap with MaxInstances 2 and the default Instances (GOMAXPROCS 8) did not return")
	}
}

func TestInstanceCountsRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  PluginConfig
		want string
	}{
		{PluginConfig{Name: "a", Instances: 4, MaxInstances: 2}, "Instances 4 is over MaxInstances 2"},
		{PluginConfig{Name: "a", Instances: 1 << 16}, "more than 65535 instances"},
		{PluginConfig{Name: "a", MaxInstances: 1 << 20}, "more than 65535 instances"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if got := (PluginConfig{Instances: 1 << 15}).withDefaults(abi.KindSend).MaxInstances; got != 65535 {
		t.Errorf("the default MaxInstances of 2^15 instances is %d, want the bound 65535", got)
	}
}

// Replacements racing each other create no more instances than the pool keeps.
func TestConcurrentReplacementsDoNotOverfillThePool(t *testing.T) {
	r, _ := newRuntime(t)
	p, err := r.Load(context.Background(), PluginConfig{Name: "refill", Instances: 2, MaxInstances: 2}, wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	v := p.active.Load()
	for range 20 {
		var c call
		if err := p.begin(&c, abi.EntryBeforeSend); err != nil {
			t.Fatal(err)
		}
		v.pool.untrack(c.g)
		c.g.close()
		v.pool.live.Add(-1) // as discard does, the replacements started below
		var start sync.WaitGroup
		start.Add(1)
		v.bg.Add(8)
		for range 8 {
			go func() {
				start.Wait()
				v.pool.replace()
			}()
		}
		start.Done()
		v.bg.Wait()
		if live, idle, _ := v.pool.counts(); live != 2 || idle != 2 || v.pool.live.Load() != 2 {
			t.Fatalf("after 8 concurrent replacements of one instance: %d live (%d counted), %d idle; the pool keeps 2", live, v.pool.live.Load(), idle)
		}
	}
}

func TestTrappedInstanceIsReplaced(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Instances: 2, Policy: Fail})
	if err := h.BeforeSend(context.Background(), sendEvents("", "exit")); !errors.Is(err, ErrTrap) {
		t.Fatalf("exit: %v", err)
	}
	waitFor(t, 10*time.Second, "the replacement", func() bool { s := p.Status(); return s.Instances == 2 && s.Idle == 2 })
	for range 10 {
		if err := h.BeforeSend(context.Background(), sendEvents("", "ok")); err != nil {
			t.Fatal(err)
		}
	}
}

// Every call finished counts once in Status, whichever way its instance went back: the
// pool's fast slot, its channel (calls overlapping), or discarded (a trap).
func TestStatusCountsEveryCall(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Instances: 2, MaxInstances: 4, QuarantineAfter: -1, Deadline: time.Second})
	const workers, calls = 4, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				body := "ok"
				switch {
				case i == 20 && w < 2:
					body = "exit" // discarded, replaced in the background
				case i%7 == 3:
					body = "error"
				case i%3 == 0:
					body = "spin:1" // long enough for the others' calls to overlap it
				}
				h.BeforeSend(context.Background(), sendEvents("", body))
			}
		})
	}
	wg.Wait()
	wantFailures := uint64(2 + workers*len([]int{3, 10, 17, 24, 31, 38}))
	if st := p.Status(); st.Calls != workers*calls || st.Failures != wantFailures {
		t.Fatalf("after %d calls, %d of them failing: Status counts %d calls, %d failures", workers*calls, wantFailures, st.Calls, st.Failures)
	}
}

func TestStatusReportsCallTimes(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{})
	h.BeforeSend(context.Background(), sendEvents("", "spin:1"))
	if st := p.Status(); st.P50 < 500*time.Microsecond { // one call in 64 is timed, an instance's first among them
		t.Fatalf("after the first call: %+v", st)
	}
	for range 63 {
		h.BeforeSend(context.Background(), sendEvents("", "spin:1"))
	}
	st := p.Status()
	if st.Calls != 64 || st.P50 < 500*time.Microsecond || st.P99 < st.P50 || st.P99 > time.Second {
		t.Fatalf("%+v", st)
	}
	t.Logf("p50 %v p99 %v", st.P50, st.P99)
}

func TestHistogramBuckets(t *testing.T) {
	for _, ns := range []uint64{0, 1, 3, 4, 5, 7, 8, 100, 1000, 12345, 1 << 40} {
		b := bucketOf(ns)
		if up := bucketUpper(b); up < ns || (b > 0 && bucketUpper(b-1) >= ns) {
			t.Errorf("%d ns: bucket %d holds up to %d, the one below up to %d", ns, b, up, bucketUpper(b-1))
		}
	}
}

func TestCallsAfterCloseFollowThePolicy(t *testing.T) {
	r, _ := newRuntime(t)
	p, h := behaviors(t, r, PluginConfig{Policy: Fail})
	p.Close(context.Background())
	if err := h.BeforeSend(context.Background(), sendEvents("", "ok")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := p.Swap(context.Background(), nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Swap after Close: %v", err)
	}
}

// TestRuntimeCloseLeavesNoGoroutines: the watchdog and the replacements of discarded
// instances end with the runtime.
func TestRuntimeCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	r, err := NewRuntime(context.Background(), Config{CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Load(context.Background(), PluginConfig{Name: "b", Kind: KindSend, Instances: 2}, plugintest.Build(t, "host/testdata/hostile/behaviors"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSendHook(p)
	for _, body := range []string{"ok", "exit", "loop", "ok"} {
		h.BeforeSend(context.Background(), sendEvents("", body))
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitGoroutines(before, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.BeforeSend(context.Background(), sendEvents("", "ok")); err != nil {
		t.Fatalf("after the runtime closed, policy skip: %v", err)
	}
}

// TestCloseDuringLoadOrSwap closes the runtime while a Load or a Swap creates its
// instances: the Load or Swap either succeeds and its plugin is closed with the runtime,
// or fails with ErrClosed; nothing of it runs or serves once Close has returned.
func TestCloseDuringLoadOrSwap(t *testing.T) {
	wasm := plugintest.Build(t, "host/testdata/hostile/behaviors")
	cfg := PluginConfig{Name: "b", Kind: KindSend, Instances: 8}
	for _, c := range []struct {
		name string
		// start returns the runtime's plugin once it is under way; op's error arrives on done.
		start func(t *testing.T, r *Runtime, done chan<- error) *Plugin
	}{
		{"load", func(t *testing.T, r *Runtime, done chan<- error) *Plugin {
			go func() {
				_, err := r.Load(context.Background(), cfg, wasm)
				done <- err
			}()
			var p *Plugin
			waitFor(t, 10*time.Second, "the load under way", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				for p = range r.plugins {
				}
				return p != nil
			})
			return p
		}},
		{"swap", func(t *testing.T, r *Runtime, done chan<- error) *Plugin {
			p, err := r.Load(context.Background(), cfg, wasm)
			if err != nil {
				t.Fatal(err)
			}
			go func() { done <- p.Swap(context.Background(), wasm, nil) }()
			waitFor(t, 10*time.Second, "the swap under way", func() bool {
				if !p.mu.TryLock() {
					return true
				}
				p.mu.Unlock()
				return false
			})
			return p
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for range 3 {
				before := runtime.NumGoroutine()
				r, err := NewRuntime(context.Background(), Config{CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				p := c.start(t, r, done)
				if err := r.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				select {
				case err := <-done:
					if err != nil && !errors.Is(err, ErrClosed) {
						t.Fatalf("%s racing Close: %v, want success or ErrClosed", c.name, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s still under way after Close returned", c.name)
				}
				if st := p.Status(); st.Version != 0 || st.Previous != 0 {
					t.Fatalf("after Close: version %d active, %d previous", st.Version, st.Previous)
				}
				if err := waitGoroutines(before, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// Calls that found every instance busy say the plugin is saturated, not broken: however
// many, they do not quarantine it (which only Resume lifts); failures of its own do.
func TestBusyCallsDoNotQuarantine(t *testing.T) {
	r, _ := newRuntime(t)
	p, err := r.Load(context.Background(), PluginConfig{Name: "saturated", Instances: 1, QuarantineAfter: 2},
		wasmgen.Plugin{Version: 1, Kind: abi.KindSend}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	c := &call{p: p, v: p.active.Load(), entry: abi.EntryBeforeSend}
	for range 10 {
		c.record(failure{kind: FailBusy, detail: "all 1 instances busy for 10ms"})
	}
	if st := p.Status(); st.Quarantined || st.ConsecutiveFailures != 0 {
		t.Fatalf("after 10 busy calls: quarantined %v, %d consecutive failures", st.Quarantined, st.ConsecutiveFailures)
	}
	for range 2 {
		c.record(failure{kind: FailTrap, detail: "unreachable"})
	}
	if !p.Status().Quarantined {
		t.Fatal("2 traps with QuarantineAfter 2: not quarantined")
	}
}
