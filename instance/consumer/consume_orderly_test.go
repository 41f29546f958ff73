package consumer

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// newOrderlyUnit returns an orderly clustering consumer holding one locked queue, whose
// goroutine runs.
func newOrderlyUnit(t *testing.T, cfg Config) (*unitConsumer, *heldDeliveries, *processQueue) {
	t.Helper()
	h := &heldDeliveries{}
	cfg.Handler, cfg.Orderly = h, true
	u := newUnitConsumer(t, cfg)
	pq := u.addQueue(instanceMQ("T", 0), 0)
	pq.locked.Store(true)
	pq.lastLock.Store(u.clock.Now().UnixMilli())
	u.wg.Add(1)
	go u.runOrderly(pq)
	return u, h, pq
}

// waitTimer waits until the fake clock has n active timers or tickers.
func (u *unitConsumer) waitTimers(t *testing.T, n int) {
	t.Helper()
	if !u.clock.WaitForWaiters(n, timeoutUnit) {
		t.Fatalf("no timer armed (%d waiters)", u.clock.Waiters())
	}
}

// Completion may come late: the next batch waits for it, so order holds.
func TestOrderlyNextBatchWaitsForCompletion(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{ConsumeBatchMaxSize: 2})
	u.deliver(pq, msgsAt(1, 0, 1, 2, 3, 4))
	waitFor(t, timeoutUnit, "the first batch", func() bool { return h.n() == 1 })
	if h.n() != 1 || !h.get(0).Orderly() {
		t.Fatal("not one orderly delivery")
	}
	for i, want := range [][]int64{{0, 1}, {2, 3}, {4}} {
		waitFor(t, timeoutUnit, "batch", func() bool { return h.n() == i+1 })
		time.Sleep(time.Millisecond) // give a wrongly eager consumer the chance to deliver more
		if h.n() != i+1 {
			t.Fatalf("batch %d delivered before the previous one completed", i+1)
		}
		if got := offsetsOf(h.get(i).Messages()); !slices.Equal(got, want) {
			t.Fatalf("batch %d = %v, want %v", i, got, want)
		}
		_ = h.get(i).Ack()
	}
	waitFor(t, timeoutUnit, "the commit", func() bool { return u.committed(pq.mq) == 5 })
}

func TestOrderlyFailureSuspendsThenRetries(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{SuspendCurrentQueue: 2 * time.Second})
	u.deliver(pq, msgsAt(1, 7, 8))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	first := h.get(0).Messages()[0]
	_ = h.get(0).Retry(0)
	u.waitTimers(t, 1)
	u.clock.Advance(1999 * time.Millisecond)
	time.Sleep(time.Millisecond)
	if h.n() != 1 {
		t.Fatal("delivered again before the suspension ended")
	}
	u.clock.Advance(time.Millisecond)
	waitFor(t, timeoutUnit, "the second attempt", func() bool { return h.n() == 2 })
	again := h.get(1).Messages()[0]
	if again.QueueOffset != 7 || again.ReconsumeTimes != 1 || first.ReconsumeTimes != 0 {
		t.Errorf("second attempt offset %d reconsume %d (first now %d)", again.QueueOffset, again.ReconsumeTimes, first.ReconsumeTimes)
	}
	if u.committed(pq.mq) != -1 {
		t.Errorf("committed %d before success", u.committed(pq.mq))
	}
	// A result's own suspension wins over the configured one.
	_ = h.get(1).Complete(Result{Suspend: 50 * time.Millisecond})
	u.waitTimers(t, 1)
	u.clock.Advance(50 * time.Millisecond)
	waitFor(t, timeoutUnit, "the third attempt", func() bool { return h.n() == 3 })
	_ = h.get(2).Ack()
	waitFor(t, timeoutUnit, "offset 8", func() bool { return u.committed(pq.mq) == 8 })
	if len(u.remote.sent()) != 0 {
		t.Errorf("sent back %v: orderly retries locally", u.remote.sent())
	}
}

// The consumed messages before the first failure commit; the failed rest comes again.
func TestOrderlyPartialCommit(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{ConsumeBatchMaxSize: 3, SuspendCurrentQueue: 10 * time.Millisecond})
	u.deliver(pq, msgsAt(1, 0, 1, 2))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	_ = h.get(0).Complete(Result{Consumed: 1})
	waitFor(t, timeoutUnit, "offset 1 committed", func() bool { return u.committed(pq.mq) == 1 })
	u.waitTimers(t, 1)
	u.clock.Advance(10 * time.Millisecond)
	waitFor(t, timeoutUnit, "the rest again", func() bool { return h.n() == 2 })
	if got := offsetsOf(h.get(1).Messages()); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("redelivered %v, want [1 2]", got)
	}
}

// After MaxReconsumeTimes failures a message goes to the DLQ (CONSUMER_SEND_MSG_BACK with
// delay level -1) and the queue moves on; if the broker refuses, the queue stays suspended.
func TestOrderlyMaxReconsumeGoesToDLQ(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{MaxReconsumeTimes: 1, SuspendCurrentQueue: 10 * time.Millisecond})
	brokerDown := true
	var attempts int
	u.remote.sendBackErr = func(*message.Ext) error {
		attempts++
		if brokerDown {
			return errBrokerDown
		}
		return nil
	}
	u.deliver(pq, msgsAt(1, 0, 1))
	waitFor(t, timeoutUnit, "attempt 0", func() bool { return h.n() == 1 })
	_ = h.get(0).Retry(0) // reconsume 0 < 1: suspended
	u.waitTimers(t, 1)
	u.clock.Advance(10 * time.Millisecond)
	waitFor(t, timeoutUnit, "attempt 1", func() bool { return h.n() == 2 })
	_ = h.get(1).Retry(0) // reconsume 1 >= 1: DLQ, refused: suspended
	u.waitTimers(t, 1)
	u.remote.mu.Lock()
	brokerDown = false
	n := attempts
	u.remote.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d DLQ attempts, want 1", n)
	}
	u.clock.Advance(10 * time.Millisecond)
	waitFor(t, timeoutUnit, "attempt 2", func() bool { return h.n() == 3 })
	if m := h.get(2).Messages()[0]; m.ReconsumeTimes != 2 {
		t.Errorf("attempt 2 has reconsume times %d", m.ReconsumeTimes)
	}
	_ = h.get(2).Retry(0)
	waitFor(t, timeoutUnit, "the next message", func() bool { return h.n() == 4 })
	if s := u.remote.sent(); len(s) != 1 || s[0].offset != 0 || s[0].delayLevel != -1 {
		t.Errorf("sent back %+v, want offset 0 to the DLQ", s)
	}
	if got := h.get(3).Messages()[0].QueueOffset; got != 1 {
		t.Errorf("next delivery is offset %d", got)
	}
	if off := u.committed(pq.mq); off != 1 {
		t.Errorf("committed %d after the DLQ, want 1", off)
	}
}

// A failure with delay level -1 sends the failed messages to the DLQ at once, as for
// concurrent consumption, even when orderly retries have no limit; the queue moves on.
func TestOrderlyDelayLevelMinusOneGoesToDLQAtOnce(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{ConsumeBatchMaxSize: 3, SuspendCurrentQueue: 10 * time.Millisecond})
	u.deliver(pq, msgsAt(1, 0, 1, 2, 3))
	waitFor(t, timeoutUnit, "the first batch", func() bool { return h.n() == 1 })
	_ = h.get(0).Complete(Result{Consumed: 1, DelayLevel: -1})
	waitFor(t, timeoutUnit, "the next batch", func() bool { return h.n() == 2 })
	if got := offsetsOf(h.get(1).Messages()); !slices.Equal(got, []int64{3}) {
		t.Errorf("next delivery %v, want [3]", got)
	}
	s := u.remote.sent()
	if len(s) != 2 || s[0].offset != 1 || s[1].offset != 2 || s[0].delayLevel != -1 || s[1].delayLevel != -1 {
		t.Errorf("sent back %+v, want offsets 1 and 2 to the DLQ", s)
	}
	if off := u.committed(pq.mq); off != 3 {
		t.Errorf("committed %d, want 3", off)
	}
}

// A queue whose lock lapsed is not consumed until it is locked again.
func TestOrderlyWaitsForTheLock(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{})
	lockable := false
	u.remote.lockable = func(instance.MessageQueue) bool { return lockable }
	pq.locked.Store(false)
	u.deliver(pq, msgsAt(1, 0))
	u.waitTimers(t, 1) // 10ms before the lock attempt
	u.clock.Advance(10 * time.Millisecond)
	u.waitTimers(t, 1) // 3s before the next, after the refusal
	if h.n() != 0 {
		t.Fatal("consumed without the lock")
	}
	u.remote.mu.Lock()
	lockable = true
	u.remote.mu.Unlock()
	u.clock.Advance(3 * time.Second)
	u.waitTimers(t, 1)
	u.clock.Advance(10 * time.Millisecond) // lock attempt
	u.waitTimers(t, 1)
	u.clock.Advance(10 * time.Millisecond) // then consume
	waitFor(t, timeoutUnit, "the delivery under the lock", func() bool { return h.n() == 1 })
	if !pq.locked.Load() {
		t.Error("queue not marked locked")
	}
}

// A queue dropped mid-batch waits for the batch: completed, its offset commits and is
// persisted, and the lock is released; not completed within ConsumeTimeout, the batch is
// abandoned (a late completion ignored) and the lock kept, to expire on the broker.
func TestOrderlyDropWaitsForTheBatchInFlight(t *testing.T) {
	for _, completes := range []bool{true, false} {
		name := map[bool]string{true: "completes", false: "hangs"}[completes]
		t.Run(name, func(t *testing.T) {
			u, h, pq := newOrderlyUnit(t, Config{OrderlyDropWait: time.Second, ConsumeTimeout: time.Minute})
			u.deliver(pq, msgsAt(1, 4))
			waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
			u.dropQueue(ctxFor(t, timeoutUnit), pq, "test")
			u.waitTimers(t, 1) // the wait for the batch
			if completes {
				u.clock.Advance(30 * time.Second) // well beyond OrderlyDropWait
				if err := h.get(0).Ack(); err != nil {
					t.Errorf("ack while the dropped queue waits for it: %v", err)
				}
			} else {
				u.clock.Advance(time.Minute)
			}
			waitFor(t, timeoutUnit, "the goroutine's exit", func() bool {
				u.mu.Lock()
				defer u.mu.Unlock()
				return u.closing[pq.mq] == nil
			})
			stored, ok := u.offsets.storedOffset(pq.mq)
			u.remote.mu.Lock()
			unlocks, oneway := len(u.remote.unlocks), u.remote.oneway
			u.remote.mu.Unlock()
			if completes && (!ok || stored != 5 || unlocks != 1 || oneway != 0) {
				// Waited for: the queue may be taken again at once (releaseUnused says why).
				t.Errorf("stored %d (%v), unlocks %d (%d oneway); want 5 persisted and the lock released, waited for",
					stored, ok, unlocks, oneway)
			}
			if !completes {
				if ok || unlocks != 0 || pq.tryUnlockTimes.Load() != 1 {
					t.Errorf("stored %d (%v), unlocks %d, tryUnlockTimes %d; want the lock kept", stored, ok, unlocks, pq.tryUnlockTimes.Load())
				}
				if err := h.get(0).Ack(); !errors.Is(err, ErrQueueDropped) {
					t.Errorf("ack of an abandoned batch = %v, want ErrQueueDropped", err)
				}
			}
		})
	}
}

// The locks of dropped queues whose batch is still being consumed are renewed with the
// others, until the batch completes.
func TestOrderlyLockAllRenewsADroppedQueueWhileItsBatchIsConsumed(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{ConsumeTimeout: time.Minute})
	u.deliver(pq, msgsAt(1, 4))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	u.dropQueue(ctxFor(t, timeoutUnit), pq, "test")
	u.waitTimers(t, 1)
	renewed := func() bool {
		u.remote.mu.Lock()
		defer u.remote.mu.Unlock()
		n := len(u.remote.locks)
		return n > 0 && slices.Contains(u.remote.locks[n-1], pq.mq)
	}
	u.lockAll(ctxFor(t, timeoutUnit))
	if !renewed() {
		t.Fatal("the dropped queue's lock was not renewed while its batch is consumed")
	}
	_ = h.get(0).Ack()
	waitFor(t, timeoutUnit, "the goroutine's exit", func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.closing[pq.mq] == nil
	})
	u.remote.mu.Lock()
	u.remote.locks = nil
	u.remote.mu.Unlock()
	u.lockAll(ctxFor(t, timeoutUnit))
	if renewed() {
		t.Error("the queue's lock was renewed after it was released")
	}
}

// An orderly queue dropped after PULL_OFFSET_MOVED, its goroutine gone, then rebalanced
// away before its offset is corrected, is taken again when allocated back.
func TestOrderlyQueueDroppedForOffsetMovedAndRebalancedAwayIsTakenAgain(t *testing.T) {
	u := newUnitConsumer(t, Config{Orderly: true})
	mq := instanceMQ("T", 0)
	setIDs := func(ids ...string) {
		u.remote.mu.Lock()
		u.remote.ids = ids
		u.remote.mu.Unlock()
	}
	u.remote.queues["T"] = []instance.MessageQueue{mq}
	setIDs("10.0.0.1@unit")
	u.rebalanceNow(t)
	u.mu.Lock()
	pq := u.table[mq]
	u.mu.Unlock()
	if pq == nil {
		t.Fatal("queue not taken")
	}
	u.onPull(pq, nil, instance.PullResult{Status: instance.PullOffsetIllegal, NextBeginOffset: 100,
		MinOffset: 100, MaxOffset: 200}, nil)
	waitFor(t, timeoutUnit, "the orderly goroutine's exit (it unlocks the queue)", func() bool {
		return len(u.remote.unlocked()) > 0
	})
	// A consumer joins and gets the only queue; offsetIllegalDelay later the offset is
	// corrected, and the consumer leaves.
	setIDs("10.0.0.0@other", "10.0.0.1@unit")
	u.rebalanceNow(t)
	u.correctOffset(pq, 100)
	setIDs("10.0.0.1@unit")
	u.rebalanceNow(t)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.table[mq] == nil {
		t.Errorf("queue allocated back but not taken (closing holds it: %v)", u.closing[mq] != nil)
	}
}

// Shutdown keeps the lock of an orderly queue whose batch is still being consumed after
// OrderlyDropWait, as a rebalance does: another consumer would consume it concurrently.
func TestOrderlyShutdownKeepsTheLockOfAQueueWhoseBatchIsStillConsumed(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{})
	u.deliver(pq, msgsAt(1, 0))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	done := make(chan error, 1)
	go func() { done <- u.Shutdown(ctxFor(t, timeoutUnit)) }()
	for {
		select {
		case <-done:
			unlocks := u.remote.unlocked()
			if h.get(0).Completed() || len(unlocks) > 0 {
				t.Errorf("Shutdown unlocked %v while the batch of %s is still being consumed (completed: %v)",
					unlocks, pq.mq, h.get(0).Completed())
			}
			return
		case <-time.After(time.Millisecond):
			u.clock.Advance(100 * time.Millisecond) // OrderlyDropWait passes
		}
	}
}

// unclaiming is a Handler that buffers its deliveries, as the gateway's receive does
// until an application leases them.
type unclaiming struct{ heldDeliveries }

func (u *unclaiming) Consume(ctx context.Context, d *Delivery) {
	u.heldDeliveries.Consume(ctx, d)
	d.Unclaim()
}

// A delivery the Handler holds unclaimed is withdrawn when its queue is dropped or the
// consumer stops: nothing waits for it, the queue's offset stays before it, and the
// queue is unlocked at once for its next owner.
func TestOrderlyUnclaimedDeliveryIsWithdrawn(t *testing.T) {
	for _, how := range []string{"dropped", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			h := &unclaiming{}
			u := newUnitConsumer(t, Config{Handler: h, Orderly: true})
			pq := u.addQueue(instanceMQ("T", 0), 4)
			pq.locked.Store(true)
			pq.lastLock.Store(u.clock.Now().UnixMilli())
			u.wg.Add(1)
			go u.runOrderly(pq)
			u.deliver(pq, msgsAt(1, 4, 5))
			waitFor(t, timeoutUnit, "the first delivery", func() bool { return h.n() == 1 })
			if !h.get(0).Claim() {
				t.Fatal("an unclaimed delivery of a queue held could not be claimed")
			}
			if err := h.get(0).Ack(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, timeoutUnit, "the second delivery", func() bool { return h.n() == 2 })
			d := h.get(1)
			switch how {
			case "dropped":
				u.dropQueue(ctxFor(t, timeoutUnit), pq, "test")
				waitFor(t, timeoutUnit, "the goroutine's exit, the clock still", func() bool {
					u.mu.Lock()
					defer u.mu.Unlock()
					return pq.exited
				})
			case "shutdown":
				if err := u.Shutdown(ctxFor(t, timeoutUnit)); err != nil { // the clock still
					t.Fatal(err)
				}
			}
			select {
			case <-d.Withdrawn():
			default:
				t.Error("the delivery was not withdrawn")
			}
			if d.Claim() {
				t.Error("a withdrawn delivery was claimed")
			}
			if err := d.Ack(); !errors.Is(err, ErrQueueDropped) {
				t.Errorf("ack of a withdrawn delivery = %v, want ErrQueueDropped", err)
			}
			unlocks := u.remote.unlocked()
			if len(unlocks) != 1 || !slices.Equal(unlocks[0], []instance.MessageQueue{pq.mq}) {
				t.Errorf("unlocks %v, want %v once", unlocks, pq.mq)
			}
			if stored, ok := u.offsets.storedOffset(pq.mq); !ok || stored != 5 {
				t.Errorf("stored offset %d (%v), want 5: the withdrawn message consumed next", stored, ok)
			}
		})
	}
}

// Shutdown withdraws at once an orderly delivery the Handler holds unclaimed while its
// Consume call waits (a webhook waiting for a slot): the Handler's context lives through
// the drain, so Withdrawn, not the context, must let it go; the queue is unlocked, its
// offset left before the message.
func TestOrderlyShutdownWithdrawsADeliveryWaitingUnclaimedInConsume(t *testing.T) {
	var how atomic.Value
	h := HandlerFunc(func(ctx context.Context, d *Delivery) {
		d.Unclaim()
		select {
		case <-d.Withdrawn():
			how.Store("withdrawn")
		case <-ctx.Done():
			how.Store("cut at the drain's end")
		}
	})
	u := newUnitConsumer(t, Config{Handler: h, Orderly: true})
	pq := u.addQueue(instanceMQ("T", 0), 4)
	pq.locked.Store(true)
	pq.lastLock.Store(u.clock.Now().UnixMilli())
	u.wg.Add(1)
	go u.runOrderly(pq)
	u.deliver(pq, msgsAt(1, 4))
	waitFor(t, timeoutUnit, "the delivery waiting unclaimed", func() bool {
		d := pq.delivery.Load()
		return d != nil && d.state.Load() == deliveryParked
	})
	if err := u.Shutdown(ctxFor(t, timeoutUnit)); err != nil { // the clock still
		t.Fatal(err)
	}
	if got := how.Load(); got != "withdrawn" {
		t.Errorf("the Handler's wait ended: %v, want withdrawn", got)
	}
	unlocks := u.remote.unlocked()
	if len(unlocks) != 1 || !slices.Equal(unlocks[0], []instance.MessageQueue{pq.mq}) {
		t.Errorf("unlocks %v, want %v once", unlocks, pq.mq)
	}
	if stored, ok := u.offsets.storedOffset(pq.mq); ok && stored > 4 {
		t.Errorf("stored offset %d past the withdrawn message", stored)
	}
}

// A claimed orderly batch completed after its Consume returned, within OrderlyDropWait
// of the stop, counts: its offset is persisted and its queue unlocked.
func TestOrderlyShutdownCountsAClaimedBatchCompletedWithinTheWait(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{OrderlyDropWait: time.Second})
	u.deliver(pq, msgsAt(1, 0))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	done := make(chan error, 1)
	go func() { done <- u.Shutdown(ctxFor(t, timeoutUnit)) }()
	u.waitTimers(t, 1) // the wait for the batch
	if err := h.get(0).Ack(); err != nil {
		t.Errorf("ack within the wait: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	unlocks := len(u.remote.unlocked())
	if stored, ok := u.offsets.storedOffset(pq.mq); !ok || stored != 1 || unlocks != 1 {
		t.Errorf("stored %d (%v), unlocks %d; want 1 persisted and the lock released", stored, ok, unlocks)
	}
}

// A completion racing a Handler that claims and unclaims the delivery counts once, and
// only ErrCompleted answers the completions after it.
func TestDeliveryCompletedOnceWhileClaimedAndUnclaimed(t *testing.T) {
	u := newUnitConsumer(t, Config{Orderly: true})
	for range 2000 {
		d := u.newDelivery(nil, directDelivery, msgsAt(1, 0))
		stop := make(chan struct{})
		done, running := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d.Unclaim()
				d.Claim()
				if i == 10 {
					close(running)
				}
			}
		}()
		<-running
		err := d.Complete(ConsumeSuccess())
		close(stop)
		<-done
		if err != nil {
			t.Fatalf("the first completion: %v", err)
		}
		if err := d.Ack(); !errors.Is(err, ErrCompleted) {
			t.Fatalf("the second completion: %v, want ErrCompleted", err)
		}
	}
}

// TestOrderlyCommitAfterAResetKeepsTheResetOffset is the window between the orderly
// loop's look at resetting, once a delivery ends, and its commit: a reset landing there
// stored offset 0 to consume the queue again, and the commit of the batch in flight then
// stored the offset after it, so that the queue taken anew skipped what the reset asked
// for (TestOrderlyResetWithABatchInFlightTakesTheQueueAnew failed so, now and then).
func TestOrderlyCommitAfterAResetKeepsTheResetOffset(t *testing.T) {
	c := newUnitConsumer(t, Config{Orderly: true})
	pq := newProcessQueue(testMQ, true, 0, &topicStats{}, epoch)
	pq.put(msgsAt(1, 0, 1, 2, 3), 4)
	pq.take(4, epoch)
	pq.markResetting() // the reset, as ResetOffset makes it
	c.offsets.update(testMQ, 0, false)
	c.commitOrderly(pq, 4, noLim)
	if off, _ := c.offsets.readMemory(testMQ); off != 0 {
		t.Fatalf("offset %d after the commit, want the reset's 0", off)
	}

	other := newProcessQueue(instanceMQ("T", 1), true, 0, &topicStats{}, epoch)
	other.put(msgsAt(1, 0, 1, 2, 3), 4)
	other.take(4, epoch)
	c.commitOrderly(other, 4, noLim)
	if off, _ := c.offsets.readMemory(instanceMQ("T", 1)); off != 4 {
		t.Fatalf("offset %d after a commit without a reset, want 4", off)
	}
}

// An offset reset finds an orderly queue a rebalance dropped while its batch is still
// being consumed: the batch's completion neither commits nor persists its offset over the
// reset's, and the queue taken again starts from the reset's offset.
func TestOrderlyResetOfAQueueClosingWithABatchInFlight(t *testing.T) {
	u, h, pq := newOrderlyUnit(t, Config{ConsumeTimeout: time.Minute})
	mq := pq.mq
	u.remote.queues["T"] = []instance.MessageQueue{mq}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.deliver(pq, msgsAt(1, 4))
	waitFor(t, timeoutUnit, "the delivery", func() bool { return h.n() == 1 })
	u.dropQueue(ctxFor(t, timeoutUnit), pq, "rebalanced away")

	u.ResetOffset(ctxFor(t, timeoutUnit), "T", map[instance.MessageQueue]int64{mq: 1})
	if off, _ := u.offsets.storedOffset(mq); off != 1 {
		t.Fatalf("stored offset %d after the reset, want 1", off)
	}
	_ = h.get(0).Ack()
	waitFor(t, timeoutUnit, "the goroutine's exit", func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.closing[mq] == nil
	})
	if off, _ := u.offsets.storedOffset(mq); off != 1 {
		t.Fatalf("stored offset %d after the batch's exit, want the reset's 1", off)
	}
	u.rebalanceNow(t)
	u.mu.Lock()
	again := u.table[mq]
	u.mu.Unlock()
	if again == nil || again.nextOffset.Load() != 1 {
		t.Fatalf("queue taken again: %+v, want it from the reset's offset 1", again)
	}
}
