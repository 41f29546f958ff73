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
	"strings"

	"github.com/mqgate/mqgate/host"
)

// pluginReload is a reload's [[plugin]] changes, applied in two steps around the
// consumers' changes. reloadFiles adds and changes plugins at once: a consumer the reload
// adds or changes may name them. The changes that take a plugin from the consumers naming
// it (its [[plugin]] removed, or moved to another slot) wait for finish, after the reload
// stopped the consumers it removes and restarted those it changes: one of them naming the
// plugin no more does not run without it meanwhile (on the fallback: another allocation
// than its group's peers, messages its hook skips delivered). A consumer still naming it
// then keeps it, as a DELETE of it is refused (registry.remove).
type pluginReload struct {
	r        *registry
	old      []PluginConfig // the [[plugin]]s in effect before the reload
	inEffect []PluginConfig // those in effect now: the file's, the old ones where a change failed or waits
	pending  []pendingPlugin
}

// pendingPlugin is a [[plugin]] removed (pc is the zero value) or moved to another slot
// (pc is the new one), left to finish.
type pendingPlugin struct {
	prev, pc PluginConfig
}

func (c pendingPlugin) removed() bool { return c.pc.Name == "" }

func pluginKey(name string) string { return "plugin " + strconv.Quote(name) }

// reloadFiles applies the [[plugin]]s of a reloaded file (cur) over those in effect
// (old): a plugin added is loaded into its slot; one whose settings, file or module bytes
// changed is loaded anew and swapped in (calls in flight finish on the old one). A plugin
// removed or moved to another slot waits for finish. A plugin whose uploaded version runs
// keeps running it. The registry's plugins follow the [[plugin]]s in effect (those of old
// waiting included); every change goes to rep.
func (r *registry) reloadFiles(ctx context.Context, old, cur []PluginConfig, rep *ReloadReport) *pluginReload {
	r.mu.Lock()
	defer r.unlock()
	p := &pluginReload{r: r, old: old}
	oldBy := map[string]PluginConfig{}
	for _, pc := range old {
		oldBy[pc.Name] = pc
	}
	curNames := map[string]bool{}
	for _, pc := range cur {
		curNames[pc.Name] = true
		prev, had := oldBy[pc.Name]
		if had && prev.Slot != pc.Slot {
			p.pending = append(p.pending, pendingPlugin{prev: prev, pc: pc})
			p.inEffect = append(p.inEffect, prev) // in its old slot until finish
			continue
		}
		what, err := r.reloadOne(ctx, pc, prev, had)
		switch {
		case err != nil:
			rep.Failed = append(rep.Failed, ReloadChange{Key: pluginKey(pc.Name), What: what, Err: err})
			if had {
				p.inEffect = append(p.inEffect, prev)
			}
		case what != "":
			rep.Applied = append(rep.Applied, ReloadChange{Key: pluginKey(pc.Name), What: what})
			p.inEffect = append(p.inEffect, pc)
		default:
			p.inEffect = append(p.inEffect, pc)
		}
	}
	kept := map[string]bool{}
	for _, pc := range old {
		if !curNames[pc.Name] {
			p.pending = append(p.pending, pendingPlugin{prev: pc})
			kept[pc.Name] = true
		}
	}
	r.relink(withKept(p.inEffect, old, kept))
	return p
}

// has reports whether a plugin of that name will serve in that slot once finish has
// applied the changes waiting for it (should they succeed), for a consumer's new settings
// checked before its old ones stop: a [[plugin]] moved to that slot counts before it is
// loaded there, the consumer then starting after finish, validated again (registry.has).
func (p *pluginReload) has(name, slot string) bool {
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(p.pending, func(c pendingPlugin) bool { return c.prev.Name == name })
	if i < 0 {
		return r.has(name, slot)
	}
	if e := r.src.set.Load().byName[name]; e != nil && !e.fromFile() {
		return e.slot.String() == slot // its uploaded version keeps running
	}
	return !p.pending[i].removed() && p.pending[i].pc.Slot == slot
}

// finish applies the [[plugin]]s removed or moved to another slot, once the consumers'
// changes are: each is refused while a consumer (the file's or one added through the admin
// API) names it, and then stays as it was. It returns the [[plugin]]s now in effect.
func (p *pluginReload) finish(ctx context.Context, rep *ReloadReport) []PluginConfig {
	r := p.r
	r.mu.Lock() // as registry.remove: a consumer being added is either named below or validated after
	defer r.unlock()
	kept := map[string]bool{}
	for _, c := range p.pending {
		name := c.prev.Name
		key, what := pluginKey(name), "removed"
		if !c.removed() {
			what = "changed: " + pluginDifference(c.prev, c.pc)
		}
		e := r.src.set.Load().byName[name]
		if e != nil && !e.fromFile() && c.removed() {
			rep.Applied = append(rep.Applied, ReloadChange{Key: key,
				What: fmt.Sprintf("removed from the file; its uploaded version %d keeps running", e.version)})
			continue
		}
		if e == nil || e.fromFile() { // (a move of an uploaded one is refused by reloadOne)
			if groups := r.namingConsumers(name); len(groups) > 0 {
				rep.Failed = append(rep.Failed, ReloadChange{Key: key, What: what,
					Err: fmt.Errorf("named by the consumers %s (allocate or consume_hooks): remove or change them first, or in the same reload%s",
						strings.Join(groups, ", "), r.builtinNote(name))})
				kept[name] = c.removed() // a moved one is in the list in its old place
				continue
			}
		}
		if c.removed() {
			if e == nil {
				what = "removed (it was not loaded)"
			} else {
				r.replace(ctx, name, nil)
				r.changed(name, e.slot)
			}
			rep.Applied = append(rep.Applied, ReloadChange{Key: key, What: what})
			continue
		}
		what, err := r.reloadOne(ctx, c.pc, c.prev, true)
		if err != nil {
			rep.Failed = append(rep.Failed, ReloadChange{Key: key, What: what, Err: err})
			continue
		}
		rep.Applied = append(rep.Applied, ReloadChange{Key: key, What: what})
		p.inEffect[slices.IndexFunc(p.inEffect, func(pc PluginConfig) bool { return pc.Name == name })] = c.pc
	}
	inEffect := withKept(p.inEffect, p.old, kept)
	r.relink(inEffect)
	return inEffect
}

// withKept returns list with the [[plugin]]s of old that kept names put back where old
// had them, after the one before them there: the chains run them in the order they did.
func withKept(list, old []PluginConfig, kept map[string]bool) []PluginConfig {
	out := slices.Clone(list)
	at := 0 // where the next kept one goes
	for _, pc := range old {
		if kept[pc.Name] {
			out = slices.Insert(out, at, pc)
			at++
		} else if i := slices.IndexFunc(out, func(x PluginConfig) bool { return x.Name == pc.Name }); i >= 0 {
			at = i + 1
		}
	}
	return out
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
