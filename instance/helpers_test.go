package instance

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

var discard = slog.New(slog.DiscardHandler)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

// testConfig is a configuration for tests: a fake clock, fixed client id, no logging.
func testConfig(fc *clock.Fake, nameServers ...string) Config {
	return Config{
		NameServers:    nameServers,
		ClientIP:       "10.0.0.1",
		InstanceName:   "test",
		Clock:          fc,
		Logger:         discard,
		RequestTimeout: 2 * time.Second,
	}
}

// startInstance makes and starts an instance, shut down at the end of the test.
func startInstance(t testing.TB, cfg Config) *Instance {
	t.Helper()
	i, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, i) })
	return i
}

func shutdown(t testing.TB, i *Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeProducer records what the instance hands it.
type fakeProducer struct {
	group  string
	topics []string

	mu        sync.Mutex
	published map[string]*TopicPublishInfo
	updates   int
	checks    chan transactionCheck
}

type transactionCheck struct {
	addr string
	msg  *message.Ext
	h    *remoting.CheckTransactionStateRequest
}

func newFakeProducer(group string, topics ...string) *fakeProducer {
	return &fakeProducer{group: group, topics: topics, published: map[string]*TopicPublishInfo{},
		checks: make(chan transactionCheck, 4)}
}

func (p *fakeProducer) Group() string           { return p.group }
func (p *fakeProducer) PublishTopics() []string { return slices.Clone(p.topics) }
func (p *fakeProducer) UpdateTopicPublishInfo(topic string, info *TopicPublishInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published[topic] = info
	p.updates++
}
func (p *fakeProducer) CheckTransactionState(_ context.Context, addr string, msg *message.Ext, h *remoting.CheckTransactionStateRequest) {
	p.checks <- transactionCheck{addr, msg, h}
}
func (p *fakeProducer) info(topic string) *TopicPublishInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published[topic]
}
func (p *fakeProducer) updateCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.updates
}

// fakeConsumer records what the instance hands it and answers what it is asked.
type fakeConsumer struct {
	group string
	data  remoting.ConsumerData

	mu         sync.Mutex
	subscribed map[string][]MessageQueue
	offsets    map[MessageQueue]int64
	running    *remoting.ConsumerRunningInfo
	direct     *remoting.ConsumeMessageDirectlyResult

	rebalances atomic.Int32
	persists   atomic.Int32
	resets     chan offsetReset
	directs    chan *message.Ext
}

type offsetReset struct {
	topic   string
	offsets map[MessageQueue]int64
}

func newFakeConsumer(group string, topics ...string) *fakeConsumer {
	c := &fakeConsumer{group: group, subscribed: map[string][]MessageQueue{},
		resets: make(chan offsetReset, 4), directs: make(chan *message.Ext, 4)}
	c.data = remoting.ConsumerData{GroupName: group, ConsumeType: remoting.ConsumePassively,
		MessageModel: remoting.Clustering, ConsumeFromWhere: remoting.ConsumeFromLastOffset}
	for _, t := range topics {
		s, _ := remoting.BuildSubscription(t, "*")
		c.data.Subscriptions = append(c.data.Subscriptions, s)
	}
	return c
}

func (c *fakeConsumer) Group() string                       { return c.group }
func (c *fakeConsumer) ConsumerData() remoting.ConsumerData { return c.data }
func (c *fakeConsumer) UpdateTopicSubscribeInfo(topic string, queues []MessageQueue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subscribed[topic] = queues
}
func (c *fakeConsumer) RebalanceImmediately() { c.rebalances.Add(1) }
func (c *fakeConsumer) PersistOffsets(context.Context) error {
	c.persists.Add(1)
	return nil
}
func (c *fakeConsumer) RunningInfo() *remoting.ConsumerRunningInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		return nil
	}
	r := *c.running
	return &r
}
func (c *fakeConsumer) ResetOffset(_ context.Context, topic string, offsets map[MessageQueue]int64) {
	c.resets <- offsetReset{topic, offsets}
}
func (c *fakeConsumer) OffsetTable(topic string) map[MessageQueue]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[MessageQueue]int64{}
	for q, o := range c.offsets {
		if q.Topic == topic {
			out[q] = o
		}
	}
	return out
}
func (c *fakeConsumer) ConsumeMessageDirectly(_ context.Context, msg *message.Ext, _ string) *remoting.ConsumeMessageDirectlyResult {
	c.directs <- msg
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.direct
}
func (c *fakeConsumer) subscribeInfo(topic string) []MessageQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subscribed[topic]
}

// set changes the consumer's answers under its lock: the instance reads them on the
// transport's goroutines, and the race detector sees no order through a socket.
func (c *fakeConsumer) set(f func(c *fakeConsumer)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}
