package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leaktest"
)

// busyHook is an application's webhook that is busy with every POST until released, as
// an application is with the messages it holds when the gateway stops: it records the
// POSTs that reached it, those it answered 200 and those the gateway cut (the request's
// context ended first).
type busyHook struct {
	*httptest.Server
	arrived chan string // each POST's body as it arrives
	release chan struct{}
	once    sync.Once

	mu                   sync.Mutex
	posts, acked, cutOff map[string]int
}

func newBusyHook(t *testing.T) *busyHook {
	h := &busyHook{arrived: make(chan string, 64), release: make(chan struct{}),
		posts: map[string]int{}, acked: map[string]int{}, cutOff: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m messageJSON
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Body == nil {
			t.Errorf("webhook body: %v", err)
			w.WriteHeader(400)
			return
		}
		body := *m.Body
		h.mu.Lock()
		h.posts[body]++
		h.mu.Unlock()
		h.arrived <- body
		select {
		case <-h.release:
		case <-r.Context().Done():
			h.mu.Lock()
			h.cutOff[body]++
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		h.acked[body]++
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *busyHook) finish() { h.once.Do(func() { close(h.release) }) }

func (h *busyHook) counts(body string) (posts, acked, cutOff int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.posts[body], h.acked[body], h.cutOff[body]
}

func (h *busyHook) waitArrived(t *testing.T, body string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case b := <-h.arrived:
			if b == body {
				return
			}
		case <-timeout:
			t.Fatalf("no POST of %s", body)
		}
	}
}

// stopCase is a webhook consumer and how it is stopped: by the gateway's Shutdown or by
// RemoveConsumer (DELETE /v1/consumers/{group}, a reload removing it).
type stopCase struct {
	name, model, order string
	shutdown           bool
}

var stopCases = []stopCase{
	{"concurrently, clustering, gateway shutdown", ModelClustering, OrderConcurrently, true},
	{"concurrently, clustering, consumer removed", ModelClustering, OrderConcurrently, false},
	{"orderly, clustering, gateway shutdown", ModelClustering, OrderOrderly, true},
	{"orderly, clustering, consumer removed", ModelClustering, OrderOrderly, false},
	{"concurrently, broadcasting, gateway shutdown", ModelBroadcasting, OrderConcurrently, true},
	{"orderly, broadcasting, consumer removed", ModelBroadcasting, OrderOrderly, false},
}

// stopRig runs one stopCase: a gateway on its own dev cluster consuming a one-queue topic
// through a busyHook, stopped and then started again with the same client id (so that
// a broadcasting consumer finds its offsets file again).
type stopRig struct {
	c     stopCase
	cfg   Config
	cc    ConsumerConfig
	g     *Gateway
	hook  *busyHook
	topic string
}

func newStopRig(t *testing.T, c stopCase) *stopRig {
	t.Cleanup(leaktest.Check(t)) // after the dev cluster's cleanup: it starts workers of its own
	dc := consumeCluster(t)
	r := &stopRig{c: c, topic: "StopTopic", hook: newBusyHook(t)}
	r.cfg = consumeConfig(dc)
	r.cfg.Client.InstanceName = "stop-rig"
	r.g = startGateway(t, r.cfg)
	createTopic(t, r.g, dc.BrokerAddr(), r.topic, 1)
	r.cc = fastConsumer("stop_g", r.topic, DeliveryWebhook)
	r.cc.Model, r.cc.Order = c.model, c.order
	r.cc.WebhookURL = r.hook.URL
	r.cc.WebhookTimeout = 30 * time.Second // the budget, not the POST's timeout, decides here
	r.cc.Suspend = 10 * time.Millisecond
	if c.model == ModelBroadcasting {
		r.cc.OffsetDir = t.TempDir()
	}
	if err := r.g.AddConsumer(ctxFor(t, 10*time.Second), r.cc); err != nil {
		t.Fatal(err)
	}
	return r
}

// stop stops the consumer within budget, on a goroutine: its result comes on the channel.
func (r *stopRig) stop(t *testing.T, budget time.Duration) <-chan error {
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	go func() {
		defer cancel()
		if r.c.shutdown {
			done <- r.g.Shutdown(ctx)
		} else {
			done <- r.g.RemoveConsumer(ctx, r.cc.Group)
		}
	}()
	return done
}

// restart starts the consumer again: on a new gateway after a shutdown (with the same
// client id), on the same gateway after a removal.
func (r *stopRig) restart(t *testing.T) {
	if r.c.shutdown {
		r.g = startGateway(t, r.cfg)
	}
	if err := r.g.AddConsumer(ctxFor(t, 10*time.Second), r.cc); err != nil {
		t.Fatal(err)
	}
}

// committed is the consumer's committed offset of the topic's queue, -1 when unknown.
func (r *stopRig) committed() int64 {
	st, err := r.g.ConsumerStatus(r.cc.Group)
	if err != nil {
		return -1
	}
	for _, q := range st.Queues {
		if q.Topic == r.topic {
			return q.ConsumerOffset
		}
	}
	return -1
}

func awaitStop(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the stop did not return")
		return nil
	}
}

// A POST in progress when the consumer stops is waited for: the application's answer
// counts (the message is acknowledged, its offset persisted), so the consumer started
// again does not POST it a second time. It was cut, and POSTed again after every
// deploy.
func TestWebhookStopLetsThePOSTsInFlightFinish(t *testing.T) {
	for _, c := range stopCases {
		t.Run(c.name, func(t *testing.T) {
			r := newStopRig(t, c)
			produce(t, r.g, r.topic, "busy", 1, "")
			r.hook.waitArrived(t, "busy-0")

			done := r.stop(t, 20*time.Second)
			waitUntil(t, 10*time.Second, "the consumer stopping", func() bool {
				st, err := r.g.ConsumerStatus(r.cc.Group)
				return err != nil || st.State == "stopping"
			})
			// The application is still busy with the message for a while after the stop
			// began, then answers.
			time.Sleep(300 * time.Millisecond)
			r.hook.finish()
			if err := awaitStop(t, done); err != nil {
				t.Errorf("stop: %v", err)
			}
			if _, acked, cut := r.hook.counts("busy-0"); acked != 1 || cut != 0 {
				t.Fatalf("the POST in progress at the stop: answered 200 %d times, cut %d times; want answered once", acked, cut)
			}

			r.restart(t)
			produce(t, r.g, r.topic, "next", 1, "")
			waitUntil(t, 20*time.Second, "the next message acknowledged and committed", func() bool {
				_, acked, _ := r.hook.counts("next-0")
				return acked == 1 && r.committed() == 2
			})
			if posts, _, _ := r.hook.counts("busy-0"); posts != 1 {
				t.Errorf("the message acknowledged during the stop was POSTed %d times, want once", posts)
			}
		})
	}
}

// A POST that outlives the stop's budget is cut when the budget ends, so that the stop
// returns in time; its message is not lost: the consumer started again POSTs it again.
func TestWebhookStopCutsThePOSTsThatOutliveTheBudget(t *testing.T) {
	for _, c := range []stopCase{stopCases[0], stopCases[3], stopCases[4]} {
		t.Run(c.name, func(t *testing.T) {
			r := newStopRig(t, c)
			produce(t, r.g, r.topic, "stuck", 1, "")
			r.hook.waitArrived(t, "stuck-0")

			budget := 1500 * time.Millisecond
			done := r.stop(t, budget)
			waitUntil(t, 20*time.Second, "the POST cut", func() bool {
				_, _, cut := r.hook.counts("stuck-0")
				return cut == 1
			})
			if err := awaitStop(t, done); err != nil {
				t.Logf("stop: %v", err) // the budget ended: reported, not a failure
			}

			r.hook.finish()
			r.restart(t)
			waitUntil(t, 20*time.Second, "the cut message POSTed again and acknowledged", func() bool {
				_, acked, _ := r.hook.counts("stuck-0")
				return acked == 1 && r.committed() == 1
			})
			if posts, _, _ := r.hook.counts("stuck-0"); posts != 2 {
				t.Errorf("the cut message was POSTed %d times, want twice", posts)
			}
		})
	}
}

// A broadcasting consumer retries a failed POST in place (it has no retry topic), but no
// longer than its consume_timeout: then the message is dropped, as Java's broadcasting
// consumers drop it, and the queue goes on. It went on POSTing long after.
func TestWebhookBroadcastingRetriesEndWithinConsumeTimeout(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	const topic, group = "BroadcastRetryTopic", "broadcast_retry_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	var (
		mu    sync.Mutex
		times []time.Time
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m messageJSON
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m.Body != nil && *m.Body == "fail-0" {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(h.Close)
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.Model = ModelBroadcasting
	cc.OffsetDir = t.TempDir()
	cc.WebhookURL = h.URL
	cc.WebhookTimeout = 200 * time.Millisecond
	cc.ConsumeTimeout = 1500 * time.Millisecond
	cc.MaxReconsumeTimes = ptr(10000) // the limit is the consume timeout here
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "fail", 1, "")
	produce(t, g, topic, "then", 1, "")
	offset := func() int64 {
		st, _ := g.ConsumerStatus(group)
		for _, q := range st.Queues {
			return q.ConsumerOffset
		}
		return -1
	}
	waitUntil(t, 30*time.Second, "the failing message given up and the queue past it", func() bool { return offset() == 2 })
	// Any retry still under way would come within its back-off.
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 2 {
		t.Fatalf("%d POSTs: want the failed POST retried", len(times))
	}
	if span := times[len(times)-1].Sub(times[0]); span > cc.ConsumeTimeout {
		t.Errorf("%d POSTs over %v, past the consume_timeout %v", len(times), span.Round(time.Millisecond), cc.ConsumeTimeout)
	}
	st, _ := g.ConsumerStatus(group)
	if st.LastError == "" {
		t.Error("no last error after the message was given up")
	}
}

// A broadcasting consumer that stops while it retries a failed POST starts no more
// retries, and does not drop the message: the consumer started again delivers it. The
// retries went on through the stop's whole budget.
func TestWebhookBroadcastingRetriesEndWhenTheConsumerStops(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	const topic, group = "BroadcastStopTopic", "broadcast_stop_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	var (
		mu      sync.Mutex
		times   []time.Time
		healthy bool
		acked   int
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		acked++
	}))
	t.Cleanup(h.Close)
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.Model = ModelBroadcasting
	cc.OffsetDir = t.TempDir()
	cc.WebhookURL = h.URL
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "retried", 1, "")
	posts := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(times)
	}
	waitUntil(t, 20*time.Second, "the failed POST retried", func() bool { return posts() >= 3 })

	stopped := time.Now()
	if err := g.RemoveConsumer(ctxFor(t, 20*time.Second), group); err != nil {
		t.Errorf("stop: %v", err)
	}
	mu.Lock()
	var late int
	for _, at := range times {
		if at.After(stopped) {
			late++
		}
	}
	healthy = true
	mu.Unlock()
	if late > 1 { // one may have been under way
		t.Errorf("%d POSTs after the stop began", late)
	}

	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the message delivered again after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acked == 1
	})
}
