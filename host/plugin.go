package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/sdk/abi"
)

// ErrNoPrevious is Rollback's error when there is no previous version.
var ErrNoPrevious = errors.New("no previous plugin version to roll back to")

// Plugin is one plugin slot: the active version of a module with its pool of instances,
// the previous version (kept for Rollback), counters and the quarantine. Adapters
// (NewAllocateStrategy, NewSendHook, NewConsumeHook, NewRPCHook) make it one of the
// instance's extension points. It is safe for concurrent use; Swap and Rollback take
// effect atomically between calls, and calls in flight finish on the version they began on.
type Plugin struct {
	// A call's fields first, on one cache line: a hook's call comes to them cold.
	active      atomic.Pointer[version]
	quarantined atomic.Bool
	consecutive atomic.Int32

	r    *Runtime
	name string
	cfg  PluginConfig

	mu       sync.Mutex // Load, Swap, Rollback, Close
	previous *version
	prevSeq  atomic.Int64 // previous's seq, for Status without mu (a Swap holds it while compiling)
	seq      int
	closed   bool

	skipped    atomic.Uint64
	lastErr    atomic.Pointer[lastError]
	lastLog    atomic.Int64 // unix nanoseconds of the last failure logged
	suppressed atomic.Uint64
}

type lastError struct {
	msg string
	at  time.Time
}

// version is one loaded module of a plugin.
type version struct {
	// A call's fields first: the pool, then what begin and the adapters read.
	pool pool
	// retired is set when the version leaves the slot; its pool then drains: each
	// instance is closed as its call returns it. (The pool, not a lock, tracks calls in
	// flight: a call holds an instance.) mu orders retiring with starting a replacement.
	retired    atomic.Bool
	flags      uint32
	deadline   time.Duration // cfg.Deadline
	inputLimit int           // the most input bytes of one call: cfg.MemoryLimit / inputShare

	p             *Plugin
	seq           int
	mod           *module
	kind          Kind
	cfg           PluginConfig // with defaults for kind
	config        []byte
	deterministic bool
	loadedAt      time.Time

	mu sync.Mutex
	bg sync.WaitGroup // replacements being created

	hist        histogram
	failures    atomic.Uint64
	droppedLogs atomic.Uint64
}

// Load compiles wasm (or takes it from the compilation cache), checks it against the
// ABI, creates cfg.Instances instances, hands each cfg.Config, and returns the slot. Any
// refusal is a *LoadError naming what is wrong. A Load under way when the runtime's Close
// begins fails with ErrClosed, having released what it made.
func (r *Runtime) Load(ctx context.Context, cfg PluginConfig, wasm []byte) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plugin{r: r, name: cfg.Name, cfg: cfg}
	cfg.Config = append([]byte(nil), cfg.Config...)
	// The slot is locked while its first version is made, as during a Swap: the runtime's
	// Close, which closes every slot before the wazero runtime, waits for it.
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := r.add(p); err != nil {
		return nil, err
	}
	v, err := p.newVersion(ctx, wasm, cfg.Config, 1)
	if err == nil && r.isClosed() {
		v.retire(ctx)
		err = ErrClosed
	}
	if err != nil {
		p.closed = true
		r.remove(p)
		return nil, err
	}
	p.seq = 1
	p.active.Store(v)
	r.log.Info("plugin loaded", "plugin", p.name, "kind", v.kind, "version", 1, "sha256", v.mod.sha256[:12], "bytes", v.mod.size, "instances", v.cfg.Instances)
	return p, nil
}

func (p *Plugin) newVersion(ctx context.Context, wasm, config []byte, seq int) (*version, error) {
	v := &version{p: p, seq: seq, kind: p.cfg.Kind, config: append([]byte(nil), config...)}
	v.cfg = p.cfg.withDefaults(v.kind)
	v.deterministic = v.kind == 0 || v.kind == KindAllocate
	mod, err := p.r.compile(ctx, p.name, wasm, v.cfg.MemoryLimit, v.cfg.StackLimit)
	if err != nil {
		return nil, err
	}
	v.mod = mod
	probe, err := v.newGuest(ctx, v.deterministic)
	if err != nil {
		mod.compiled.Close(ctx)
		return nil, err
	}
	v.kind, v.flags = probe.kind, probe.flags
	if det := v.kind == KindAllocate; det != v.deterministic {
		// The slot did not say which kind; the probe ran in the allocation sandbox.
		probe.close()
		v.deterministic = det
		if probe, err = v.newGuest(ctx, det); err != nil {
			mod.compiled.Close(ctx)
			return nil, err
		}
	}
	v.cfg = p.cfg.withDefaults(v.kind)
	probe.limitTicks = p.r.ticks(v.cfg.Deadline)
	v.deadline, v.inputLimit = v.cfg.Deadline, v.cfg.MemoryLimit/inputShare
	v.pool.init(v, v.cfg.Instances, v.cfg.MaxInstances)
	v.pool.live.Store(1)
	v.pool.track(probe)
	v.pool.put(probe, 0)
	if err := v.pool.fill(ctx); err != nil {
		v.retire(ctx)
		return nil, err
	}
	v.loadedAt = time.Now()
	return v, nil
}

func (v *version) refuse(reason error, msg string, cause error) error {
	return &LoadError{Plugin: v.p.name, Reason: msg, Err: reason, Cause: cause}
}

// retire closes v once its calls are over.
func (v *version) retire(ctx context.Context) {
	v.mu.Lock()
	v.retired.Store(true)
	v.mu.Unlock()
	v.bg.Wait()
	if v.pool.ready != nil { // made
		v.pool.drain()
	}
	v.mod.compiled.Close(ctx)
}

// Name returns the slot's name.
func (p *Plugin) Name() string { return p.name }

// Kind returns the kind of the active version.
func (p *Plugin) Kind() Kind {
	if v := p.active.Load(); v != nil {
		return v.kind
	}
	return p.cfg.Kind
}

// Config returns the configuration of the active version, for a Swap that keeps it.
func (p *Plugin) Config() []byte {
	if v := p.active.Load(); v != nil {
		return append([]byte(nil), v.config...)
	}
	return nil
}

// Swap loads a new version of the module with its configuration: compiled, checked and
// instantiated while the active version keeps serving, then made active atomically.
// Calls in flight finish on the old version, which becomes the previous one (the one
// before it is closed). A refused module leaves the slot as it was. Swap lifts a
// quarantine.
func (p *Plugin) Swap(ctx context.Context, wasm, config []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	nv, err := p.newVersion(ctx, wasm, config, p.seq+1)
	if err != nil {
		return err
	}
	if p.cfg.Kind == 0 {
		if cur := p.active.Load(); cur != nil && cur.kind != nv.kind {
			nv.retire(ctx)
			return nv.refuse(ErrWrongKind, "module is a plugin of kind "+nv.kind.String()+", the slot holds kind "+cur.kind.String(), nil)
		}
	}
	p.seq++
	old := p.active.Swap(nv)
	drop := p.previous
	p.previous = old
	p.prevSeq.Store(int64(old.seq))
	p.resume()
	if drop != nil {
		drop.retire(ctx)
	}
	p.r.log.Info("plugin swapped", "plugin", p.name, "version", nv.seq, "sha256", nv.mod.sha256[:12], "previous", old.seq)
	return nil
}

// Rollback makes the previous version active again, and the active one the previous (so
// a second Rollback undoes the first). It lifts a quarantine.
func (p *Plugin) Rollback(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.previous == nil {
		return ErrNoPrevious
	}
	p.previous = p.active.Swap(p.previous)
	p.prevSeq.Store(int64(p.previous.seq))
	p.resume()
	p.r.log.Info("plugin rolled back", "plugin", p.name, "version", p.active.Load().seq, "from", p.previous.seq)
	return nil
}

// Resume lifts a quarantine: the next calls reach the module again.
func (p *Plugin) Resume() {
	p.mu.Lock()
	p.resume()
	p.mu.Unlock()
}

func (p *Plugin) resume() {
	p.consecutive.Store(0)
	p.quarantined.Store(false)
}

// Close closes every version once its calls are over. Later calls fail with ErrClosed,
// to which the slot's policy applies.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if v := p.active.Swap(nil); v != nil {
		v.retire(ctx)
	}
	if p.previous != nil {
		p.previous.retire(ctx)
		p.previous = nil
		p.prevSeq.Store(0)
	}
	p.r.remove(p)
	return nil
}

// Status reports the slot's state.
func (p *Plugin) Status() Status {
	s := Status{Name: p.name, Kind: p.cfg.Kind, Quarantined: p.quarantined.Load(),
		ConsecutiveFailures: int(p.consecutive.Load()), Skipped: p.skipped.Load(), Policy: p.cfg.Policy}
	if e := p.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, e.at
	}
	s.Previous = int(p.prevSeq.Load())
	v := p.active.Load()
	if v == nil {
		return s
	}
	s.Kind, s.Version, s.SHA256, s.LoadedAt, s.Policy = v.kind, v.seq, v.mod.sha256, v.loadedAt, v.cfg.Policy
	s.Instances, s.Idle, s.Calls = v.pool.counts()
	s.Failures = v.failures.Load()
	s.P50, s.P99 = v.hist.quantile(0.50), v.hist.quantile(0.99)
	s.DroppedLogBytes = v.droppedLogs.Load()
	return s
}

// call is one call in progress: the version and instance it holds.
type call struct {
	p     *Plugin
	v     *version
	g     *guest
	entry abi.Entry
	t0    time.Time // zero unless this call is sampled
}

// begin starts a call of entry in c: takes an instance of the active version, unless
// the plugin is quarantined or closed. (c is the caller's, filled in place: returned by
// value, the struct's copy through a temporary costs a stalled load on the hot path.)
func (p *Plugin) begin(c *call, e abi.Entry) *CallError {
	if p.quarantined.Load() {
		p.skipped.Add(1)
		return &CallError{Plugin: p.name, Entry: e.Export(), Failure: FailQuarantined, Detail: "after repeated failures; Swap, Rollback or Resume to lift"}
	}
	for {
		v := p.active.Load()
		if v == nil {
			return &CallError{Plugin: p.name, Entry: e.Export(), Failure: FailClosed}
		}
		g, f := v.pool.get(v.deadline)
		if f.kind == failRetired {
			continue // swapped out meanwhile: the next version serves
		}
		c.p, c.v, c.g, c.entry, c.t0 = p, v, nil, e, time.Time{}
		if f.failed() {
			return c.record(f)
		}
		if v.retired.Load() {
			v.pool.put(g, 0) // swapped out meanwhile: the drain takes it
			continue
		}
		c.g = g
		if g.calls++; timed(g.calls) {
			c.t0 = time.Now()
		}
		return nil
	}
}

// input returns the instance's input buffer for n bytes.
func (c *call) input(n int) ([]byte, *CallError) {
	b, ok := c.g.input(n)
	if !ok {
		return nil, c.fail(c.g.fail)
	}
	return b, nil
}

// run calls the entry point over the n bytes written; the output is valid until end or
// fail.
func (c *call) run(n int) ([]byte, *CallError) {
	out, ok := c.g.call(c.entry, n)
	if !ok {
		return nil, c.fail(c.g.fail)
	}
	return out, nil
}

// end finishes a successful call.
func (c *call) end() {
	if !c.t0.IsZero() {
		c.v.hist.record(time.Since(c.t0))
	}
	if c.p.consecutive.Load() != 0 && c.p.active.Load() == c.v {
		c.p.consecutive.Store(0)
	}
	c.v.pool.put(c.g, 1)
}

// fail finishes a failed call: the instance goes back to the pool, or is replaced if it
// cannot serve again; the failure is counted, logged and may quarantine the plugin.
func (c *call) fail(f failure) *CallError {
	if f.discard {
		c.v.pool.discard(c.g)
	} else {
		c.v.pool.put(c.g, 1)
	}
	return c.record(f)
}

func (c *call) record(f failure) *CallError {
	p, v := c.p, c.v
	err := &CallError{Plugin: p.name, Version: v.seq, Entry: c.entry.Export(), Failure: f.kind, Detail: f.detail}
	if !c.t0.IsZero() {
		err.Elapsed = time.Since(c.t0)
	}
	v.failures.Add(1)
	// The consecutive failures are the active version's: a call still in flight on a
	// version swapped or rolled back out neither quarantines its successor nor clears it.
	// A call that found every instance busy says the plugin is saturated, not broken: it
	// does not count towards a quarantine, which only Resume lifts.
	var n int32
	if p.active.Load() == v && f.kind != FailBusy {
		n = p.consecutive.Add(1)
	}
	now := time.Now()
	p.lastErr.Store(&lastError{msg: err.Error(), at: now})
	// One line a second at most: a plugin failing on every message must not flood the log.
	if last := p.lastLog.Load(); now.UnixNano()-last >= int64(time.Second) && p.lastLog.CompareAndSwap(last, now.UnixNano()) {
		p.r.log.Warn("plugin call failed", "plugin", p.name, "version", v.seq, "entry", err.Entry,
			"failure", f.kind.String(), "detail", f.detail, "policy", v.cfg.Policy.String(), "suppressed", p.suppressed.Swap(0))
	} else {
		p.suppressed.Add(1)
	}
	if q := v.cfg.QuarantineAfter; q > 0 && int(n) >= q && p.quarantined.CompareAndSwap(false, true) {
		p.r.log.Error("plugin quarantined", "plugin", p.name, "version", v.seq, "consecutive_failures", n,
			"policy", v.cfg.Policy.String(), "last_error", err.Error())
	}
	return err
}

// report is what an Observer learns of a call (observe.go): the version that served it
// and its failure, whatever the policy made of that. A nil report learns nothing.
type report struct {
	version int
	failure *CallError
}

// served records the version serving c.
func (r *report) served(c *call) {
	if r != nil {
		r.version = c.v.seq
	}
}

// outcome applies the slot's policy to a failed call: the error under Fail, nil (skip the
// plugin, or fall back) otherwise. r learns of the failure.
func (p *Plugin) outcome(err *CallError, r *report) error {
	if r != nil {
		r.failure = err
		if err.Version != 0 {
			r.version = err.Version
		}
	}
	if p.policy() == Fail {
		return err
	}
	return nil
}

// policy returns the slot's policy for a failed call.
func (p *Plugin) policy() Policy {
	if v := p.active.Load(); v != nil {
		return v.cfg.Policy
	}
	return p.cfg.withDefaults(p.cfg.Kind).Policy
}
