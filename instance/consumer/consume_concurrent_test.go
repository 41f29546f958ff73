package consumer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// advance moves the fake clock and has the scheduler look at it.
func (u *unitConsumer) advance(d time.Duration) {
	u.clock.Advance(d)
	u.sched.signal()
}

// heldDeliveries is a Handler that keeps its deliveries for the test to complete.
type heldDeliveries struct {
	mu sync.Mutex
	ds []*Delivery
}

func (h *heldDeliveries) Consume(_ context.Context, d *Delivery) {
	h.mu.Lock()
	h.ds = append(h.ds, d)
	h.mu.Unlock()
}

func (h *heldDeliveries) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ds)
}

func (h *heldDeliveries) get(i int) *Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ds[i]
}

func TestConcurrentResultHandling(t *testing.T) {
	tests := []struct {
		name       string
		model      remoting.MessageModel
		result     Result
		sendBackOK bool
		wantBack   []int64 // offsets sent back
		wantLevel  int32
		wantCommit int64
	}{
		{"all consumed", remoting.Clustering, ConsumeSuccess(), true, nil, 0, 14},
		{"ack index: the first two consumed, the others sent back", remoting.Clustering,
			Result{Consumed: 2, DelayLevel: 5}, true, []int64{12, 13}, 5, 14},
		{"consumed beyond the batch means all", remoting.Clustering, Result{Consumed: 99}, true, nil, 0, 14},
		{"all failed, the broker picks the delay", remoting.Clustering, ReconsumeLater(0), true, []int64{10, 11, 12, 13}, 0, 14},
		{"straight to the DLQ", remoting.Clustering, ReconsumeLater(-1), true, []int64{10, 11, 12, 13}, -1, 14},
		{"send-back refused: the failed ones stay in process", remoting.Clustering, Result{Consumed: 1}, false, nil, 0, 11},
		{"broadcasting drops failures", remoting.Broadcasting, ReconsumeLater(0), true, nil, 0, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &heldDeliveries{}
			u := newUnitConsumer(t, Config{Model: tt.model, Handler: h, ConsumeBatchMaxSize: 4})
			if !tt.sendBackOK {
				u.remote.sendBackErr = func(*message.Ext) error { return errBrokerDown }
			}
			pq := u.addQueue(instanceMQ("T", 0), 10)
			u.deliver(pq, msgsAt(1, 10, 11, 12, 13))
			waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
			if err := h.get(0).Complete(tt.result); err != nil {
				t.Fatal(err)
			}
			waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == tt.wantCommit })
			var back []int64
			for _, s := range u.remote.sent() {
				back = append(back, s.offset)
				if s.delayLevel != tt.wantLevel || s.topic != "T" || s.max != DefaultMaxReconsumeTimes {
					t.Errorf("sent back %+v, want delay level %d, topic T, max 16", s, tt.wantLevel)
				}
			}
			if !slices.Equal(back, tt.wantBack) {
				t.Errorf("sent back %v, want %v", back, tt.wantBack)
			}
			if err := h.get(0).Ack(); !errors.Is(err, ErrCompleted) {
				t.Errorf("a second completion = %v, want ErrCompleted", err)
			}
		})
	}
}

// MaxReconsumeTimes goes to the broker with each message sent back, which moves it to the
// dead letter queue once consumed that often: NoReconsume is Java's 0 (the first failure
// goes there), 0 the default 16, orderly or not as Java's getMaxReconsumeTimes.
func TestSendBackCarriesMaxReconsumeTimes(t *testing.T) {
	for _, tt := range []struct {
		set  int
		want int32
	}{{0, DefaultMaxReconsumeTimes}, {NoReconsume, 0}, {3, 3}} {
		h := &heldDeliveries{}
		u := newUnitConsumer(t, Config{Handler: h, MaxReconsumeTimes: tt.set})
		pq := u.addQueue(instanceMQ("T", 0), 10)
		u.deliver(pq, msgsAt(1, 10))
		waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
		_ = h.get(0).Retry(0)
		waitFor(t, timeoutUnit, "the send-back", func() bool { return len(u.remote.sent()) == 1 })
		if s := u.remote.sent()[0]; s.max != tt.want {
			t.Errorf("MaxReconsumeTimes %d: sent back with max %d, want %d", tt.set, s.max, tt.want)
		}
	}
	if err := (&Config{Group: "g", Handler: &heldDeliveries{}, MaxReconsumeTimes: -2}).Validate(); err == nil {
		t.Error("MaxReconsumeTimes -2 accepted")
	}
}

// A message the broker would not take back is consumed again locally after
// ConsumeRetryDelay, one reconsumption further on, and holds the committed offset until then.
func TestConcurrentLocalRetryWhenSendBackFails(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h})
	var down sync.Mutex
	brokerDown := true
	u.remote.sendBackErr = func(*message.Ext) error {
		down.Lock()
		defer down.Unlock()
		if brokerDown {
			return errBrokerDown
		}
		return nil
	}
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0, 1))
	waitFor(t, timeoutUnit, "two deliveries", func() bool { return h.n() == 2 })
	first := h.get(0)
	if first.Messages()[0].QueueOffset != 0 {
		first = h.get(1)
	}
	_ = first.Retry(0)
	other := h.get(0)
	if other == first {
		other = h.get(1)
	}
	_ = other.Ack()
	waitFor(t, timeoutUnit, "offset 1 consumed, 0 held", func() bool {
		ready, later := u.sched.pending()
		return u.committed(pq.mq) == 0 && ready == 0 && later == 1
	})
	if h.n() != 2 {
		t.Fatal("delivered again before the retry delay")
	}
	u.advance(DefaultConsumeRetryDelay)
	waitFor(t, timeoutUnit, "the local retry", func() bool { return h.n() == 3 })
	again := h.get(2)
	if m := again.Messages()[0]; m.QueueOffset != 0 || m.ReconsumeTimes != 1 {
		t.Errorf("retried offset %d reconsume %d, want 0 and 1", m.QueueOffset, m.ReconsumeTimes)
	}
	down.Lock()
	brokerDown = false
	down.Unlock()
	_ = again.Retry(2)
	waitFor(t, timeoutUnit, "the commit after the send-back", func() bool { return u.committed(pq.mq) == 2 })
	if s := u.remote.sent(); len(s) != 1 || s[0].offset != 0 || s[0].delayLevel != 2 {
		t.Errorf("sent back %+v", s)
	}
}

// A queue dropped while a delivery is in flight ignores its completion: no offset, no
// send-back — its next owner consumes the message again.
func TestConcurrentCompletionAfterDropIsIgnored(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	u.dropQueue(ctxFor(t, timeoutUnit), pq, "test")
	if err := h.get(0).Retry(0); !errors.Is(err, ErrQueueDropped) {
		t.Errorf("completion after drop = %v, want ErrQueueDropped", err)
	}
	if u.committed(pq.mq) != -1 || len(u.remote.sent()) != 0 {
		t.Errorf("offset %d, sent back %v after the drop", u.committed(pq.mq), u.remote.sent())
	}
	if got := u.offsets.persisted; !slices.Equal(got, []instance.MessageQueue{pq.mq}) {
		t.Errorf("persisted %v at the drop", got)
	}
}

func TestConcurrentHandlerPanicFailsTheDelivery(t *testing.T) {
	u := newUnitConsumer(t, Config{Handler: HandlerFunc(func(context.Context, *Delivery) { panic("boom") })})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0))
	waitFor(t, timeoutUnit, "the send-back", func() bool { return len(u.remote.sent()) == 1 })
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 1 })
	if st := u.Status(); st.LastError == "" {
		t.Error("the panic is not in the status")
	}
}

// A delivery the application never completes is failed after ConsumeTimeout (Java's
// cleanExpiredMsg), so that the queue's offset moves again.
func TestConcurrentConsumeTimeout(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h, ConsumeTimeout: time.Minute})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	u.expireDeliveries(u.clock.Now().Add(59 * time.Second))
	if h.get(0).Completed() {
		t.Fatal("failed before the timeout")
	}
	u.expireDeliveries(u.clock.Now().Add(61 * time.Second))
	waitFor(t, timeoutUnit, "the send-back", func() bool { return len(u.remote.sent()) == 1 })
	if s := u.remote.sent()[0]; s.delayLevel != 3 {
		t.Errorf("sent back with delay level %d, want 3", s.delayLevel)
	}
	if err := h.get(0).Ack(); !errors.Is(err, ErrCompleted) {
		t.Errorf("the late ack = %v, want ErrCompleted", err)
	}
}

// verdictHook gives fixed verdicts by offset and records what it saw after consumption.
type verdictHook struct {
	verdicts map[int64]instance.ConsumeVerdict
	fail     bool
	mu       sync.Mutex
	after    []int64
	success  []bool
}

func (h *verdictHook) BeforeConsume(_ context.Context, _ *instance.ConsumeContext, msgs []*message.Ext, v []instance.ConsumeVerdict) error {
	if h.fail {
		return errors.New("plugin trapped")
	}
	for i, m := range msgs {
		if x, ok := h.verdicts[m.QueueOffset]; ok {
			v[i] = x
		}
	}
	return nil
}

func (h *verdictHook) AfterConsume(_ context.Context, _ *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after = append(h.after, offsetsOf(msgs)...)
	h.success = append(h.success, success)
}

func TestConsumeHooksVerdicts(t *testing.T) {
	hook := &verdictHook{verdicts: map[int64]instance.ConsumeVerdict{1: instance.Skip, 2: instance.Retry}}
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h, ConsumeBatchMaxSize: 4, Hooks: []instance.ConsumeHook{hook}})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0, 1, 2, 3))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	if got := offsetsOf(h.get(0).Messages()); !slices.Equal(got, []int64{0, 3}) {
		t.Fatalf("delivered %v, want the Deliver verdicts 0 and 3", got)
	}
	_ = h.get(0).Ack()
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 4 })
	if s := u.remote.sent(); len(s) != 1 || s[0].offset != 2 {
		t.Errorf("sent back %+v, want the Retry verdict (2)", s)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if !slices.Equal(hook.after, []int64{0, 3}) || !slices.Equal(hook.success, []bool{true}) {
		t.Errorf("after hooks saw %v %v", hook.after, hook.success)
	}
}

func TestConsumeHookErrorFailsTheBatch(t *testing.T) {
	hook := &verdictHook{fail: true}
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h, ConsumeBatchMaxSize: 2, Hooks: []instance.ConsumeHook{hook}})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0, 1))
	waitFor(t, timeoutUnit, "both sent back", func() bool { return len(u.remote.sent()) == 2 })
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 2 })
	if h.n() != 0 {
		t.Errorf("the handler got %d deliveries of a batch its hook failed", h.n())
	}
}

// A pull's messages are cut into deliveries of ConsumeBatchMaxSize, in order, none lost.
func TestConcurrentBatches(t *testing.T) {
	h := &heldDeliveries{}
	u := newUnitConsumer(t, Config{Handler: h, ConsumeBatchMaxSize: 3, ConsumeGoroutines: 1})
	pq := u.addQueue(instanceMQ("T", 0), 0)
	u.deliver(pq, msgsAt(1, 0, 1, 2, 3, 4, 5, 6))
	waitFor(t, timeoutUnit, "three deliveries", func() bool { return h.n() == 3 })
	var all []int64
	for i := range 3 {
		all = append(all, offsetsOf(h.get(i).Messages())...)
	}
	if !slices.Equal(all, []int64{0, 1, 2, 3, 4, 5, 6}) {
		t.Errorf("delivered %v", all)
	}
	for i := range 3 {
		_ = h.get(i).Ack()
	}
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 7 })
	if st := u.Status(); st.Queues[0].InFlight != 0 || st.Queues[0].Cached != 0 {
		t.Errorf("status after completion: %+v", st.Queues[0])
	}
}

// Under a steady backlog (a task always waiting, the Handler the bottleneck) the workers'
// task queue keeps its order and its memory stays bounded, allocating nothing.
func TestConcurrentTaskQueueStaysBoundedUnderASteadyBacklog(t *testing.T) {
	q := newTaskQueue(context.Background())
	backing := make([]*message.Ext, 1000)
	task := func(seq int) consumeTask { return consumeTask{msgs: backing[:seq%len(backing)]} }
	next, want := 0, 0
	pair := func() {
		next++
		q.push(task(next))
		got, ok := q.pop()
		if !ok || len(got.msgs) != want%len(backing) {
			t.Fatalf("popped task %d (%v), want %d", len(got.msgs), ok, want%len(backing))
		}
		want++
	}
	q.push(task(next)) // one task always waiting
	for range 100_000 {
		pair()
	}
	if n := q.len(); n != 1 {
		t.Fatalf("%d tasks waiting, want 1", n)
	}
	q.mu.Lock()
	c := cap(q.buf)
	q.mu.Unlock()
	if c > 1024 {
		t.Errorf("one task waiting, but the queue's buffer holds %d slots: it grows with every task", c)
	}
	if !raceEnabled {
		if n := testing.AllocsPerRun(1000, pair); n != 0 {
			t.Errorf("%v allocations per push and pop, want none", n)
		}
	}
}

// A consumer whose shutdown drain ended with failed messages still to send back leaves
// them in the queue, uncommitted, for the queue's next owner: one attempt, and no warning a message
// (a group removed with failures in flight logged one each).
func TestConcurrentSendBackAtShutdownLeavesFailuresQuietly(t *testing.T) {
	var logs lockedBuffer
	u := newUnitConsumer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	var attempts atomic.Int32
	u.remote.sendBackErr = func(*message.Ext) error {
		attempts.Add(1)
		return context.Canceled // what a send-back under the ended run context gets
	}
	pq := u.addQueue(instanceMQ("T", 0), 10)
	msgs := msgsAt(1, 10, 11, 12)
	pq.put(msgs, 13)
	u.stop()        // Shutdown: the intake stops,
	u.stopConsume() // and the drain ends
	u.sendBackFailed(pq, msgs, &sendBackTask{})
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d send-back attempts, want 1: the others are left once one finds the consumer stopping", n)
	}
	if s := logs.String(); s != "" {
		t.Errorf("logged at warning level:\n%s", s)
	}
	if off := u.committed(pq.mq); off > 10 {
		t.Errorf("committed %d past the failed messages", off)
	}
}

// lockedBuffer is a log destination written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Shutdown drains, as Java's shutdown(awaitTerminateMillis): a synchronous Handler's
// Consume under way when it begins finishes with its context live, and its outcome
// counts — the consumed message's offset is committed and persisted, the failed one is
// sent back first. Both were cut, and consumed again by the queue's next owner.
func TestConcurrentShutdownDrainsTheDeliveriesUnderWay(t *testing.T) {
	release := make(chan struct{})
	var (
		started sync.WaitGroup
		cut     atomic.Int32
	)
	started.Add(2)
	u := newUnitConsumer(t, Config{Handler: ConsumeFunc(func(ctx context.Context, msgs []*message.Ext) Result {
		started.Done()
		<-release
		if ctx.Err() != nil {
			cut.Add(1)
			return ReconsumeLater(0)
		}
		if msgs[0].QueueOffset == 11 {
			return ReconsumeLater(0)
		}
		return ConsumeSuccess()
	})})
	pq := u.addQueue(instanceMQ("T", 0), 10)
	u.deliver(pq, msgsAt(1, 10))
	u.deliver(pq, msgsAt(1, 11))
	started.Wait() // both in the Handler, on two workers

	done := make(chan error, 1)
	go func() { done <- u.Shutdown(ctxFor(t, timeoutUnit)) }()
	<-u.runCtx.Done() // Shutdown began
	u.deliver(pq, msgsAt(1, 12))
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := cut.Load(); n != 0 {
		t.Errorf("%d Consume calls saw their context end before they finished", n)
	}
	if sent := u.remote.sent(); len(sent) != 1 || sent[0].offset != 11 {
		t.Errorf("sent back %+v, want the failed message at offset 11", sent)
	}
	// Offset 12 came after Shutdown began: never delivered, so not committed.
	if off, ok := u.offsets.storedOffset(pq.mq); !ok || off != 12 {
		t.Errorf("persisted offset %d (%v), want 12: both messages under way completed", off, ok)
	}
}

// A Consume still running when Shutdown's budget is spent sees its context end, and
// Shutdown returns within the budget without committing its message (left uncompleted,
// as a webhook leaves a POST cut), which the queue's next owner consumes again.
func TestConcurrentShutdownCutsWhatOutlivesTheBudget(t *testing.T) {
	started := make(chan struct{})
	u := newUnitConsumer(t, Config{Handler: HandlerFunc(func(ctx context.Context, _ *Delivery) {
		close(started)
		<-ctx.Done()
	})})
	pq := u.addQueue(instanceMQ("T", 0), 10)
	u.deliver(pq, msgsAt(1, 10))
	<-started
	if err := u.Shutdown(ctxFor(t, 400*time.Millisecond)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if off, _ := u.offsets.storedOffset(pq.mq); off > 10 {
		t.Errorf("persisted offset %d past the message cut", off)
	}
}

// TestConcurrentCommitAfterAResetKeepsTheResetOffset is TestOrderlyCommitAfterAResetKeepsTheResetOffset's
// window in concurrent consumption, whose commit only raises an offset: a reset to 0 landing after the look at
// isDropped was raised again past the messages it asked to consume again.
func TestConcurrentCommitAfterAResetKeepsTheResetOffset(t *testing.T) {
	c := newUnitConsumer(t, Config{})
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	msgs := msgsAt(1, 0, 1, 2, 3)
	pq.put(msgs, 4)
	pq.markResetting()
	c.offsets.update(testMQ, 0, false)
	c.removeAndCommit(pq, msgs, epoch)
	if off, _ := c.offsets.readMemory(testMQ); off != 0 {
		t.Fatalf("offset %d after the commit, want the reset's 0", off)
	}
}
