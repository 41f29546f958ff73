package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
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
	if r := upload(t, g, "hook", "slot=consume", rawModule{version: abi.Version, kind: abi.KindConsume}.bytes()); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
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
	if r := upload(t, g, "hook", "slot=consume", rawModule{version: abi.Version, kind: abi.KindConsume}.bytes()); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
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
	if r := upload(t, g, "hook", "slot=consume", rawModule{version: abi.Version, kind: abi.KindConsume}.bytes()); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	old := fastConsumer(group, topic, DeliveryReceive)
	old.ConsumeHooks = &[]string{"hook"}
	withOld := g.Config()
	withOld.Consumers = []ConsumerConfig{old}
	if rep, err := g.Reload(ctxFor(t, 30*time.Second), withOld); err != nil || len(rep.Applied) != 1 {
		t.Fatalf("reload adding the consumer: %+v %v", rep, err)
	}
	// The new settings validate and do not start: broadcasting over an offsets file that
	// does not decode.
	dir := t.TempDir()
	offsets := filepath.Join(dir, g.inst.ClientID(), group, "offsets.json")
	if err := os.MkdirAll(filepath.Dir(offsets), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(offsets, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := g.Config()
	next.Consumers = []ConsumerConfig{fastConsumer(group, topic, DeliveryReceive)}
	next.Consumers[0].Model, next.Consumers[0].OffsetDir = ModelBroadcasting, dir

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
