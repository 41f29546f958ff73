package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testBroker is a started broker over a memory store, with a client connected to it.
type testBroker struct {
	t     testing.TB
	b     *Broker
	store *store.Store
	addr  string
	cl    *netpoll.Client
}

// listen binds a loopback port for a broker, so the store can be opened with its address.
func listen(t testing.TB) (net.Listener, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, netip.MustParseAddrPort(ln.Addr().String())
}

// startBroker starts a broker; edit adjusts its config (and may replace the store).
func startBroker(t testing.TB, edit func(*Config)) *testBroker {
	t.Helper()
	ln, host := listen(t)
	st, err := store.Open(store.Config{StoreHost: host, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := Config{Listener: ln, Store: st, Logger: quiet, RegisterInterval: time.Hour}
	if edit != nil {
		edit(&cfg)
	}
	return runBroker(t, cfg)
}

// runBroker starts a broker with cfg, shut down with the test.
func runBroker(t testing.TB, cfg Config) *testBroker {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	tb := &testBroker{t: t, b: b, store: cfg.Store, addr: b.Addr()}
	tb.cl = newClient(t)
	return tb
}

// newClient returns a transport client, closed with the test; each client is one
// connection to the broker, so one client channel.
func newClient(t testing.TB) *netpoll.Client {
	t.Helper()
	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet, RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

// invoke sends req on the broker's default client.
func (tb *testBroker) invoke(req *remoting.Command) *remoting.Command {
	tb.t.Helper()
	return invokeWith(tb.t, tb.cl, tb.addr, req)
}

func invokeWith(t testing.TB, cl *netpoll.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestCode(req.Code), err)
	}
	return resp
}

// request builds a request with a typed header, as a 4.9.4 Java client would.
func request(code remoting.RequestCode, h remoting.HeaderEncoder) *remoting.Command {
	return &remoting.Command{Code: int32(code), Header: h, Version: remoting.Version494}
}

// createTopic creates topic with n queues through UPDATE_AND_CREATE_TOPIC.
func (tb *testBroker) createTopic(topic string, n int32) {
	tb.t.Helper()
	resp := tb.invoke(request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{Topic: topic,
		DefaultTopic: "TBW102", ReadQueueNums: n, WriteQueueNums: n, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != 0 {
		tb.t.Fatalf("create topic %s: %d %s", topic, resp.Code, resp.Remark)
	}
}

// sendRequest is a SEND_MESSAGE_V2 of body with properties props to topic/queue.
func sendRequest(topic string, queue int32, body []byte, props string) *remoting.Command {
	req := request(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "test_pg", Topic: topic,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: queue, BornTimestamp: time.Now().UnixMilli(),
		Properties: props}).V2())
	req.Body = body
	return req
}

// send sends a message and returns the response header, failing on anything but SUCCESS.
func (tb *testBroker) send(topic string, queue int32, body string, props string) remoting.SendResponse {
	tb.t.Helper()
	resp := tb.invoke(sendRequest(topic, queue, []byte(body), props))
	if resp.Code != 0 {
		tb.t.Fatalf("send to %s/%d: %s %s", topic, queue, remoting.ResponseCode(resp.Code), resp.Remark)
	}
	var h remoting.SendResponse
	if err := h.DecodeFields(resp.Ext); err != nil {
		tb.t.Fatal(err)
	}
	return h
}

// pullHeader is a pull of a queue with its own subscription, not suspended.
func pullHeader(group, topic string, queue int32, offset int64, sub string) *remoting.PullRequest {
	return &remoting.PullRequest{ConsumerGroup: group, Topic: topic, QueueID: queue, QueueOffset: offset,
		MaxMsgNums: 32, SysFlag: remoting.PullFlagSubscription, SuspendTimeoutMillis: 20000, Subscription: sub,
		ExpressionType: "TAG"}
}

// pullResult is a decoded PULL_MESSAGE answer.
type pullResult struct {
	code   remoting.ResponseCode
	remark string
	hdr    remoting.PullResponse
	msgs   []message.Ext
}

func (tb *testBroker) pull(h *remoting.PullRequest) pullResult {
	tb.t.Helper()
	return decodePull(tb.t, tb.invoke(request(remoting.PullMessage, h)))
}

func decodePull(t testing.TB, resp *remoting.Command) pullResult {
	t.Helper()
	r := pullResult{code: remoting.ResponseCode(resp.Code), remark: resp.Remark}
	if len(resp.Ext) > 0 {
		if err := r.hdr.DecodeFields(resp.Ext); err != nil {
			t.Fatalf("pull response header %v: %v", resp.Ext, err)
		}
	}
	if len(resp.Body) > 0 {
		var err error
		if r.msgs, err = message.DecodeStored(resp.Body); err != nil {
			t.Fatalf("pull body: %v", err)
		}
	}
	return r
}

// heartbeat registers a consumer group (and the test producer group) from cl.
func heartbeat(t testing.TB, cl *netpoll.Client, addr, clientID string, consumers ...remoting.ConsumerData) {
	t.Helper()
	hb := remoting.HeartbeatData{ClientID: clientID, Consumers: consumers}
	req := &remoting.Command{Code: int32(remoting.Heartbeat), Version: remoting.Version494, Body: hb.Encode()}
	if resp := invokeWith(t, cl, addr, req); resp.Code != 0 {
		t.Fatalf("heartbeat: %d %s", resp.Code, resp.Remark)
	}
}

// pushConsumer is the ConsumerData of a clustering push consumer of topic with expr.
func pushConsumer(t testing.TB, group, topic, expr string) remoting.ConsumerData {
	t.Helper()
	sub, err := remoting.BuildSubscription(topic, expr)
	if err != nil {
		t.Fatal(err)
	}
	sub.SubVersion = 1
	return remoting.ConsumerData{GroupName: group, ConsumeType: remoting.ConsumePassively,
		MessageModel: remoting.Clustering, ConsumeFromWhere: remoting.ConsumeFromFirstOffset,
		Subscriptions: []remoting.SubscriptionData{sub}}
}

// notifications records the NOTIFY_CONSUMER_IDS_CHANGED a client receives.
type notifications struct {
	mu     sync.Mutex
	groups []string
	ch     chan string
}

func watchNotifications(cl *netpoll.Client) *notifications {
	n := &notifications{ch: make(chan string, 64)}
	cl.Handle(remoting.NotifyConsumerIDsChanged, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		var h remoting.NotifyConsumerIDsChangedRequest
		_ = h.DecodeFields(req.Ext)
		n.mu.Lock()
		n.groups = append(n.groups, h.ConsumerGroup)
		n.mu.Unlock()
		n.ch <- h.ConsumerGroup
		return nil
	})
	return n
}

// next waits for a notification.
func (n *notifications) next(t testing.TB, within time.Duration) string {
	t.Helper()
	select {
	case g := <-n.ch:
		return g
	case <-time.After(within):
		t.Fatalf("no NOTIFY_CONSUMER_IDS_CHANGED within %v", within)
		return ""
	}
}

// none checks that no notification is pending.
func (n *notifications) none(t testing.TB) {
	t.Helper()
	select {
	case g := <-n.ch:
		t.Fatalf("unexpected NOTIFY_CONSUMER_IDS_CHANGED for %s", g)
	default:
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

// props joins name/value pairs into a properties string.
func props(kv ...string) string {
	var p message.Properties
	for i := 0; i+1 < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	return p.Encode()
}

func itoa(n int) string { return strconv.Itoa(n) }

// clockedBroker starts a broker whose time, its store's and its services' timers are the
// returned fake clock; edit adjusts its config (DataDir, transaction settings, ...).
func clockedBroker(t testing.TB, edit func(*Config)) (*testBroker, *clock.Fake) {
	t.Helper()
	return clockedBrokerAt(t, time.UnixMilli(1_795_565_700_000), edit)
}

// clockedBrokerAt is clockedBroker with the clock starting at start.
func clockedBrokerAt(t testing.TB, start time.Time, edit func(*Config)) (*testBroker, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(start)
	st, err := store.Open(store.Config{Clock: fake.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return restartClocked(t, st, fake, edit), fake
}

// restartClocked starts a broker on st with the fake clock, as clockedBroker.
func restartClocked(t testing.TB, st *store.Store, fake *clock.Fake, edit func(*Config)) *testBroker {
	t.Helper()
	cfg := Config{Store: st, Logger: quiet, RegisterInterval: time.Hour, Clock: fake.Now, Timers: fake}
	if edit != nil {
		edit(&cfg)
	}
	return runBroker(t, cfg)
}

// messagesIn reads every message of a queue from the store, decoded and copied.
func (tb *testBroker) messagesIn(topic string, queue int32) []message.Ext {
	tb.t.Helper()
	var out []message.Ext
	for off := tb.store.MinOffset(topic, queue); off < tb.store.MaxOffset(topic, queue); {
		r := tb.store.Get(topic, queue, off, 32, nil)
		for _, raw := range r.Messages {
			msgs, err := message.DecodeStored(raw)
			if err != nil {
				tb.t.Fatal(err)
			}
			out = append(out, msgs...)
		}
		off = r.NextBeginOffset
	}
	return out
}
