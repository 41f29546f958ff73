package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/plugintest"
)

// parseValid parses a configuration file's text and validates it, as Reload sees it.
func parseValid(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("gateway.toml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = discard
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func TestDiffConfig(t *testing.T) {
	const base = "[client]\nnamesrv = [\"127.0.0.1:9876\"]\n"
	consumer := func(group, extra string) string {
		return "\n[[consumer]]\ngroup = \"" + group + "\"\nsubscriptions = [{ topic = \"T\" }]\n" + extra
	}
	tests := []struct {
		name     string
		old, cur string
		added    []string
		removed  []string
		changed  []string
		ratio    string // the sample ratio change, "" for none
		level    string
		restart  []string // "key: what"
	}{
		{name: "nothing changed but the lines", old: base + consumer("a", ""), cur: "\n\n" + base + "\n" + consumer("a", "")},
		{name: "a consumer added, another removed", old: base + consumer("a", ""), cur: base + consumer("b", ""),
			added: []string{"b"}, removed: []string{"a"}},
		{name: "a consumer's setting changed", old: base + consumer("a", ""), cur: base + consumer("a", "pull_batch_size = 16\n"),
			changed: []string{"a"}},
		{name: "a default written out changes nothing", old: base + consumer("a", ""), cur: base + consumer("a", "model = \"clustering\"\n")},
		{name: "the listen address needs a restart", old: base, cur: "[http]\nlisten = \"127.0.0.1:8081\"\n" + base,
			restart: []string{`http.listen: "127.0.0.1:8080" -> "127.0.0.1:8081"`}},
		{name: "a duration needs a restart", old: base, cur: base + "heartbeat_interval = \"10s\"\n",
			restart: []string{"client.heartbeat_interval: 0s -> 10s"}},
		{name: "secrets are not shown", old: base + "[client.acl]\naccess_key = \"ak\"\nsecret_key = \"one\"\n",
			cur: base + "[client.acl]\naccess_key = \"ak\"\nsecret_key = \"two\"\n", restart: []string{"client.acl.secret_key: changed"}},
		{name: "admin tokens need a restart, unshown",
			old:     base + "[[admin.token]]\nname = \"ops\"\ntoken = \"0123456789abcdef-1\"\nscopes = [\"*\"]\n",
			cur:     base + "[[admin.token]]\nname = \"ops\"\ntoken = \"0123456789abcdef-2\"\nscopes = [\"*\"]\n",
			restart: []string{"admin.token: changed"}},
		{name: "the sample ratio applies live", old: base, cur: base + "[telemetry]\nsample_ratio = 0.01\n", ratio: "1 -> 0.01"},
		{name: "the log level applies live, its format does not", old: base, cur: base + "[log]\nlevel = \"debug\"\nformat = \"json\"\n",
			level: "info -> debug", restart: []string{`log.format: "" -> "json"`}},
		{name: "plugins are the registry's to compare", old: base,
			cur: base + "[[plugin]]\nname = \"p\"\nfile = \"p.wasm\"\nslot = \"send\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diffConfig(parseValid(t, tt.old), parseValid(t, tt.cur))
			groups := func(cs []ConsumerConfig) []string {
				var out []string
				for _, c := range cs {
					out = append(out, c.Group)
				}
				return out
			}
			if !slices.Equal(groups(d.consumersAdded), tt.added) || !slices.Equal(groups(d.consumersRemoved), tt.removed) ||
				!slices.Equal(groups(d.consumersChanged), tt.changed) {
				t.Errorf("consumers added %v removed %v changed %v, want %v %v %v", groups(d.consumersAdded),
					groups(d.consumersRemoved), groups(d.consumersChanged), tt.added, tt.removed, tt.changed)
			}
			if got := ""; d.sampleRatio != nil {
				got = d.sampleRatio.what
				if got != tt.ratio {
					t.Errorf("ratio %q, want %q", got, tt.ratio)
				}
			} else if tt.ratio != "" {
				t.Errorf("no ratio change, want %q", tt.ratio)
			}
			if got := ""; d.logLevel != nil {
				got = d.logLevel.what
				if got != tt.level {
					t.Errorf("level %q, want %q", got, tt.level)
				}
			} else if tt.level != "" {
				t.Errorf("no level change, want %q", tt.level)
			}
			var restart []string
			for _, c := range d.restart {
				restart = append(restart, c.Key+": "+c.What)
			}
			if !slices.Equal(restart, tt.restart) {
				t.Errorf("restart %q, want %q", restart, tt.restart)
			}
		})
	}
}

func TestReloadableLoggerLevel(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(w *bytes.Buffer) *slog.Logger
	}{
		{"ReloadableLogger", func(w *bytes.Buffer) *slog.Logger {
			return ReloadableLogger(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelInfo)
		}},
		{"NewReloadableLogger", func(w *bytes.Buffer) *slog.Logger {
			l, err := NewReloadableLogger(LogConfig{Level: "info"}, w)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			// As New and the instance wrap it.
			log := slog.New(TraceLogHandler(tt.make(&buf).Handler())).With("k", "v")
			log.Debug("hidden")
			lv := levelVarOf(slog.New(TraceLogHandler(tt.make(&bytes.Buffer{}).Handler())).Handler())
			if lv == nil {
				t.Fatal("the level is not found under the trace handler")
			}
			if lv = levelVarOf(log.Handler()); lv == nil {
				t.Fatal("the level is lost by With")
			}
			lv.Set(slog.LevelDebug)
			log.Debug("shown")
			if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "k=v") {
				t.Errorf("log: %s", out)
			}
		})
	}
	if levelVarOf(slog.NewTextHandler(&bytes.Buffer{}, nil)) != nil {
		t.Error("a plain handler has a level to change")
	}
	if _, err := NewReloadableLogger(LogConfig{Level: "loud"}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown level was accepted")
	}
}

// A reload adds a consumer, then another removes it, changes a plugin's limits and the
// log level, and reports what needs a restart; an invalid file changes nothing.
func TestReloadConsumersAndPlugins(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
	dir := t.TempDir()
	wasm := filepath.Join(dir, "enricher.wasm")
	if err := os.WriteFile(wasm, plugintest.Build(t, "plugins/enricher"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	base := "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"\"\n[client]\nnamesrv = [\"" + dc.NameServerAddr() + "\"]\n" +
		"[plugins]\ncache_dir = \"" + testWasmCache() + "\"\n"
	plugin := func(deadline string) string {
		return "\n[[plugin]]\nname = \"enrich\"\nfile = \"" + wasm + "\"\nslot = \"send\"\ndeadline = \"" + deadline + "\"\n" +
			"config = { properties = { env = \"test\" } }\n"
	}
	consumer := "\n[[consumer]]\ngroup = \"reload_group\"\nsubscriptions = [{ topic = \"ReloadTopic\" }]\nconsume_from = \"first\"\n"
	cfg := *parseValid(t, base+plugin("10ms"))
	cfg.Logger = ReloadableLogger(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelInfo)
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), "ReloadTopic", 2)

	reload := func(src string) (ReloadReport, error) {
		t.Helper()
		c, err := Parse("gateway.toml", []byte(src), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return g.Reload(ctxFor(t, 30*time.Second), c)
	}
	changes := func(cs []ReloadChange) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Key)
		}
		return out
	}

	// Added: it consumes.
	rep, err := reload(base + plugin("10ms") + consumer)
	if err != nil || !slices.Equal(changes(rep.Applied), []string{`consumer "reload_group"`}) || len(rep.Restart) != 0 {
		t.Fatalf("adding a consumer: %+v %v", rep, err)
	}
	if st := g.ConsumerStatuses(); len(st) != 1 || st[0].Group != "reload_group" {
		t.Fatalf("consumers after the reload: %+v", st)
	}
	if consumerGoroutines() == 0 {
		t.Fatal("no goroutine of the push consumer runs: the leak check below could not fail")
	}
	produce(t, g, "ReloadTopic", "r", 2, "")
	waitUntil(t, 10*time.Second, "a message for the new consumer", func() bool {
		return len(receiveFrom(t, g, "reload_group", 1, 100, 1000).Messages) > 0
	})

	// The same file again: nothing.
	if rep, err := reload(base + plugin("10ms") + consumer); err != nil || !rep.Empty() {
		t.Errorf("reloading the same file: %+v %v", rep, err)
	}

	// Removed, with a plugin's deadline, the log level and a listen address changed.
	before := g.plugins.src.set.Load().byName["enrich"]
	src := strings.Replace(base, "127.0.0.1:0", "127.0.0.1:1", 1) + "[log]\nlevel = \"debug\"\n" + plugin("20ms")
	rep, err = reload(src)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changes(rep.Applied), []string{`plugin "enrich"`, `consumer "reload_group"`, "log.level"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got := changes(rep.Restart); !slices.Equal(got, []string{"http.listen"}) {
		t.Errorf("restart %v, want http.listen", got)
	}
	if st := g.ConsumerStatuses(); len(st) != 0 {
		t.Errorf("consumers after the removal: %+v", st)
	}
	after := g.plugins.src.set.Load().byName["enrich"]
	if after == nil || after == before || time.Duration(after.settings.Deadline) != 20*time.Millisecond {
		t.Errorf("the plugin was not swapped with its new deadline: %+v", after)
	}
	produce(t, g, "ReloadTopic", "after", 1, "") // the new plugin instance serves the send hook
	g.log.Debug("debug after reload")
	if !strings.Contains(logs.String(), "debug after reload") {
		t.Error("the log level did not change")
	}
	waitUntil(t, 10*time.Second, "the removed consumer's goroutines to end", func() bool { return consumerGoroutines() == 0 })

	// An invalid file changes nothing.
	if _, err := reload(base + consumer + "\n[[consumer]]\ngroup = \"reload_group\"\nsubscriptions = [{ topic = \"T\" }]\n"); err == nil {
		t.Error("a file with a group twice was applied")
	}
	if st := g.ConsumerStatuses(); len(st) != 0 {
		t.Errorf("the invalid file added consumers: %+v", st)
	}

	// The plugin removed from the file leaves its slot.
	rep, err = reload(base)
	if err != nil || !slices.Contains(changes(rep.Applied), `plugin "enrich"`) || g.plugins.src.set.Load().byName["enrich"] != nil {
		t.Errorf("removing the plugin: %+v %v", rep, err)
	}
}

// consumerGoroutines counts the goroutines running push consumer code (pools of the
// transport and the dev cluster grow and shrink on their own: a total count is no
// measure of a consumer's stop).
func consumerGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mqgate/instance/consumer.") {
			n++
		}
	}
	return n
}

// syncBuffer is a log destination the test reads while the gateway writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// circleReloadSetup starts a dev cluster and writes the circle strategy's module; it
// returns them and a gateway.toml for the cluster without plugins or consumers.
func circleReloadSetup(t *testing.T) (dc *devcluster.Cluster, wasm, base string) {
	t.Helper()
	dc = startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
	wasm = filepath.Join(t.TempDir(), "circle.wasm")
	if err := os.WriteFile(wasm, plugintest.Build(t, "plugins/circle"), 0o644); err != nil {
		t.Fatal(err)
	}
	base = "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"\"\n[client]\nnamesrv = [\"" + dc.NameServerAddr() + "\"]\n" +
		"[plugins]\ncache_dir = \"" + testWasmCache() + "\"\n"
	return dc, wasm, base
}

// A consumer and the allocation plugin it names arrive in one reload: the plugin is loaded
// first, so the consumer's strategy is found.
func TestReloadConsumerWithANewAllocationPlugin(t *testing.T) {
	dc, wasm, base := circleReloadSetup(t)
	g := startGateway(t, *parseValid(t, base))
	createTopic(t, g, dc.BrokerAddr(), "CircleTopic", 4)
	src := base + "\n[[plugin]]\nname = \"ring\"\nfile = \"" + wasm + "\"\nslot = \"allocate\"\n" +
		"\n[[consumer]]\ngroup = \"ring_group\"\nsubscriptions = [{ topic = \"CircleTopic\" }]\nallocate = \"ring\"\n"
	cfg, err := Parse("gateway.toml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Reload(ctxFor(t, 30*time.Second), cfg)
	if err != nil || len(rep.Applied) != 2 {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	waitUntil(t, 10*time.Second, "the queues held through the plugin", func() bool { return len(heldQueues(g, "ring_group", "CircleTopic")) == 4 })
	if st := g.ConsumerStatuses(); len(st) != 1 || st[0].Allocate != "ring" {
		t.Errorf("consumers %+v", st)
	}
	if calls := g.plugins.src.set.Load().byName["ring"].plugin.Status().Calls; calls == 0 {
		t.Error("the allocation plugin was never called")
	}
}

// A consumer added after a reload removed the [[plugin]] it names as its allocation
// strategy is refused, not run silently with the fallback strategy.
func TestConsumerNamingAPluginAReloadRemovedIsRefused(t *testing.T) {
	_, wasm, base := circleReloadSetup(t)
	g := startGateway(t, *parseValid(t, base+"\n[[plugin]]\nname = \"ring\"\nfile = \""+wasm+"\"\nslot = \"allocate\"\n"))
	cfg, err := Parse("gateway.toml", []byte(base), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := g.Reload(ctxFor(t, 30*time.Second), cfg); err != nil || len(rep.Applied) != 1 {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	c := fastConsumer("ring_group", "CircleTopic", DeliveryReceive)
	c.Allocate = "ring"
	err = g.AddConsumer(ctxFor(t, 10*time.Second), c)
	if err == nil || !strings.Contains(err.Error(), `allocate: "ring" is neither a [[plugin]]`) {
		t.Errorf("a consumer naming the removed plugin: %v", err)
	}
}

// The sample ratio changes live while telemetry runs; without it the change waits for a
// restart.
// A reload whose change of a consumer cannot start leaves the group consuming with its
// old settings: a failed change runs as before. Here the new settings are broadcasting,
// whose offsets file does not decode, which no validation sees.
func TestReloadChangeThatDoesNotStartKeepsTheOldConsumer(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "ReloadKeepTopic", "reload_keep_g"
	g := startGateway(t, consumeConfig(dc, fastConsumer(group, topic, DeliveryReceive)))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)

	next := g.Config()
	next.Consumers = []ConsumerConfig{unstartableConsumer(t, g, group, topic)}
	rep, err := g.Reload(ctxFor(t, 20*time.Second), next)
	if err == nil || len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].What, "running with the old ones") {
		t.Fatalf("reload: %v; failed %v", err, rep.Failed)
	}
	st, err := g.ConsumerStatus(group)
	if err != nil || st.Model != ModelClustering {
		t.Fatalf("after the failed change: %+v %v", st, err)
	}
	drainReceive(t, g, group, produce(t, g, topic, "keep", 2, ""), 20*time.Second)

	// The settings in effect are still the old ones: the same file again is the same change.
	if rep, _ := g.Reload(ctxFor(t, 20*time.Second), next); len(rep.Failed) != 1 {
		t.Errorf("reloading the failed change again: %+v", rep)
	}
}

func TestReloadSampleRatio(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	base := "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"\"\n[client]\nnamesrv = [\"" + dc.NameServerAddr() + "\"]\n"
	for _, tt := range []struct {
		name      string
		telemetry string
		applied   bool
	}{
		{"telemetry on", "[telemetry]\nenabled = true\n", true},
		{"telemetry off", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, *parseValid(t, base+tt.telemetry))
			src := base + tt.telemetry
			if tt.telemetry == "" {
				src += "[telemetry]\n"
			}
			cfg, err := Parse("gateway.toml", []byte(src+"sample_ratio = 0.25\n"), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			rep, err := g.Reload(ctxFor(t, 10*time.Second), cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := ReloadChange{Key: "telemetry.sample_ratio", What: "1 -> 0.25"}
			if tt.applied {
				if len(rep.Applied) != 1 || rep.Applied[0] != want || g.Telemetry().SampleRatio() != 0.25 {
					t.Errorf("report %+v, ratio now %v", rep, g.Telemetry().SampleRatio())
				}
				return
			}
			if len(rep.Restart) != 1 || rep.Restart[0].Key != want.Key || !strings.Contains(rep.Restart[0].What, "not running") {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// TestReloadSampleRatioOverAnEnvSampler: with OTEL_TRACES_SAMPLER=traceidratio, which
// ignores the parent, a reload adding the file's sample_ratio (the same ratio) makes the
// sampler a restart would, following the parent; removing it brings the environment's
// back. The report says so.
func TestReloadSampleRatioOverAnEnvSampler(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
	dc := startDevCluster(t, devcluster.Config{})
	base := "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"\"\n[client]\nnamesrv = [\"" + dc.NameServerAddr() +
		"\"]\n[telemetry]\nenabled = true\n"
	g := startGateway(t, *parseValid(t, base))
	envSampler, fileSampler := "TraceIDRatioBased{0.25}", "ParentBased{root:TraceIDRatioBased{0.25},"
	if got := g.Telemetry().Sampler(); got != envSampler {
		t.Fatalf("sampler at start %q", got)
	}
	for _, step := range []struct{ src, want string }{
		{base + "sample_ratio = 0.25\n", fileSampler},
		{base, envSampler},
	} {
		rep, err := g.Reload(ctxFor(t, 10*time.Second), *parseValid(t, step.src))
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Telemetry().Sampler(); !strings.HasPrefix(got, step.want) {
			t.Errorf("sampler %q, want %q...", got, step.want)
		}
		if len(rep.Applied) != 1 || rep.Applied[0].Key != "telemetry.sample_ratio" ||
			!strings.HasSuffix(rep.Applied[0].What, g.Telemetry().Sampler()) {
			t.Errorf("report %+v", rep)
		}
	}
}

func TestReloadBeforeStart(t *testing.T) {
	g, err := New(testConfig("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reload(ctxFor(t, time.Second), testConfig("127.0.0.1:9")); !errors.Is(err, ErrReloadNotRunning) {
		t.Errorf("reload before start: %v", err)
	}
}

// A [[plugin]] a reload could not remove (a consumer names it) stays where it was among the
// others: a consumer running every consume hook runs them in the order it did.
func TestWithKeptKeepsThePluginsOrder(t *testing.T) {
	pcs := func(names ...string) []PluginConfig {
		var out []PluginConfig
		for _, n := range names {
			out = append(out, PluginConfig{Name: n})
		}
		return out
	}
	for _, tt := range []struct {
		list, old, kept, want []string
	}{
		{list: []string{"a", "c"}, old: []string{"a", "b", "c"}, kept: []string{"b"}, want: []string{"a", "b", "c"}},
		{list: []string{"b", "c"}, old: []string{"a", "b", "c"}, kept: []string{"a"}, want: []string{"a", "b", "c"}},
		{list: []string{"a"}, old: []string{"a", "b", "c"}, kept: []string{"b", "c"}, want: []string{"a", "b", "c"}},
		{list: []string{"c", "a", "d"}, old: []string{"a", "b", "c"}, kept: []string{"b"}, want: []string{"c", "a", "b", "d"}},
		{list: []string{"a", "c"}, old: []string{"a", "b", "c"}, want: []string{"a", "c"}},
	} {
		kept := map[string]bool{}
		for _, n := range tt.kept {
			kept[n] = true
		}
		var got []string
		for _, pc := range withKept(pcs(tt.list...), pcs(tt.old...), kept) {
			got = append(got, pc.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("list %v, old %v, kept %v: %v, want %v", tt.list, tt.old, tt.kept, got, tt.want)
		}
	}
}

// unstartableConsumer returns settings of group that validate and do not start:
// broadcasting over a local offsets file that does not decode.
func unstartableConsumer(t *testing.T, g *Gateway, group, topic string) ConsumerConfig {
	t.Helper()
	dir := t.TempDir()
	offsets := filepath.Join(dir, g.inst.ClientID(), group, "offsets.json")
	if err := os.MkdirAll(filepath.Dir(offsets), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(offsets, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fastConsumer(group, topic, DeliveryReceive)
	c.Model, c.OffsetDir = ModelBroadcasting, dir
	return c
}
