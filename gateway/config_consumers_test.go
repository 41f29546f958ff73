package gateway

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/plugintest"
)

const consumersFile = `[client]
namesrv = ["127.0.0.1:9876"]

[[plugin]]
name = "wasm-avg"
file = "averagely.wasm"
slot = "allocate"

[[consumer]]
group = "orders-app"
subscriptions = [{ topic = "Orders", expression = "TagA || TagB" }, { topic = "Refunds" }]
model = "clustering"
order = "concurrently"
delivery = "receive"
receive_max_inflight = 64
receive_invisible = "1m"

[[consumer]]
group = "audit"
subscriptions = [{ topic = "Orders" }]
model = "broadcasting"
order = "orderly"
delivery = "webhook"
webhook_url = "https://audit.example/hook"
webhook_timeout = "2s"
webhook_concurrency = 4
webhook_batch = 8
webhook_headers = { Authorization = "Bearer x" }
consume_from = "timestamp"
consume_timestamp = "2026-11-01T00:00:00Z"
allocate = "wasm-avg"
consume_hooks = []
max_reconsume_times = 3
`

func TestParseConsumers(t *testing.T) {
	c, err := Parse("gateway.toml", []byte(consumersFile), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Consumers) != 2 {
		t.Fatalf("%d consumers", len(c.Consumers))
	}
	a, b := c.Consumers[0], c.Consumers[1]
	if a.pos != "gateway.toml:9" || b.pos != "gateway.toml:18" {
		t.Errorf("positions %s, %s", a.pos, b.pos)
	}
	wantSubs := []SubscriptionConfig{{"Orders", "TagA || TagB"}, {"Refunds", "*"}}
	if !reflect.DeepEqual(a.Subscriptions, wantSubs) || a.Delivery != DeliveryReceive || a.ReceiveMaxInFlight != 64 ||
		a.ReceiveInvisible != time.Minute || a.Allocate != "averagely" || a.ConsumeFrom != "last" || a.ConsumeHooks != nil ||
		a.PullThreshold != DefaultReceivePullThreshold {
		t.Errorf("first consumer %+v", a)
	}
	if b.Model != ModelBroadcasting || b.Order != OrderOrderly || b.WebhookTimeout != 2*time.Second || b.WebhookConcurrency != 4 ||
		b.WebhookBatch != 8 || b.WebhookHeaders["Authorization"] != "Bearer x" || b.Allocate != "wasm-avg" ||
		b.ConsumeHooks == nil || len(*b.ConsumeHooks) != 0 || b.MaxReconsumeTimes == nil || *b.MaxReconsumeTimes != 3 ||
		!b.consumeTimestamp().Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("second consumer %+v", b)
	}
}

func TestConsumerConfigErrors(t *testing.T) {
	head := "[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[[consumer]]\ngroup = \"g1\"\n" // [[consumer]] at line 4
	cases := []struct {
		name string
		body string // after head, from line 6
		want string
	}{
		{"no subscriptions", ``, `gateway.toml:4: [[consumer]] "g1": subscriptions: none`},
		{"unknown model", "subscriptions = [{ topic = \"T\" }]\nmodel = \"cluster\"\n",
			`gateway.toml:7: [[consumer]] "g1": model: "cluster": want clustering or broadcasting`},
		{"webhook without a URL", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\n",
			`gateway.toml:4: [[consumer]] "g1": webhook_url: empty`},
		{"a URL that is not http", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"ftp://x/y\"\n",
			`gateway.toml:8: [[consumer]] "g1": webhook_url: "ftp://x/y" is not an http(s) URL`},
		{"a URL without webhook delivery", "subscriptions = [{ topic = \"T\" }]\nwebhook_url = \"http://x/y\"\n",
			`gateway.toml:7: [[consumer]] "g1": webhook_url: set, but delivery is "receive"`},
		{"an unknown strategy", "subscriptions = [{ topic = \"T\" }]\nallocate = \"roundrobin\"\n",
			`gateway.toml:7: [[consumer]] "g1": allocate: "roundrobin" is neither a [[plugin]] of slot "allocate" nor a built-in strategy`},
		{"a consume hook that is no plugin", "subscriptions = [{ topic = \"T\" }]\nconsume_hooks = [\"nope\"]\n",
			`gateway.toml:7: [[consumer]] "g1": consume_hooks: "nope" is not a [[plugin]] of slot "consume"`},
		{"a bad topic", "subscriptions = [{ topic = \"a b\" }]\n",
			`gateway.toml:6: [[consumer]] "g1": subscriptions[0]: topic:`},
		{"a bad topic in a later subscription, at its line", "subscriptions = [\n  { topic = \"T\" },\n  { topic = \"a b\" },\n]\n",
			`gateway.toml:8: [[consumer]] "g1": subscriptions[1]: topic:`},
		{"a subscription twice, at the second's line", "subscriptions = [\n  { topic = \"T\" },\n  { topic = \"T\" },\n]\n",
			`gateway.toml:8: [[consumer]] "g1": subscriptions[1]: topic T is subscribed twice`},
		{"an expression without a tag", "subscriptions = [{ topic = \"T\", expression = \"||\" }]\n",
			`gateway.toml:6: [[consumer]] "g1": subscriptions[0]: expression "||": remoting: subscription expression "||" has no tag`},
		{"a timestamp without consume_from", "subscriptions = [{ topic = \"T\" }]\nconsume_timestamp = \"2026-01-01T00:00:00Z\"\n",
			`gateway.toml:7: [[consumer]] "g1": consume_timestamp: set, but consume_from is "last"`},
		{"byconfig without queues", "subscriptions = [{ topic = \"T\" }]\nallocate = \"byconfig\"\n",
			`gateway.toml:4: [[consumer]] "g1": allocate_queues: none`},
		// A strategy's key under another strategy is a strategy left out, not a setting.
		{"byconfig's queues under another strategy", "subscriptions = [{ topic = \"T\" }]\nallocate_queues = [\"T/broker-a/0\"]\n",
			`gateway.toml:7: [[consumer]] "g1": allocate_queues: set, but allocate is "averagely": want allocate = "byconfig"`},
		{"machineroom's rooms under another strategy", "subscriptions = [{ topic = \"T\" }]\nallocate = \"circle\"\nallocate_rooms = [\"room1\"]\n",
			`gateway.toml:8: [[consumer]] "g1": allocate_rooms: set, but allocate is "circle": want allocate = "machineroom"`},
		{"consistenthash's nodes under another strategy", "subscriptions = [{ topic = \"T\" }]\nallocate_virtual_nodes = 20\n",
			`gateway.toml:7: [[consumer]] "g1": allocate_virtual_nodes: set, but allocate is "averagely": want allocate = "consistenthash"`},
		{"too many virtual nodes", "subscriptions = [{ topic = \"T\" }]\nallocate = \"consistenthash\"\nallocate_virtual_nodes = 1099511627776\n",
			`gateway.toml:8: [[consumer]] "g1": allocate_virtual_nodes: 1099511627776 is out of 1..1000`},
		{"a negative max_reconsume_times", "subscriptions = [{ topic = \"T\" }]\nmax_reconsume_times = -1\n",
			`gateway.toml:7: [[consumer]] "g1": max_reconsume_times: -1 is out of 0..10000`},
		{"a header name HTTP refuses", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nwebhook_headers = { \"X(Bad)\" = \"v\" }\n",
			`gateway.toml:9: [[consumer]] "g1": webhook_headers: "X(Bad)" is not a header name`},
		{"a header value with a newline", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nwebhook_headers = { Authorization = \"Bearer abc\\n\" }\n",
			`gateway.toml:9: [[consumer]] "g1": webhook_headers: "Authorization": the value has a control character at byte 10`},
		{"a header net/http writes from the body", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nwebhook_headers = { content-length = \"5\" }\n",
			`gateway.toml:9: [[consumer]] "g1": webhook_headers: "content-length" is set by the gateway for each POST`},
		{"a Host net/http refuses", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nwebhook_headers = { Host = \"orders internal\" }\n",
			`gateway.toml:9: [[consumer]] "g1": webhook_headers: "Host": "orders internal" is not a host[:port]`},
		// The push consumer keeps an orderly pause within Java's 10ms..30s: a longer one
		// would be 30s without a word.
		{"a suspend beyond Java's bound", "subscriptions = [{ topic = \"T\" }]\norder = \"orderly\"\nsuspend = \"1h\"\n",
			`gateway.toml:8: [[consumer]] "g1": suspend: 1h0m0s is out of 10ms..30s`},
		{"a suspend under Java's bound", "subscriptions = [{ topic = \"T\" }]\norder = \"orderly\"\nsuspend = \"1ms\"\n",
			`gateway.toml:8: [[consumer]] "g1": suspend: 1ms is out of 10ms..30s`},
		{"rebalances back to back", "subscriptions = [{ topic = \"T\" }]\nrebalance_interval = \"1ns\"\n",
			`gateway.toml:7: [[consumer]] "g1": rebalance_interval: 1ns is under 100ms: every rebalance asks a broker for the group's members`},
		{"a webhook key under receive delivery", "subscriptions = [{ topic = \"T\" }]\nwebhook_concurrency = 50\n",
			`gateway.toml:7: [[consumer]] "g1": webhook_concurrency: set, but delivery is "receive": want delivery = "webhook"`},
		{"a receive key under webhook delivery", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nreceive_invisible = \"5m\"\n",
			`gateway.toml:9: [[consumer]] "g1": receive_invisible: set, but delivery is "webhook": want delivery = "receive"`},
		{"a negative duration", "subscriptions = [{ topic = \"T\" }]\nwebhook_timeout = \"-1s\"\n",
			`gateway.toml:7: [[consumer]] "g1": webhook_timeout: -1s is negative`},
		// The push consumer fails a delivery older than consume_timeout and sends its
		// message back: a POST still in flight then would be delivered twice.
		{"a webhook timeout past the default consume timeout", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nwebhook_timeout = \"20m\"\n",
			`gateway.toml:9: [[consumer]] "g1": webhook_timeout: 20m0s exceeds consume_timeout 15m0s`},
		{"a consume timeout under the default webhook timeout", "subscriptions = [{ topic = \"T\" }]\ndelivery = \"webhook\"\nwebhook_url = \"http://x/y\"\nconsume_timeout = \"5s\"\n",
			`gateway.toml:9: [[consumer]] "g1": consume_timeout: 5s is under webhook_timeout 10s`},
		{"a duplicate group", "subscriptions = [{ topic = \"T\" }]\n\n[[consumer]]\ngroup = \"g1\"\nsubscriptions = [{ topic = \"U\" }]\n",
			`gateway.toml:9: [[consumer]] "g1": group: a second [[consumer]] of that group`},
		{"an unknown key", "subscriptions = [{ topic = \"T\" }]\nwebhok_url = \"x\"\n",
			`gateway.toml:7: unknown key "webhok_url" in [[consumer]] (did you mean "webhook_url"?)`},
		{"a wrong type", "subscriptions = [{ topic = \"T\" }]\nwebhook_batch = \"8\"\n",
			`gateway.toml:7: key "webhook_batch" in [[consumer]]: want an integer, got a string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("gateway.toml", []byte(head+c.body), env(nil))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, c.want)
			}
		})
	}
}

// Consumers written as an inline array, one a line, are named at their own line.
func TestConsumerConfigErrorsInAnInlineArray(t *testing.T) {
	src := "consumer = [\n  { group = \"a\", subscriptions = [{ topic = \"T\" }] },\n" +
		"  { group = \"b\", subscriptions = [{ topic = \"T\" }], model = \"cluster\" },\n]\n" +
		"[client]\nnamesrv = [\"127.0.0.1:9876\"]\n"
	cfg, err := Parse("gateway.toml", []byte(src), env(nil))
	if err == nil {
		err = cfg.Validate()
	}
	want := `gateway.toml:3: [[consumer]] "b": model: "cluster": want clustering or broadcasting`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v\nwant it to contain %s", err, want)
	}
}

func TestConsumerConfigJSON(t *testing.T) {
	in := `{"group": "g", "subscriptions": [{"topic": "T"}], "delivery": "webhook", "webhook_url": "http://h/x",
		"webhook_timeout": "250ms", "receive_invisible": "1m"}`
	var cc ConsumerConfig
	if err := json.Unmarshal([]byte(in), &cc); err != nil {
		t.Fatal(err)
	}
	if cc.WebhookTimeout != 250*time.Millisecond || cc.ReceiveInvisible != time.Minute || cc.WebhookURL != "http://h/x" {
		t.Errorf("decoded %+v", cc)
	}
	out, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"webhook_timeout":"250ms"`) {
		t.Errorf("encoded %s", out)
	}
	if err := json.Unmarshal([]byte(`{"group": "g", "webhok_url": "x"}`), &cc); err == nil || !strings.Contains(err.Error(), "webhok_url") {
		t.Errorf("unknown key: %v", err)
	}
	var ce *ConsumerConfigError
	errs := (&ConsumerConfig{Group: "g"}).validate(func(string, string) bool { return false })
	if len(errs) == 0 || !errors.As(errs[0], &ce) || ce.Key != "subscriptions" {
		t.Errorf("validate: %v", errs)
	}
}

// The [[consumer]] example of the repository's gateway.toml, uncommented, is valid.
func TestDocumentedConsumerExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(plugintest.Root(), "gateway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\n# [[consumer]]")
	if !ok {
		t.Fatal("gateway.toml has no [[consumer]] example")
	}
	block, _, _ = strings.Cut("# [[consumer]]"+block, "\n\n")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "# "))
	}
	src := "[client]\nnamesrv = [\"127.0.0.1:9876\"]\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := Parse("gateway.toml", []byte(src), env(nil))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if c := cfg.Consumers[0]; c.Group != "orders-app" || c.Subscriptions[0].Expression != "TagA || TagB" || c.PullThreshold != 256 {
		t.Errorf("example decoded as %+v", c)
	}
}
