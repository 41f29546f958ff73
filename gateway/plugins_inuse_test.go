package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
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
