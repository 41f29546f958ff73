package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Orderly consumers of one group on two gateways: a queue moving from one to the other
// (a gateway joins or leaves) goes on at once at its new owner, after the message the old
// owner had leased, never beside it; not when the broker's lock expires (60 s).

// orderlyLedger records the messages received and acknowledged, by queue.
type orderlyLedger struct {
	t     *testing.T
	group string
	acked map[int32][]int64         // queue -> offsets acknowledged, in order
	seen  map[string]map[int32]bool // gateway -> queues it received from
	gws   map[*Gateway]string
}

func newOrderlyLedger(t *testing.T, group string, gws map[*Gateway]string) *orderlyLedger {
	return &orderlyLedger{t: t, group: group, acked: map[int32][]int64{}, seen: map[string]map[int32]bool{}, gws: gws}
}

// receive leases what g has (waiting up to 200 ms) for invisible and returns it.
func (l *orderlyLedger) receive(g *Gateway, invisible time.Duration) []messageJSON {
	l.t.Helper()
	msgs := receiveFrom(l.t, g, l.group, 32, 200, int(invisible/time.Millisecond)).Messages
	name := l.gws[g]
	if l.seen[name] == nil {
		l.seen[name] = map[int32]bool{}
	}
	for _, m := range msgs {
		l.seen[name][m.Queue.QueueID] = true
	}
	return msgs
}

// ack acknowledges msgs on g, each expected to answer want.
func (l *orderlyLedger) ack(g *Gateway, want string, msgs ...messageJSON) {
	l.t.Helper()
	for _, m := range msgs {
		if got := complete(l.t, g, l.group, false, 0, m.ReceiptHandle)[0]; got != want {
			l.t.Fatalf("%s: ack of queue %d offset %d: %s, want %s", l.gws[g], m.Queue.QueueID, m.Offset, got, want)
		}
		if want == handleOK {
			l.acked[m.Queue.QueueID] = append(l.acked[m.Queue.QueueID], m.Offset)
		}
	}
}

// drain receives and acknowledges on every gateway until n messages were acknowledged.
func (l *orderlyLedger) drain(n int, within time.Duration, gws ...*Gateway) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for l.count() < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("%d of %d messages acknowledged after %v: %v", l.count(), n, within, l.acked)
		}
		for _, g := range gws {
			l.ack(g, handleOK, l.receive(g, 30*time.Second)...)
		}
	}
}

func (l *orderlyLedger) count() int {
	n := 0
	for _, offs := range l.acked {
		n += len(offs)
	}
	return n
}

// checkOrder fails the test unless each queue's offsets were acknowledged once each, in
// order from 0.
func (l *orderlyLedger) checkOrder() {
	l.t.Helper()
	for q, offs := range l.acked {
		for i, o := range offs {
			if o != int64(i) {
				l.t.Errorf("queue %d acknowledged offsets %v, want 0, 1, 2... once each", q, offs)
				break
			}
		}
	}
}

// firstFrom receives on g (acknowledging nothing) until a message of one of queues comes,
// failing after within; it returns the messages of that receive.
func (l *orderlyLedger) firstFrom(g *Gateway, queues []int32, within time.Duration) []messageJSON {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		msgs := l.receive(g, 30*time.Second)
		for _, m := range msgs {
			if slices.Contains(queues, m.Queue.QueueID) {
				return msgs
			}
		}
		l.ack(g, handleOK, msgs...)
	}
	l.t.Fatalf("%s received nothing of queues %v within %v", l.gws[g], queues, within)
	return nil
}

// orderlyPair is two gateways sharing the orderly receive consumer of group on a topic of
// queues queues; the first holds them all, the second is made and not started yet.
func orderlyPair(t *testing.T, topic, group string, queues int32) (g1, g2 *Gateway, stop2 func()) {
	t.Helper()
	dc := consumeCluster(t)
	checkGatewayGoroutines(t)
	cc := fastConsumer(group, topic, DeliveryReceive)
	cc.Order = OrderOrderly
	g1 = startGateway(t, consumeConfig(dc))
	createTopic(t, g1, dc.BrokerAddr(), topic, queues)
	if err := g1.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the first gateway holding every queue", func() bool {
		return len(heldQueues(g1, group, topic)) == int(queues)
	})
	g2, err := New(consumeConfig(dc, cc))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop2 = func() {
		if !stopped {
			stopped = true
			if err := g2.Shutdown(ctxFor(t, 20*time.Second)); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
	}
	t.Cleanup(stop2)
	return g1, g2, stop2
}

// checkGatewayGoroutines checks, once the test's gateways stopped, that the goroutines
// (the dev cluster's left out) came back to what they are now.
func checkGatewayGoroutines(t *testing.T) {
	base := gatewayGoroutines()
	t.Cleanup(func() { awaitGatewayGoroutines(t, base) })
}

// awaitGatewayGoroutines waits up to 10 s for the gateway's goroutines (the dev cluster's
// left out) to come back to base, and fails the test with their stacks if they do not.
func awaitGatewayGoroutines(t *testing.T, base int) {
	t.Helper()
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for n := gatewayGoroutines(); n > base; n = gatewayGoroutines() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// cachedEverywhere reports whether g's consumer of group buffers messages of every queue
// it holds of topic.
func cachedEverywhere(g *Gateway, group, topic string) bool {
	st, err := g.ConsumerStatus(group)
	if err != nil || len(st.Queues) == 0 {
		return false
	}
	for _, q := range st.Queues {
		if q.Topic == topic && q.Cached == 0 {
			return false
		}
	}
	return true
}

func others(all, held []int) []int32 {
	var out []int32
	for _, q := range all {
		if !slices.Contains(held, q) {
			out = append(out, int32(q))
		}
	}
	return out
}

// A gateway joining takes its share of the queues at once, when the other had their
// messages buffered and none leased.
func TestOrderlyReceiveQueuesMoveOnAtOnceWhenAGatewayJoins(t *testing.T) {
	const topic, group, queues, n = "OrderJoinTopic", "order_join_g", 4, 40
	g1, g2, _ := orderlyPair(t, topic, group, queues)
	produce(t, g1, topic, "j", n, "")
	waitUntil(t, 10*time.Second, "messages buffered for every queue", func() bool { return cachedEverywhere(g1, group, topic) })
	l := newOrderlyLedger(t, group, map[*Gateway]string{g1: "g1", g2: "g2"})

	if err := g2.Start(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the queues split", func() bool { return len(heldQueues(g1, group, topic)) == queues/2 })
	moved := others([]int{0, 1, 2, 3}, heldQueues(g1, group, topic))
	l.ack(g2, handleOK, l.firstFrom(g2, moved, 10*time.Second)...)
	l.drain(n, 20*time.Second, g1, g2)
	l.checkOrder()
	for _, q := range moved {
		if l.seen["g1"][q] {
			t.Errorf("g1 handed out a message of queue %d, which moved to g2 before anything was received", q)
		}
	}
}

// A message leased when its queue moves holds the queue at its new owner until it is
// acknowledged (which counts) or its lease runs out (then the new owner delivers it
// again), and no longer.
func TestOrderlyReceiveLeaseInFlightHoldsItsQueueUntilAckedOrExpired(t *testing.T) {
	const topic, group, queues, n = "OrderLeaseTopic", "order_lease_g", 4, 16
	g1, g2, _ := orderlyPair(t, topic, group, queues)
	produce(t, g1, topic, "l", n, "")
	l := newOrderlyLedger(t, group, map[*Gateway]string{g1: "g1", g2: "g2"})
	const invisible = 4 * time.Second
	leases := map[int32]messageJSON{} // queue -> g1's lease of its first message
	var deadline time.Time            // no lease runs out before
	waitUntil(t, 10*time.Second, "a lease of each queue", func() bool {
		before := time.Now()
		for _, m := range l.receive(g1, invisible) {
			leases[m.Queue.QueueID] = m
			if deadline.IsZero() {
				deadline = before.Add(invisible)
			}
		}
		return len(leases) == queues
	})

	if err := g2.Start(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the queues split", func() bool { return len(heldQueues(g1, group, topic)) == queues/2 })
	kept := heldQueues(g1, group, topic)
	moved := others([]int{0, 1, 2, 3}, kept)
	// While g1's leases are out, g2 gets nothing of the queues it took.
	for until := time.Now().Add(time.Second); time.Now().Before(until); {
		if msgs := l.receive(g2, 30*time.Second); len(msgs) > 0 {
			t.Fatalf("g2 received queue %d offset %d while g1's lease of that queue was out",
				msgs[0].Queue.QueueID, msgs[0].Offset)
		}
	}
	// The lease of moved[0] is acknowledged: its next message comes from g2 at once.
	l.ack(g1, handleOK, leases[moved[0]])
	for _, q := range kept {
		l.ack(g1, handleOK, leases[int32(q)])
	}
	got := l.firstFrom(g2, moved[:1], 10*time.Second)
	if !time.Now().Before(deadline) {
		t.Log("the machine is slow: the other lease ran out already; its part is not checked")
	} else if slices.ContainsFunc(got, func(m messageJSON) bool { return m.Queue.QueueID == moved[1] }) {
		t.Errorf("g2 received queue %d while g1's lease of it was out", moved[1])
	}
	l.ack(g2, handleOK, got...)
	// The lease of moved[1] runs out: g2 delivers its message again.
	l.drain(n, 20*time.Second, g1, g2)
	l.checkOrder()
	if slices.Contains(l.acked[moved[0]][1:], 0) {
		t.Errorf("queue %d: offset 0, acknowledged on g1, came again: %v", moved[0], l.acked[moved[0]])
	}
	if got := complete(t, g1, group, false, 0, leases[moved[1]].ReceiptHandle)[0]; got == handleOK {
		t.Errorf("ack of the lease that ran out: %s", got)
	}
}

// A gateway leaving hands its queues on at once when it had their messages buffered and
// none leased.
func TestOrderlyReceiveQueuesMoveOnAtOnceWhenAGatewayLeaves(t *testing.T) {
	const topic, group, queues, n = "OrderLeaveTopic", "order_leave_g", 4, 40
	g1, g2, stop2 := orderlyPair(t, topic, group, queues)
	if err := g2.Start(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the queues split", func() bool {
		return len(heldQueues(g1, group, topic)) == queues/2 && len(heldQueues(g2, group, topic)) == queues/2
	})
	leaving := others([]int{0, 1, 2, 3}, heldQueues(g1, group, topic))
	produce(t, g1, topic, "v", n, "")
	waitUntil(t, 10*time.Second, "messages buffered on the gateway leaving", func() bool { return cachedEverywhere(g2, group, topic) })
	l := newOrderlyLedger(t, group, map[*Gateway]string{g1: "g1"})
	stop2()
	l.ack(g1, handleOK, l.firstFrom(g1, leaving, 10*time.Second)...)
	l.drain(n, 20*time.Second, g1)
	l.checkOrder()
}

// orderHook is a webhook that records each POST by gateway (X-Test-Gateway) and holds
// the first one until release is called.
type orderHook struct {
	*httptest.Server
	mu      sync.Mutex
	posts   []hookPost
	acked   map[int32][]int64 // queue -> offsets answered 200, in order
	hung    *hookPost
	hold    chan struct{}
	release func()
}

type hookPost struct {
	gateway string
	queue   int32
	offset  int64
}

func newOrderHook(t *testing.T) *orderHook {
	h := &orderHook{acked: map[int32][]int64{}, hold: make(chan struct{})}
	var once sync.Once
	h.release = func() { once.Do(func() { close(h.hold) }) }
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m messageJSON
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook body: %v", err)
			w.WriteHeader(400)
			return
		}
		p := hookPost{gateway: r.Header.Get("X-Test-Gateway"), queue: m.Queue.QueueID, offset: m.Offset}
		h.mu.Lock()
		h.posts = append(h.posts, p)
		first := h.hung == nil
		if first {
			h.hung = &p
		}
		h.mu.Unlock()
		if first {
			select {
			case <-h.hold:
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		h.acked[p.queue] = append(h.acked[p.queue], p.offset)
		h.mu.Unlock()
		w.WriteHeader(200)
	}))
	t.Cleanup(h.Close)
	t.Cleanup(h.release) // before Close, which waits for the POST held
	return h
}

// posted reports the POSTs of queue by gateway.
func (h *orderHook) posted(gateway string, queue int32) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.posts {
		if p.gateway == gateway && p.queue == queue {
			n++
		}
	}
	return n
}

// An orderly webhook queue moving to another gateway while its delivery waits for a free
// slot (webhook_concurrency) goes on at once there, the old owner never POSTing it; a
// queue whose POST is under way waits for its answer.
func TestOrderlyWebhookQueueWaitingForASlotMovesOnAtOnce(t *testing.T) {
	const topic, group, queues, n = "OrderHookMoveTopic", "order_hook_move_g", 4, 16
	dc := consumeCluster(t)
	checkGatewayGoroutines(t)
	h := newOrderHook(t)
	cc := func(name string) ConsumerConfig {
		c := fastConsumer(group, topic, DeliveryWebhook)
		c.Order, c.WebhookURL, c.WebhookConcurrency = OrderOrderly, h.URL, 1
		c.WebhookTimeout = 30 * time.Second
		c.WebhookHeaders = map[string]string{"X-Test-Gateway": name}
		return c
	}
	g1 := startGateway(t, consumeConfig(dc))
	// A failure below ends the held POST before g1's stop would drain it for 30 s.
	t.Cleanup(h.release)
	createTopic(t, g1, dc.BrokerAddr(), topic, queues)
	if err := g1.AddConsumer(ctxFor(t, 10*time.Second), cc("g1")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "g1 holding every queue", func() bool { return len(heldQueues(g1, group, topic)) == queues })
	produce(t, g1, topic, "w", n, "")
	waitUntil(t, 10*time.Second, "a POST held, every queue's next message waiting for its slot", func() bool {
		h.mu.Lock()
		hung := h.hung != nil
		h.mu.Unlock()
		return hung && cachedEverywhere(g1, group, topic)
	})
	h.mu.Lock()
	hung := h.hung.queue
	h.mu.Unlock()

	g2 := startGateway(t, consumeConfig(dc, cc("g2")))
	waitUntil(t, 10*time.Second, "the queues split", func() bool {
		return len(heldQueues(g1, group, topic)) == queues/2 && len(heldQueues(g2, group, topic)) == queues/2
	})
	moved := others([]int{0, 1, 2, 3}, heldQueues(g1, group, topic))
	free := slices.DeleteFunc(slices.Clone(moved), func(q int32) bool { return q == hung })
	waitUntil(t, 10*time.Second, "g2 POSTing the moved queues, the held POST still under way", func() bool {
		for _, q := range free {
			if h.posted("g2", q) == 0 {
				return false
			}
		}
		return true
	})
	if h.posted("g2", hung) > 0 {
		t.Errorf("g2 POSTed queue %d while g1's POST of it was under way", hung)
	}
	h.release()
	waitUntil(t, 20*time.Second, "every message acknowledged", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		k := 0
		for _, offs := range h.acked {
			k += len(offs)
		}
		return k >= n
	})
	for _, q := range free {
		if k := h.posted("g1", q); k > 0 {
			t.Errorf("g1 POSTed queue %d %d times, after it moved to g2", q, k)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for q, offs := range h.acked {
		for i, o := range offs {
			if o != int64(i) {
				t.Errorf("queue %d acknowledged offsets %v, want 0, 1, 2... once each", q, offs)
				break
			}
		}
	}
}
