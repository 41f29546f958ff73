package interop

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func TestSendSyncAsyncOnewayArriveIntact(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	p := newProducer(t, c, group+"_p")

	const n = 10
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("sync body %d", i)))
		m.WithTag("TagA")
		m.WithKeys([]string{fmt.Sprintf("sync-%d", i), "second-key"})
		m.WithProperty("color", "blue")
		res, err := p.SendSync(ctxFor(t, 10*time.Second), m)
		if err != nil {
			t.Fatalf("send sync %d: %v", i, err)
		}
		if res.Status != primitive.SendOK || res.MsgID == "" || res.OffsetMsgID == "" {
			t.Fatalf("send sync %d: %+v", i, res)
		}
		if res.MessageQueue == nil || res.MessageQueue.Topic != topic || res.MessageQueue.QueueId < 0 || res.MessageQueue.QueueId >= 4 {
			t.Fatalf("send sync %d: queue %+v", i, res.MessageQueue)
		}
	}
	var wg sync.WaitGroup
	var asyncErrs atomic.Int32
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("async body %d", i)))
		m.WithTag("TagB")
		m.WithKeys([]string{fmt.Sprintf("async-%d", i)})
		wg.Add(1)
		err := p.SendAsync(ctxFor(t, 10*time.Second), func(ctx context.Context, res *primitive.SendResult, err error) {
			defer wg.Done()
			if err != nil || res.Status != primitive.SendOK {
				asyncErrs.Add(1)
			}
		}, m)
		if err != nil {
			wg.Done()
			t.Fatalf("send async %d: %v", i, err)
		}
	}
	wg.Wait()
	if asyncErrs.Load() != 0 {
		t.Fatalf("%d async sends failed", asyncErrs.Load())
	}
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("oneway body %d", i)))
		m.WithKeys([]string{fmt.Sprintf("oneway-%d", i)})
		if err := p.SendOneWay(ctxFor(t, 10*time.Second), m); err != nil {
			t.Fatalf("send oneway %d: %v", i, err)
		}
	}

	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col)
	eventually(t, 60*time.Second, "30 messages consumed", func() bool { return col.count() >= 3*n })
	got := col.byKey(t)
	for i := 0; i < n; i++ {
		m := got[fmt.Sprintf("sync-%d second-key", i)]
		if m == nil {
			t.Fatalf("sync message %d not consumed; got keys %v", i, keysOf(got))
		}
		if string(m.Body) != fmt.Sprintf("sync body %d", i) || m.GetTags() != "TagA" || m.GetProperty("color") != "blue" {
			t.Errorf("sync message %d arrived as body %q tags %q color %q", i, m.Body, m.GetTags(), m.GetProperty("color"))
		}
		if m.Topic != topic || m.ReconsumeTimes != 0 || m.StoreHost == "" || m.BornTimestamp == 0 || m.StoreTimestamp < m.BornTimestamp-1000 {
			t.Errorf("sync message %d metadata: topic %q reconsume %d store host %q born %d stored %d",
				i, m.Topic, m.ReconsumeTimes, m.StoreHost, m.BornTimestamp, m.StoreTimestamp)
		}
		if a := got[fmt.Sprintf("async-%d", i)]; a == nil || string(a.Body) != fmt.Sprintf("async body %d", i) || a.GetTags() != "TagB" {
			t.Errorf("async message %d: %v", i, a)
		}
		if o := got[fmt.Sprintf("oneway-%d", i)]; o == nil || string(o.Body) != fmt.Sprintf("oneway body %d", i) {
			t.Errorf("oneway message %d: %v", i, o)
		}
	}
}

func keysOf(m map[string]*primitive.MessageExt) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSendBatchArrivesAsSeparateMessages(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	p := newProducer(t, c, group+"_p")
	var msgs []*primitive.Message
	for i := 0; i < 3; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("batch body %d", i)))
		m.WithTag("TagB")
		m.WithKeys([]string{fmt.Sprintf("batch-%d", i)})
		msgs = append(msgs, m)
	}
	res, err := p.SendSync(ctxFor(t, 10*time.Second), msgs...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send batch: %v %+v", err, res)
	}
	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col)
	eventually(t, 60*time.Second, "3 batch messages consumed", func() bool { return col.count() >= 3 })
	got := col.byKey(t)
	var queue = -1
	var offsets []int64
	for i := 0; i < 3; i++ {
		m := got[fmt.Sprintf("batch-%d", i)]
		if m == nil || string(m.Body) != fmt.Sprintf("batch body %d", i) || m.GetTags() != "TagB" {
			t.Fatalf("batch message %d: %v", i, m)
		}
		if queue == -1 {
			queue = m.Queue.QueueId
		} else if m.Queue.QueueId != queue {
			t.Errorf("batch split across queues %d and %d", queue, m.Queue.QueueId)
		}
		offsets = append(offsets, m.QueueOffset)
	}
	if offsets[1] != offsets[0]+1 || offsets[2] != offsets[1]+1 {
		t.Errorf("batch offsets not consecutive: %v", offsets)
	}
}

func TestOrderedBySelectorKeepsOrderPerKey(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	p := newProducer(t, c, group+"_p", producer.WithQueueSelector(producer.NewHashQueueSelector()))
	keys := []string{"order-a", "order-b", "order-c"}
	const perKey = 20
	for i := 0; i < perKey; i++ {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s:%d", k, i)))
			m.WithShardingKey(k)
			m.WithKeys([]string{fmt.Sprintf("%s-%d", k, i)})
			if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col, consumer.WithConsumerOrder(true))
	eventually(t, 60*time.Second, "ordered messages consumed", func() bool { return col.count() >= perKey*len(keys) })
	next := map[string]int{}
	queueOf := map[string]int{}
	for _, r := range col.messages() {
		var k string
		var i int
		if _, err := fmt.Sscanf(string(r.msg.Body), "order-%1s:%d", &k, &i); err != nil {
			t.Fatalf("body %q: %v", r.msg.Body, err)
		}
		if i != next[k] {
			t.Fatalf("key %s: got message %d, want %d", k, i, next[k])
		}
		next[k]++
		if q, seen := queueOf[k]; seen && q != r.msg.Queue.QueueId {
			t.Fatalf("key %s delivered from queues %d and %d", k, q, r.msg.Queue.QueueId)
		}
		queueOf[k] = r.msg.Queue.QueueId
	}
}

func TestDelayLevelDefersDelivery(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col)
	p := newProducer(t, c, group+"_p")
	m := primitive.NewMessage(topic, []byte("delayed"))
	m.WithDelayTimeLevel(2) // 5s at level 2
	m.WithKeys([]string{"delayed-1"})
	sent := time.Now()
	if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
		t.Fatalf("send: %v", err)
	}
	eventually(t, 60*time.Second, "delayed message consumed", func() bool { return col.count() >= 1 })
	r := col.messages()[0]
	want := 5 * c.delayUnit
	// The broker's delay timer ticks every 100ms on a real broker; allow that much early.
	if waited := r.at.Sub(sent); waited < want-100*time.Millisecond {
		t.Errorf("delivered after %v, want at least %v", waited, want)
	}
	if string(r.msg.Body) != "delayed" || r.msg.Topic != topic {
		t.Errorf("delivered %q on %q", r.msg.Body, r.msg.Topic)
	}
}

type txListener struct {
	checked atomic.Int32
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	if m.GetProperty("outcome") == "rollback" {
		return primitive.RollbackMessageState
	}
	if m.GetProperty("outcome") == "commit" {
		return primitive.CommitMessageState
	}
	return primitive.UnknowState
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.checked.Add(1)
	return primitive.CommitMessageState
}

func TestTransactionCommitRollbackAndCheckBack(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	l := &txListener{}
	tp, err := rocketmq.NewTransactionProducer(l,
		producer.WithNameServer(primitive.NamesrvAddr{c.namesrv}),
		producer.WithGroupName(group+"_tx"),
		producer.WithInstanceName(group+"_tx"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown() })

	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "*", col)
	for _, outcome := range []string{"commit", "rollback", "unknown"} {
		m := primitive.NewMessage(topic, []byte("tx "+outcome))
		m.WithProperty("outcome", outcome)
		m.WithKeys([]string{"tx-" + outcome})
		res, err := tp.SendMessageInTransaction(ctxFor(t, 10*time.Second), m)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %+v", outcome, err, res)
		}
	}
	// The committed message arrives at once; the unknown one once the broker has asked the
	// producer (CHECK_TRANSACTION_STATE) and the producer answered commit. The real broker
	// checks every transactionCheckInterval (60s by default).
	eventually(t, 150*time.Second, "committed and checked-back messages consumed", func() bool { return col.count() >= 2 })
	got := col.byKey(t)
	if got["tx-commit"] == nil || got["tx-unknown"] == nil {
		t.Fatalf("consumed %v, want tx-commit and tx-unknown", keysOf(got))
	}
	if l.checked.Load() == 0 {
		t.Errorf("the broker never asked the producer to check a transaction")
	}
	if got["tx-rollback"] != nil {
		t.Errorf("rolled back message delivered")
	}
}
