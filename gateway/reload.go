package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/telemetry"
)

// Configuration reload (cmd/gateway on SIGHUP): the file is read again and compared with
// the configuration the gateway runs; what can change safely while it runs is applied,
// everything else is reported, key by key, as needing a restart.
//
// Applied live:
//   - [[consumer]]s added, removed, or changed (removed, then added with the new
//     settings; offsets are persisted in between, so nothing acknowledged is redelivered);
//   - [[plugin]]s added, removed, or changed (file, slot, policy, limits, config) and a
//     module file whose bytes changed: the plugin is loaded anew and swapped in, calls in
//     flight finishing on the old one. A plugin whose uploaded version runs (the plugin
//     store) keeps it: the [[plugin]] is where it falls back to once deleted from the store.
//     A [[plugin]] that a consumer still names once the reload's consumer changes are made
//     (allocate, consume_hooks; consumers added through the admin API too) is not removed
//     or moved to another slot: that change is reported failed, naming the consumers, as a
//     DELETE of the plugin is refused (the consumers would run the fallback);
//   - [telemetry] sample_ratio, when telemetry runs;
//   - [log] level, when the logger is a ReloadableLogger (cmd/gateway's is).
//
// Everything else ([http], [client], [producer], [dev], [admin] and its tokens,
// [plugins], the rest of [telemetry] and [log]) needs a restart.

// ReloadReport says what a reload changed.
type ReloadReport struct {
	// Applied are the changes in effect.
	Applied []ReloadChange `json:"applied"`
	// Restart are the changes read but not applied: they take effect at the next start.
	Restart []ReloadChange `json:"restart"`
	// Failed are the changes that should have applied and did not; the gateway runs as
	// before for them, and a later reload tries them again.
	Failed []ReloadChange `json:"failed"`
}

// ReloadChange is one change of the configuration.
type ReloadChange struct {
	// Key names what changed as the file spells it: "http.listen", "consumer \"orders\"",
	// "plugin \"enrich\"", "telemetry.sample_ratio".
	Key string `json:"key"`
	// What says how: "added", "removed", "changed", or "old -> new" for a setting
	// (secrets are not shown).
	What string `json:"what"`
	// Err is why a Failed change failed.
	Err error `json:"-"`
}

func (c ReloadChange) String() string {
	s := c.Key + ": " + c.What
	if c.Err != nil {
		s += ": " + c.Err.Error()
	}
	return s
}

// Empty reports whether the new configuration changed nothing.
func (r *ReloadReport) Empty() bool {
	return len(r.Applied) == 0 && len(r.Restart) == 0 && len(r.Failed) == 0
}

// Log writes the report, a line per change: applied at info, needing a restart and failed
// at warn.
func (r *ReloadReport) Log(log *slog.Logger, file string) {
	if r.Empty() {
		log.Info("gateway: configuration reloaded: nothing changed", "file", file)
		return
	}
	for _, c := range r.Applied {
		log.Info("gateway: reload: applied", "key", c.Key, "change", c.What)
	}
	for _, c := range r.Restart {
		log.Warn("gateway: reload: needs a restart", "key", c.Key, "change", c.What)
	}
	for _, c := range r.Failed {
		log.Warn("gateway: reload: failed", "key", c.Key, "change", c.What, "err", c.Err)
	}
	log.Info("gateway: configuration reloaded", "file", file, "applied", len(r.Applied),
		"needs_restart", len(r.Restart), "failed", len(r.Failed))
}

// reloadState is what reloads compare against: the configuration in effect.
type reloadState struct {
	mu      sync.Mutex // one reload at a time
	applied *Config    // nil until the first reload: then Gateway.cfg
}

// ErrReloadNotRunning is a Reload before Start or once Shutdown began.
var ErrReloadNotRunning = errors.New("gateway: reload: the gateway is not running")

// Reload applies cfg, a configuration read again (Load), to the running gateway: it
// validates cfg (an invalid one changes nothing and is the error), compares it with the
// configuration in effect, applies what can change live and reports every change (see
// ReloadReport). The error joins the changes that failed; the report is complete either
// way. ctx bounds the consumers' start and stop.
func (g *Gateway) Reload(ctx context.Context, cfg Config) (ReloadReport, error) {
	var rep ReloadReport
	cfg.Logger = g.log
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	g.mu.Lock() // no Shutdown meanwhile
	defer g.mu.Unlock()
	if !g.started || g.stopped {
		return rep, ErrReloadNotRunning
	}
	if g.reload.applied == nil {
		cur := g.cfg
		g.reload.applied = &cur
	}
	old := g.reload.applied
	d := diffConfig(old, &cfg)
	rep.Restart = d.restart
	next := *old // what is in effect afterwards: the old settings but for what applied

	// Plugins added and changed first: a consumer added or changed may name them. Then the
	// consumers removed and changed, then the plugins removed or moved to another slot
	// (refused while a consumer still names them), then the consumers added, and those
	// changed to name a plugin in the slot it moved to (see pluginReload).
	plugins := g.plugins.reloadFiles(ctx, old.Plugin, cfg.Plugin, &rep)
	cons := g.reloadConsumers(ctx, d, &rep, old.Consumers, plugins.has)
	next.Plugin = plugins.finish(ctx, &rep)
	next.Consumers = cons.start(ctx, &rep)

	if d.sampleRatio != nil {
		c := ReloadChange{Key: "telemetry.sample_ratio", What: d.sampleRatio.what}
		if err := g.setSampling(cfg.Telemetry); err != nil {
			c.What += " (telemetry is not running: applies at the next start)"
			rep.Restart = append(rep.Restart, c)
		} else {
			rep.Applied = append(rep.Applied, c)
			next.Telemetry = next.Telemetry.WithSamplingOf(cfg.Telemetry)
		}
	}
	if d.logLevel != nil {
		c := ReloadChange{Key: "log.level", What: d.logLevel.what}
		if lv := levelVarOf(g.log.Handler()); lv != nil {
			lvl, _ := cfg.Log.level() // validated
			lv.Set(lvl)
			rep.Applied = append(rep.Applied, c)
			next.Log.Level = cfg.Log.Level
		} else {
			c.What += " (the logger was not made by ReloadableLogger)"
			rep.Restart = append(rep.Restart, c)
		}
	}
	g.reload.applied = &next
	var errs []error
	for _, c := range rep.Failed {
		errs = append(errs, fmt.Errorf("%s: %w", c.Key, c.Err))
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("gateway: reload: %w", err)
	}
	return rep, nil
}

// consumerReload is a reload's consumer changes, in two steps around the [[plugin]]s
// removed or moved to another slot (pluginReload.finish): reloadConsumers stops the
// consumers removed and restarts those changed; start starts those added, validated
// against the plugins as the reload leaves them, and those changed to name a plugin in the
// slot it moved to, stopped until it has.
type consumerReload struct {
	g        *Gateway
	added    []ConsumerConfig
	waiting  []consumerChange
	inEffect map[string]ConsumerConfig
}

// consumerChange is a changed consumer's new settings and those it ran (when it ran).
type consumerChange struct {
	cfg, running ConsumerConfig
	wasRunning   bool
}

func consumerKey(group string) string { return "consumer " + strconv.Quote(group) }

// reloadConsumers removes and replaces the consumers the diff names. A changed
// consumer's new settings are checked against the plugins as the reload leaves them
// (pluginsAfter) before its old ones stop.
func (g *Gateway) reloadConsumers(ctx context.Context, d configDiff, rep *ReloadReport, old []ConsumerConfig,
	pluginsAfter func(name, slot string) bool) *consumerReload {
	cr := &consumerReload{g: g, added: d.consumersAdded, inEffect: map[string]ConsumerConfig{}}
	for _, c := range old {
		cr.inEffect[c.Group] = c
	}
	for _, c := range d.consumersRemoved {
		if err := g.RemoveConsumer(ctx, c.Group); err != nil && !errors.Is(err, ErrNoConsumer) {
			rep.Failed = append(rep.Failed, ReloadChange{Key: consumerKey(c.Group), What: "removed", Err: err})
			continue
		}
		delete(cr.inEffect, c.Group)
		rep.Applied = append(rep.Applied, ReloadChange{Key: consumerKey(c.Group), What: "removed"})
	}
	for _, c := range d.consumersChanged {
		// Refused before the old one stops: a setting that cannot work leaves it running.
		if errs := c.validate(pluginsAfter); len(errs) > 0 {
			rep.Failed = append(rep.Failed, ReloadChange{Key: consumerKey(c.Group), What: "changed", Err: errors.Join(errs...)})
			continue
		}
		running, wasRunning := g.consumerConfig(c.Group)
		if err := g.RemoveConsumer(ctx, c.Group); err != nil && !errors.Is(err, ErrNoConsumer) {
			rep.Failed = append(rep.Failed, ReloadChange{Key: consumerKey(c.Group), What: "changed", Err: err})
			continue
		}
		delete(cr.inEffect, c.Group)
		ch := consumerChange{cfg: c, running: running, wasRunning: wasRunning}
		if errs := c.validate(g.hasPlugin); len(errs) > 0 {
			// It names a plugin in the slot the reload moves it to: it starts once the
			// plugin has moved, and meanwhile runs neither settings without their plugin.
			cr.waiting = append(cr.waiting, ch)
			continue
		}
		cr.restart(ctx, ch, rep)
	}
	return cr
}

// start starts the changed consumers waiting for their plugins and the consumers added,
// and returns the [[consumer]] list now in effect.
func (cr *consumerReload) start(ctx context.Context, rep *ReloadReport) []ConsumerConfig {
	for _, ch := range cr.waiting {
		cr.restart(ctx, ch, rep)
	}
	for _, c := range cr.added {
		if err := cr.g.AddConsumer(ctx, c); err != nil {
			rep.Failed = append(rep.Failed, ReloadChange{Key: consumerKey(c.Group), What: "added", Err: err})
			continue
		}
		cr.inEffect[c.Group] = c
		rep.Applied = append(rep.Applied, ReloadChange{Key: consumerKey(c.Group), What: "added"})
	}
	out := make([]ConsumerConfig, 0, len(cr.inEffect))
	for _, c := range cr.inEffect {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ConsumerConfig) int { return strings.Compare(a.Group, b.Group) })
	return out
}

// restart starts a changed consumer's new settings, its old ones stopped.
func (cr *consumerReload) restart(ctx context.Context, ch consumerChange, rep *ReloadReport) {
	g, c := cr.g, ch.cfg
	if err := g.AddConsumer(ctx, c); err != nil {
		what := "changed (stopped; the new settings did not start)"
		if ch.wasRunning {
			// The change failed, so the group consumes as before, as Failed promises. Its
			// settings are validated again: no consumer named their plugins meanwhile,
			// which a delete may have taken.
			g.log.Warn("gateway: reload: a changed consumer did not start: starting the old settings again",
				"group", c.Group, "err", err)
			if rerr := g.addConsumer(ctx, ch.running, true); rerr != nil {
				err = errors.Join(err, fmt.Errorf("the old settings did not start again either: %w", rerr))
			} else {
				what = "changed (the new settings did not start: running with the old ones)"
				cr.inEffect[c.Group] = ch.running
			}
		}
		rep.Failed = append(rep.Failed, ReloadChange{Key: consumerKey(c.Group), What: what, Err: err})
		return
	}
	cr.inEffect[c.Group] = c
	rep.Applied = append(rep.Applied, ReloadChange{Key: consumerKey(c.Group), What: "changed: restarted with the new settings"})
}

// configDiff is what changed between two validated configurations.
type configDiff struct {
	consumersAdded, consumersRemoved, consumersChanged []ConsumerConfig
	sampleRatio                                        *settingChange // the sampler's
	logLevel                                           *settingChange
	// restart lists every other setting that changed.
	restart []ReloadChange
}

type settingChange struct{ what string }

// liveKeys are the keys Reload applies itself; diffSettings skips them.
var liveKeys = map[string]bool{"consumer": true, "plugin": true, "telemetry.sample_ratio": true, "log.level": true}

// secretKeys are settings whose values a report does not show.
var secretKeys = map[string]bool{"client.acl.access_key": true, "client.acl.secret_key": true,
	"client.acl.security_token": true, "admin.token": true, "telemetry.headers": true}

// diffConfig compares two validated configurations. [[plugin]]s are compared by the
// registry (reloadFiles), which also reads the modules.
func diffConfig(old, cur *Config) configDiff {
	var d configDiff
	oldC := map[string]ConsumerConfig{}
	for _, c := range old.Consumers {
		oldC[c.Group] = c
	}
	for _, c := range cur.Consumers {
		o, ok := oldC[c.Group]
		switch {
		case !ok:
			d.consumersAdded = append(d.consumersAdded, c)
		case !sameConsumer(o, c):
			d.consumersChanged = append(d.consumersChanged, c)
		}
		delete(oldC, c.Group)
	}
	for _, c := range old.Consumers {
		if _, gone := oldC[c.Group]; gone {
			d.consumersRemoved = append(d.consumersRemoved, c)
		}
	}
	// The sampler, not only the ratio: a sample_ratio added over an OTEL_TRACES_SAMPLER
	// that ignores the parent makes one that follows it.
	if changed, what := telemetry.SamplingChange(old.Telemetry, cur.Telemetry); changed {
		d.sampleRatio = &settingChange{what: what}
	}
	if o, n := levelName(old.Log.Level), levelName(cur.Log.Level); o != n {
		d.logLevel = &settingChange{what: o + " -> " + n}
	}
	diffSettings("", reflect.ValueOf(*old), reflect.ValueOf(*cur), &d.restart)
	return d
}

// levelName is a [log] level as slog names it ("" is info).
func levelName(s string) string {
	c := LogConfig{Level: s}
	if l, err := c.level(); err == nil {
		return strings.ToLower(l.String())
	}
	return s
}

// sameConsumer compares two [[consumer]]s, their file positions aside.
func sameConsumer(a, b ConsumerConfig) bool {
	a.pos, a.keyPos, b.pos, b.keyPos = "", nil, "", nil
	return reflect.DeepEqual(a, b)
}

// diffSettings appends a change for every setting of old and cur (structs of the
// configuration) that differs, by its TOML key under prefix, skipping the live keys and
// what the file cannot set.
func diffSettings(prefix string, old, cur reflect.Value, out *[]ReloadChange) {
	t := old.Type()
	for i := range t.NumField() {
		name := tomlName(t.Field(i))
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if liveKeys[key] {
			continue
		}
		o, c := deref(old.Field(i)), deref(cur.Field(i))
		if o.IsValid() && c.IsValid() && o.Kind() == reflect.Struct {
			diffSettings(key, o, c, out)
			continue
		}
		if valuesEqual(o, c) {
			continue
		}
		what := "changed"
		if !secretKeys[key] {
			what = describeSetting(o) + " -> " + describeSetting(c)
		}
		*out = append(*out, ReloadChange{Key: key, What: what})
	}
}

func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// valuesEqual compares two settings by what the file can say: exported fields only (a
// table's file position is no setting), nil and empty alike.
func valuesEqual(a, b reflect.Value) bool {
	a, b = deref(a), deref(b)
	switch {
	case !a.IsValid() && !b.IsValid():
		return true
	case !a.IsValid() || !b.IsValid():
		return false
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !valuesEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !valuesEqual(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !valuesEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Interface:
		return valuesEqual(a.Elem(), b.Elem())
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// describeSetting shows a value in a report.
func describeSetting(v reflect.Value) string {
	if !v.IsValid() {
		return "(unset)"
	}
	if v.Kind() == reflect.String {
		return strconv.Quote(v.String())
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		return fmt.Sprintf("%d tables", v.Len())
	}
	return fmt.Sprint(v.Interface())
}
