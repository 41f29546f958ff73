package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
)

// hookServer is an application's webhook: it records each POST and answers as told.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	attempts map[string]int // body -> POSTs
	acked    map[string]int // body -> POSTs answered 2xx
	order    []string       // bodies answered 2xx, in order
	reconsum map[string]int32
	answer   func(m messageJSON, attempt int) (status int, delay time.Duration)
}

func newHookServer(t *testing.T, answer func(m messageJSON, attempt int) (int, time.Duration)) *hookServer {
	h := &hookServer{attempts: map[string]int{}, acked: map[string]int{}, reconsum: map[string]int32{}, answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m messageJSON
		if err := json.Unmarshal(b, &m); err != nil || m.Body == nil {
			t.Errorf("webhook body %q: %v", b, err)
			w.WriteHeader(400)
			return
		}
		// The id is the header, unless it cannot be one (then only the body has it).
		id := r.Header.Get("X-Mqgate-Message-Id")
		if r.Header.Get("X-Mqgate-Group") == "" || id != m.MessageID && (id != "" || badHeaderByte(m.MessageID) < 0) ||
			r.Header.Get("X-Mqgate-Reconsume-Times") != strconv.Itoa(int(m.ReconsumeTimes)) {
			t.Errorf("webhook headers %v for %+v", r.Header, m)
		}
		h.mu.Lock()
		h.attempts[*m.Body]++
		n := h.attempts[*m.Body]
		h.mu.Unlock()
		status, delay := h.answer(m, n)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		if status/100 == 2 {
			h.acked[*m.Body]++
			h.order = append(h.order, *m.Body)
			h.reconsum[*m.Body] = m.ReconsumeTimes
		}
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) ackedAll(bodies []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range bodies {
		if h.acked[b] == 0 {
			return false
		}
	}
	return true
}

func TestWebhookRetriesUntilAcknowledged(t *testing.T) {
	cases := []struct {
		name   string
		answer func(m messageJSON, attempt int) (int, time.Duration)
	}{
		{"500 then 200", func(_ messageJSON, n int) (int, time.Duration) {
			if n == 1 {
				return 500, 0
			}
			return 200, 0
		}},
		{"a timeout then 204", func(_ messageJSON, n int) (int, time.Duration) {
			if n == 1 {
				return 200, 2 * time.Second // past webhook_timeout: a failure
			}
			return 204, 0
		}},
	}
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic, group := "HookTopic"+strconv.Itoa(i), "hook_g"+strconv.Itoa(i)
			createTopic(t, g, dc.BrokerAddr(), topic, 4)
			h := newHookServer(t, c.answer)
			cc := fastConsumer(group, topic, DeliveryWebhook)
			cc.WebhookURL = h.URL + "/orders"
			cc.WebhookTimeout = 300 * time.Millisecond
			cc.WebhookConcurrency = 4
			if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := g.RemoveConsumer(ctxFor(t, 10*time.Second), group); err != nil {
					t.Error(err)
				}
			}()
			bodies := produce(t, g, topic, "w", 6, "")
			waitUntil(t, 20*time.Second, "every message acknowledged", func() bool { return h.ackedAll(bodies) })
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, b := range bodies {
				if h.attempts[b] < 2 || h.reconsum[b] < 1 {
					t.Errorf("%s: %d POSTs, acknowledged at reconsume %d: want a failure first", b, h.attempts[b], h.reconsum[b])
				}
			}
			st, _ := g.ConsumerStatus(group)
			if st.LastError == "" {
				t.Errorf("no last error after failed POSTs: %+v", st)
			}
		})
	}
}

// An orderly webhook gets each queue's messages in order, a failure holding the queue
// back until the same message succeeds.
func TestWebhookOrderlyKeepsQueueOrder(t *testing.T) {
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	const topic, group = "OrderHookTopic", "order_hook_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 4)
	h := newHookServer(t, func(m messageJSON, n int) (int, time.Duration) {
		seq, _ := strconv.Atoi(m.Properties["seq"])
		if seq%3 == 1 && n == 1 {
			return 503, 0
		}
		return 200, 0
	})
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.Order = OrderOrderly
	cc.WebhookURL = h.URL
	cc.Suspend = 20 * time.Millisecond
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	a := produce(t, g, topic, "a", 12, "key-a")
	b := produce(t, g, topic, "b", 12, "key-b")
	waitUntil(t, 20*time.Second, "every message acknowledged", func() bool { return h.ackedAll(append(a, b...)) })
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, want := range [][]string{a, b} {
		var got []string
		for _, body := range h.order {
			if body[0] == want[0][0] {
				got = append(got, body)
			}
		}
		if len(got) != len(want) {
			t.Errorf("acknowledged %v, want %v once each", got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("order %v, want %v", got, want)
				break
			}
		}
	}
}

// A webhook that keeps failing sends its messages to the dead letter queue: after
// max_reconsume_times, or at once when it answers X-Mqgate-Delay-Level: -1.
func TestWebhookFailuresEndInTheDeadLetterQueue(t *testing.T) {
	cases := []struct {
		name      string
		order     string
		maxTimes  *int
		header    string
		wantPOSTs int
	}{
		{"after max_reconsume_times", OrderConcurrently, ptr(2), "", 3},
		{"at the first failure with max_reconsume_times 0, as Java's", OrderConcurrently, ptr(0), "", 1},
		{"at once when the webhook says -1", OrderConcurrently, ptr(16), "-1", 1},
		// Orderly consumption retries without end by default: -1 is how an application
		// gets a message it cannot consume out of the way of the queue's next ones.
		{"orderly, at once when the webhook says -1", OrderOrderly, nil, "-1", 1},
		{"orderly, after max_reconsume_times", OrderOrderly, ptr(2), "", 3},
	}
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic, group := "DLQTopic"+strconv.Itoa(i), "dlq_g"+strconv.Itoa(i)
			createTopic(t, g, dc.BrokerAddr(), topic, 1)
			var posts sync.Map
			h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m messageJSON
				_ = json.NewDecoder(r.Body).Decode(&m)
				n, _ := posts.LoadOrStore(*m.Body, new(int))
				*n.(*int)++ // one message: POSTs are sequential
				if c.header != "" {
					w.Header().Set("X-Mqgate-Delay-Level", c.header)
				}
				w.WriteHeader(500)
			}))
			defer h.Close()
			cc := fastConsumer(group, topic, DeliveryWebhook)
			cc.WebhookURL = h.URL
			cc.Order = c.order
			cc.Suspend = 10 * time.Millisecond
			cc.MaxReconsumeTimes = c.maxTimes
			if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
				t.Fatal(err)
			}
			produce(t, g, topic, "dead", 1, "")
			dlq := "%DLQ%" + group
			waitUntil(t, 20*time.Second, "the message in "+dlq, func() bool {
				n, err := g.inst.GetMaxOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), dlq, 0)
				return err == nil && n == 1
			})
			v, _ := posts.Load("dead-0")
			if v == nil {
				t.Fatal("no POST")
			}
			if *v.(*int) != c.wantPOSTs {
				t.Errorf("POSTs before the dead letter queue: %d, want %d", *v.(*int), c.wantPOSTs)
			}
		})
	}
}

// A message whose id (UNIQ_KEY, its producer's: any client may set one) holds a CR or LF
// is delivered all the same, without the X-Mqgate-Message-Id header net/http would refuse
// (the body has the id). It was dead-lettered without one POST reaching the webhook.
func TestWebhookDeliversAMessageWhoseIDIsNoHeaderValue(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "HookIDTopic", "hook_id_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	h := newHookServer(t, func(messageJSON, int) (int, time.Duration) { return 200, 0 })
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.WebhookURL = h.URL
	cc.MaxReconsumeTimes = new(int)
	*cc.MaxReconsumeTimes = 1
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	m := &message.Message{Topic: topic, Body: []byte("poison")}
	m.SetUniqKey("ID-1\r\nX-Injected: yes")
	if _, err := g.prod.Send(ctxFor(t, 5*time.Second), m); err != nil {
		t.Fatalf("a producer sends it: %v", err)
	}
	dlq := "%DLQ%" + group
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if h.ackedAll([]string{"poison"}) {
			return
		}
		if n, err := g.inst.GetMaxOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), dlq, 0); err == nil && n == 1 {
			st, _ := g.ConsumerStatus(group)
			t.Fatalf("the message went to %s without one POST reaching the webhook; last error: %s", dlq, st.LastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the message was neither delivered nor dead-lettered")
}

// A failed POST's error, in the consumer's status (served without a token) and the log,
// names the webhook without the credentials its URL may hold (user info, a token in the
// query).
func TestWebhookErrorsHideTheURLsCredentials(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "HookLeakTopic", "hook_leak_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	h := newHookServer(t, func(messageJSON, int) (int, time.Duration) { return 500, 0 })
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.WebhookURL = strings.Replace(h.URL, "http://", "http://app:s3cret-pw@", 1) + "/hook?token=s3cret-token"
	cc.MaxReconsumeTimes = new(int)
	*cc.MaxReconsumeTimes = 1
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "leak", 1, "")
	waitUntil(t, 10*time.Second, "a failed POST", func() bool {
		st, _ := g.ConsumerStatus(group)
		return st.LastError != ""
	})
	r := get(t, g, "/v1/consumers/"+group)
	if strings.Contains(r.raw, "s3cret") {
		t.Errorf("GET /v1/consumers/%s on the application API shows the webhook's credentials: %s", group, r.raw)
	}
}

// webhook_headers reach the webhook as written, Host included: net/http takes a
// request's Host from Request.Host only, and would send the URL's (an ingress routing by
// host then answers 404 to every POST, and every message ends in the dead letter queue).
func TestWebhookHeadersHostIsSent(t *testing.T) {
	dc := consumeCluster(t)
	const topic, group = "HookHostTopic", "hook_host_g"
	g := startGateway(t, consumeConfig(dc))
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	hosts := make(chan string, 16)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host + " " + r.Header.Get("Authorization")
	}))
	defer h.Close()
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.WebhookURL = h.URL
	cc.WebhookHeaders = map[string]string{"host": "orders.internal", "Authorization": "Bearer x"}
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	produce(t, g, topic, "host", 1, "")
	select {
	case got := <-hosts:
		if got != "orders.internal Bearer x" {
			t.Errorf("the webhook got Host and Authorization %q, want %q", got, "orders.internal Bearer x")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no POST")
	}
}

// A consumer with webhook_batch POSTs {"messages": [...]} of up to that many messages of
// one queue, X-Mqgate-Count saying how many; bodies past the connection's write buffer
// (64 KiB) arrive whole as well.
func TestWebhookDeliversBatches(t *testing.T) {
	type webhookPost struct {
		count    string
		messages []messageJSON
	}
	var (
		mu    sync.Mutex
		posts []webhookPost
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Messages []messageJSON `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Errorf("webhook batch: %v", err)
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		posts = append(posts, webhookPost{r.Header.Get("X-Mqgate-Count"), b.Messages})
		mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(h.Close)
	dc := consumeCluster(t)
	g := startGateway(t, consumeConfig(dc))
	topic, group := "HookBatchTopic", "hook_batch_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	// Produced before the consumer starts, so that its pulls find batches. 6 KiB bodies,
	// some characters JSON escapes among them: 16 of them are 96 KiB.
	want := map[string]bool{}
	for i := range 48 {
		body := fmt.Sprintf("%d \"é\"\n%s", i, strings.Repeat("b", 6<<10))
		want[body] = true
		if r := post(t, g, "/v1/topics/"+topic+"/messages", map[string]any{"body": body, "sharding_key": strconv.Itoa(i % 2)}); r.status != 200 {
			t.Fatalf("produce %d: %d %s", i, r.status, r.raw)
		}
	}
	cc := fastConsumer(group, topic, DeliveryWebhook)
	cc.WebhookURL, cc.WebhookBatch = h.URL, 16
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), cc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.RemoveConsumer(ctxFor(t, 10*time.Second), group); err != nil {
			t.Error(err)
		}
	})
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range posts {
			n += len(p.messages)
		}
		return n
	}
	waitUntil(t, 20*time.Second, "every message POSTed", func() bool { return delivered() >= len(want) })
	mu.Lock()
	defer mu.Unlock()
	seen, most := map[string]int{}, 0
	for _, p := range posts {
		if n := len(p.messages); n == 0 || n > cc.WebhookBatch || p.count != strconv.Itoa(n) {
			t.Errorf("a POST of %d messages, X-Mqgate-Count %q: want 1 to %d, counted", n, p.count, cc.WebhookBatch)
		}
		most = max(most, len(p.messages))
		for _, m := range p.messages {
			if m.Queue != p.messages[0].Queue {
				t.Errorf("one POST holds queues %+v and %+v", p.messages[0].Queue, m.Queue)
			}
			if m.Body != nil {
				seen[*m.Body]++
			}
		}
	}
	for body := range want {
		if seen[body] != 1 {
			t.Errorf("message %.8q POSTed %d times", body, seen[body])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct bodies POSTed, want %d", len(seen), len(want))
	}
	if most < 2 {
		t.Errorf("no POST held more than one message (%d POSTs)", len(posts))
	}
	t.Logf("%d POSTs, the largest of %d messages", len(posts), most)
}

// BenchmarkWebhookPost is a webhook's POST of one message and of a batch of 32 (1 KiB
// bodies) to a local application, through the gateway's client and, beside it, one with
// net/http's default write buffer.
//
//	go test -run '^$' -bench WebhookPost -benchmem ./gateway
func BenchmarkWebhookPost(b *testing.B) {
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(204)
	}))
	b.Cleanup(h.Close)
	m := &message.Ext{QueueID: 3, QueueOffset: 42, BrokerName: "broker-a"}
	m.Topic, m.Body = "Orders", bytes.Repeat([]byte("m"), 1024)
	m.Properties.Set(message.PropertyUniqKey, "7F0000010001000000000000000000AB")
	m.Properties.Set(message.PropertyTags, "TagA")
	msgs := make([]*message.Ext, 32)
	for i := range msgs {
		msgs[i] = m
	}
	gatewayClient := newWebhookClient()
	defaultClient := newWebhookClient()
	tr := defaultClient.Transport.(*http.Transport).Clone()
	tr.WriteBufferSize = 0
	defaultClient.Transport = tr
	for _, n := range []int{1, 32} {
		for _, c := range []struct {
			name   string
			client *http.Client
		}{{"net-http-default", defaultClient}, {"gateway", gatewayClient}} {
			b.Run(fmt.Sprintf("messages=%d/client=%s", n, c.name), func(b *testing.B) {
				cc := ConsumerConfig{Group: "g", WebhookURL: h.URL, WebhookTimeout: 5 * time.Second, WebhookBatch: n, WebhookConcurrency: 1}
				w := newWebhook(&cc, c.client, func(error) {}, slog.New(slog.DiscardHandler))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.post(ctx, msgs[:n]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
			})
		}
	}
}
