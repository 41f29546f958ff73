package consumer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestRunningInfo(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h, ConsumeBatchMaxSize: 2})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1<<10, 5, 6, 7))
	waitFor(t, timeoutUnit, "deliveries", func() bool { return h.n() == 2 })
	_ = h.get(0).Ack() // 5, 6
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 7 })
	info := u.RunningInfo()
	// The wire form must hold it all: encode and decode it as the broker would.
	var back remoting.ConsumerRunningInfo
	if err := back.Decode(info.Encode()); err != nil {
		t.Fatal(err)
	}
	p := back.Properties
	for k, want := range map[string]string{
		"consumerGroup": "unit_g", "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
		"allocateMessageQueueStrategy": "AVG", "consumeMessageBatchMaxSize": "2", "pullBatchSize": "32",
		"maxReconsumeTimes": "16", "consumeConcurrentlyMaxSpan": "2000", "pullThresholdForQueue": "1000",
		remoting.PropConsumeOrderly: "false", remoting.PropThreadPoolCoreSize: "20",
		remoting.PropConsumerStartTimestamp: "1772366400000", "consumeTimestamp": "20260301113000",
	} {
		if p[k] != want {
			t.Errorf("property %s = %q, want %q", k, p[k], want)
		}
	}
	if len(back.Subscriptions) != 2 || back.Subscriptions[0].Topic != "%RETRY%unit_g" || back.Subscriptions[1].Topic != "T" {
		t.Errorf("subscriptions %+v", back.Subscriptions)
	}
	q, ok := back.MQTable[pq.mq]
	if !ok || len(back.MQTable) != 1 {
		t.Fatalf("mq table %+v", back.MQTable)
	}
	if q.CommitOffset != 7 || q.CachedMsgCount != 1 || q.CachedMsgMinOffset != 7 || q.CachedMsgMaxOffset != 7 || q.Dropped {
		t.Errorf("queue info %+v", q)
	}
	if _, ok := back.StatusTable["T"]; !ok {
		t.Errorf("status table %+v", back.StatusTable)
	}
}

func TestStatsReportRatesOverTheWindow(t *testing.T) {
	s := &topicStats{}
	s.sample(epoch)
	s.pulled(100, 20*time.Millisecond)
	s.pulled(100, 40*time.Millisecond)
	s.consumed(150, 50, 3*time.Millisecond)
	s.consumed(0, 0, 1*time.Millisecond)
	now := epoch.Add(10 * time.Second)
	st := s.status(now)
	if st.PullTPS != 20 || st.PullRT != 30 || st.ConsumeOKTPS != 15 || st.ConsumeFailedTPS != 5 ||
		st.ConsumeRT != 2 || st.ConsumeFailedMsgs != 50 {
		t.Errorf("status %+v", st)
	}
	for i := 1; i <= 7; i++ {
		s.sample(epoch.Add(time.Duration(i) * statsInterval))
	}
	if st := s.status(epoch.Add(80 * time.Second)); st.PullTPS != 0 || st.ConsumeFailedMsgs != 50 {
		t.Errorf("a minute later: %+v (rates over the last minute, failures over the hour)", st)
	}
}

// RESET_CONSUMER_CLIENT_OFFSET: the topic's queues held are dropped, their new offsets
// persisted, and they are taken anew from there; deliveries in flight are ignored.
func TestResetOffset(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h})
	mq0, mq1 := instanceMQ("T", 0), instanceMQ("T", 1)
	u.remote.queues["T"] = []instance.MessageQueue{mq0, mq1}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.offsets.stored[mq0], u.offsets.stored[mq1] = 10, 20
	u.rebalanceNow(t)
	old := u.table[mq0]
	old.brokerMaxOffset.Store(40) // as a pull's answer leaves it
	u.deliver(old, msgsAt(1, 10))
	waitFor(t, timeoutUnit, "a delivery", func() bool { return h.n() == 1 })

	u.ResetOffset(ctxFor(t, timeoutUnit), "T", map[instance.MessageQueue]int64{mq0: 3, instanceMQ("T", 9): 1})
	if !old.isDropped() {
		t.Error("the reset queue was not dropped")
	}
	if off, _ := u.offsets.storedOffset(mq0); off != 3 {
		t.Errorf("stored offset %d, want 3", off)
	}
	if err := h.get(0).Ack(); err != ErrQueueDropped {
		t.Errorf("ack of a delivery from before the reset = %v", err)
	}
	u.rebalanceNow(t) // RebalanceImmediately's, run here
	if pq := u.table[mq0]; pq == nil || pq == old || pq.nextOffset.Load() != 3 {
		t.Fatalf("queue 0 after the reset: %+v", pq)
	}
	// Before its first pull answers, the new queue's lag is known: the reset moved no
	// max offset.
	for _, q := range u.Status().Queues {
		if q.Queue == mq0 && (q.MaxOffset != 40 || q.Lag != 37) {
			t.Errorf("queue 0's status after the reset: max offset %d, lag %d; want 40 and 37", q.MaxOffset, q.Lag)
		}
	}
	if pq := u.table[mq1]; pq.nextOffset.Load() != 20 {
		t.Errorf("queue 1 moved to %d", pq.nextOffset.Load())
	}
	if got := u.OffsetTable("T"); got[mq0] != 3 {
		t.Errorf("offset table %v", got)
	}
}

// An update from before a reset that reaches the broker after the reset's (a pull's commit
// offset, a periodic persist, still on the wire) does not undo the reset: the queue starts
// again from the reset's offset and persists it over the stale one. A queue the reset
// dropped and a rebalance then gave away forgets the reset: taken again later, it starts
// from the broker's offset.
func TestResetOffsetOvertakenAtTheBrokerIsKept(t *testing.T) {
	u := newUnitConsumer(t, Config{})
	mq0, mq1 := instanceMQ("T", 0), instanceMQ("T", 1)
	u.remote.queues["T"] = []instance.MessageQueue{mq0, mq1}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.offsets.stored[mq0], u.offsets.stored[mq1] = 10, 20
	u.rebalanceNow(t)

	reset := map[instance.MessageQueue]int64{mq0: 3, mq1: 4}
	u.ResetOffset(ctxFor(t, timeoutUnit), "T", reset)
	u.offsets.mu.Lock()
	u.offsets.stored[mq0], u.offsets.stored[mq1] = 10, 20 // the stale updates land
	u.offsets.mu.Unlock()
	u.remote.ids = []string{"10.0.0.1@unit", "10.0.0.2@other"} // mq1 goes to the other
	u.rebalanceNow(t)
	if pq := u.table[mq0]; pq == nil || pq.nextOffset.Load() != 3 {
		t.Fatalf("queue 0 after the reset: %+v, want it from the reset's offset 3", pq)
	}
	if off, _ := u.offsets.storedOffset(mq0); off != 3 {
		t.Errorf("stored offset %d, want the reset's 3 persisted again", off)
	}
	if off := u.committed(mq0); off != 3 {
		t.Errorf("offset in memory %d, want 3", off)
	}
	if u.table[mq1] != nil {
		t.Fatal("queue 1 still held")
	}

	u.remote.ids = []string{"10.0.0.1@unit"} // the other leaves: mq1 comes back
	u.rebalanceNow(t)
	if pq := u.table[mq1]; pq == nil || pq.nextOffset.Load() != 20 {
		t.Fatalf("queue 1 taken again: %+v, want it from the broker's offset 20", pq)
	}
}

// An offset reset arriving while a queue waits out PULL_OFFSET_MOVED's correction wins:
// the correction, due offsetIllegalDelay later, was for the queue the reset replaced.
func TestResetOffsetDuringAnOffsetMovedCorrectionIsKept(t *testing.T) {
	u := newUnitConsumer(t, Config{})
	mq := instanceMQ("T", 0)
	u.remote.queues["T"] = []instance.MessageQueue{mq}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.offsets.stored[mq] = 5
	u.rebalanceNow(t)
	pq := u.table[mq]
	u.onPull(pq, nil, instance.PullResult{Status: instance.PullOffsetIllegal, NextBeginOffset: 100,
		MinOffset: 100, MaxOffset: 200}, nil)
	u.ResetOffset(ctxFor(t, timeoutUnit), "T", map[instance.MessageQueue]int64{mq: 150})
	u.rebalanceNow(t) // RebalanceImmediately's, run here
	if got := u.table[mq]; got == nil || got.nextOffset.Load() != 150 {
		t.Fatalf("queue after the reset: %+v", got)
	}
	u.correctOffset(pq, 100) // as the scheduler does offsetIllegalDelay later
	if off, _ := u.offsets.storedOffset(mq); off != 150 {
		t.Errorf("stored offset %d after the correction's turn, want the reset's 150", off)
	}
	if off := u.committed(mq); off != 150 {
		t.Errorf("offset in memory %d, want the reset's 150", off)
	}
}

func TestConsumeMessageDirectly(t *testing.T) {
	msg := func() *message.Ext {
		m := &message.Ext{Message: message.Message{Topic: "%RETRY%unit_g", Body: []byte("x")}}
		m.Properties.Set(message.PropertyRetryTopic, "T")
		return m
	}
	tests := []struct {
		name    string
		handler Handler
		want    remoting.CMResult
	}{
		{"success", ConsumeFunc(func(context.Context, []*message.Ext) Result { return ConsumeSuccess() }), remoting.CRSuccess},
		{"later", ConsumeFunc(func(context.Context, []*message.Ext) Result { return ReconsumeLater(0) }), remoting.CRLater},
		{"panic", HandlerFunc(func(context.Context, *Delivery) { panic("boom") }), remoting.CRThrowException},
		{"completed asynchronously", HandlerFunc(func(_ context.Context, d *Delivery) { go d.Ack() }), remoting.CRSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			u := newUnitConsumer(t, Config{Handler: HandlerFunc(func(ctx context.Context, d *Delivery) {
				seen = d.Messages()[0].Topic + "@" + d.Queue().BrokerName
				tt.handler.Consume(ctx, d)
			})})
			r := u.ConsumeMessageDirectly(ctxFor(t, timeoutUnit), msg(), "broker-x")
			if r == nil || r.ConsumeResult != tt.want || r.Order || !r.AutoCommit {
				t.Fatalf("result %+v, want %s", r, tt.want)
			}
			if tt.want == remoting.CRThrowException && !strings.Contains(r.Remark, "boom") {
				t.Errorf("remark %q", r.Remark)
			}
			if seen != "T@broker-x" {
				t.Errorf("the handler saw %s, want the original topic from broker-x", seen)
			}
			if u.committed(instanceMQ("T", 0)) != -1 || len(u.remote.sent()) != 0 {
				t.Error("a direct consumption touched offsets or sent back")
			}
		})
	}
}

func TestStatusLag(t *testing.T) {
	u := newUnitConsumer(t, Config{Handler: &heldDeliveries{}})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(100, 0, 1, 2))
	pq.brokerMaxOffset.Store(50)
	u.offsets.update(pq.mq, 0, false)
	waitFor(t, timeoutUnit, "in flight", func() bool { return u.Status().InFlight == 3 })
	st := u.Status()
	q := st.Queues[0]
	if q.Lag != 50 || q.Cached != 3 || q.CachedBytes != 300 || q.MaxOffset != 50 || !st.Running {
		t.Errorf("status %+v %+v", st, q)
	}
}
