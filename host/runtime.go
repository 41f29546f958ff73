package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/mqgate/mqgate/sdk/abi"
)

// Kind is a plugin kind; the values are the ABI's.
type Kind = abi.Kind

const (
	KindAllocate = abi.KindAllocate
	KindSend     = abi.KindSend
	KindConsume  = abi.KindConsume
	KindRPC      = abi.KindRPC
)

// Runtime is the sandbox every plugin of a gateway runs in: one wazero runtime with its
// compilation cache, the WASI subset and host functions of the ABI, and the clock of call
// deadlines. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	wz    wazero.Runtime
	cache wazero.CompilationCache
	ctx   context.Context // what calls run under: deadlines are enforced by yield, not a context
	clock deadlineClock

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// NewRuntime starts a Runtime. Close releases it.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfig().
		// Debug info maps traps to source lines through DWARF, whose code offsets the
		// instrumentation shifts; function names (the name section) remain.
		WithDebugInfoEnabled(false).
		WithCloseOnContextDone(false) // see instrument.go
	r := &Runtime{cfg: cfg, log: cfg.Logger, ctx: context.Background(),
		clock: deadlineClock{base: time.Now(), tick: cfg.WatchdogTick}, plugins: make(map[*Plugin]struct{})}
	if cfg.CacheDir != "off" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("host: compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.wz = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, r.wz); err != nil {
		r.wz.Close(ctx)
		return nil, fmt.Errorf("host: WASI: %w", err)
	}
	_, err := r.wz.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.HostLog).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostHMACSHA1), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("key_ptr", "key_len", "msg_ptr", "msg_len", "out_ptr").
		Export(abi.HostHMACSHA1).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostYield), nil, nil).
		Export(yieldImport).
		Instantiate(ctx)
	if err != nil {
		r.wz.Close(ctx)
		return nil, fmt.Errorf("host: host module: %w", err)
	}
	return r, nil
}

// Close closes every plugin, then the runtime. It waits for a Load under way, which fails
// with ErrClosed, and a Swap under way, which fails with ErrClosed or succeeds and has its
// versions closed. Calls after Close fail with ErrClosed (and the slot's policy).
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	plugins := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		plugins = append(plugins, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range plugins {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, r.wz.Close(ctx))
	if r.cache != nil {
		errs = append(errs, r.cache.Close(ctx))
	}
	return errors.Join(errs...)
}

// module is a compiled, instrumented module that passed the static checks.
type module struct {
	compiled wazero.CompiledModule
	sha256   string
	size     int
	minPages uint32
	hmac     bool // imports mqgate.hmac_sha1, which only RPC hooks may
}

// compile checks, instruments and compiles wasm; every refusal is a *LoadError.
func (r *Runtime) compile(ctx context.Context, name string, wasm []byte, memoryLimit, stackLimit int) (*module, error) {
	refuse := func(reason error, format string, args ...any) error {
		return &LoadError{Plugin: name, Reason: fmt.Sprintf(format, args...), Err: reason}
	}
	if len(wasm) > r.cfg.MaxModuleSize {
		return nil, refuse(ErrModuleTooLarge, "module is %d bytes, over the limit of %d", len(wasm), r.cfg.MaxModuleSize)
	}
	in, err := instrument(wasm, stackLimit)
	if err != nil {
		return nil, &LoadError{Plugin: name, Reason: "cannot decode the module", Err: ErrInvalidModule, Cause: err}
	}
	if err := checkImports(in.imports); err != nil {
		return nil, refuse(ErrForbiddenImport, "%v", err)
	}
	if in.hasStart {
		return nil, refuse(ErrInvalidModule, "module has a start function; ABI v%d modules initialize through %s", abi.Version, abi.ExportInitialize)
	}
	if limit := uint64(memoryLimit) / pageSize; uint64(in.minPages) > limit {
		return nil, refuse(ErrInvalidModule, "module needs %d pages of memory at start, over its limit of %d", in.minPages, limit)
	}
	compiled, err := r.wz.CompileModule(ctx, in.wasm)
	if err != nil {
		return nil, &LoadError{Plugin: name, Reason: "invalid module", Err: ErrInvalidModule, Cause: err}
	}
	if err := checkExports(compiled); err != nil {
		compiled.Close(ctx)
		return nil, refuse(ErrMissingExport, "%v", err)
	}
	sum := sha256.Sum256(wasm)
	m := &module{compiled: compiled, sha256: hex.EncodeToString(sum[:]), size: len(wasm), minPages: in.minPages}
	for _, im := range in.imports {
		m.hmac = m.hmac || im.module == abi.HostModule && im.name == abi.HostHMACSHA1
	}
	return m, nil
}

func (r *Runtime) add(p *Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.plugins[p] = struct{}{}
	return nil
}

// isClosed reports whether Close has begun.
func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Runtime) remove(p *Plugin) {
	r.mu.Lock()
	delete(r.plugins, p)
	r.mu.Unlock()
}

// deadlineClock is the clock of call deadlines: ticks of the monotonic clock since the
// runtime started, read at a call's checkpoints (hostYield), never on its way in. It used
// to be a ticker's count of fires, and a ticker drops the fires its goroutine is not
// scheduled for: with more looping calls than Ps, a 200 ms deadline ended after seconds.
type deadlineClock struct {
	base time.Time
	tick time.Duration
}

// now is the current tick, from 1.
func (c *deadlineClock) now() int64 { return int64(time.Since(c.base)/c.tick) + 1 }

// The states of a guest besides the tick its running call's clock started at (guest.state).
const (
	idle        = 0
	unclocked   = math.MaxInt64 // running, not yet at its first yield
	interrupted = -1            // stopped by yield
)

// errInterrupted is what yield panics with to stop a call past its deadline; wazero
// returns it from the call.
var errInterrupted = errors.New("interrupted: deadline exceeded")

// hostYield is mqgate.yield, which the checkpoints call once their budget runs out (see
// instrument.go): a Go safepoint, a new budget, and the deadline enforced.
func hostYield(ctx context.Context, _ api.Module, _ []uint64) {
	g, _ := ctx.Value(guestKey{}).(*guest)
	if g == nil {
		return
	}
	g.budget.Set(yieldEvery)
	g.checkDeadline()
}

// costlyWork is how many bytes of host work done for a guest (a hash, a random fill, a
// write to its output, calls to the host: hostCallWork each) make the host function look
// at the call's deadline. A guest looping over such calls passes one checkpoint an
// iteration, so the checkpoints alone would let it run yieldEvery of them, minutes of
// host CPU, between two looks.
const costlyWork = 64 << 10

// spent is told by a host function of n bytes of work it did or is about to do for the
// guest: once the work since the last look passes costlyWork, it looks at the running
// call's deadline, as a yield does. The work adds up across host calls: 200 calls of
// random_get of 65,535 bytes an iteration, each under costlyWork, ran a 10 ms call for
// minutes.
func (g *guest) spent(n int) {
	if g.work += n; g.work >= costlyWork && g.state != idle {
		g.work = 0
		g.checkDeadline()
	}
}

// checkDeadline ends the running call, by a panic that wazero returns from the call, once
// it is past its deadline. A call's clock starts at its first check rather than on entry,
// which would read the clock on every call; a call meets its first check after at most
// yieldEvery checkpoints' worth of work, which the deadline does not count.
func (g *guest) checkDeadline() {
	now := g.clock.now()
	switch s := g.state; {
	case s == unclocked:
		g.state = now
	case s == interrupted || s > idle && now-s > g.limitTicks:
		if s > idle {
			g.ranTicks = now - s
		}
		g.state = interrupted
		panic(errInterrupted)
	}
}

// ticks converts a deadline into ticks of the deadline clock (WatchdogTick), rounding up.
func (r *Runtime) ticks(d time.Duration) int64 {
	return int64((d + r.cfg.WatchdogTick - 1) / r.cfg.WatchdogTick)
}
