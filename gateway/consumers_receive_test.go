package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

func TestReceiveAckAndLeaseExpiry(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "RecvTopic", "recv_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), fastConsumer(group, topic, DeliveryReceive)); err != nil {
		t.Fatal(err)
	}
	bodies := produce(t, g, topic, "m", 8, "")

	// First receive: every message, leased for 300ms.
	got := map[string]messageJSON{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(bodies) && time.Now().Before(deadline) {
		for _, m := range receiveFrom(t, g, group, 32, 500, 300).Messages {
			if _, dup := got[*m.Body]; dup {
				t.Fatalf("%s received twice within its lease", *m.Body)
			}
			got[*m.Body] = m
		}
	}
	if len(got) != len(bodies) {
		t.Fatalf("received %d of %d", len(got), len(bodies))
	}
	m := got["m-3"]
	if m.Topic != topic || m.Tags != "TagA" || !slices.Equal(m.Keys, []string{"km-3"}) || m.Properties["seq"] != "3" ||
		m.Queue.Broker == "" || m.MessageID == "" || m.ReconsumeTimes != 0 || m.ReceiptHandle == "" {
		t.Errorf("message as received: %+v", m)
	}

	// Ack half within the lease; the others expire and come again, with new handles.
	var acked, leftOut []string
	for i, b := range bodies {
		if i%2 == 0 {
			acked = append(acked, got[b].ReceiptHandle)
		} else {
			leftOut = append(leftOut, b)
		}
	}
	for _, res := range complete(t, g, group, false, 0, acked...) {
		if res != handleOK {
			t.Fatalf("ack within the lease: %s", res)
		}
	}
	again := map[string]messageJSON{}
	deadline = time.Now().Add(10 * time.Second)
	for len(again) < len(leftOut) && time.Now().Before(deadline) {
		for _, m := range receiveFrom(t, g, group, 32, 1000, 30000).Messages {
			again[*m.Body] = m
		}
	}
	for _, b := range leftOut {
		m, ok := again[b]
		switch {
		case !ok:
			t.Errorf("%s: its lease expired but it did not come again", b)
		case m.ReceiptHandle == got[b].ReceiptHandle:
			t.Errorf("%s came again with its old handle", b)
		}
	}
	for b := range again {
		if !slices.Contains(leftOut, b) {
			t.Errorf("%s was acknowledged and came again", b)
		}
	}
	// The old handles of redelivered messages are expired; a made-up one is unknown; the
	// new ones ack.
	res := complete(t, g, group, false, 0, got[leftOut[0]].ReceiptHandle, "bm90LWEtaGFuZGxl", again[leftOut[0]].ReceiptHandle)
	if want := []string{handleExpired, handleUnknown, handleOK}; !slices.Equal(res, want) {
		t.Errorf("results %v, want %v", res, want)
	}
	var rest []string
	for _, b := range leftOut[1:] {
		rest = append(rest, again[b].ReceiptHandle)
	}
	complete(t, g, group, false, 0, rest...)
	// An acked handle acked again is unknown: its message is done.
	if res := complete(t, g, group, false, 0, acked[0]); res[0] != handleUnknown {
		t.Errorf("ack of an acked handle: %s", res[0])
	}
	// Nothing acked comes again.
	if a := receiveFrom(t, g, group, 32, 700, 30000); len(a.Messages) != 0 {
		t.Errorf("after every ack, received %d messages, first %s", len(a.Messages), *a.Messages[0].Body)
	}
	waitUntil(t, 5*time.Second, "lag 0 and nothing in flight", func() bool {
		st, _ := g.ConsumerStatus(group)
		return st.Lag == 0 && st.InFlight == 0 && st.Buffered == 0 && len(heldQueues(g, group, topic)) == 4
	})
}

func TestReceiveNackRedeliversAfterTheDelay(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "NackTopic", "nack_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), fastConsumer(group, topic, DeliveryReceive)); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "n", 1, "")
	var first messageJSON
	waitUntil(t, 10*time.Second, "the message", func() bool {
		a := receiveFrom(t, g, group, 1, 500, 30000)
		if len(a.Messages) == 1 {
			first = a.Messages[0]
		}
		return len(a.Messages) == 1
	})
	if res := complete(t, g, group, true, 2, first.ReceiptHandle); res[0] != handleOK {
		t.Fatalf("nack: %s", res[0])
	}
	var second messageJSON
	waitUntil(t, 10*time.Second, "the message again", func() bool {
		a := receiveFrom(t, g, group, 1, 500, 30000)
		if len(a.Messages) == 1 {
			second = a.Messages[0]
		}
		return len(a.Messages) == 1
	})
	if *second.Body != *first.Body || second.ReconsumeTimes != 1 || second.MessageID != first.MessageID || second.Topic != topic {
		t.Errorf("after a nack: %+v, first %+v", second, first)
	}
	complete(t, g, group, false, 0, second.ReceiptHandle)
	if a := receiveFrom(t, g, group, 1, 500, 30000); len(a.Messages) != 0 {
		t.Errorf("acked after its nack, it came again: %+v", a.Messages[0])
	}
}

func TestReceiveErrors(t *testing.T) {
	dc := consumeCluster(t)
	const topic = "ErrTopic"
	hook := fastConsumer("hook_g", topic, DeliveryWebhook)
	hook.WebhookURL = "http://127.0.0.1:1/never"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	for _, cc := range []ConsumerConfig{fastConsumer("recv_g", topic, DeliveryReceive), hook} {
		if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"an unknown group is 404", "/v1/consumers/nobody/receive", map[string]int{"max": 1}, 404, codeConsumerNotFound},
		{"ack on an unknown group is 404", "/v1/consumers/nobody/ack", map[string]any{"receipt_handles": []string{"x"}}, 404, codeConsumerNotFound},
		{"receive from a webhook consumer is 409", "/v1/consumers/hook_g/receive", map[string]int{"max": 1}, 409, codeWrongDelivery},
		{"max over the limit", "/v1/consumers/recv_g/receive", map[string]int{"max": 100000}, 400, codeBadRequest},
		{"wait over the limit", "/v1/consumers/recv_g/receive", map[string]int{"wait_ms": 3600000}, 400, codeBadRequest},
		{"a wait that overflows a duration", "/v1/consumers/recv_g/receive", map[string]int64{"wait_ms": 9223372036855}, 400, codeBadRequest},
		{"a lease that overflows a duration", "/v1/consumers/recv_g/receive", map[string]int64{"invisible_ms": 9223372036855}, 400, codeBadRequest},
		{"unknown field", "/v1/consumers/recv_g/receive", map[string]int{"maxx": 1}, 400, codeBadRequest},
		{"ack without handles", "/v1/consumers/recv_g/ack", map[string]any{"receipt_handles": []string{}}, 400, codeBadRequest},
		{"ack with a delay", "/v1/consumers/recv_g/ack", map[string]any{"receipt_handles": []string{"x"}, "delay_level": 3}, 400, codeBadRequest},
		// A level past the last, not the dead letter queue its int32 wrap would make of it.
		{"nack past the last delay level", "/v1/consumers/recv_g/nack", map[string]any{"receipt_handles": []string{"x"}, "delay_level": 19}, 400, codeBadRequest},
		{"nack with a level that wraps to -1", "/v1/consumers/recv_g/nack", map[string]any{"receipt_handles": []string{"x"}, "delay_level": 4294967295}, 400, codeBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, g, c.path, c.body)
			if r.status != c.status || r.str("code") != c.code {
				t.Errorf("%d %s, want %d %s", r.status, r.raw, c.status, c.code)
			}
		})
	}
	// An empty receive with no wait answers at once, with no messages.
	start := time.Now()
	r := post(t, g, "/v1/consumers/recv_g/receive", "")
	if r.status != 200 || time.Since(start) > 2*time.Second {
		t.Errorf("empty receive: %d %s after %v", r.status, r.raw, time.Since(start))
	}
	// The status on the application API.
	st := get(t, g, "/v1/consumers/recv_g")
	if st.status != 200 || st.str("group") != "recv_g" || st.str("delivery") != "receive" || st.str("state") != "running" {
		t.Errorf("status: %d %s", st.status, st.raw)
	}
	if r := get(t, g, "/v1/consumers/nobody"); r.status != 404 {
		t.Errorf("status of an unknown group: %d %s", r.status, r.raw)
	}
}

// A long poll ends when Shutdown begins, not after its wait.
func TestReceiveLongPollEndsAtShutdown(t *testing.T) {
	dc := consumeCluster(t)
	g, err := New(consumeConfig(dc, fastConsumer("poll_g", "PollTopic", DeliveryReceive)))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan reply, 1)
	go func() { done <- post(t, g, "/v1/consumers/poll_g/receive", map[string]int{"wait_ms": 30000}) }()
	c := g.consumer("poll_g")
	waitUntil(t, 5*time.Second, "the long poll waiting", func() bool { return c.recv.waiting.Load() == 1 })
	start := time.Now()
	if err := g.Shutdown(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v with a long poll waiting", d)
	}
	select {
	case r := <-done:
		if r.status != 200 {
			t.Errorf("long poll at shutdown: %d %s", r.status, r.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not end")
	}
}

// Once Shutdown begins, a receive leases nothing: the application could not ack it
// (the API stops taking requests), so a message handed out then would be consumed again
// after the restart, a duplicate. Left buffered, it is consumed once, then.
func TestReceiveLeasesNothingOnceShutdownBegins(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "DrainRecvTopic", "drain_recv_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), fastConsumer(group, topic, DeliveryReceive)); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "drain", 3, "")
	c := g.consumer(group)
	waitUntil(t, 10*time.Second, "the messages buffered", func() bool { _, n := c.recv.counts(); return n == 3 })
	g.api.drain()
	g.drainConsumers() // Shutdown's first steps, before the listener closes
	if a := receiveFrom(t, g, group, 8, 1000, 30000); len(a.Messages) != 0 {
		t.Errorf("a receive once Shutdown began leased %d messages", len(a.Messages))
	}
	if leased, _ := c.recv.counts(); leased != 0 {
		t.Errorf("%d messages leased", leased)
	}
}

// An orderly receive consumer leases one message per queue at a time, in the queue's
// order; an expired lease hands the same message out again before the next one.
func TestReceiveOrderlyOneLeasePerQueue(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "OrderRecvTopic", "order_recv_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	cc := fastConsumer(group, topic, DeliveryReceive)
	cc.Order = OrderOrderly
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	a := produce(t, g, topic, "a", 5, "key-a")
	b := produce(t, g, topic, "b", 5, "key-b")
	want := map[byte][]string{'a': a, 'b': b}
	got := map[byte][]string{}
	expired := false
	deadline := time.Now().Add(20 * time.Second)
	for len(got['a'])+len(got['b']) < 10 && time.Now().Before(deadline) {
		ans := receiveFrom(t, g, group, 32, 300, 200)
		perQueue := map[int]int{}
		var handles []string
		for _, m := range ans.Messages {
			if perQueue[int(m.Queue.QueueID)]++; perQueue[int(m.Queue.QueueID)] > 1 {
				t.Fatalf("two leases of queue %d at once", m.Queue.QueueID)
			}
			if *m.Body == "a-2" && !expired {
				expired = true // not acked: its lease runs out, and it must come again first
				continue
			}
			got[(*m.Body)[0]] = append(got[(*m.Body)[0]], *m.Body)
			handles = append(handles, m.ReceiptHandle)
		}
		if len(handles) > 0 {
			for _, r := range complete(t, g, group, false, 0, handles...) {
				if r != handleOK {
					t.Fatalf("ack: %s", r)
				}
			}
		}
	}
	if !expired {
		t.Fatal("a-2 never came")
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("acknowledged %v, want %v", got[k], w)
		}
	}
}

// A reset of the group's offsets drops its queues on this gateway: the messages buffered
// for them and not received yet are not handed out any more (Java's consumer skips a
// dropped queue's requests too), so that a reset to "now" skips the backlog.
func TestReceiveAfterAResetSkipsTheBufferedBacklog(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "ResetRecvTopic", "reset_recv_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), fastConsumer(group, topic, DeliveryReceive)); err != nil {
		t.Fatal(err)
	}
	old := produce(t, g, topic, "old", 6, "")
	c := g.consumer(group)
	waitUntil(t, 10*time.Second, "the backlog buffered", func() bool {
		_, buffered := c.recv.counts()
		return buffered == len(old)
	})
	// The broker resets only a group with offsets stored (nothing was acknowledged yet).
	for q := range int32(2) {
		h := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: q, CommitOffset: 0}
		if err := g.inst.UpdateConsumerOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), h); err != nil {
			t.Fatal(err)
		}
	}
	res, err := g.inst.ResetOffsetByTimestamp(ctxFor(t, 10*time.Second), group, topic, instance.ResetLatest, true)
	if err != nil || res.Direct {
		t.Fatalf("reset to now: %+v, %v", res, err)
	}
	fresh := produce(t, g, topic, "new", 1, "")
	seen := drainReceive(t, g, group, fresh, 10*time.Second)
	for _, b := range old {
		if seen[b] > 0 {
			t.Errorf("%s, skipped by the reset, was received", b)
		}
	}
}
