package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/plugintest"
)

// Two gateways whose [[consumer]] allocates with a WebAssembly strategy (the built-in
// averagely plugin) give each queue to exactly one of them, through the plugin.
func TestWasmStrategyTwoGatewaysShareAGroup(t *testing.T) {
	wasm := plugintest.Build(t, "plugins/averagely")
	file := filepath.Join(t.TempDir(), "averagely.wasm")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	dc := consumeCluster(t)
	const topic, group, queues = "WasmAllocTopic", "wasm_alloc_g", 8
	cc := fastConsumer(group, topic, DeliveryReceive)
	cc.Allocate = "wasm-avg"
	gw := func() *Gateway {
		cfg := consumeConfig(dc, cc)
		cfg.Plugins.CacheDir = testWasmCache()
		cfg.Plugin = []PluginConfig{{Name: "wasm-avg", File: file, Slot: "allocate", Instances: 1}}
		return startGateway(t, cfg)
	}
	admin := startGateway(t, consumeConfig(dc))
	createTopic(t, admin, dc.BrokerAddr(), topic, queues)
	g1, g2 := gw(), gw()
	waitUntil(t, 15*time.Second, "each queue held by exactly one gateway", func() bool {
		a, b := heldQueues(g1, group, topic), heldQueues(g2, group, topic)
		all := append(slices.Clone(a), b...)
		slices.Sort(all)
		return len(a) == queues/2 && len(b) == queues/2 && len(slices.Compact(all)) == queues
	})
	for _, g := range []*Gateway{g1, g2} {
		st := g.plugins.src.set.Load().byName["wasm-avg"].plugin.Status()
		if st.Calls == 0 || st.Failures != 0 {
			t.Errorf("the plugin answered %d calls with %d failures: want it to allocate", st.Calls, st.Failures)
		}
	}
	bodies := produce(t, admin, topic, "wa", 16, "")
	seen := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < len(bodies) && time.Now().Before(deadline) {
		for _, g := range []*Gateway{g1, g2} {
			var handles []string
			for _, m := range receiveFrom(t, g, group, 64, 100, 30000).Messages {
				seen[*m.Body]++
				handles = append(handles, m.ReceiptHandle)
			}
			if len(handles) > 0 {
				complete(t, g, group, false, 0, handles...)
			}
		}
	}
	for _, b := range bodies {
		if seen[b] != 1 {
			t.Errorf("%s consumed %d times", b, seen[b])
		}
	}
}

// Swapping the version of an uploaded allocation strategy rebalances its consumers at
// once: the new assignment shows within a rebalance, not after the 20s period.
func TestStrategySwapRebalancesAtOnce(t *testing.T) {
	dc := consumeCluster(t)
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g := startGateway(t, cfg)
	const topic, group = "SwapTopic", "swap_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	wasm := plugintest.Build(t, "plugins/byconfig")
	uploadQueues := func(ids ...int) {
		t.Helper()
		var qs []map[string]any
		for _, id := range ids {
			qs = append(qs, map[string]any{"topic": topic, "brokerName": "broker-a", "queueId": id})
		}
		conf, _ := json.Marshal(map[string]any{"queues": qs})
		r := upload(t, g, "strat", "slot=allocate&config="+url.QueryEscape(string(conf)), wasm)
		if r.status != 200 && r.status != 201 {
			t.Fatalf("upload: %d %s", r.status, r.raw)
		}
	}
	uploadQueues(0, 1)
	cc := ConsumerConfig{Group: group, Subscriptions: []SubscriptionConfig{{Topic: topic}}, Allocate: "strat"} // the default 20s rebalance
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	held := func(want ...int) func() bool {
		return func() bool { return slices.Equal(heldQueues(g, group, topic), want) }
	}
	waitUntil(t, 10*time.Second, "queues 0 and 1", held(0, 1))
	start := time.Now()
	uploadQueues(2, 3)
	waitUntil(t, 5*time.Second, "queues 2 and 3 after the swap", held(2, 3))
	t.Logf("the new assignment after %v", time.Since(start))
}

// A [[consumer]] of the file may name an uploaded allocation strategy, as gateway.toml
// documents: a reload that adds it applies, and a restart on the same plugin store starts
// it, both running the uploaded plugin. The file's own check knows only its [[plugin]]s,
// so it used to refuse both.
func TestFileConsumerNamingAnUploadedStrategy(t *testing.T) {
	dc := consumeCluster(t)
	dir := t.TempDir()
	const topic, group = "UploadedStratTopic", "uploaded_strat_g"
	cfg := adminConfig(dc.NameServerAddr(), dir)
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g, stop := runGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	if r := upload(t, g, "shared-avg", "slot=allocate", plugintest.Build(t, "plugins/averagely")); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	cc := fastConsumer(group, topic, DeliveryReceive)
	cc.Allocate = "shared-avg"
	withConsumer := adminConfig(dc.NameServerAddr(), dir)
	withConsumer.Client.HeartbeatInterval = 500 * time.Millisecond
	withConsumer.Consumers = []ConsumerConfig{cc}
	runsThePlugin := func(g *Gateway) {
		t.Helper()
		waitUntil(t, 10*time.Second, "the queues held through the uploaded strategy", func() bool {
			return len(heldQueues(g, group, topic)) == 4
		})
		if calls := g.plugins.src.set.Load().byName["shared-avg"].plugin.Status().Calls; calls == 0 {
			t.Error("the uploaded strategy was never called")
		}
	}

	rep, err := g.Reload(ctxFor(t, 30*time.Second), withConsumer)
	if err != nil || len(rep.Applied) != 1 {
		t.Fatalf("reload adding the consumer: %+v %v", rep, err)
	}
	runsThePlugin(g)
	stop()

	g, stop = runGateway(t, withConsumer)
	runsThePlugin(g)
	stop()

	// A name the store does not hold either is refused at start, naming the key.
	cc.Allocate = "absent"
	withConsumer.Consumers = []ConsumerConfig{cc}
	g, err = New(withConsumer)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Start(ctxFor(t, 30*time.Second))
	var ce *ConsumerConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `allocate: "absent" is neither a [[plugin]]`) {
		t.Errorf("start with a consumer naming no plugin: %v", err)
	}
	if err == nil {
		g.Shutdown(ctxFor(t, 30*time.Second))
	}
}

// The file's consumers are checked against the plugins in effect before any of them
// starts: a gateway refusing to start for one naming no plugin has not joined the
// others' groups meanwhile (taking their queues for a moment), and its error names every
// such consumer, not only the first.
func TestStartChecksEveryConsumersPluginsBeforeStartingAny(t *testing.T) {
	var logs syncBuffer
	cfg := adminConfig("127.0.0.1:1", t.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	good := fastConsumer("good_g", "SomeTopic", DeliveryReceive)
	bad1 := fastConsumer("bad1_g", "SomeTopic", DeliveryReceive)
	bad1.Allocate = "absent"
	bad2 := fastConsumer("bad2_g", "SomeTopic", DeliveryReceive)
	bad2.ConsumeHooks = &[]string{"missing"}
	cfg.Consumers = []ConsumerConfig{good, bad1, bad2}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Start(ctxFor(t, 30*time.Second))
	var ce *ConsumerConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("start: %v, want a *ConsumerConfigError", err)
	}
	for _, want := range []string{`"bad1_g": allocate: "absent"`, `"bad2_g": consume_hooks: "missing"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error does not say %s:\n%v", want, err)
		}
	}
	if strings.Contains(logs.String(), "gateway: consumer started") {
		t.Errorf("a consumer started before the start was refused:\n%s", logs.String())
	}
}
