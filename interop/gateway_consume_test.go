package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/gateway"
	"github.com/mqgate/mqgate/internal/plugintest"
)

// The gateway's consumers (issue 6) beside rocketmq-client-go v2.1.2: messages it
// produces reach applications intact through the receive API and through a webhook, and
// a group shared with its push consumer splits the queues, the gateway allocating with
// the averagely strategy built as a WebAssembly plugin (issue 7).

// deliveredMessage is a message as the receive API and the webhook give it.
type deliveredMessage struct {
	ReceiptHandle  string            `json:"receipt_handle"`
	MessageID      string            `json:"message_id"`
	Topic          string            `json:"topic"`
	Body           *string           `json:"body"`
	BodyBase64     *string           `json:"body_base64"`
	Tags           string            `json:"tags"`
	Keys           []string          `json:"keys"`
	Properties     map[string]string `json:"properties"`
	Offset         int64             `json:"offset"`
	ReconsumeTimes int               `json:"reconsume_times"`
	Queue          struct {
		Broker  string `json:"broker"`
		QueueID int    `json:"queue_id"`
	} `json:"queue"`
}

func (m *deliveredMessage) body(t *testing.T) []byte {
	switch {
	case m.Body != nil:
		return []byte(*m.Body)
	case m.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*m.BodyBase64)
		if err != nil {
			t.Fatalf("body_base64 of %s: %v", m.MessageID, err)
		}
		return b
	}
	t.Fatalf("message %s has no body", m.MessageID)
	return nil
}

// peerMessages are what the rocketmq-client-go producer sends: text, binary, a body it
// compresses, tags, several keys, user properties.
func peerMessages(topic string) []*primitive.Message {
	text := primitive.NewMessage(topic, []byte("text body, ünïcode"))
	text.WithTag("TagA")
	text.WithKeys([]string{"peer-text", "second-key"})
	text.WithProperty("color", "blue")
	text.WithProperty("trace", "abc-123")
	binary := primitive.NewMessage(topic, []byte{0x00, 0x01, 0xfe, 0xff, '\n', 0x80, 'b'})
	binary.WithTag("TagB")
	binary.WithKeys([]string{"peer-binary"})
	large := primitive.NewMessage(topic, bytes.Repeat([]byte("compressible "), 1000))
	large.WithKeys([]string{"peer-large"})
	return []*primitive.Message{text, binary, large}
}

// checkIntact compares what was delivered with what was sent, by first key.
func checkIntact(t *testing.T, sent []*primitive.Message, got map[string]deliveredMessage, ids map[string]string) {
	t.Helper()
	for _, s := range sent {
		key := s.GetKeys()
		first, _, _ := strings.Cut(key, " ")
		m, ok := got[first]
		if !ok {
			t.Errorf("%s: not delivered", first)
			continue
		}
		if b := m.body(t); !bytes.Equal(b, s.Body) {
			t.Errorf("%s: body %q, sent %q", first, clip(b), clip(s.Body))
		}
		if m.Tags != s.GetTags() || !slices.Equal(m.Keys, strings.Fields(key)) {
			t.Errorf("%s: tags %q keys %q, sent %q %q", first, m.Tags, m.Keys, s.GetTags(), key)
		}
		for _, p := range []string{"color", "trace"} {
			if v := s.GetProperty(p); v != "" && m.Properties[p] != v {
				t.Errorf("%s: property %s = %q, sent %q", first, p, m.Properties[p], v)
			}
		}
		if ids[first] != "" && m.MessageID != ids[first] {
			t.Errorf("%s: message id %s, the producer said %s", first, m.MessageID, ids[first])
		}
	}
}

func TestGatewayDeliversWhatRocketmqClientGoProduces(t *testing.T) {
	c := startCluster(t)
	topic := name(t, "T")
	recvGroup, hookGroup := name(t, "GR"), name(t, "GW")
	c.createTopic(t, topic, 4)

	var mu sync.Mutex
	hooked := map[string]deliveredMessage{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m deliveredMessage
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %q: %v", clip(b), err)
		}
		mu.Lock()
		if len(m.Keys) > 0 {
			hooked[m.Keys[0]] = m
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	g := runGateway(t, c, gateway.Config{Consumers: []gateway.ConsumerConfig{
		{Group: recvGroup, Subscriptions: []gateway.SubscriptionConfig{{Topic: topic}}, ConsumeFrom: "first"},
		{Group: hookGroup, Subscriptions: []gateway.SubscriptionConfig{{Topic: topic}}, ConsumeFrom: "first",
			Delivery: gateway.DeliveryWebhook, WebhookURL: hook.URL},
	}})
	base := "http://" + g.Addr()

	p := newProducer(t, c, name(t, "P"))
	msgs := peerMessages(topic)
	ids := map[string]string{}
	for _, m := range msgs {
		res, err := p.SendSync(ctxFor(t, 10*time.Second), m)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send: %v %v", res, err)
		}
		first, _, _ := strings.Cut(m.GetKeys(), " ")
		ids[first] = res.MsgID
	}

	received := map[string]deliveredMessage{}
	eventually(t, 60*time.Second, "the receive API delivering every message", func() bool {
		var ans struct{ Messages []deliveredMessage }
		postJSON(t, base+"/v1/consumers/"+recvGroup+"/receive", map[string]int{"max": 32, "wait_ms": 1000}, &ans)
		var handles []string
		for _, m := range ans.Messages {
			received[m.Keys[0]] = m
			handles = append(handles, m.ReceiptHandle)
		}
		if len(handles) > 0 {
			var res struct{ Results []struct{ Result string } }
			postJSON(t, base+"/v1/consumers/"+recvGroup+"/ack", map[string]any{"receipt_handles": handles}, &res)
			for _, r := range res.Results {
				if r.Result != "ok" {
					t.Errorf("ack: %s", r.Result)
				}
			}
		}
		return len(received) == len(msgs)
	})
	checkIntact(t, msgs, received, ids)
	eventually(t, 60*time.Second, "the webhook getting every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooked) == len(msgs)
	})
	mu.Lock()
	checkIntact(t, msgs, hooked, ids)
	mu.Unlock()
}

// A group shared by a gateway allocating with the averagely WebAssembly plugin and a
// rocketmq-client-go consumer (its AllocateByAveragely) splits the queues: none held
// twice, none unheld.
func TestWasmStrategySharedWithRocketmqClientGo(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	const queues = 8
	c.createTopic(t, topic, queues)
	file := filepath.Join(t.TempDir(), "averagely.wasm")
	if err := os.WriteFile(file, plugintest.Build(t, "plugins/averagely"), 0o644); err != nil {
		t.Fatal(err)
	}
	theirs := &collector{}
	newPushConsumer(t, c, group, "peer", topic, "*", theirs)
	g := runGateway(t, c, gateway.Config{
		Plugins: gateway.PluginsConfig{CacheDir: "off"},
		Plugin:  []gateway.PluginConfig{{Name: "wasm-averagely", File: file, Slot: "allocate", Instances: 1}},
		Consumers: []gateway.ConsumerConfig{{Group: group, Subscriptions: []gateway.SubscriptionConfig{{Topic: topic}},
			ConsumeFrom: "first", Allocate: "wasm-averagely"}},
	})
	base := "http://" + g.Addr()
	sender := startMqgateInstance(t, c, "sender")
	var seq atomic.Int32
	var ours, peer, held []int
	eventually(t, 120*time.Second, "the queues split between the gateway and the peer", func() bool {
		mark := theirs.count()
		sendToEachQueue(t, sender, topic, &seq)
		// The queues this round's messages came from, to the gateway (received and
		// acknowledged) and to the peer.
		ours, peer = nil, nil
		deadline := time.Now().Add(10 * time.Second)
		for len(ours)+theirs.count()-mark < queues && time.Now().Before(deadline) {
			var ans struct{ Messages []deliveredMessage }
			postJSON(t, base+"/v1/consumers/"+group+"/receive", map[string]int{"max": 256, "wait_ms": 200}, &ans)
			var handles []string
			for _, m := range ans.Messages {
				ours = append(ours, m.Queue.QueueID)
				handles = append(handles, m.ReceiptHandle)
			}
			if len(handles) > 0 {
				var res struct{ Results []struct{ Result string } }
				postJSON(t, base+"/v1/consumers/"+group+"/ack", map[string]any{"receipt_handles": handles}, &res)
			}
		}
		for _, r := range theirs.messages()[mark:] {
			peer = append(peer, r.msg.Queue.QueueId)
		}
		sort.Ints(ours)
		sort.Ints(peer)
		held = nil
		st, err := g.ConsumerStatus(group)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range st.Queues {
			if q.Topic == topic {
				held = append(held, q.QueueID)
			}
		}
		all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(ours), peer...))))
		for _, q := range ours {
			if slices.Contains(peer, q) {
				return false
			}
		}
		return len(ours) == queues/2 && len(peer) == queues/2 && len(all) == queues && slices.Equal(held, ours)
	})
	t.Logf("the gateway holds queues %v, rocketmq-client-go consumes %v", held, peer)
}

// Against an ACL-enabled broker, a gateway signing with a non-admin account (topicB and
// groupB PUB|SUB in the distribution's plain_acl.yml) consumes topicB as groupB: pulls,
// offsets, heartbeats and a nack's send-back are all accepted.
func TestGatewayConsumesWithACL(t *testing.T) {
	c := startACLCluster(t)
	const topic, group = "topicB", "groupB"
	cfg := gateway.Config{
		Client:   gateway.ClientConfig{ACL: gateway.ACLConfig{AccessKey: "RocketMQ", SecretKey: "12345678"}},
		Producer: gateway.ProducerConfig{Group: group},
		Consumers: []gateway.ConsumerConfig{{Group: group, Subscriptions: []gateway.SubscriptionConfig{{Topic: topic}},
			ConsumeFrom: "timestamp", ConsumeTimestamp: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}},
	}
	g := runGateway(t, c, cfg)
	base := "http://" + g.Addr()
	key := "acl-" + runID
	var res gatewayResult
	postJSON(t, base+"/v1/topics/"+topic+"/messages", gatewayMessage{Body: text("signed"), Keys: []string{key}}, &res)
	if res.MessageID == "" {
		t.Fatalf("produce: %+v", res)
	}
	receive := func() *deliveredMessage {
		var found *deliveredMessage
		eventually(t, 60*time.Second, "the message received", func() bool {
			var ans struct{ Messages []deliveredMessage }
			postJSON(t, base+"/v1/consumers/"+group+"/receive", map[string]int{"max": 32, "wait_ms": 1000}, &ans)
			var others []string
			for i, m := range ans.Messages {
				if len(m.Keys) > 0 && m.Keys[0] == key {
					found = &ans.Messages[i]
				} else {
					others = append(others, m.ReceiptHandle) // another run's
				}
			}
			if len(others) > 0 {
				postJSON(t, base+"/v1/consumers/"+group+"/ack", map[string]any{"receipt_handles": others}, &struct{}{})
			}
			return found != nil
		})
		return found
	}
	m := receive()
	var out struct{ Results []struct{ Result string } }
	postJSON(t, base+"/v1/consumers/"+group+"/nack", map[string]any{"receipt_handles": []string{m.ReceiptHandle}, "delay_level": 1}, &out)
	if len(out.Results) != 1 || out.Results[0].Result != "ok" {
		t.Fatalf("nack: %+v", out)
	}
	again := receive()
	if again.ReconsumeTimes != 1 || string(again.body(t)) != "signed" {
		t.Errorf("after the nack: %+v", again)
	}
	postJSON(t, base+"/v1/consumers/"+group+"/ack", map[string]any{"receipt_handles": []string{again.ReceiptHandle}}, &out)
	if out.Results[0].Result != "ok" {
		t.Errorf("ack: %+v", out)
	}
	// (The status may show "no route": the topic is created by the first message, after
	// the consumer started.)
	if st, err := g.ConsumerStatus(group); err != nil || st.State != "running" {
		t.Errorf("status %+v, %v", st, err)
	}
}
