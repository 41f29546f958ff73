package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/sdk/abi"
)

// A plugin a consumer names (its allocate strategy, or one of its consume_hooks) cannot be
// deleted while that consumer runs: the consumer would go on without it (another
// allocation than its group's other gateways, messages its hook filtered or rewrote
// delivered as they are), and a [[consumer]] of the file naming it would refuse the next
// start. The DELETE answers 409 naming the consumer, and a restart starts.
func TestDeletePluginNamedByAConsumer(t *testing.T) {
	dc := consumeCluster(t)
	dir := t.TempDir()
	const topic = "PluginInUseTopic"
	cfg := consumersAdminConfig(dc.NameServerAddr(), dir)
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g, stop := runGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	if r := upload(t, g, "shared-avg", "slot=allocate", plugintest.Build(t, "plugins/averagely")); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	uploadConsumeHook(t, g, "hook")
	// A [[consumer]] of the file naming the strategy, and one added here naming the hook.
	fileConsumer := fastConsumer("file_g", topic, DeliveryReceive)
	fileConsumer.Allocate = "shared-avg"
	withConsumer := cfg
	withConsumer.Consumers = []ConsumerConfig{fileConsumer}
	if rep, err := g.Reload(ctxFor(t, 30*time.Second), withConsumer); err != nil || len(rep.Applied) != 1 {
		t.Fatalf("reload adding the consumer: %+v %v", rep, err)
	}
	added := fastConsumer("admin_g", topic, DeliveryReceive)
	added.ConsumeHooks = &[]string{"hook"}
	body, _ := json.Marshal(added)
	if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/admin_g", token: tokConsumers, body: body}); r.status != http.StatusCreated {
		t.Fatalf("adding a consumer: %d %s", r.status, r.raw)
	}

	for name, group := range map[string]string{"shared-avg": "file_g", "hook": "admin_g"} {
		r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/" + name, token: tokWriter})
		if r.status != http.StatusConflict || r.str("code") != codeConflict || !strings.Contains(r.str("error"), group) {
			t.Errorf("delete of %s, which consumer %s names: %d %s, want 409 naming the consumer", name, group, r.status, r.raw)
		}
	}
	stop()

	g, stop = runGateway(t, withConsumer)
	defer stop()
	if l := listPlugins(t, g); len(l) != 2 {
		t.Fatalf("after the restart: %+v", l)
	}
	if _, err := g.ConsumerStatus("admin_g"); err != nil {
		t.Errorf("the consumer added through the admin API after the restart: %v", err)
	}
	// Without the consumers, the plugins can go.
	for _, group := range []string{"admin_g"} {
		if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/" + group, token: tokConsumers}); r.status != http.StatusOK {
			t.Fatalf("delete consumer %s: %d %s", group, r.status, r.raw)
		}
	}
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/hook", token: tokWriter}); r.status != http.StatusOK {
		t.Errorf("delete of a plugin no consumer names: %d %s", r.status, r.raw)
	}
}

// A DELETE of a plugin that arrives while a PUT of a consumer naming it is between the
// consumer's validation and its registration: one of them loses and says why (the DELETE
// 409 naming the consumer, or the PUT 400 naming the plugin). Both succeeding would leave
// the consumer running without its hook (messages it filters delivered as they are) and
// kept naming a plugin that is gone, which the next start refuses.
func TestDeletePluginWhileAConsumerNamingItIsAdded(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "PluginRaceTopic", "race_g"
	g := startGateway(t, consumersAdminConfig(dc.NameServerAddr(), t.TempDir()))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	uploadConsumeHook(t, g, "hook")
	deleted := deleteOnValidation(g, "/v1/plugins/hook")
	c := fastConsumer(group, topic, DeliveryReceive)
	c.ConsumeHooks = &[]string{"hook"}
	body, _ := json.Marshal(c)
	put := serveAdmin(t, g.AdminHandler(), adminCall{method: "PUT", path: "/v1/consumers/" + group, token: tokConsumers, body: body})
	del := answer(t, deleted)

	switch {
	case put.status == http.StatusCreated && del.status == http.StatusOK:
		t.Fatalf("consumer %s added (%s) and the plugin it names deleted (%s)", group, put.raw, del.raw)
	case put.status == http.StatusCreated:
		if del.status != http.StatusConflict || del.str("code") != codeConflict || !strings.Contains(del.str("error"), group) {
			t.Errorf("delete of the plugin consumer %s names: %d %s, want 409 naming the consumer", group, del.status, del.raw)
		}
		if _, err := g.plugins.describe("hook"); err != nil {
			t.Errorf("the plugin the consumer names: %v", err)
		}
	case del.status == http.StatusOK:
		if put.status != http.StatusBadRequest || !strings.Contains(put.str("error"), `"hook"`) {
			t.Errorf("adding a consumer naming the deleted plugin: %d %s, want 400 naming the plugin", put.status, put.raw)
		}
		if g.consumer(group) != nil {
			t.Errorf("consumer %s runs, naming the deleted plugin", group)
		}
	default:
		t.Errorf("neither succeeded: PUT %d %s; DELETE %d %s", put.status, put.raw, del.status, del.raw)
	}
}

// A reload changing a consumer whose new settings do not start starts the old ones again.
// A plugin only the old settings name is named by no consumer while the new ones start:
// deleted then, the old settings are refused, not run without it.
func TestReloadDoesNotRestartASettingNamingAPluginDeletedMeanwhile(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "ReloadRaceTopic", "reload_race_g"
	g := startGateway(t, consumersAdminConfig(dc.NameServerAddr(), t.TempDir()))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	uploadConsumeHook(t, g, "hook")
	old := fastConsumer(group, topic, DeliveryReceive)
	old.ConsumeHooks = &[]string{"hook"}
	withOld := g.Config()
	withOld.Consumers = []ConsumerConfig{old}
	if rep, err := g.Reload(ctxFor(t, 30*time.Second), withOld); err != nil || len(rep.Applied) != 1 {
		t.Fatalf("reload adding the consumer: %+v %v", rep, err)
	}
	next := g.Config()
	next.Consumers = []ConsumerConfig{unstartableConsumer(t, g, group, topic)}

	deleted := deleteOnValidation(g, "/v1/plugins/hook")
	rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
	del := answer(t, deleted)
	if err == nil || len(rep.Failed) != 1 {
		t.Fatalf("reload: %+v %v; want the change failed", rep, err)
	}
	switch running := g.consumer(group) != nil; {
	case del.status == http.StatusOK && running:
		t.Fatalf("consumer %s runs its old settings, which name the plugin deleted meanwhile (%s)", group, rep.Failed[0])
	case del.status == http.StatusOK:
		if !strings.Contains(rep.Failed[0].Err.Error(), `"hook"`) {
			t.Errorf("the reload's failure: %s, want it to name the deleted plugin", rep.Failed[0])
		}
	case del.status == http.StatusConflict:
		if !running {
			t.Errorf("delete refused for consumer %s, which does not run: %s", group, rep.Failed[0])
		}
	default:
		t.Errorf("delete of the plugin: %d %s", del.status, del.raw)
	}
}

// deleteOnValidation sends a DELETE of path to g's admin API when the next consumer g adds
// has been validated, and goes on with the addition once the DELETE has answered or
// waits for a lock (which the addition holds, when it keeps the DELETE out). The answer
// comes on the channel.
func deleteOnValidation(g *Gateway, path string) <-chan *httptest.ResponseRecorder {
	h := g.AdminHandler()
	deleted := make(chan *httptest.ResponseRecorder, 1)
	var once sync.Once
	g.consumers.onValidated = func(string) {
		once.Do(func() {
			go func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, adminCall{method: "DELETE", path: path, token: tokWriter}.request())
				deleted <- rec
			}()
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if len(deleted) > 0 || parkedOnMutexIn("(*registry).remove") {
					return
				}
			}
		})
	}
	return deleted
}

// answer waits for the DELETE of deleteOnValidation.
func answer(t *testing.T, deleted <-chan *httptest.ResponseRecorder) reply {
	t.Helper()
	select {
	case rec := <-deleted:
		return readReply(t, rec.Result())
	case <-time.After(30 * time.Second):
		t.Fatal("the DELETE did not answer")
		return reply{}
	}
}

// parkedOnMutexIn reports whether a goroutine whose stack runs fn waits for a mutex.
func parkedOnMutexIn(fn string) bool {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[sync.Mutex.Lock") && strings.Contains(g, fn) {
			return true
		}
	}
	return false
}

// The reload tests' plugins, as [[plugin]]s of a gateway.toml: "two", a byconfig
// strategy holding queues 0 and 1 of allocTopic, where Java's averagely (the fallback) holds
// every queue; "drop", a tagfilter consume hook skipping the messages tagged Drop; "spare",
// a consume hook no consumer names.
func namedPlugins(t *testing.T, allocTopic string) (two, drop, spare PluginConfig) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, wasm []byte) string {
		t.Helper()
		file := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(file, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	queues := []any{}
	for _, id := range []int{0, 1} {
		queues = append(queues, map[string]any{"topic": allocTopic, "brokerName": "broker-a", "queueId": id})
	}
	two = PluginConfig{Name: "two", File: write("byconfig", plugintest.Build(t, "plugins/byconfig")), Slot: "allocate",
		Instances: 1, Config: map[string]any{"queues": queues}}
	drop = PluginConfig{Name: "drop", File: write("tagfilter", plugintest.Build(t, "plugins/tagfilter")), Slot: "consume",
		Instances: 1, Config: map[string]any{"tags": []any{"Drop"}, "exclude": true}}
	spare = PluginConfig{Name: "spare", File: write("spare", rawModule{version: abi.Version, kind: abi.KindConsume}.bytes()),
		Slot: "consume", Instances: 1}
	return two, drop, spare
}

// holdsTwoQueues waits until group's consumer holds queues 0 and 1 of topic, as the
// strategy "two" gives them, and checks that it still does after two more rebalances: on
// the fallback it would take all four.
func holdsTwoQueues(t *testing.T, g *Gateway, group, topic string) {
	t.Helper()
	waitUntil(t, 10*time.Second, group+" holding queues 0 and 1", func() bool {
		return slices.Equal(heldQueues(g, group, topic), []int{0, 1})
	})
	st, err := g.ConsumerStatus(group)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, group+" rebalancing twice", func() bool {
		now, err := g.ConsumerStatus(group)
		return err == nil && now.Rebalances >= st.Rebalances+2
	})
	if held := heldQueues(g, group, topic); !slices.Equal(held, []int{0, 1}) {
		t.Errorf("%s holds queues %v of %s, want 0 and 1: it runs without its strategy", group, held, topic)
	}
}

// receivedOf produces a message tagged Drop and then two tagged TagA to topic (of one
// queue: in that order), receives and acks until the TagA ones came, and returns every
// body received.
func receivedOf(t *testing.T, g *Gateway, group, topic, prefix string) (dropped string, seen map[string]int) {
	t.Helper()
	dropped = prefix + "-dropped"
	if r := post(t, g, "/v1/topics/"+topic+"/messages", map[string]any{"body": dropped, "tags": "Drop"}); r.status != http.StatusOK {
		t.Fatalf("produce %s: %d %s", dropped, r.status, r.raw)
	}
	seen = drainReceive(t, g, group, produce(t, g, topic, prefix, 2, ""), 20*time.Second)
	for _, m := range receiveFrom(t, g, group, 64, 200, 30000).Messages { // a straggler
		seen[*m.Body]++
	}
	return dropped, seen
}

// filters checks that group's consumer runs the hook "drop": the message tagged Drop is
// skipped.
func filters(t *testing.T, g *Gateway, group, topic, prefix string) {
	t.Helper()
	if dropped, seen := receivedOf(t, g, group, topic, prefix); seen[dropped] != 0 {
		t.Errorf("%s received %s, tagged Drop: it runs without its consume hook", group, dropped)
	}
}

// reloadChange returns the change of the report's list whose key is key.
func reloadChange(cs []ReloadChange, key string) (ReloadChange, bool) {
	i := slices.IndexFunc(cs, func(c ReloadChange) bool { return c.Key == key })
	if i < 0 {
		return ReloadChange{}, false
	}
	return cs[i], true
}

// pluginNames lists g's plugins as GET /v1/plugins does, "name/slot".
func pluginNames(g *Gateway) []string {
	var names []string
	for _, p := range g.plugins.list() {
		names = append(names, p.Name+"/"+p.Slot)
	}
	slices.Sort(names)
	return names
}

// A reload dropping the [[plugin]]s that running consumers name (a [[consumer]] of the
// file its allocate strategy, one added through the admin API its consume hook) does not
// remove them: each is reported failed, naming the consumers, and keeps serving them; the
// rest of the reload applies. Removed, the consumers would run the fallback: another
// allocation than their group's peers, the messages the hook skips delivered.
func TestReloadKeepsThePluginsRunningConsumersName(t *testing.T) {
	dc := consumeCluster(t)
	const allocTopic, hookTopic = "NamedAllocTopic", "NamedHookTopic"
	two, drop, spare := namedPlugins(t, allocTopic)
	allocG := fastConsumer("alloc_g", allocTopic, DeliveryReceive)
	allocG.Allocate = "two"
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	cfg.Plugin = []PluginConfig{two, drop, spare}
	cfg.Consumers = []ConsumerConfig{allocG}
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), allocTopic, 4)
	createTopic(t, g, dc.BrokerAddr(), hookTopic, 1)
	hookG := fastConsumer("hook_g", hookTopic, DeliveryReceive)
	hookG.ConsumeHooks = &[]string{"drop"}
	body, _ := json.Marshal(hookG)
	if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers, body: body}); r.status != http.StatusCreated {
		t.Fatalf("adding a consumer: %d %s", r.status, r.raw)
	}
	holdsTwoQueues(t, g, "alloc_g", allocTopic)
	filters(t, g, "hook_g", hookTopic, "before")

	// The file without its [[plugin]]s (with a plugin store, a [[consumer]] may name a
	// plugin the file does not have: an uploaded one).
	next := cfg
	next.Plugin = nil
	for _, attempt := range []string{"first", "again"} { // a failed change is tried again
		rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
		if err == nil {
			t.Fatalf("%s reload: no error; report %+v", attempt, rep)
		}
		for name, group := range map[string]string{"two": "alloc_g", "drop": "hook_g"} {
			c, ok := reloadChange(rep.Failed, `plugin "`+name+`"`)
			if !ok || c.What != "removed" || !strings.Contains(c.Err.Error(), group) || !strings.Contains(err.Error(), group) {
				t.Errorf("%s reload: failed %v (error %v), want the removal of %s failed naming consumer %s", attempt, rep.Failed, err, name, group)
			}
		}
		if len(rep.Failed) != 2 {
			t.Errorf("%s reload: failed %v, want two plugins", attempt, rep.Failed)
		}
		if attempt == "first" {
			if c, ok := reloadChange(rep.Applied, `plugin "spare"`); !ok || c.What != "removed" {
				t.Errorf("applied %v, want the plugin no consumer names removed", rep.Applied)
			}
		}
	}
	if got, want := pluginNames(g), []string{"drop/consume", "two/allocate"}; !slices.Equal(got, want) {
		t.Errorf("plugins after the reloads %v, want %v", got, want)
	}
	holdsTwoQueues(t, g, "alloc_g", allocTopic)
	filters(t, g, "hook_g", hookTopic, "after")

	// Once the consumer added through the admin API is gone, a reload dropping its plugin
	// and the [[consumer]] naming the other removes both.
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/hook_g", token: tokConsumers}); r.status != http.StatusOK {
		t.Fatalf("delete consumer hook_g: %d %s", r.status, r.raw)
	}
	next.Consumers = nil
	rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
	if err != nil || len(rep.Failed) != 0 {
		t.Fatalf("reload without the consumers: %+v %v", rep, err)
	}
	if got := pluginNames(g); len(got) != 0 {
		t.Errorf("plugins after the consumers left %v, want none", got)
	}
}

// A reload dropping [[plugin]]s together with the [[consumer]]s naming them (one removed,
// one changed to name it no more) applies all of it, the consumers' changes first: the
// report lists the changes as they apply, and a consumer's plugin leaving before the
// consumer stopped would run it on the fallback meanwhile.
func TestReloadRemovesAPluginWithTheConsumersNamingIt(t *testing.T) {
	dc := consumeCluster(t)
	const allocTopic, hookTopic = "WithAllocTopic", "WithHookTopic"
	two, drop, _ := namedPlugins(t, allocTopic)
	allocG := fastConsumer("alloc_g", allocTopic, DeliveryReceive)
	allocG.Allocate = "two"
	hookG := fastConsumer("hook_g", hookTopic, DeliveryReceive)
	hookG.ConsumeHooks = &[]string{"drop"}
	cfg := consumeConfig(dc, allocG, hookG)
	cfg.Plugins.CacheDir = testWasmCache()
	cfg.Plugin = []PluginConfig{two, drop}
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), allocTopic, 4)
	createTopic(t, g, dc.BrokerAddr(), hookTopic, 1)
	holdsTwoQueues(t, g, "alloc_g", allocTopic)
	filters(t, g, "hook_g", hookTopic, "before")

	next := cfg
	next.Plugin = nil
	unhooked := hookG
	unhooked.ConsumeHooks = &[]string{} // none
	next.Consumers = []ConsumerConfig{unhooked}
	rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
	if err != nil || len(rep.Failed) != 0 {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	var keys []string
	for _, c := range rep.Applied {
		keys = append(keys, c.Key)
	}
	if want := []string{`consumer "alloc_g"`, `consumer "hook_g"`, `plugin "two"`, `plugin "drop"`}; !slices.Equal(keys, want) {
		t.Errorf("applied %v, want %v", keys, want)
	}
	if got := pluginNames(g); len(got) != 0 {
		t.Errorf("plugins after the reload %v, want none", got)
	}
	if _, err := g.ConsumerStatus("alloc_g"); !errors.Is(err, ErrNoConsumer) {
		t.Errorf("consumer alloc_g after the reload: %v", err)
	}
	if dropped, seen := receivedOf(t, g, "hook_g", hookTopic, "after"); seen[dropped] != 1 {
		t.Errorf("hook_g, changed to run no hook, received %s %d times, want once", dropped, seen[dropped])
	}
}

// A reload moving a [[plugin]] to another slot while a running consumer names it in its
// slot is refused the same way: the plugin keeps its slot and its consumer. The same
// move with the consumer changed to name it in the new slot applies: the consumer stops
// before the move and starts after it.
func TestReloadKeepsTheSlotOfAPluginAConsumerNames(t *testing.T) {
	dc := consumeCluster(t)
	const topic, allocTopic = "ReslotTopic", "ReslotAllocTopic"
	two, drop, spare := namedPlugins(t, allocTopic)
	hookG := fastConsumer("hook_g", topic, DeliveryReceive)
	hookG.ConsumeHooks = &[]string{"drop"}
	cfg := consumeConfig(dc, hookG)
	// A plugin store: the file's own check then leaves the consumers' plugin names to the
	// gateway, which knows the uploaded ones.
	cfg.Plugins = PluginsConfig{Dir: t.TempDir(), CacheDir: testWasmCache()}
	cfg.Plugin = []PluginConfig{drop}
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	createTopic(t, g, dc.BrokerAddr(), allocTopic, 4)
	filters(t, g, "hook_g", topic, "before")

	// "drop" as a send hook.
	sendDrop := spare
	sendDrop.Name, sendDrop.Slot = "drop", "send"
	sendDrop.File = filepath.Join(t.TempDir(), "send.wasm")
	if err := os.WriteFile(sendDrop.File, rawModule{version: abi.Version, kind: abi.KindSend}.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Plugin = []PluginConfig{sendDrop}
	rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
	c, ok := reloadChange(rep.Failed, `plugin "drop"`)
	if err == nil || len(rep.Failed) != 1 || !ok || !strings.Contains(c.What, "slot") || !strings.Contains(c.Err.Error(), "hook_g") {
		t.Fatalf("reload moving the plugin: %+v %v, want it failed naming consumer hook_g", rep, err)
	}
	if got, want := pluginNames(g), []string{"drop/consume"}; !slices.Equal(got, want) {
		t.Errorf("plugins after the reload %v, want %v", got, want)
	}
	filters(t, g, "hook_g", topic, "after")

	// "drop" as the strategy "two", and hook_g allocating the queues of allocTopic with it.
	allocDrop := two
	allocDrop.Name = "drop"
	allocating := fastConsumer("hook_g", allocTopic, DeliveryReceive)
	allocating.Allocate = "drop"
	next.Plugin = []PluginConfig{allocDrop}
	next.Consumers = []ConsumerConfig{allocating}
	rep, err = g.Reload(ctxFor(t, 30*time.Second), next)
	if err != nil || len(rep.Failed) != 0 || len(rep.Applied) != 2 {
		t.Fatalf("reload moving the plugin with its consumer: %+v %v", rep, err)
	}
	if got, want := pluginNames(g), []string{"drop/allocate"}; !slices.Equal(got, want) {
		t.Errorf("plugins after the reload %v, want %v", got, want)
	}
	holdsTwoQueues(t, g, "hook_g", allocTopic)
}

// A [[plugin]] of the file deleted through the admin API is out of its slot until a
// reload or a restart loads it again. A consumer added meanwhile naming it (its allocate
// strategy, one of its consume_hooks) is refused with a 400 naming it, as one naming an
// uploaded plugin deleted is: accepted, it would run the fallback (another allocation than
// its group's peers, the messages its hook skips delivered), the file naming the plugin
// notwithstanding.
func TestConsumerNamingADeletedFilePluginIsRefused(t *testing.T) {
	dc := consumeCluster(t)
	const allocTopic, hookTopic = "DeletedAllocTopic", "DeletedHookTopic"
	two, drop, _ := namedPlugins(t, allocTopic)
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Plugin = []PluginConfig{two, drop}
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), allocTopic, 4)
	createTopic(t, g, dc.BrokerAddr(), hookTopic, 1)
	for _, name := range []string{"two", "drop"} {
		r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/" + name, token: tokWriter})
		if r.status != http.StatusOK || pluginView(t, r).Source != "file" {
			t.Fatalf("delete of the [[plugin]] %s no consumer names: %d %s", name, r.status, r.raw)
		}
	}

	allocG := fastConsumer("alloc_g", allocTopic, DeliveryReceive)
	allocG.Allocate = "two"
	hookG := fastConsumer("hook_g", hookTopic, DeliveryReceive)
	hookG.ConsumeHooks = &[]string{"drop"}
	for name, c := range map[string]ConsumerConfig{"two": allocG, "drop": hookG} {
		body, _ := json.Marshal(c)
		r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + c.Group, token: tokConsumers, body: body})
		e := r.str("error")
		if r.status != http.StatusBadRequest || !strings.Contains(e, strconv.Quote(name)) || !strings.Contains(e, "deleted through the admin API") {
			t.Errorf("adding consumer %s naming the deleted [[plugin]] %s: %d %s, want 400 naming the plugin, deleted", c.Group, name, r.status, r.raw)
		}
		if _, err := g.ConsumerStatus(c.Group); !errors.Is(err, ErrNoConsumer) {
			t.Errorf("consumer %s, naming the deleted [[plugin]] %s: %v, want none", c.Group, name, err)
		}
	}
	if kept, err := g.plugins.store.readConsumers(); err != nil || len(kept) != 0 {
		t.Errorf("consumers kept for the next start: %+v %v, want none", kept, err)
	}
}

// A [[plugin]] deleted through the admin API serves again once a reload of the file loads
// it (reported added), and a consumer naming it is then accepted and runs it; so does
// such a consumer, kept, after a restart, and a [[consumer]] naming a [[plugin]] at start.
func TestConsumerNamingAFilePluginLoadedAgainRunsIt(t *testing.T) {
	dc := consumeCluster(t)
	const allocTopic, hookTopic = "ReloadedAllocTopic", "ReloadedHookTopic"
	two, drop, _ := namedPlugins(t, allocTopic)
	hookG := fastConsumer("hook_g", hookTopic, DeliveryReceive)
	hookG.ConsumeHooks = &[]string{"drop"}
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	cfg.Plugin = []PluginConfig{two, drop}
	cfg.Consumers = []ConsumerConfig{hookG}
	g, stop := runGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), allocTopic, 4)
	createTopic(t, g, dc.BrokerAddr(), hookTopic, 1)
	filters(t, g, "hook_g", hookTopic, "start")
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/two", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("delete of the [[plugin]] two: %d %s", r.status, r.raw)
	}

	rep, err := g.Reload(ctxFor(t, 30*time.Second), cfg)
	if c, ok := reloadChange(rep.Applied, `plugin "two"`); err != nil || !ok || c.What != "added" || len(rep.Applied) != 1 {
		t.Fatalf("reload of the file as it was: %+v %v, want the deleted plugin added", rep, err)
	}
	allocG := fastConsumer("alloc_g", allocTopic, DeliveryReceive)
	allocG.Allocate = "two"
	body, _ := json.Marshal(allocG)
	if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/alloc_g", token: tokConsumers, body: body}); r.status != http.StatusCreated {
		t.Fatalf("adding a consumer naming the reloaded plugin: %d %s", r.status, r.raw)
	}
	holdsTwoQueues(t, g, "alloc_g", allocTopic)
	stop()

	g, stop = runGateway(t, cfg)
	defer stop()
	holdsTwoQueues(t, g, "alloc_g", allocTopic)
	filters(t, g, "hook_g", hookTopic, "restart")
}

// uploadConsumeHook uploads a consume hook that answers at once as plugin name.
func uploadConsumeHook(t *testing.T, g *Gateway, name string) {
	t.Helper()
	if r := upload(t, g, name, "slot=consume", rawModule{version: abi.Version, kind: abi.KindConsume}.bytes()); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
}

// An allocation plugin named like a built-in strategy replaces it for the consumers
// naming that strategy, so they name the plugin as much as any other: a DELETE of it is
// refused while one of them runs (409 naming it). Deleted, it would leave them on the
// built-in strategy while their group's peers run the plugin: two of them pulling a
// queue, or none. That holds for a consumer that started on the built-in strategy before
// the plugin was uploaded too: the upload rebalanced it onto the plugin, which it runs
// from then on, as its group's peers that took the upload do. A plugin of a built-in's
// name that no consumer runs goes: an allocation plugin no consumer names, and a consume
// hook whose name a consumer's allocate only names (that consumer runs the built-in
// strategy: the name is no allocation plugin).
func TestDeleteBuiltInNamedPluginAConsumerRuns(t *testing.T) {
	dc := consumeCluster(t)
	const topic = "BuiltInNamedTopic"
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	del := func(path string) reply {
		return callAdmin(t, g, adminCall{method: "DELETE", path: path, token: tokWriter})
	}

	// circle_g starts on the built-in circle strategy: alone in its group, it holds every
	// queue.
	circleG := fastConsumer("circle_g", topic, DeliveryReceive)
	circleG.Allocate = "circle"
	hashG := fastConsumer("hash_g", topic, DeliveryReceive)
	hashG.Allocate = "consistenthash"
	for _, c := range []ConsumerConfig{circleG, hashG} {
		body, _ := json.Marshal(c)
		if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + c.Group, token: tokConsumers, body: body}); r.status != http.StatusCreated {
			t.Fatalf("adding consumer %s: %d %s", c.Group, r.status, r.raw)
		}
	}
	waitUntil(t, 10*time.Second, "circle_g holding the four queues", func() bool {
		held := heldQueues(g, "circle_g", topic)
		slices.Sort(held)
		return slices.Equal(held, []int{0, 1, 2, 3})
	})

	// "circle", the strategy "two": circle_g rebalances onto it.
	two, _, _ := namedPlugins(t, topic)
	wasm, err := os.ReadFile(two.File)
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := json.Marshal(two.Config)
	if r := upload(t, g, "circle", "slot=allocate&config="+url.QueryEscape(string(conf)), wasm); r.status != http.StatusCreated {
		t.Fatalf("upload of circle: %d %s", r.status, r.raw)
	}
	holdsTwoQueues(t, g, "circle_g", topic)
	if r := upload(t, g, "machineroom", "slot=allocate", plugintest.Build(t, "plugins/averagely")); r.status != http.StatusCreated {
		t.Fatalf("upload of machineroom: %d %s", r.status, r.raw)
	}
	uploadConsumeHook(t, g, "consistenthash")

	r := del("/v1/plugins/circle")
	if e := r.str("error"); r.status != http.StatusConflict || r.str("code") != codeConflict || !strings.Contains(e, "circle_g") || !strings.Contains(e, "built-in") {
		t.Errorf("delete of circle, which consumer circle_g runs in place of the built-in strategy: %d %s, want 409 naming the consumer and the built-in strategy", r.status, r.raw)
	}
	holdsTwoQueues(t, g, "circle_g", topic)
	for _, name := range []string{"machineroom", "consistenthash"} {
		if r := del("/v1/plugins/" + name); r.status != http.StatusOK {
			t.Errorf("delete of %s, which no consumer runs: %d %s", name, r.status, r.raw)
		}
	}

	// Without circle_g, circle goes.
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/circle_g", token: tokConsumers}); r.status != http.StatusOK {
		t.Fatalf("delete consumer circle_g: %d %s", r.status, r.raw)
	}
	if r := del("/v1/plugins/circle"); r.status != http.StatusOK {
		t.Errorf("delete of circle once no consumer runs it: %d %s", r.status, r.raw)
	}
	if got := pluginNames(g); len(got) != 0 {
		t.Errorf("plugins %v, want none", got)
	}
}

// A reload dropping an allocation [[plugin]] named like a built-in strategy, or moving it
// to another slot, is refused while a consumer names that strategy, as for any plugin a
// consumer names: the consumer runs the plugin, and would go on with the built-in
// strategy. Dropped together with the consumer, it goes.
func TestReloadKeepsABuiltInNamedPluginItsConsumersRun(t *testing.T) {
	dc := consumeCluster(t)
	const topic = "ReloadBuiltInNamedTopic"
	two, _, spare := namedPlugins(t, topic)
	circle := two
	circle.Name = "circle"
	allocG := fastConsumer("alloc_g", topic, DeliveryReceive)
	allocG.Allocate = "circle"
	cfg := consumeConfig(dc, allocG)
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	cfg.Plugins.CacheDir = testWasmCache()
	cfg.Plugin = []PluginConfig{circle}
	g := startGateway(t, cfg)
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	holdsTwoQueues(t, g, "alloc_g", topic)

	consumeCircle := spare
	consumeCircle.Name = "circle"
	for _, c := range []struct {
		what    string // the change, as the report says it
		plugins []PluginConfig
	}{
		{"removed", nil},
		{"slot", []PluginConfig{consumeCircle}},
	} {
		next := cfg
		next.Plugin = c.plugins
		rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
		ch, ok := reloadChange(rep.Failed, `plugin "circle"`)
		if err == nil || len(rep.Failed) != 1 || !ok || !strings.Contains(ch.What, c.what) || !strings.Contains(ch.Err.Error(), "alloc_g") {
			t.Errorf("reload with circle %s: %+v %v, want it failed naming consumer alloc_g", c.what, rep, err)
		}
		if got, want := pluginNames(g), []string{"circle/allocate"}; !slices.Equal(got, want) {
			t.Errorf("plugins after the reload %v, want %v", got, want)
		}
		holdsTwoQueues(t, g, "alloc_g", topic)
	}

	next := cfg
	next.Plugin, next.Consumers = nil, nil
	if rep, err := g.Reload(ctxFor(t, 30*time.Second), next); err != nil || len(rep.Failed) != 0 {
		t.Fatalf("reload without the consumer: %+v %v", rep, err)
	}
	if got := pluginNames(g); len(got) != 0 {
		t.Errorf("plugins after the consumer left %v, want none", got)
	}
}
