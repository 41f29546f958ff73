package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"

	"github.com/mqgate/mqgate/host"
)

// reloadFiles applies the [[plugin]]s of a reloaded file (cur) over those in effect
// (old): a plugin added is loaded into its slot, one removed leaves it, one whose
// settings, slot, file or module bytes changed is loaded anew and swapped in (calls in
// flight finish on the old one). A plugin whose uploaded version runs keeps running it.
// It returns the [[plugin]]s now in effect, which the registry then links its plugins to;
// every change goes to rep.
func (r *registry) reloadFiles(ctx context.Context, old, cur []PluginConfig, rep *ReloadReport) []PluginConfig {
	r.mu.Lock()
	defer r.unlock()
	key := func(name string) string { return "plugin " + strconv.Quote(name) }
	oldBy := map[string]PluginConfig{}
	for _, pc := range old {
		oldBy[pc.Name] = pc
	}
	curNames := map[string]bool{}
	var inEffect []PluginConfig
	for _, pc := range cur {
		curNames[pc.Name] = true
		prev, had := oldBy[pc.Name]
		what, err := r.reloadOne(ctx, pc, prev, had)
		switch {
		case err != nil:
			rep.Failed = append(rep.Failed, ReloadChange{Key: key(pc.Name), What: what, Err: err})
			if had {
				inEffect = append(inEffect, prev)
			}
		case what != "":
			rep.Applied = append(rep.Applied, ReloadChange{Key: key(pc.Name), What: what})
			inEffect = append(inEffect, pc)
		default:
			inEffect = append(inEffect, pc)
		}
	}
	for _, pc := range old {
		if curNames[pc.Name] {
			continue
		}
		e := r.src.set.Load().byName[pc.Name]
		switch {
		case e != nil && !e.fromFile():
			rep.Applied = append(rep.Applied, ReloadChange{Key: key(pc.Name),
				What: fmt.Sprintf("removed from the file; its uploaded version %d keeps running", e.version)})
		case e != nil:
			r.replace(ctx, pc.Name, nil)
			r.changed(pc.Name, e.slot)
			rep.Applied = append(rep.Applied, ReloadChange{Key: key(pc.Name), What: "removed"})
		default:
			rep.Applied = append(rep.Applied, ReloadChange{Key: key(pc.Name), What: "removed (it was not loaded)"})
		}
	}
	r.relink(inEffect)
	return inEffect
}

// reloadOne applies one [[plugin]] of the reloaded file; what is "" when nothing changed.
func (r *registry) reloadOne(ctx context.Context, pc, prev PluginConfig, had bool) (what string, err error) {
	e := r.src.set.Load().byName[pc.Name]
	if e != nil && !e.fromFile() {
		if had && samePlugin(prev, pc) {
			return "", nil
		}
		if pc.Slot != e.slot.String() { // the next start would refuse it: say so now
			return changeName(had, e), fmt.Errorf("slot %s, but the plugin store (%s) holds it as a %v plugin: delete it there (DELETE /v1/plugins/%s) or rename one",
				pc.Slot, r.store.dir, e.slot, pc.Name)
		}
		return fmt.Sprintf("recorded; its uploaded version %d keeps running (see DELETE /v1/plugins/%s)", e.version, pc.Name), nil
	}
	wasm, err := os.ReadFile(pc.File)
	if err != nil {
		return changeName(had, e), err
	}
	switch {
	case !had || e == nil:
		what = "added"
	case !samePlugin(prev, pc):
		what = "changed: " + pluginDifference(prev, pc)
	case !bytes.Equal(wasm, e.fileWasm):
		what = "changed: the module " + pc.File + " was rebuilt"
	default:
		return "", nil
	}
	if r.closed {
		return what, errors.New("the gateway is shutting down")
	}
	if len(wasm) > r.cfg.Plugins.MaxModuleSize {
		return what, fmt.Errorf("%s is %d bytes, over [plugins] max_module_size %d", pc.File, len(wasm), r.cfg.Plugins.MaxModuleSize)
	}
	if !hasWasmMagic(wasm) {
		return what, fmt.Errorf("%s is not a WebAssembly module", pc.File)
	}
	if r.rt == nil { // no plugin at start: the runtime is made with the first
		pcfg := &r.cfg.Plugins
		rt, err := host.NewRuntime(ctx, host.Config{CacheDir: pcfg.CacheDir, MaxModuleSize: pcfg.MaxModuleSize, Logger: r.log})
		if err != nil {
			return what, fmt.Errorf("plugins: %w", err)
		}
		r.rt = rt
	}
	slot, _ := parseSlot(pc.Slot) // validated
	st, _ := pc.settings()        // validated
	ne, err := r.load(ctx, pc.Name, slot, st, wasm)
	if err != nil {
		return what, fmt.Errorf("%s: %s", pc.File, loadReason(err))
	}
	ne.fileWasm = wasm
	ne.file = &pc // relinked to the list in effect by relink
	if e != nil && e.slot != slot {
		r.changed(pc.Name, e.slot)
	}
	r.replace(ctx, pc.Name, ne)
	r.changed(pc.Name, slot)
	return what, nil
}

func changeName(had bool, e *plugEntry) string {
	if !had || e == nil {
		return "added"
	}
	return "changed"
}

// relink points the registry at the [[plugin]]s in effect: the running plugins' file
// entries and the chains' order (the file's order first) follow them.
func (r *registry) relink(inEffect []PluginConfig) {
	nc := *r.cfg
	nc.Plugin = inEffect
	r.cfg = &nc
	old := r.src.set.Load()
	all := slices.Clone(old.all)
	for _, e := range all {
		e.file, e.fileIndex = r.fileConfig(e.name)
	}
	r.src.set.Store(newPluginSet(sortEntries(all)))
}

// samePlugin compares two [[plugin]]s, their file positions aside.
func samePlugin(a, b PluginConfig) bool {
	a.pos, b.pos = "", ""
	return valuesEqual(reflect.ValueOf(a), reflect.ValueOf(b))
}

// pluginDifference names the keys of a [[plugin]] that changed.
func pluginDifference(a, b PluginConfig) string {
	var keys []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if name := tomlName(va.Type().Field(i)); name != "" && !valuesEqual(va.Field(i), vb.Field(i)) {
			keys = append(keys, name)
		}
	}
	if len(keys) == 0 {
		return "settings"
	}
	return fmt.Sprint(keys)
}
