package gateway

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Helpers of the consumer tests: a dev cluster with short delay levels, gateways whose
// timers are short, produce and receive through the HTTP API.

// consumeCluster is a dev cluster whose delay levels last a thousandth of Java's (level
// 3, 10s, is 10ms), so that retries come back at once.
func consumeCluster(t testing.TB) *devcluster.Cluster {
	return startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
}

// consumeConfig is a gateway on dc with fast heartbeats and route refreshes, and cc's
// consumers.
func consumeConfig(dc *devcluster.Cluster, cc ...ConsumerConfig) Config {
	cfg := testConfig(dc.NameServerAddr())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	cfg.Client.PollNameServerInterval = 500 * time.Millisecond
	off := ""
	cfg.Admin.Listen = &off
	cfg.Consumers = cc
	return cfg
}

// fastConsumer is a consumer of group on topic with short timers, delivering as said.
func fastConsumer(group, topic, delivery string) ConsumerConfig {
	return ConsumerConfig{Group: group, Subscriptions: []SubscriptionConfig{{Topic: topic}},
		Delivery: delivery, ConsumeFrom: "first", RebalanceInterval: 300 * time.Millisecond}
}

// createTopic creates topic with n queues on the dev cluster's broker and waits until the
// gateway routes it.
func createTopic(t testing.TB, g *Gateway, broker, topic string, n int32) {
	t.Helper()
	err := g.inst.CreateTopic(ctxFor(t, 5*time.Second), broker, &remoting.CreateTopicRequest{Topic: topic,
		DefaultTopic: message.AutoCreateTopicKey, ReadQueueNums: n, WriteQueueNums: n, Perm: 6,
		TopicFilterType: "SINGLE_TAG", TopicSysFlag: remoting.Some[int32](0)})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "route of "+topic, func() bool {
		_, err := g.inst.UpdateTopicRoute(ctxFor(t, 5*time.Second), topic)
		return err == nil && len(g.inst.PublishInfo(topic).Queues) == int(n)
	})
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// produce sends n messages "<prefix>-<i>" to topic through the API (with a sharding key,
// when set, all to one queue) and returns their bodies.
func produce(t testing.TB, g *Gateway, topic, prefix string, n int, shardingKey string) []string {
	t.Helper()
	bodies := make([]string, n)
	for i := range n {
		bodies[i] = fmt.Sprintf("%s-%d", prefix, i)
		req := map[string]any{"body": bodies[i], "tags": "TagA", "keys": []string{"k" + bodies[i]},
			"properties": map[string]string{"seq": fmt.Sprint(i)}}
		if shardingKey != "" {
			req["sharding_key"] = shardingKey
		}
		if r := post(t, g, "/v1/topics/"+topic+"/messages", req); r.status != 200 {
			t.Fatalf("produce %s: %d %s", bodies[i], r.status, r.raw)
		}
	}
	return bodies
}

// receiveAnswerT is a receive's answer as a client decodes it.
type receiveAnswerT struct {
	Messages      []messageJSON `json:"messages"`
	LeaseDeadline *time.Time    `json:"lease_deadline"`
}

func receiveFrom(t testing.TB, g *Gateway, group string, max, waitMs, invisibleMs int) receiveAnswerT {
	t.Helper()
	r := post(t, g, "/v1/consumers/"+group+"/receive", map[string]int{"max": max, "wait_ms": waitMs, "invisible_ms": invisibleMs})
	if r.status != 200 {
		t.Fatalf("receive: %d %s", r.status, r.raw)
	}
	var a receiveAnswerT
	if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// complete acks (or nacks) handles and returns each one's result.
func complete(t testing.TB, g *Gateway, group string, nack bool, delayLevel int, handles ...string) []string {
	t.Helper()
	path, body := "/ack", map[string]any{"receipt_handles": handles}
	if nack {
		path = "/nack"
		body["delay_level"] = delayLevel
	}
	r := post(t, g, "/v1/consumers/"+group+path, body)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", path, r.status, r.raw)
	}
	var a struct {
		Results []handleResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(a.Results))
	for i, res := range a.Results {
		out[i] = res.Result
	}
	return out
}

// drainReceive receives and acks until want bodies came (each counted), or fails after
// within; it returns how often each body came.
func drainReceive(t testing.TB, g *Gateway, group string, want []string, within time.Duration) map[string]int {
	t.Helper()
	seen := map[string]int{}
	missing := func() int {
		n := 0
		for _, b := range want {
			if seen[b] == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(within)
	for missing() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d messages not received after %v", group, missing(), len(want), within)
		}
		a := receiveFrom(t, g, group, 64, 200, 30000)
		var handles []string
		for _, m := range a.Messages {
			seen[*m.Body]++
			handles = append(handles, m.ReceiptHandle)
		}
		if len(handles) > 0 {
			for i, res := range complete(t, g, group, false, 0, handles...) {
				if res != handleOK {
					t.Errorf("ack of %s: %s", handles[i], res)
				}
			}
		}
	}
	return seen
}

// heldQueues returns the queue ids of topic g's consumer of group holds.
func heldQueues(g *Gateway, group, topic string) []int {
	st, err := g.ConsumerStatus(group)
	if err != nil {
		return nil
	}
	var ids []int
	for _, q := range st.Queues {
		if q.Topic == topic {
			ids = append(ids, q.QueueID)
		}
	}
	return ids
}
