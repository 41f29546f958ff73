package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/plugins/allocate"
)

// The registry's changes, as the admin API asks for them. Each one checks everything
// first, then stores durably, then swaps: a refusal changes nothing, in memory or on
// disk. Errors are *requestErrors carrying the status and code the API answers.

// Error codes of the admin API, beside those of the produce API.
const (
	codeUnauthorized    = "unauthorized"     // 401
	codeNotFound        = "not_found"        // 404
	codeConflict        = "conflict"         // 409
	codeInvalidModule   = "invalid_module"   // 400: not WebAssembly, does not compile
	codeMissingExport   = "missing_export"   // 400
	codeForbiddenImport = "forbidden_import" // 400
	codeABIVersion      = "abi_version"      // 400
	codeUnknownKind     = "unknown_kind"     // 400
	codeWrongKind       = "wrong_kind"       // 400: the module's kind is not the slot's
	codeInitFailed      = "init_failed"      // 422: the module refused its configuration
	codeTrialFailed     = "trial_failed"     // 422: an allocation strategy's trial call
	codeNoStore         = "no_store"         // 503: the gateway runs without a plugin store
)

func opError(status int, code, format string, args ...any) *requestError {
	return &requestError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// refusal turns a module's load failure into the admin API's answer.
func refusal(name string, err error) *requestError {
	var (
		le *host.LoadError
		te *trialError
	)
	switch {
	case errors.As(err, &te):
		return opError(http.StatusUnprocessableEntity, codeTrialFailed, "plugin %q: %v", name, err)
	case errors.As(err, &le):
		status, code := http.StatusBadRequest, codeInvalidModule
		switch {
		case errors.Is(err, host.ErrModuleTooLarge):
			status, code = http.StatusRequestEntityTooLarge, codeTooLarge
		case errors.Is(err, host.ErrForbiddenImport):
			code = codeForbiddenImport
		case errors.Is(err, host.ErrMissingExport):
			code = codeMissingExport
		case errors.Is(err, host.ErrABIVersion):
			code = codeABIVersion
		case errors.Is(err, host.ErrUnknownKind):
			code = codeUnknownKind
		case errors.Is(err, host.ErrWrongKind):
			code = codeWrongKind
		case errors.Is(err, host.ErrInitFailed):
			status, code = http.StatusUnprocessableEntity, codeInitFailed
		}
		return opError(status, code, "plugin %q: %s", name, loadReason(err))
	case errors.Is(err, host.ErrClosed):
		return opError(http.StatusServiceUnavailable, codeUnavailable, "plugin %q: the gateway is shutting down", name)
	}
	return opError(http.StatusBadRequest, codeInvalidModule, "plugin %q: %v", name, err)
}

// settingsPatch is an upload's settings: those given replace the active version's.
type settingsPatch struct {
	Policy          *string       `json:"policy"`
	MemoryLimit     *int          `json:"memory_limit"`
	StackLimit      *int          `json:"stack_limit"`
	Deadline        *jsonDuration `json:"deadline"`
	Instances       *int          `json:"instances"`
	MaxInstances    *int          `json:"max_instances"`
	QuarantineAfter *int          `json:"quarantine_after"`
	Config          *string       `json:"-"` // raw text; see admin_plugins.go
}

func (p *settingsPatch) apply(s pluginSettings) pluginSettings {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	if p.Policy != nil {
		s.Policy = *p.Policy
	}
	set(&s.MemoryLimit, p.MemoryLimit)
	set(&s.StackLimit, p.StackLimit)
	if p.Deadline != nil {
		s.Deadline = *p.Deadline
	}
	set(&s.Instances, p.Instances)
	set(&s.MaxInstances, p.MaxInstances)
	set(&s.QuarantineAfter, p.QuarantineAfter)
	if p.Config != nil {
		s.Config = *p.Config
	}
	return s
}

// uploadRequest is a module to upload and its metadata.
type uploadRequest struct {
	slot  string // "" keeps the plugin's; required for a new name
	patch settingsPatch
	wasm  []byte
}

// usable returns an error unless the registry can take changes.
func (r *registry) usable(name string) error {
	switch {
	case r.closed:
		return opError(http.StatusServiceUnavailable, codeUnavailable, "the gateway is shutting down")
	case r.store == nil:
		return opError(http.StatusServiceUnavailable, codeNoStore, "the gateway runs without a plugin store ([plugins] dir)")
	}
	if err := checkPluginName(name); err != nil {
		return opError(http.StatusBadRequest, codeBadRequest, "plugin name %v", err)
	}
	return nil
}

// upload validates a module (size, magic, the host's checks of compile, ABI, kind,
// exports and imports, and an allocation strategy's trial call), stores it as the
// plugin's new version, and swaps it in. created is false when the store held that
// module with those settings already (it is then made active again).
func (r *registry) upload(ctx context.Context, name string, req uploadRequest) (view pluginJSON, created bool, err error) {
	r.mu.Lock()
	defer r.unlock()
	if err := r.usable(name); err != nil {
		return view, false, err
	}
	cur := r.src.set.Load().byName[name]
	slot := host.Kind(0)
	if req.slot != "" {
		k, err := parseSlot(req.slot)
		if err != nil {
			return view, false, opError(http.StatusBadRequest, codeBadRequest, "%v", err)
		}
		slot = k
	}
	switch {
	case cur != nil && slot != 0 && slot != cur.slot:
		return view, false, opError(http.StatusConflict, codeConflict,
			"plugin %q is in the %v slot: delete it before uploading one for the %v slot under that name", name, cur.slot, slot)
	case cur != nil:
		slot = cur.slot
	case slot == 0:
		return view, false, opError(http.StatusBadRequest, codeBadRequest, "slot is required for a new plugin: allocate, send, consume or rpc")
	}
	// A [[plugin]] of that name not running (deleted here) still names its slot: the next
	// start would refuse a stored plugin of another.
	if fc, i := r.fileConfig(name); cur == nil && fc != nil && fc.Slot != slot.String() {
		return view, false, opError(http.StatusConflict, codeConflict,
			"%s is in the %s slot: remove it from the file before uploading one for the %v slot under that name",
			where(fc.pos, "[[plugin]]", i, name), fc.Slot, slot)
	}
	var base pluginSettings
	if cur != nil {
		base = cur.settings
	}
	st := req.patch.apply(base)
	if err := st.check(); err != nil {
		return view, false, opError(http.StatusBadRequest, codeBadRequest, "%v", err)
	}
	switch {
	case len(req.wasm) == 0:
		return view, false, opError(http.StatusBadRequest, codeInvalidModule, "the body is empty: want a WebAssembly module")
	case len(req.wasm) > r.cfg.Plugins.MaxModuleSize:
		return view, false, opError(http.StatusRequestEntityTooLarge, codeTooLarge, "the module is %d bytes, over the limit of %d", len(req.wasm), r.cfg.Plugins.MaxModuleSize)
	case !hasWasmMagic(req.wasm):
		return view, false, opError(http.StatusBadRequest, codeInvalidModule, "not a WebAssembly module: it does not start with \\0asm and version 1")
	}

	// The module and settings running already (a deploy pipeline uploading what did not
	// change): nothing to do. Loading them again would reset the counts, lift a
	// quarantine (Resume is for that) and rebalance the consumers of a strategy.
	if cur != nil && !cur.fromFile() && cur.settings == st {
		if v := r.store.man.Plugins[name].version(cur.version); v != nil && v.SHA256 == moduleDigest(req.wasm) {
			return r.viewLocked(cur), false, nil
		}
	}
	e, err := r.load(ctx, name, slot, st, req.wasm)
	if err != nil {
		return view, false, refusal(name, err)
	}

	m := r.store.man.clone()
	sp := m.Plugins[name]
	if sp == nil {
		sp = &storedPlugin{Slot: slot.String(), Order: m.nextOrder()}
		m.Plugins[name] = sp
	}
	if cur != nil && cur.fromFile() {
		// The file's module becomes the version before this one, for a rollback.
		sha, err := r.store.putModule(cur.fileWasm)
		if err != nil {
			_ = e.plugin.Close(ctx)
			return view, false, storeFailed(name, err)
		}
		sp.addVersion(storedVersion{SHA256: sha, Size: len(cur.fileWasm), UploadedAt: time.Now().UTC(),
			Source: cur.file.pos + " " + cur.file.File, Settings: cur.settings})
	}
	sha, err := r.store.putModule(req.wasm)
	if err != nil {
		_ = e.plugin.Close(ctx)
		return view, false, storeFailed(name, err)
	}
	before := sp.Next
	n := sp.addVersion(storedVersion{SHA256: sha, Size: len(req.wasm), UploadedAt: time.Now().UTC(), Source: "upload", Settings: st})
	created = sp.Next != before
	if err := r.commit(m); err != nil {
		_ = e.plugin.Close(ctx)
		return view, false, storeFailed(name, err)
	}
	e.version, e.order = n, sp.Order
	e.file, e.fileIndex = r.fileConfig(name)
	r.replace(ctx, name, e)
	r.log.Info("gateway: plugin uploaded", "plugin", name, "slot", slot, "version", n, "sha256", sha, "bytes", len(req.wasm), "new", created)
	r.changed(name, slot)
	return r.viewLocked(e), created, nil
}

// commit writes m as the store's manifest, then removes the modules it no longer names
// (a version dropped, a plugin deleted): the change is made even when that fails, and
// the next start tries again.
//
// A manifest renamed into place whose directory's fsync failed is a change made too: the
// next start reads it, so answering "nothing changed" would be false (see logUnsynced).
// The modules it no longer names are kept then: the manifest before it, which names them,
// may come back with a power loss; the next start, or the next manifest synced, removes
// them.
func (r *registry) commit(m manifest) error {
	if err := r.store.commit(m); err != nil {
		if logUnsynced(r.log, err) {
			return nil
		}
		return err
	}
	removed, err := r.store.collectGarbage(false)
	for _, f := range removed {
		r.log.Debug("gateway: plugin store: removed a module no version names", "file", f)
	}
	if err != nil {
		r.log.Warn("gateway: plugin store: removing the modules no version names (the next start tries again)", "err", err)
	}
	return nil
}

func storeFailed(name string, err error) error {
	return opError(http.StatusInternalServerError, codeInternal, "plugin %q: storing it failed, nothing changed: %v", name, err)
}

// activate makes version n of a stored plugin active (loaded anew from the store).
func (r *registry) activate(ctx context.Context, name string, n int) (pluginJSON, error) {
	r.mu.Lock()
	defer r.unlock()
	if err := r.usable(name); err != nil {
		return pluginJSON{}, err
	}
	sp := r.store.man.Plugins[name]
	if sp == nil {
		return pluginJSON{}, r.notStored(name)
	}
	if sp.version(n) == nil {
		return pluginJSON{}, opError(http.StatusNotFound, codeNotFound, "plugin %q has no version %d (it has %v)", name, n, versionNumbers(sp))
	}
	return r.activateLocked(ctx, name, sp, n)
}

// rollback makes the previous version active again (and the active one the previous).
func (r *registry) rollback(ctx context.Context, name string) (pluginJSON, error) {
	r.mu.Lock()
	defer r.unlock()
	if err := r.usable(name); err != nil {
		return pluginJSON{}, err
	}
	sp := r.store.man.Plugins[name]
	if sp == nil {
		return pluginJSON{}, r.notStored(name)
	}
	if sp.Previous == 0 {
		return pluginJSON{}, opError(http.StatusConflict, codeConflict, "plugin %q has no previous version to roll back to", name)
	}
	return r.activateLocked(ctx, name, sp, sp.Previous)
}

func (r *registry) activateLocked(ctx context.Context, name string, sp *storedPlugin, n int) (pluginJSON, error) {
	cur := r.src.set.Load().byName[name]
	if cur != nil && cur.version == n {
		return r.viewLocked(cur), nil // active already
	}
	e, err := r.loadStored(ctx, name, sp, n)
	if err != nil {
		var pe *PluginError
		if errors.As(err, &pe) && pe.Err != nil {
			err = pe.Err
		}
		return pluginJSON{}, refusal(name, err)
	}
	m := r.store.man.clone()
	m.Plugins[name].activate(n)
	if err := r.commit(m); err != nil {
		_ = e.plugin.Close(ctx)
		return pluginJSON{}, storeFailed(name, err)
	}
	e.file, e.fileIndex = r.fileConfig(name)
	r.replace(ctx, name, e)
	r.log.Info("gateway: plugin activated", "plugin", name, "version", n, "previous", m.Plugins[name].Previous)
	r.changed(name, e.slot)
	return r.viewLocked(e), nil
}

func (r *registry) notStored(name string) error {
	if r.src.set.Load().byName[name] != nil {
		return opError(http.StatusConflict, codeConflict, "plugin %q runs from gateway.toml and has no stored versions yet: upload one first", name)
	}
	return opError(http.StatusNotFound, codeNotFound, "no plugin %q", name)
}

func versionNumbers(sp *storedPlugin) []int {
	ns := make([]int, len(sp.Versions))
	for i, v := range sp.Versions {
		ns[i] = v.Version
	}
	return ns
}

// resume lifts a plugin's quarantine.
func (r *registry) resume(name string) (pluginJSON, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.src.set.Load().byName[name]
	if e == nil {
		return pluginJSON{}, opError(http.StatusNotFound, codeNotFound, "no plugin %q", name)
	}
	e.plugin.Resume()
	r.log.Info("gateway: plugin resumed", "plugin", name)
	return r.viewLocked(e), nil
}

// remove deletes a plugin: from the store, then from its slot (the built-in behaviour
// applies: no hook, the fallback strategy). A [[plugin]] of gateway.toml comes back at the
// next reload or start unless it is removed from the file too; until then it does not
// serve, and a consumer naming it is refused (registry.has). The answer shows where it
// came from (source "file", the [[plugin]]'s position), the log that it comes back.
func (r *registry) remove(ctx context.Context, name string) (pluginJSON, error) {
	r.mu.Lock()
	defer r.unlock()
	if err := r.usable(name); err != nil {
		return pluginJSON{}, err
	}
	e := r.src.set.Load().byName[name]
	sp := r.store.man.Plugins[name]
	if e == nil && sp == nil {
		return pluginJSON{}, opError(http.StatusNotFound, codeNotFound, "no plugin %q", name)
	}
	// Without it such a consumer would run the fallback (another allocation than its
	// group's, messages its hook filtered delivered), and a [[consumer]] naming it would
	// refuse the next start. A consumer being added is validated and reserved under r.mu
	// (reserveConsumer): it is either among them or refused for naming no plugin.
	if groups := r.namingConsumers(name); len(groups) > 0 {
		return pluginJSON{}, opError(http.StatusConflict, codeConflict,
			"plugin %q is named by the consumers %s (allocate or consume_hooks): remove or change them first%s", name, strings.Join(groups, ", "), r.builtinNote(name))
	}
	var view pluginJSON
	if e != nil {
		view = r.viewLocked(e)
	}
	if sp != nil {
		m := r.store.man.clone()
		delete(m.Plugins, name)
		if err := r.commit(m); err != nil {
			return pluginJSON{}, storeFailed(name, err)
		}
	}
	slot := host.Kind(0)
	if e != nil {
		slot = e.slot
		r.replace(ctx, name, nil)
	}
	if fc, i := r.fileConfig(name); fc != nil {
		r.log.Info("gateway: plugin deleted; the file still configures it: the next reload or start loads it again",
			"plugin", name, "at", where(fc.pos, "[[plugin]]", i, name))
	} else {
		r.log.Info("gateway: plugin deleted", "plugin", name)
	}
	r.changed(name, slot)
	return view, nil
}

// list describes every plugin, in the chains' order.
func (r *registry) list() []pluginJSON {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := r.src.set.Load().all
	out := make([]pluginJSON, 0, len(all))
	for _, e := range all {
		out = append(out, r.viewLocked(e))
	}
	return out
}

// describe describes one plugin.
func (r *registry) describe(name string) (pluginJSON, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.src.set.Load().byName[name]
	if e == nil {
		return pluginJSON{}, opError(http.StatusNotFound, codeNotFound, "no plugin %q", name)
	}
	return r.viewLocked(e), nil
}

// pluginJSON describes a plugin in the admin API.
type pluginJSON struct {
	Name string `json:"name"`
	Slot string `json:"slot"`
	// Source is "store" (an uploaded version runs) or "file" (the [[plugin]] of File).
	Source string `json:"source"`
	// File is the [[plugin]] of gateway.toml of that name, if any: "gateway.toml:31
	// plugins/enricher.wasm".
	File string `json:"file,omitempty"`
	// Active is the version running: its number is 0 when it runs from the file.
	Active   versionJSON   `json:"active"`
	Previous int           `json:"previous,omitempty"`
	Versions []versionJSON `json:"versions,omitempty"`
	Status   statusJSON    `json:"status"`
}

type versionJSON struct {
	Version    int            `json:"version"`
	SHA256     string         `json:"sha256"`
	Size       int            `json:"size"`
	UploadedAt *time.Time     `json:"uploaded_at,omitempty"`
	Source     string         `json:"source,omitempty"`
	Settings   pluginSettings `json:"settings"`
}

// statusJSON is host.Status: what the active version did.
type statusJSON struct {
	Policy              string     `json:"policy"`
	Calls               uint64     `json:"calls"`
	Failures            uint64     `json:"failures"`
	Skipped             uint64     `json:"skipped"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Quarantined         bool       `json:"quarantined"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	P50                 string     `json:"p50"`
	P99                 string     `json:"p99"`
	P50Nanos            int64      `json:"p50_ns"`
	P99Nanos            int64      `json:"p99_ns"`
	Instances           int        `json:"instances"`
	Idle                int        `json:"idle"`
	LoadedAt            time.Time  `json:"loaded_at"`
	DroppedLogBytes     uint64     `json:"dropped_log_bytes,omitempty"`
}

func (r *registry) viewLocked(e *plugEntry) pluginJSON {
	st := e.plugin.Status()
	v := pluginJSON{Name: e.name, Slot: e.slot.String(), Source: "store",
		Status: statusJSON{Policy: st.Policy.String(), Calls: st.Calls, Failures: st.Failures, Skipped: st.Skipped,
			ConsecutiveFailures: st.ConsecutiveFailures, Quarantined: st.Quarantined, LastError: st.LastError,
			P50: st.P50.String(), P99: st.P99.String(), P50Nanos: int64(st.P50), P99Nanos: int64(st.P99),
			Instances: st.Instances, Idle: st.Idle, LoadedAt: st.LoadedAt, DroppedLogBytes: st.DroppedLogBytes}}
	if !st.LastErrorAt.IsZero() {
		v.Status.LastErrorAt = &st.LastErrorAt
	}
	if e.file != nil {
		v.File = e.file.pos + " " + e.file.File
	}
	if e.fromFile() {
		v.Source = "file"
		v.Active = versionJSON{SHA256: st.SHA256, Size: e.size, Source: v.File, Settings: e.settings}
	}
	if r.store == nil {
		return v
	}
	if sp := r.store.man.Plugins[e.name]; sp != nil {
		v.Previous = sp.Previous
		for _, sv := range slices.Backward(sp.Versions) {
			j := versionJSON{Version: sv.Version, SHA256: sv.SHA256, Size: sv.Size, UploadedAt: &sv.UploadedAt,
				Source: sv.Source, Settings: sv.Settings}
			if sv.Version == e.version {
				v.Active = j
			}
			v.Versions = append(v.Versions, j)
		}
	}
	return v
}

// averagely is Java's default allocation strategy, the fallback of strategies by name.
type averagely struct{}

func (averagely) Name() string { return allocate.NameAveragely }

func (averagely) Allocate(_, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	if err := allocate.Check(self, clients, len(queues)); err != nil {
		return nil, err
	}
	return allocate.Averagely(self, clients, len(queues)), nil
}
