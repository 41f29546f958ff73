package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
)

// registry owns the gateway's plugins: the host.Runtime they run in, the [[plugin]]s of
// the file, the store of uploaded ones, and the current pluginSet the hook chains read
// (hookchain.go). Changes (uploads, activations, rollbacks, deletes) are serialised;
// calls never wait for them.
//
// Where a plugin comes from: a name the store holds runs the store's active version,
// even when gateway.toml has a [[plugin]] of that name (an upload is the operator's later
// decision; a restart must not undo it), in the file's place. The first upload for a
// name that runs from the file records the file's module as the version before it, so
// that a rollback returns to it.
//
// For the consumer side, slots are also looked up by name: allocationStrategy and
// consumeHook return objects that follow the plugin of that name through its versions
// (and a native fallback while there is none); onChange tells when a plugin changes, so
// that a rebalance can follow a strategy's swap at once.
type registry struct {
	cfg *Config
	log *slog.Logger
	src hookSource

	mu       sync.Mutex // serialises start, changes and close, and reserveConsumer's validation with its reservation
	rt       *host.Runtime
	store    *pluginStore
	closed   bool
	watchers []func(name string, slot host.Kind)
	obs      *host.Observer // plugin call telemetry; nil: off (set by Gateway.Start before start)
	pending  []change       // changes not yet announced
	// namedBy returns the consumers naming a plugin (allocate, consume_hooks), which a
	// delete must not pull from under them; allocating says that a plugin of that name
	// serves in the allocate slot (see namingConsumers); nil: none (set by New).
	namedBy func(name string, allocating bool) []string
}

// plugEntry is one running plugin: its host.Plugin, the adapter of its slot, and where it
// comes from.
type plugEntry struct {
	name     string
	slot     host.Kind
	plugin   *host.Plugin
	send     instance.SendHook // the adapter of the plugin's slot (a host adapter; a fake in tests)
	rpc      instance.RPCHook
	consume  instance.ConsumeHook
	settings pluginSettings
	size     int

	// From the file: its [[plugin]] (index in Config.Plugin) and module bytes, for the
	// version the first upload records.
	file      *PluginConfig
	fileIndex int
	fileWasm  []byte
	// From the store: the version running (0 from the file).
	version int
	order   int64
}

// fromFile reports whether the entry runs the file's module rather than a stored version.
func (e *plugEntry) fromFile() bool { return e.version == 0 }

func newRegistry(cfg *Config, log *slog.Logger) *registry {
	r := &registry{cfg: cfg, log: log}
	r.src.set.Store(newPluginSet(nil))
	return r
}

// sendHook, rpcHook and consumeHooks are the chains the producer, the instance and the
// consumers are given; they follow every change of plugins.
func (r *registry) sendHook() instance.SendHook        { return sendChain{&r.src} }
func (r *registry) rpcHook() instance.RPCHook          { return rpcChain{&r.src} }
func (r *registry) consumeHooks() instance.ConsumeHook { return consumeChain{&r.src} }

// consumeHook is the consume plugin named name, for a consumer configured to run only
// that one; it lets every message through while no such plugin is loaded.
func (r *registry) consumeHook(name string) instance.ConsumeHook {
	return namedConsumeHook{&r.src, name}
}

// allocationStrategy is the allocation plugin named name. fallback (default: Java's
// averagely) answers while none of that name is loaded, and for failed calls under the
// fallback and skip policies.
func (r *registry) allocationStrategy(name string, fallback instance.AllocateStrategy) instance.AllocateStrategy {
	if fallback == nil {
		fallback = averagely{}
	}
	return &namedStrategy{src: &r.src, name: name, fallback: fallback, obs: r.obs}
}

// onChange registers fn, called after every change of a plugin (a new version, an
// activation, a rollback, a delete), outside the registry's lock. A consumer using an
// allocation strategy of that name rebalances then, so that a strategy swap gives the
// new assignment within one rebalance.
func (r *registry) onChange(fn func(name string, slot host.Kind)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers = append(r.watchers, fn)
}

// namingConsumers returns the consumers naming the plugin name (namedBy), which a
// delete or a reload must not take it from; r.mu is held, so that a consumer being added
// (reserveConsumer) is either among them or validated once the plugin is gone.
//
// A consumer whose allocate is a built-in strategy's name ("circle") is among them while
// an allocation plugin of that name serves: its strategy looks the name up at every
// rebalance (namedStrategy), so it runs the plugin in place of the built-in one, and
// would fall back to the built-in one without it, another allocation than its group's
// peers running the plugin. That is so of a consumer that started on the built-in
// strategy before the plugin was uploaded too: nothing tells it apart, as the upload
// rebalanced it onto the plugin (pluginChanged), and its peers on the gateways the upload
// was rolled to. Going back to the built-in strategy is a strategy change like the
// upload, for the operator to roll (remove those consumers, delete the plugin, add them
// again), not a side effect of a delete. A plugin of that name in another slot is no
// strategy: the consumer runs the built-in one, and does not count.
func (r *registry) namingConsumers(name string) []string {
	if r.namedBy == nil {
		return nil
	}
	return r.namedBy(name, r.has(name, "allocate"))
}

// builtinNote is what a refusal for the consumers naming the plugin name adds when they
// may think they run the built-in strategy of that name; r.mu is held.
func (r *registry) builtinNote(name string) string {
	if slices.Contains(builtinStrategies, name) && r.has(name, "allocate") {
		return fmt.Sprintf("; allocate = %q runs this plugin in place of the built-in strategy of that name", name)
	}
	return ""
}

// changed records a change, announced to the watchers by unlock.
func (r *registry) changed(name string, slot host.Kind) {
	r.pending = append(r.pending, change{name, slot})
}

type change struct {
	name string
	slot host.Kind
}

// unlock releases r.mu, then tells the watchers of the changes made under it.
func (r *registry) unlock() {
	pending, ws := r.pending, slices.Clone(r.watchers)
	r.pending = nil
	r.mu.Unlock()
	for _, c := range pending {
		for _, fn := range ws {
			fn(c.name, c.slot)
		}
	}
}

// PluginError is a plugin that cannot be loaded at start: from gateway.toml (Pos is its
// [[plugin]]'s file and line) or from the plugin store.
type PluginError struct {
	Pos    string // "gateway.toml:31", empty for a stored plugin
	Plugin string
	File   string // the module's file
	Err    error  // a *host.LoadError for a module the host refused
}

func (e *PluginError) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos + ": ")
	}
	b.WriteString("plugin " + strconv.Quote(e.Plugin) + ": ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	b.WriteString(loadReason(e.Err))
	return b.String()
}

func (e *PluginError) Unwrap() error { return e.Err }

// loadReason is what a load error says, without the host's "plugin X: module refused"
// preamble when the caller names the plugin already.
func loadReason(err error) string {
	var le *host.LoadError
	if errors.As(err, &le) {
		if le.Cause != nil {
			return le.Reason + ": " + le.Cause.Error()
		}
		return le.Reason
	}
	return err.Error()
}

// start creates the runtime, opens the store and loads every plugin: the file's, then the
// store's active versions. On error nothing stays open.
func (r *registry) start(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pc := &r.cfg.Plugins
	if len(r.cfg.Plugin) == 0 && pc.Dir == "" {
		return nil // no plugins, and nowhere to upload any
	}
	defer func() {
		if err != nil {
			_ = r.closeLocked(context.WithoutCancel(ctx))
		}
	}()
	rt, err := host.NewRuntime(ctx, host.Config{CacheDir: pc.CacheDir, MaxModuleSize: pc.MaxModuleSize, Logger: r.log})
	if err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	r.rt = rt
	if pc.Dir != "" {
		store, removed, err := openStore(pc.Dir)
		if err != nil {
			return err
		}
		r.store = store
		for _, f := range removed {
			r.log.Info("gateway: plugin store: removed a leftover", "file", f)
		}
	}
	var entries []*plugEntry
	stored := map[string]*storedPlugin{}
	if r.store != nil {
		stored = r.store.man.Plugins
	}
	for i := range r.cfg.Plugin {
		fc := &r.cfg.Plugin[i]
		slot, _ := parseSlot(fc.Slot) // validated
		if sp := stored[fc.Name]; sp != nil {
			if sp.Slot != fc.Slot {
				return &PluginError{Pos: fc.pos, Plugin: fc.Name, Err: fmt.Errorf("slot %s, but the plugin store (%s) holds it as a %s plugin: delete it there (DELETE /v1/plugins/%s) or rename one",
					fc.Slot, r.store.dir, sp.Slot, fc.Name)}
			}
			continue // the store's version runs, in the file's place
		}
		wasm, err := os.ReadFile(fc.File)
		if err != nil {
			return &PluginError{Pos: fc.pos, Plugin: fc.Name, Err: err} // the error names the file
		}
		st, _ := fc.settings() // validated
		e, err := r.load(ctx, fc.Name, slot, st, wasm)
		if err != nil {
			return &PluginError{Pos: fc.pos, Plugin: fc.Name, File: fc.File, Err: err}
		}
		e.file, e.fileIndex, e.fileWasm = fc, i, wasm
		entries = append(entries, e)
		r.log.Info("gateway: plugin in its slot", "plugin", fc.Name, "slot", fc.Slot, "file", fc.File, "at", fc.pos)
	}
	if r.store != nil {
		for _, name := range r.store.man.names() {
			sp := r.store.man.Plugins[name]
			e, err := r.loadStored(ctx, name, sp, sp.Active)
			if err != nil {
				return err
			}
			e.file, e.fileIndex = r.fileConfig(name)
			entries = append(entries, e)
			r.log.Info("gateway: plugin in its slot", "plugin", name, "slot", sp.Slot, "version", sp.Active, "store", r.store.dir)
		}
	}
	r.src.set.Store(newPluginSet(sortEntries(entries)))
	return nil
}

// has reports whether a plugin of that name serves in that slot: loaded there, from the
// file or the store; r.mu is held. A [[plugin]] the file configures does not count by
// itself: deleted through the admin API it is out of its slot until a reload or a restart
// loads it again, and a consumer naming it meanwhile would run the fallback. Nothing
// needs more: start loads every [[plugin]] (or fails) before a consumer is checked, a
// reload loads those it adds or changes before its consumers, and the slot a reload moves
// a plugin to is pluginReload.has's to answer.
func (r *registry) has(name, slot string) bool {
	e := r.src.set.Load().byName[name]
	return e != nil && e.slot.String() == slot
}

// fileConfig returns the [[plugin]] of that name and its index, if the file has one: a
// stored plugin of that name takes its place in the chains.
func (r *registry) fileConfig(name string) (*PluginConfig, int) {
	if i := slices.IndexFunc(r.cfg.Plugin, func(fc PluginConfig) bool { return fc.Name == name }); i >= 0 {
		return &r.cfg.Plugin[i], i
	}
	return nil, 0
}

// loadStored loads version n of a stored plugin.
func (r *registry) loadStored(ctx context.Context, name string, sp *storedPlugin, n int) (*plugEntry, error) {
	v := sp.version(n)
	slot, _ := parseSlot(sp.Slot) // checked when the manifest was read
	path := r.store.modulePath(v.SHA256)
	wasm, err := r.store.readModule(v.SHA256)
	if err != nil {
		return nil, &PluginError{Plugin: name, File: path, Err: fmt.Errorf("version %d: %w", n, err)}
	}
	e, err := r.load(ctx, name, slot, v.Settings, wasm)
	if err != nil {
		return nil, &PluginError{Plugin: name, File: path, Err: err}
	}
	e.version, e.order = n, sp.Order
	return e, nil
}

// sortEntries orders entries as the chains run them: the file's plugins in the file's
// order, then the uploaded ones by their first upload.
func sortEntries(entries []*plugEntry) []*plugEntry {
	slices.SortStableFunc(entries, func(a, b *plugEntry) int {
		switch {
		case a.file != nil && b.file != nil:
			return a.fileIndex - b.fileIndex
		case a.file != nil:
			return -1
		case b.file != nil:
			return 1
		}
		switch {
		case a.order < b.order:
			return -1
		case a.order > b.order:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return entries
}

// load loads a module into a new host.Plugin and its slot's adapter; an allocation
// strategy must pass the trial call first. Errors are the host's *host.LoadError or a
// *trialError.
func (r *registry) load(ctx context.Context, name string, slot host.Kind, st pluginSettings, wasm []byte) (*plugEntry, error) {
	p, err := r.rt.Load(ctx, st.hostConfig(name, slot), wasm)
	if err != nil {
		return nil, err
	}
	e := &plugEntry{name: name, slot: slot, plugin: p, settings: st, size: len(wasm)}
	// Each adapter with telemetry around it (host/observe.go); the adapter itself when off.
	switch slot {
	case host.KindSend:
		var h *host.SendHook
		if h, err = host.NewSendHook(p); err == nil {
			e.send = r.obs.SendHook(h)
		}
	case host.KindRPC:
		var h *host.RPCHook
		if h, err = host.NewRPCHook(p); err == nil {
			e.rpc = r.obs.RPCHook(h)
		}
	case host.KindConsume:
		var h *host.ConsumeHook
		if h, err = host.NewConsumeHook(p); err == nil {
			e.consume = r.obs.ConsumeHook(h)
		}
	case host.KindAllocate:
		err = trialAllocate(p)
	}
	// (The host's constructors fail only for a plugin of another kind, which Load with
	// the slot's kind has refused already.)
	if err != nil {
		_ = p.Close(ctx)
		return nil, err
	}
	return e, nil
}

// The trial of an allocation strategy: three consumers and eight queues on two brokers.
// Each consumer's answer must be valid indices (in range, none twice); the host checks
// them, and a failed call lands in the fallback, which the trial's records.
var (
	trialGroup   = "mqgate_trial"
	trialClients = []string{"10.0.0.1@trial-1", "10.0.0.2@trial-2", "10.0.0.3@trial-3"}
	trialQueues  = func() []instance.MessageQueue {
		var qs []instance.MessageQueue
		for _, b := range []string{"broker-a", "broker-b"} {
			for id := range int32(4) {
				qs = append(qs, instance.MessageQueue{Topic: "mqgate_trial_topic", BrokerName: b, QueueID: id})
			}
		}
		return qs
	}()
)

// trialError is an allocation strategy that failed its trial call.
type trialError struct {
	self string
	err  error
}

func (e *trialError) Error() string {
	return fmt.Sprintf("trial allocation of %d queues among %d consumers failed for %s: %v",
		len(trialQueues), len(trialClients), e.self, e.err)
}

func (e *trialError) Unwrap() error { return e.err }

// trialFallback records that the strategy's call failed and was answered by its policy.
type trialFallback struct{ called bool }

var errTrialFallback = errors.New("trial: fallback")

func (f *trialFallback) Name() string { return "trial" }

func (f *trialFallback) Allocate(string, string, []string, []instance.MessageQueue) ([]int, error) {
	f.called = true
	return nil, errTrialFallback
}

func trialAllocate(p *host.Plugin) error {
	fb := &trialFallback{}
	s, err := host.NewAllocateStrategy(p, fb)
	if err != nil {
		return err
	}
	for _, self := range trialClients {
		_, err := s.Allocate(trialGroup, self, trialClients, trialQueues)
		if fb.called {
			return &trialError{self: self, err: errors.New(p.Status().LastError)}
		}
		if err != nil {
			return &trialError{self: self, err: err}
		}
	}
	return nil
}

// replace makes a set of the current one with e in place of the plugin of its name (or
// added, in order), or without that plugin when e is nil; it waits for the calls on the
// old set, then closes the plugin replaced. r.mu is held.
func (r *registry) replace(ctx context.Context, name string, e *plugEntry) {
	old := r.src.set.Load()
	var gone *plugEntry
	all := make([]*plugEntry, 0, len(old.all)+1)
	for _, x := range old.all {
		if x.name == name {
			gone = x
			continue
		}
		all = append(all, x)
	}
	if e != nil {
		all = append(all, e)
	}
	r.src.set.Store(newPluginSet(sortEntries(all)))
	if gone != nil {
		r.retire(ctx, old, gone)
	}
}

// drainWait bounds how long a change waits for the calls on the set it replaced; a call
// holds the set no longer than its plugins' deadlines.
const drainWait = 5 * time.Second

// retire closes e's plugin once no call holds the set old. Only drainWait bounds the
// wait, not ctx: the change is made, and a caller gone meanwhile (an admin client that
// disconnected) must not close the plugin under calls that still hold it.
func (r *registry) retire(ctx context.Context, old *pluginSet, e *plugEntry) {
	deadline := time.Now().Add(drainWait)
	for old.refs.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond) // calls finish within their deadlines
	}
	if n := old.refs.Load(); n != 0 {
		r.log.Warn("gateway: plugin closed with calls still holding it", "plugin", e.name, "calls", n)
	}
	if e.plugin == nil {
		return
	}
	if err := e.plugin.Close(context.WithoutCancel(ctx)); err != nil {
		r.log.Warn("gateway: plugin close", "plugin", e.name, "err", err)
	}
}

// close closes every plugin and the runtime, and releases the store. The chains then run
// no plugin.
func (r *registry) close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closeLocked(ctx)
}

func (r *registry) closeLocked(ctx context.Context) error {
	r.closed = true
	old := r.src.set.Swap(newPluginSet(nil))
	deadline := time.Now().Add(drainWait)
	for old.refs.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx) // closes every plugin
		r.rt = nil
	}
	if r.store != nil {
		r.store.close()
		r.store = nil
	}
	return err
}

// wasmMagic starts every WebAssembly module: "\0asm" and version 1.
var wasmMagic = []byte("\x00asm\x01\x00\x00\x00")

func hasWasmMagic(b []byte) bool { return bytes.HasPrefix(b, wasmMagic) }
