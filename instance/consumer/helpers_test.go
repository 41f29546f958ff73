package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

var discard = slog.New(slog.DiscardHandler)

// testLogger is the consumers' logger: MQGATE_TEST_LOG=debug (or info, warn) shows it.
func testLogger(t testing.TB) *slog.Logger {
	lvl := os.Getenv("MQGATE_TEST_LOG")
	if lvl == "" {
		return discard
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(lvl)); err != nil {
		t.Fatal(err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// waitFor polls cond until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond) // poll interval, not a wait for the condition
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startCluster starts a dev cluster private to the test.
func startCluster(t testing.TB, cfg devcluster.Config) *devcluster.Cluster {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	if cfg.DelayFactor == 0 {
		cfg.DelayFactor = 0.01 // delay level 1 lasts 10ms
	}
	c, err := devcluster.Start(ctxFor(t, 30*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctxFor(t, 10*time.Second)) })
	return c
}

// startInstance starts an instance named name on the NameServer ns, shut down with the
// test (after the consumers, whose cleanups run first).
func startInstance(t testing.TB, ns, name string) *instance.Instance {
	t.Helper()
	i, err := instance.New(instance.Config{
		NameServers:            []string{ns},
		ClientIP:               "127.0.0.1",
		InstanceName:           name,
		Logger:                 discard,
		PollNameServerInterval: time.Second,
		HeartbeatInterval:      time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Pulls in flight keep the transport's drain waiting up to the broker's suspension (the
	// transport honours an async call's cancellation only at its deadline): bound it.
	t.Cleanup(func() { _ = i.Shutdown(ctxFor(t, 2*time.Second)) })
	return i
}

// createTopic creates topic with n queues on the cluster's broker and waits for its route.
func createTopic(t testing.TB, i *instance.Instance, broker, topic string, n int32) {
	t.Helper()
	err := i.CreateTopic(ctxFor(t, 5*time.Second), broker, &remoting.CreateTopicRequest{Topic: topic,
		DefaultTopic: message.AutoCreateTopicKey, ReadQueueNums: n, WriteQueueNums: n, Perm: 6,
		TopicFilterType: "SINGLE_TAG", TopicSysFlag: remoting.Some[int32](0)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "route of "+topic, func() bool {
		_, err := i.UpdateTopicRoute(ctxFor(t, 5*time.Second), topic)
		return err == nil && len(i.PublishInfo(topic).Queues) == int(n)
	})
}

// testMsg is a message to send.
type testMsg struct {
	queue int32
	body  string
	tags  string
	keys  string
	props map[string]string
}

var ids = message.NewUniqIDGenerator(message.UniqIDConfig{})

// send sends msgs to topic's queues and returns their offsets.
func send(t testing.TB, i *instance.Instance, topic string, msgs ...testMsg) []int64 {
	t.Helper()
	info := i.PublishInfo(topic)
	if !info.OK() {
		t.Fatalf("no route to %s", topic)
	}
	var out []int64
	for _, m := range msgs {
		q := info.Queues[int(m.queue)%len(info.Queues)]
		var props message.Properties
		if m.tags != "" {
			props.Set(message.PropertyTags, m.tags)
		}
		if m.keys != "" {
			props.Set(message.PropertyKeys, m.keys)
		}
		for _, k := range slices.Sorted(mapsKeys(m.props)) {
			props.Set(k, m.props[k])
		}
		id := ids.Next()
		props.Set(message.PropertyUniqKey, id)
		h := &remoting.SendRequest{ProducerGroup: "test_producer", Topic: topic, DefaultTopic: message.AutoCreateTopicKey,
			DefaultTopicQueueNums: 4, QueueID: q.QueueID, BornTimestamp: time.Now().UnixMilli(), Properties: props.Encode()}
		var r instance.SendResult
		var err error
		for try := 0; try < 50; try++ {
			r, err = i.SendMessage(ctxFor(t, 5*time.Second), i.FindBrokerAddrInPublish(q.BrokerName), q.BrokerName, h, []byte(m.body), id)
			if err == nil || !errors.Is(err, instance.ErrConnClosed) && !errors.Is(err, instance.ErrSystemBusy) {
				break
			}
			time.Sleep(100 * time.Millisecond) // the broker is restarting
		}
		if err != nil {
			t.Fatalf("send %q: %v", m.body, err)
		}
		out = append(out, r.QueueOffset)
	}
	return out
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// bodies returns n messages spread over queues, bodies prefix-0, prefix-1, ...
func bodies(prefix string, n int, queues int32) []testMsg {
	out := make([]testMsg, n)
	for k := range out {
		out[k] = testMsg{queue: int32(k) % queues, body: prefix + "-" + strconv.Itoa(k), keys: prefix + "-" + strconv.Itoa(k)}
	}
	return out
}

// received is one delivered message, as a collector saw it.
type received struct {
	body           string
	topic          string
	queue          instance.MessageQueue
	offset         int64
	reconsumeTimes int32
	msg            *message.Ext
	consumer       string
}

// collector records deliveries; decide, when set, completes them (default: Ack).
type collector struct {
	name   string
	mu     sync.Mutex
	got    []received
	decide func(d *Delivery)
	signal chan struct{}
}

func newCollector(name string) *collector {
	return &collector{name: name, signal: make(chan struct{}, 1)}
}

func (col *collector) Consume(_ context.Context, d *Delivery) {
	col.mu.Lock()
	for _, m := range d.Messages() {
		cp := m.Clone() // not the delivery's message: that keeps its pull's memory
		col.got = append(col.got, received{body: string(m.Body), topic: m.Topic, queue: d.Queue(), offset: m.QueueOffset,
			reconsumeTimes: m.ReconsumeTimes, msg: &cp, consumer: col.name})
	}
	decide := col.decide
	col.mu.Unlock()
	select {
	case col.signal <- struct{}{}:
	default:
	}
	if decide != nil {
		decide(d)
		return
	}
	_ = d.Ack()
}

func (col *collector) all() []received {
	col.mu.Lock()
	defer col.mu.Unlock()
	return slices.Clone(col.got)
}

func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.got)
}

// distinct returns how many times each body was received, over collectors.
func distinct(cols ...*collector) map[string]int {
	out := map[string]int{}
	for _, col := range cols {
		for _, r := range col.all() {
			out[r.body]++
		}
	}
	return out
}

// newConsumer makes and starts a consumer, shut down with the test.
func newConsumer(t testing.TB, i *instance.Instance, cfg Config, subs map[string]string) *PushConsumer {
	t.Helper()
	c := makeConsumer(t, i, cfg, subs)
	if err := c.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

func makeConsumer(t testing.TB, i *instance.Instance, cfg Config, subs map[string]string) *PushConsumer {
	t.Helper()
	c := makeConsumerNoCleanup(t, i, cfg, subs)
	t.Cleanup(func() { _ = c.Shutdown(ctxFor(t, 10*time.Second)) })
	return c
}

// makeConsumerNoCleanup makes a consumer the test shuts down itself.
func makeConsumerNoCleanup(t testing.TB, i *instance.Instance, cfg Config, subs map[string]string) *PushConsumer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, err := New(i, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for topic, expr := range subs {
		if err := c.Subscribe(topic, expr); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// heldQueueSet returns the queues a consumer holds.
func heldQueueSet(c *PushConsumer, topic string) []instance.MessageQueue {
	var out []instance.MessageQueue
	for _, q := range c.Status().Queues {
		if q.Queue.Topic == topic {
			out = append(out, q.Queue)
		}
	}
	return out
}

// splitStable reports whether consumers hold topic's n queues, each once.
func splitStable(topic string, n int, cs ...*PushConsumer) bool {
	seen := map[instance.MessageQueue]int{}
	for _, c := range cs {
		if c.Status().Rebalancing {
			return false
		}
		for _, q := range heldQueueSet(c, topic) {
			seen[q]++
		}
	}
	if len(seen) != n {
		return false
	}
	for _, k := range seen {
		if k != 1 {
			return false
		}
	}
	return true
}

// splitFair is splitStable with every consumer holding its averagely share.
func splitFair(topic string, n int, cs ...*PushConsumer) bool {
	if !splitStable(topic, n, cs...) {
		return false
	}
	for _, c := range cs {
		if len(heldQueueSet(c, topic)) < n/len(cs) {
			return false
		}
	}
	return true
}

// leakCheck records the goroutines and returns a check that they come back to it. The
// transport's handler pools are left out: they grow on demand to their bound (16 workers
// per client, 64 per server) and stay until the transport closes, by design.
func leakCheck(t testing.TB) func() {
	t.Helper()
	np.Initialize()
	runtime.GC()
	base, _ := goroutines()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, dump := goroutines()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines: %d, baseline %d (transport handler pools left out)\n%s", n, base, dump)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// goroutines counts the goroutines but the transport's handler workers, and returns a
// dump of them all.
func goroutines() (int, string) {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "netpoll.(*workerPool).work") {
			n++
		}
	}
	return n, string(buf)
}

var _ = fmt.Sprint
