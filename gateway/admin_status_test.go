package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/remoting"
)

// GET /v1/status describes the client instance, a consumer with its queues and the
// running info the broker gets when it asks this client, and a plugin's calls.
func TestAdminStatus(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
	file := filepath.Join(t.TempDir(), "enricher.wasm")
	if err := os.WriteFile(file, plugintest.Build(t, "plugins/enricher"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 300 * time.Millisecond
	cfg.Plugin = []PluginConfig{{Name: "enrich", File: file, Slot: "send", Config: map[string]any{"properties": map[string]any{"env": "test"}}}}
	g := startGateway(t, cfg)
	const topic, group = "StatusTopic", "status_group"
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	produce(t, g, topic, "s", 3, "")
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), fastConsumer(group, topic, "receive")); err != nil {
		t.Fatal(err)
	}
	status := func() gatewayStatus {
		r := callAdmin(t, g, adminCall{method: "GET", path: "/v1/status", token: tokStatus})
		if r.status != http.StatusOK {
			t.Fatalf("status: %d %s", r.status, r.raw)
		}
		var st gatewayStatus
		if err := json.Unmarshal([]byte(r.raw), &st); err != nil {
			t.Fatalf("%v: %s", err, r.raw)
		}
		return st
	}
	var st gatewayStatus
	ready := func() bool {
		st = status()
		return len(st.Consumers) == 1 && len(st.Consumers[0].Queues) == 2 && st.Consumers[0].RunningInfo != nil &&
			len(st.Consumers[0].RunningInfo.MQTable) == 2 && len(st.Client.Brokers) > 0 && st.Client.Brokers[0].Version != 0
	}
	for deadline := time.Now().Add(20 * time.Second); !ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := json.Marshal(st)
			t.Fatalf("no status with the consumer's 2 queues, its running info and a broker version within 20s; the last:\n%s", b)
		}
	}

	c := st.Client
	if c.ClientID != g.inst.ClientID() || c.State != "RUNNING" || !slices.Equal(c.NameServers, []string{dc.NameServerAddr()}) {
		t.Errorf("client %+v", c)
	}
	if b := c.Brokers[0]; b.Name != "broker-a" || b.ID != 0 || b.Addr != dc.BrokerAddr() || b.VersionName != "V4_9_4" {
		t.Errorf("broker %+v", b)
	}
	i := slices.IndexFunc(c.Routes, func(r routeStatus) bool { return r.Topic == topic })
	if i < 0 || c.Routes[i].PublishQueues != 2 || c.Routes[i].SubscribeQueues != 2 || c.Routes[i].Brokers[0].Addrs["0"] != dc.BrokerAddr() {
		t.Errorf("route of %s in %+v", topic, c.Routes)
	}
	if !slices.Contains(c.ProducerGroups, DefaultProducerGroup) || !slices.Contains(c.ConsumerGroups, group) {
		t.Errorf("groups %v %v", c.ProducerGroups, c.ConsumerGroups)
	}
	cs := st.Consumers[0]
	if cs.Group != group || cs.Delivery != "receive" || cs.Queues[0].Topic != topic {
		t.Errorf("consumer %+v", cs.ConsumerStatus)
	}
	if len(st.Plugins) != 1 || st.Plugins[0].Name != "enrich" || st.Plugins[0].Source != "file" || st.Plugins[0].Calls < 3 {
		t.Errorf("plugins %+v", st.Plugins)
	}

	// The running info is what the broker gets from this client for the group.
	ri := cs.RunningInfo
	viaBroker, err := g.inst.GetConsumerRunningInfo(ctxFor(t, 5*time.Second), dc.BrokerAddr(), group, g.inst.ClientID(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{remoting.PropConsumeType, remoting.PropNameServerAddr, remoting.PropClientVersion} {
		if ri.Properties[k] == "" || ri.Properties[k] != viaBroker.Properties[k] {
			t.Errorf("property %s: status %q, broker %q", k, ri.Properties[k], viaBroker.Properties[k])
		}
	}
	for _, e := range ri.MQTable {
		if _, ok := viaBroker.MQTable[e.Queue]; !ok {
			t.Errorf("queue %v of the status is not in the broker's answer", e.Queue)
		}
	}
	if len(ri.MQTable) != len(viaBroker.MQTable) || len(ri.Subscriptions) != len(viaBroker.Subscriptions) {
		t.Errorf("status %d queues %d subscriptions, broker %d and %d",
			len(ri.MQTable), len(ri.Subscriptions), len(viaBroker.MQTable), len(viaBroker.Subscriptions))
	}
}

// Before Start the status says what the configuration says, and no client.
func TestAdminStatusBeforeStart(t *testing.T) {
	g, err := New(adminConfig("127.0.0.1:9", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	r := serveAdmin(t, g.AdminHandler(), adminCall{method: "GET", path: "/v1/status", token: tokStatus})
	var st gatewayStatus
	if err := json.Unmarshal([]byte(r.raw), &st); err != nil || r.status != http.StatusOK {
		t.Fatalf("%d %s %v", r.status, r.raw, err)
	}
	if st.Client != nil || st.Serving || st.ProducerGroup != DefaultProducerGroup || st.Consumers == nil || st.Plugins == nil {
		t.Errorf("status before start %+v", st)
	}
}

func TestRunningInfoView(t *testing.T) {
	q := func(id int32) remoting.MessageQueue {
		return remoting.MessageQueue{Topic: "T", BrokerName: "b", QueueID: id}
	}
	ri := runningInfoOf(&remoting.ConsumerRunningInfo{
		MQTable:     remoting.QueueTable[remoting.ProcessQueueInfo]{q(1): {CommitOffset: 5}, q(0): {Locked: true}},
		StatusTable: map[string]remoting.ConsumeStatus{"T": {PullTPS: 3, ConsumeRT: nan()}},
	})
	if len(ri.MQTable) != 2 || ri.MQTable[0].Queue != q(0) || !ri.MQTable[0].Info.Locked || ri.MQTable[1].Info.CommitOffset != 5 {
		t.Errorf("queues not in order or lost: %+v", ri.MQTable)
	}
	if s := ri.StatusTable["T"]; s.PullTPS != 3 || s.ConsumeRT != 0 {
		t.Errorf("rates %+v", s)
	}
	if _, err := json.Marshal(ri); err != nil {
		t.Errorf("a NaN rate breaks the status: %v", err)
	}
	if runningInfoOf(nil) != nil {
		t.Error("no running info became some")
	}
}

func nan() float64 { z := 0.0; return z / z }
