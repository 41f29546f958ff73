package gateway

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two gateways consuming one group split its queues and get each message once; when one
// leaves, the other takes every queue and consumes what follows.
func TestTwoGatewaysShareAGroup(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group, queues = "SharedTopic", "shared_g", 8
	cc := fastConsumer(group, topic, DeliveryReceive)
	g1 := startGateway(t, consumeConfig(dc))
	createTopic(t, g1, dc.BrokerAddr(), topic, queues)
	if err := g1.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	g2, err := New(consumeConfig(dc, cc))
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = g2.Shutdown(ctxFor(t, 20*time.Second))
		}
	})
	waitUntil(t, 10*time.Second, "the queues split 4/4 with none held twice", func() bool {
		a, b := heldQueues(g1, group, topic), heldQueues(g2, group, topic)
		all := append(slices.Clone(a), b...)
		slices.Sort(all)
		return len(a) == queues/2 && len(b) == queues/2 && len(slices.Compact(all)) == queues
	})

	bodies := produce(t, g1, topic, "s", 32, "")
	seen := map[string]int{}
	from := map[*Gateway]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < len(bodies) && time.Now().Before(deadline) {
		for _, g := range []*Gateway{g1, g2} {
			a := receiveFrom(t, g, group, 64, 100, 30000)
			var handles []string
			for _, m := range a.Messages {
				seen[*m.Body]++
				from[g]++
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
	if from[g1] == 0 || from[g2] == 0 {
		t.Errorf("consumed by the first %d, by the second %d: want both", from[g1], from[g2])
	}

	// The second leaves: the first takes every queue at once (the broker tells it).
	stopped = true
	if err := g2.Shutdown(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the one left holding every queue", func() bool {
		return len(heldQueues(g1, group, topic)) == queues
	})
	more := produce(t, g1, topic, "after", 8, "")
	got := drainReceive(t, g1, group, more, 20*time.Second)
	for b := range got {
		if !slices.Contains(more, b) {
			t.Errorf("%s, acknowledged before the second left, came again", b)
		}
	}
}

// A broadcasting consumer gets every message on every gateway.
func TestBroadcastingEveryGatewayGetsEveryMessage(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "BroadTopic", "broad_g"
	cc := fastConsumer(group, topic, DeliveryReceive)
	cc.Model = ModelBroadcasting
	cc1, cc2 := cc, cc
	cc1.OffsetDir, cc2.OffsetDir = t.TempDir(), t.TempDir()
	g1 := startGateway(t, consumeConfig(dc))
	createTopic(t, g1, dc.BrokerAddr(), topic, 4)
	g2 := startGateway(t, consumeConfig(dc))
	for i, g := range []*Gateway{g1, g2} {
		if err := g.AddConsumer(ctxFor(t, 10*time.Second), []ConsumerConfig{cc1, cc2}[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "both holding every queue", func() bool {
		return len(heldQueues(g1, group, topic)) == 4 && len(heldQueues(g2, group, topic)) == 4
	})
	bodies := produce(t, g1, topic, "b", 10, "")
	for _, g := range []*Gateway{g1, g2} {
		got := drainReceive(t, g, group, bodies, 20*time.Second)
		for _, b := range bodies {
			if got[b] != 1 {
				t.Errorf("gateway %s: %s received %d times", g.Addr(), b, got[b])
			}
		}
	}
}

// The offsets acknowledged before a restart hold after it: the dev cluster keeps them in
// its data directory, and the restarted gateway consumes only what came since.
func TestOffsetsKeptAcrossARestart(t *testing.T) {
	const topic, group = "RestartTopic", "restart_g"
	dir := t.TempDir()
	cfg := func() Config {
		cfg := Config{HTTP: HTTPConfig{Listen: "127.0.0.1:0"}, Logger: discard,
			Dev:       DevConfig{Enabled: true, NameServerListen: "127.0.0.1:0", BrokerListen: "127.0.0.1:0", DataDir: dir, QueuesPerTopic: 4, DelayFactor: 0.001},
			Client:    ClientConfig{HeartbeatInterval: 500 * time.Millisecond, PollNameServerInterval: 500 * time.Millisecond},
			Consumers: []ConsumerConfig{fastConsumer(group, topic, DeliveryReceive)}}
		cfg.Admin.Listen = ptr("")
		return cfg
	}
	run := func(prefix string, n int) map[string]int {
		g, err := New(cfg())
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := g.Shutdown(ctxFor(t, 20*time.Second)); err != nil {
				t.Error(err)
			}
		}()
		bodies := produce(t, g, topic, prefix, n, "") // the first send creates the topic
		got := drainReceive(t, g, group, bodies, 20*time.Second)
		// Whatever else is there comes now.
		for _, m := range receiveFrom(t, g, group, 64, 500, 30000).Messages {
			got[*m.Body]++
		}
		return got
	}
	run("before", 6)
	after := run("after", 3)
	for b, n := range after {
		if b[:5] != "after" || n != 1 {
			t.Errorf("after the restart: %s received %d times", b, n)
		}
	}
}

// Consumers added and removed at run time leave no goroutine behind.
func TestConsumerAddRemoveLeavesNothingBehind(t *testing.T) {
	dc := consumeCluster(t)
	const topic = "ChurnTopic"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	h := newHookServer(t, func(messageJSON, int) (int, time.Duration) { return 200, 0 })
	// The dev cluster's broker grows its worker pool and delay-level timers with the load
	// and keeps them: its goroutines are not counted.
	base := gatewayGoroutines()
	for round := range 3 {
		recv := fastConsumer("churn_recv", topic, DeliveryReceive)
		hook := fastConsumer("churn_hook", topic, DeliveryWebhook)
		hook.WebhookURL = h.URL
		for _, cc := range []ConsumerConfig{recv, hook} {
			if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
				t.Fatal(err)
			}
		}
		bodies := produce(t, g, topic, "c"+string(rune('0'+round)), 4, "")
		drainReceive(t, g, "churn_recv", bodies, 20*time.Second)
		waitUntil(t, 20*time.Second, "the webhook's acks", func() bool { return h.ackedAll(bodies) })
		// A receive's lease outstanding at removal is no leak either.
		produce(t, g, topic, "leased"+string(rune('0'+round)), 1, "")
		waitUntil(t, 10*time.Second, "a lease", func() bool {
			return len(receiveFrom(t, g, "churn_recv", 1, 200, 60000).Messages) == 1
		})
		for _, group := range []string{"churn_recv", "churn_hook"} {
			if err := g.RemoveConsumer(ctxFor(t, 10*time.Second), group); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.RemoveConsumer(ctxFor(t, 10*time.Second), "churn_recv"); err == nil {
			t.Fatal("removing a removed consumer succeeded")
		}
	}
	awaitGatewayGoroutines(t, base)
}

// gatewayGoroutines counts the goroutines but the dev cluster's (its broker's worker pool
// and delay-level services).
func gatewayGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "devcluster") || strings.Contains(g, "(*workerPool).work") {
			continue
		}
		n++
	}
	return n
}

// Broadcasting has no retry topic: a failed webhook POST is retried in place, and a
// nacked receive comes again from the gateway's buffer.
func TestBroadcastingRetriesInPlace(t *testing.T) {
	dc := consumeCluster(t)
	const topic = "BroadRetryTopic"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	h := newHookServer(t, func(_ messageJSON, n int) (int, time.Duration) {
		if n < 3 {
			return 502, 0
		}
		return 200, 0
	})
	hook := fastConsumer("broad_hook_g", topic, DeliveryWebhook)
	hook.Model, hook.WebhookURL, hook.OffsetDir = ModelBroadcasting, h.URL, t.TempDir()
	recv := fastConsumer("broad_recv_g", topic, DeliveryReceive)
	recv.Model, recv.OffsetDir = ModelBroadcasting, t.TempDir()
	for _, cc := range []ConsumerConfig{hook, recv} {
		if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
			t.Fatal(err)
		}
	}
	bodies := produce(t, g, topic, "br", 2, "")
	waitUntil(t, 20*time.Second, "the webhook's third POSTs acknowledged", func() bool { return h.ackedAll(bodies) })
	h.mu.Lock()
	for _, b := range bodies {
		if h.attempts[b] != 3 {
			t.Errorf("%s: %d POSTs, want 3", b, h.attempts[b])
		}
	}
	h.mu.Unlock()

	var first []messageJSON
	waitUntil(t, 10*time.Second, "both messages received", func() bool {
		first = append(first, receiveFrom(t, g, "broad_recv_g", 32, 200, 30000).Messages...)
		return len(first) == 2
	})
	var handles []string
	for _, m := range first {
		handles = append(handles, m.ReceiptHandle)
	}
	if res := complete(t, g, "broad_recv_g", true, 3, handles...); !slices.Equal(res, []string{handleOK, handleOK}) {
		t.Fatalf("nack: %v", res)
	}
	if res := complete(t, g, "broad_recv_g", false, 0, handles...); !slices.Equal(res, []string{handleExpired, handleExpired}) {
		t.Errorf("ack of nacked handles: %v", res)
	}
	got := drainReceive(t, g, "broad_recv_g", bodies, 10*time.Second)
	for _, b := range bodies {
		if got[b] != 1 {
			t.Errorf("%s received again %d times after its nack", b, got[b])
		}
	}
}

// A consistenthash consumer that names no allocate_virtual_nodes gets Java's 10, not an
// empty ring that allocates it no queue.
func TestConsistentHashConsumerWithoutVirtualNodesHoldsQueues(t *testing.T) {
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	const topic, group = "RingTopic", "ring_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	c := fastConsumer(group, topic, DeliveryReceive)
	c.Allocate = "consistenthash"
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), c); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "all four queues held", func() bool { return len(heldQueues(g, group, topic)) == 4 })
}
