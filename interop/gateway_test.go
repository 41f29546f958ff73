package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/gateway"
)

// startGateway runs mqgate's gateway in-process against c, producing as group, and
// returns its base URL.
func startGateway(t *testing.T, c *cluster, group string) string {
	t.Helper()
	return "http://" + runGateway(t, c, gateway.Config{Producer: gateway.ProducerConfig{Group: group}}).Addr()
}

// runGateway runs a gateway in-process against c with cfg, shut down at the end of the
// test: HTTP on a free port, heartbeats every second, the admin API off unless cfg sets
// its listener; MQGATE_GATEWAY_LOG=debug (or info...) shows its log.
func runGateway(t *testing.T, c *cluster, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Client.NameServers = []string{c.namesrv}
	cfg.Client.HeartbeatInterval = time.Second
	if cfg.Admin.Listen == nil {
		off := ""
		cfg.Admin.Listen = &off
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	if lvl := os.Getenv("MQGATE_GATEWAY_LOG"); lvl != "" {
		var level slog.Level
		_ = level.UnmarshalText([]byte(lvl))
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return g
}

// gatewayMessage is the HTTP API's message object.
type gatewayMessage struct {
	Body        *string           `json:"body,omitempty"`
	BodyBase64  *string           `json:"body_base64,omitempty"`
	Tags        string            `json:"tags,omitempty"`
	Keys        []string          `json:"keys,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	DelayLevel  int               `json:"delay_level,omitempty"`
	ShardingKey string            `json:"sharding_key,omitempty"`
}

type gatewayResult struct {
	MessageID       string `json:"message_id"`
	OffsetMessageID string `json:"offset_message_id"`
	Queue           struct {
		Topic   string `json:"topic"`
		Broker  string `json:"broker"`
		QueueID int    `json:"queue_id"`
	} `json:"queue"`
	Offset int64 `json:"offset"`
}

func postJSON(t *testing.T, url string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: answer %s: %v", url, body, err)
	}
}

func text(s string) *string { return &s }

// sent is what the test produced through the gateway and expects a consumer to get.
type sent struct {
	body  []byte
	tags  string
	keys  string
	props map[string]string
	res   gatewayResult
	at    time.Time
}

func TestGatewayProducedMessagesArriveIntact(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	base := startGateway(t, c, group+"_gw")
	one, batch := base+"/v1/topics/"+topic+"/messages", base+"/v1/topics/"+topic+"/messages/batch"
	want := map[string]*sent{} // by the consumer's view of the keys

	produce := func(m gatewayMessage, body []byte) {
		t.Helper()
		var res gatewayResult
		at := time.Now()
		postJSON(t, one, m, &res)
		if res.MessageID == "" || res.Queue.Topic != topic {
			t.Fatalf("answer %+v", res)
		}
		want[strings.Join(m.Keys, " ")] = &sent{body: body, tags: m.Tags, keys: strings.Join(m.Keys, " "), props: m.Properties, res: res, at: at}
	}

	produce(gatewayMessage{Body: text("text body, ünïcode"), Tags: "TagA", Keys: []string{"gw-text", "second-key"},
		Properties: map[string]string{"color": "blue", "trace": "abc-123"}}, []byte("text body, ünïcode"))
	binary := []byte{0x00, 0x01, 0xfe, 0xff, '\n', 0x80, 'b', 'i', 'n'}
	b64 := base64.StdEncoding.EncodeToString(binary)
	produce(gatewayMessage{BodyBase64: &b64, Tags: "TagB", Keys: []string{"gw-binary"}}, binary)
	// A compressed one: larger than the producer's 4 KiB threshold.
	large := bytes.Repeat([]byte("compressible "), 1000)
	produce(gatewayMessage{Body: text(string(large)), Keys: []string{"gw-large"}}, large)
	// Ordered: one sharding key, one queue, in order.
	for i := range 5 {
		produce(gatewayMessage{Body: text(fmt.Sprintf("ordered %d", i)), Keys: []string{fmt.Sprintf("gw-order-%d", i)},
			ShardingKey: "order-1", Tags: "TagO"}, []byte(fmt.Sprintf("ordered %d", i)))
	}
	// Delayed: level 2 ("5s" on a real broker).
	produce(gatewayMessage{Body: text("delayed"), Keys: []string{"gw-delayed"}, DelayLevel: 2}, []byte("delayed"))

	// A batch: one request, one queue, consecutive offsets.
	var msgs []gatewayMessage
	for i := range 3 {
		msgs = append(msgs, gatewayMessage{Body: text(fmt.Sprintf("batch %d", i)), Tags: "TagC",
			Keys: []string{fmt.Sprintf("gw-batch-%d", i)}, Properties: map[string]string{"index": fmt.Sprint(i)}})
	}
	var br struct{ Results []gatewayResult }
	at := time.Now()
	postJSON(t, batch, map[string]any{"messages": msgs}, &br)
	if len(br.Results) != 3 {
		t.Fatalf("batch answer %+v", br)
	}
	for i, m := range msgs {
		r := br.Results[i]
		if r.Queue != br.Results[0].Queue || r.Offset != br.Results[0].Offset+int64(i) {
			t.Errorf("batch result %d: %+v, want the queue of the first and offset %d", i, r, br.Results[0].Offset+int64(i))
		}
		want[strings.Join(m.Keys, " ")] = &sent{body: []byte(*m.Body), tags: m.Tags, keys: strings.Join(m.Keys, " "), props: m.Properties, res: r, at: at}
	}
	for i := 1; i < 5; i++ {
		if a, b := want[fmt.Sprintf("gw-order-%d", i)].res, want["gw-order-0"].res; a.Queue != b.Queue {
			t.Errorf("ordered message %d went to queue %+v, the first to %+v", i, a.Queue, b.Queue)
		}
	}

	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col)
	eventually(t, 90*time.Second, fmt.Sprintf("%d messages consumed", len(want)), func() bool { return col.count() >= len(want) })
	got := col.byKey(t)
	if len(got) != len(want) {
		t.Errorf("consumed %d distinct messages, want %d: %v", len(got), len(want), keysOf(got))
	}
	for k, w := range want {
		m := got[k]
		if m == nil {
			t.Errorf("message %s not consumed", k)
			continue
		}
		if !bytes.Equal(m.Body, w.body) || m.GetTags() != w.tags || m.GetKeys() != w.keys || m.Topic != topic {
			t.Errorf("message %s arrived as body %q tags %q keys %q topic %q", k, clip(m.Body), m.GetTags(), m.GetKeys(), m.Topic)
		}
		for p, v := range w.props {
			if got := m.GetProperty(p); got != v {
				t.Errorf("message %s: property %s = %q, want %q", k, p, got, v)
			}
		}
		if m.MsgId != w.res.MessageID {
			t.Errorf("message %s: id %s, the gateway answered %s", k, m.MsgId, w.res.MessageID)
		}
		if k == "gw-delayed" {
			continue // stored again when due: at a new position, in the topic's queue for its level
		}
		if m.OffsetMsgId != w.res.OffsetMessageID {
			t.Errorf("message %s: offset id %s, the gateway answered %s", k, m.OffsetMsgId, w.res.OffsetMessageID)
		}
		if m.Queue == nil || m.Queue.QueueId != w.res.Queue.QueueID || m.QueueOffset != w.res.Offset {
			t.Errorf("message %s: queue %v offset %d, the gateway answered queue %d offset %d", k, m.Queue, m.QueueOffset, w.res.Queue.QueueID, w.res.Offset)
		}
	}
	// Ordered messages sit in their queue in the order they were sent.
	for i := 1; i < 5; i++ {
		prev, cur := got[fmt.Sprintf("gw-order-%d", i-1)], got[fmt.Sprintf("gw-order-%d", i)]
		if prev != nil && cur != nil && cur.QueueOffset <= prev.QueueOffset {
			t.Errorf("ordered message %d at offset %d, after %d at %d", i, cur.QueueOffset, i-1, prev.QueueOffset)
		}
	}
	// The delayed message waited its level.
	for _, r := range col.messages() {
		if r.msg.GetKeys() == "gw-delayed" {
			wait := 5 * c.delayUnit
			if waited := r.at.Sub(want["gw-delayed"].at); waited < wait-100*time.Millisecond {
				t.Errorf("the delayed message was delivered after %v, want at least %v", waited, wait)
			}
		}
	}
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
