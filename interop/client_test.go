package interop

import (
	"context"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// newProducer starts a rocketmq-client-go producer on c, shut down with the test.
func newProducer(t *testing.T, c *cluster, group string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	opts = append([]producer.Option{
		producer.WithNameServer(primitive.NamesrvAddr{c.namesrv}),
		producer.WithGroupName(group),
		producer.WithInstanceName(group),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// received is one delivery seen by a collector.
type received struct {
	msg *primitive.MessageExt
	at  time.Time
}

// collector records what a push consumer is given.
type collector struct {
	mu    sync.Mutex
	got   []received
	onMsg func(*primitive.MessageExt) consumer.ConsumeResult
}

func (col *collector) consume(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	result := consumer.ConsumeSuccess
	for _, m := range msgs {
		col.mu.Lock()
		col.got = append(col.got, received{msg: m, at: time.Now()})
		col.mu.Unlock()
		if col.onMsg != nil {
			if r := col.onMsg(m); r != consumer.ConsumeSuccess {
				result = r
			}
		}
	}
	if result == consumer.ConsumeRetryLater {
		// Retry after delay level 1 rather than 3+n: the suite need not wait minutes.
		if cc, ok := primitive.GetConcurrentlyCtx(ctx); ok {
			cc.DelayLevelWhenNextConsume = 1
		}
	}
	return result, nil
}

func (col *collector) messages() []received {
	col.mu.Lock()
	defer col.mu.Unlock()
	return append([]received(nil), col.got...)
}

func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.got)
}

// byKey indexes the received messages by their first key; duplicates are reported.
func (col *collector) byKey(t *testing.T) map[string]*primitive.MessageExt {
	t.Helper()
	out := map[string]*primitive.MessageExt{}
	for _, r := range col.messages() {
		k := r.msg.GetKeys()
		if _, dup := out[k]; dup {
			t.Errorf("message with keys %q delivered twice", k)
		}
		out[k] = r.msg
	}
	return out
}

// newPushConsumer starts a rocketmq-client-go push consumer subscribed to topic.
func newPushConsumer(t *testing.T, c *cluster, group, instance, topic, expr string, col *collector, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	opts = append([]consumer.Option{
		consumer.WithNameServer(primitive.NamesrvAddr{c.namesrv}),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumerModel(consumer.Clustering),
	}, opts...)
	pc, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatalf("new push consumer: %v", err)
	}
	sel := consumer.MessageSelector{}
	if expr != "" {
		sel = consumer.MessageSelector{Type: consumer.TAG, Expression: expr}
	}
	if err := pc.Subscribe(topic, sel, col.consume); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := pc.Start(); err != nil {
		t.Fatalf("start push consumer: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = pc.Shutdown() }) })
	return pc
}
