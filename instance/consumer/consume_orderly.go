package consumer

import (
	"context"
	"slices"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Orderly consumption (Java's ConsumeMessageOrderlyService): one goroutine per queue takes
// the queue's messages in offset order, ConsumeBatchMaxSize at a time, and waits for each
// delivery to complete before the next, so order holds even when the Handler completes
// later. In clustering mode a queue is consumed only while this client holds its lock on
// the broker (taken at the rebalance, renewed every LockInterval, not trusted once
// LockMaxLive old). A failed batch is given back and delivered again after a pause; a
// message failed MaxReconsumeTimes times goes to the dead letter queue instead.
//
// A queue dropped by a rebalance is handed on as Java's removeUnnecessaryMessageQueue
// does once it gets the consume lock: its goroutine persists the queue's offset and
// unlocks the queue on the broker, so that its next owner goes on at once rather than
// when the broker's lock expires (60 s). A delivery the Handler holds unclaimed
// (Delivery.Unclaim: buffered, not consumed yet) is withdrawn first; a claimed one, being
// consumed, is waited for, and its completion still counts. Meanwhile the lock is renewed
// with the others (Java's lockAll covers a dropped queue still consuming), so that no
// other consumer takes the queue while its batch is still being consumed here. The wait
// ends at the latest ConsumeTimeout after the delivery: the batch is then abandoned, its
// completion ignored, and the lock left to expire on the broker.
//
// When the consumer stops, Shutdown drains as Java's shutdown(awaitTerminateMillis) waits
// for its consume threads: an unclaimed delivery is withdrawn at once; the Handler's
// Consume call under way is waited for, its context live, while the drain lasts; a batch
// still claimed once Consume returned (a lease, a completion to come) is waited for
// OrderlyDropWait more, never past the drain, as its Handler may be unable to complete it
// once stopping. Shutdown then unlocks the queues whose batch completed or was withdrawn;
// one abandoned keeps its lock until it expires on the broker.

// runOrderly consumes pq until it is dropped or the consumer stops.
func (c *PushConsumer) runOrderly(pq *processQueue) {
	defer c.wg.Done()
	ctx := c.runCtx // the loop's; the batches' is consumeCtx
	clustering := c.cfg.Model == remoting.Clustering
	timer := clock.NewStoppedTimer(c.clock)
	defer timer.Stop()
	// pause waits d unless the queue is dropped or the consumer stops.
	pause := func(d time.Duration) bool {
		timer.Reset(d)
		defer timer.Stop()
		select {
		case <-timer.C():
			return true
		case <-pq.droppedCh:
		case <-ctx.Done():
		}
		return false
	}
	settled := true // the last delivery completed or was withdrawn (false: abandoned in flight)
	for !pq.isDropped() && ctx.Err() == nil {
		if clustering && !c.lockValid(pq) {
			// Java's tryLockLaterAndReconsume.
			if !pause(10 * time.Millisecond) {
				break
			}
			retry := 3 * time.Second
			if c.lockOne(ctx, pq) {
				retry = 10 * time.Millisecond
			}
			if !pause(retry) {
				break
			}
			continue
		}
		msgs := pq.take(c.cfg.ConsumeBatchMaxSize, c.clock.Now())
		if len(msgs) == 0 {
			select {
			case <-pq.notify:
			case <-pq.droppedCh:
			case <-ctx.Done():
			}
			continue
		}
		d, r, end := c.deliverOrderly(ctx, pq, msgs)
		if end == orderlyAbandoned {
			settled = false
			break
		}
		if end == orderlyWithdrawn || pq.resetting.Load() {
			// Withdrawn: never consumed; reset: consumed again from the offset the reset
			// stored. Nothing to commit either way.
			break
		}
		if suspend := c.orderlyResult(c.consumeCtx, pq, d, r); suspend > 0 && !pause(suspend) {
			break
		}
	}
	c.orderlyExit(pq, settled)
}

// How an orderly delivery ended.
type orderlyEnd uint8

const (
	orderlyCompleted orderlyEnd = iota // completed, its result to apply
	orderlyWithdrawn                   // withdrawn unclaimed: nothing consumed
	orderlyAbandoned                   // given up while still being consumed
)

// lockValid reports a lock held and recent (Java's isLocked && !isLockExpired).
func (c *PushConsumer) lockValid(pq *processQueue) bool {
	return pq.locked.Load() && c.clock.Now().UnixMilli()-pq.lastLock.Load() <= c.cfg.LockMaxLive.Milliseconds()
}

// deliverOrderly hands msgs to the Handler and waits for the result. When the queue is
// dropped or the consumer stops meanwhile, an unclaimed delivery is withdrawn, and a
// claimed one waited for as awaitInFlight says. ctx is the loop's (runCtx); the Handler
// and the hooks run under consumeCtx, which lives through Shutdown's drain.
func (c *PushConsumer) deliverOrderly(ctx context.Context, pq *processQueue, msgs []*message.Ext) (*Delivery, Result, orderlyEnd) {
	work := c.consumeCtx
	deliver, hb := c.beforeHooks(work, pq.mq, msgs)
	d := c.newDelivery(pq, orderlyDelivery, deliver)
	d.hooked = hb
	if len(deliver) == 0 {
		d.state.Store(deliveryCompleted)
		return d, ConsumeSuccess(), orderlyCompleted
	}
	pq.inFlight.Add(int64(len(deliver)))
	defer pq.inFlight.Add(-int64(len(deliver)))
	pq.delivery.Store(d) // for pq.drop and Shutdown to withdraw it
	defer pq.delivery.Store(nil)
	c.callHandler(work, d)
	var r Result
	end := orderlyCompleted
	select {
	case r = <-d.done:
	case <-d.withdrawn:
		end = orderlyWithdrawn
	case <-pq.droppedCh:
		r, end = c.awaitInFlight(ctx, pq, d)
	case <-ctx.Done():
		r, end = c.awaitInFlight(ctx, pq, d)
	}
	if end != orderlyCompleted {
		return d, r, end
	}
	now := c.clock.Now()
	ok, failed := d.outcome(r)
	pq.stats.consumed(len(ok), len(failed), now.Sub(d.start))
	c.afterHooks(work, d, r.consumed(len(d.msgs)) == len(d.msgs))
	return d, r, orderlyCompleted
}

// awaitInFlight waits for the result of d when its queue was dropped or the consumer
// began to stop. Unclaimed, d is withdrawn at once; claimed, it is waited for until it
// completes or is unclaimed: for a dropped queue until ConsumeTimeout after the delivery
// began (lockAll renews the queue's lock meanwhile), for a stopping consumer
// OrderlyDropWait more, and no longer than Shutdown's drain (consumeCtx). Then it is
// abandoned, and its completion ignored.
func (c *PushConsumer) awaitInFlight(ctx context.Context, pq *processQueue, d *Delivery) (Result, orderlyEnd) {
	// wait waits up to limit for d, or until stop is closed.
	wait := func(limit time.Duration, stop <-chan struct{}) (Result, orderlyEnd, bool) {
		t := c.clock.NewTimer(max(limit, 0))
		defer t.Stop()
		select {
		case r := <-d.done:
			return r, orderlyCompleted, true
		case <-d.withdrawn:
			return Result{}, orderlyWithdrawn, true
		case <-stop:
		case <-t.C():
		}
		return Result{}, 0, false
	}
	if d.state.Load() == deliveryPending {
		pq.tryUnlockTimes.Add(1) // Java counts the drops that found the consume lock taken
	}
	if ctx.Err() == nil {
		limit := d.start.Add(c.cfg.ConsumeTimeout)
		c.log.Info("consumer: orderly queue dropped while a batch is being consumed; its lock is kept until it completes",
			"queue", pq.mq.String(), "until", limit)
		// A stop meanwhile ends this wait for the shorter one below.
		if r, end, ok := wait(limit.Sub(c.clock.Now()), ctx.Done()); ok {
			return r, end
		}
	}
	if ctx.Err() != nil {
		// Shutdown withdraws what is unclaimed when it begins; Unclaim what comes later.
		if d.withdraw() {
			return Result{}, orderlyWithdrawn
		}
		if r, end, ok := wait(c.cfg.OrderlyDropWait, c.consumeCtx.Done()); ok {
			return r, end
		}
	}
	for {
		switch {
		case d.withdraw():
			return Result{}, orderlyWithdrawn
		case d.abandon():
			c.log.Warn("consumer: orderly batch abandoned while still being consumed; its queue's lock is left to expire on the broker",
				"queue", pq.mq.String(), "started", d.start)
			return Result{}, orderlyAbandoned
		}
		switch d.state.Load() {
		case deliveryCompleted:
			return <-d.done, orderlyCompleted // Complete sends its result next
		case deliveryWithdrawn: // by pq.drop or Unclaim meanwhile
			return Result{}, orderlyWithdrawn
		}
	}
}

// orderlyResult applies a completed delivery's result (Java's processConsumeResult with
// autoCommit): the consumed messages at the front are committed; when some failed, the
// failed ones that reached MaxReconsumeTimes (or all, for delay level -1) go to the dead
// letter queue and the others are given back, the queue pausing for the returned
// duration (0: go on).
func (c *PushConsumer) orderlyResult(ctx context.Context, pq *processQueue, d *Delivery, r Result) time.Duration {
	batch := d.batch()
	ok, failed := d.outcome(r)
	lim := c.limits(pq)
	if len(failed) == 0 {
		c.commitOrderly(pq, len(batch), lim)
		return 0
	}
	// The consumed messages before the first failure commit; the rest is retried.
	lead := 0
	for lead < len(batch) && lead < len(ok) && batch[lead] == ok[lead] {
		lead++
	}
	rest := batch[lead:]
	var again []*message.Ext
	for _, m := range rest {
		// Delay level -1 asks for the dead letter queue at once, as it does concurrently:
		// without it a message no attempt can consume holds the queue back for ever.
		if m.ReconsumeTimes >= c.maxReconsume || r.DelayLevel < 0 && slices.Contains(failed, m) {
			err := c.sendBack(ctx, m, -1, pq.mq.BrokerName)
			if err == nil {
				c.log.Warn("consumer: orderly message failed too often; sent to the dead letter queue",
					"queue", pq.mq.String(), "msgId", m.MsgID(), "reconsumeTimes", m.ReconsumeTimes)
				continue
			}
			c.log.Warn("consumer: sending an orderly message to the dead letter queue failed",
				"queue", pq.mq.String(), "msgId", m.MsgID(), "err", err)
			pq.setErr(err, c.clock.Now())
			c.noteErr(err)
		}
		again = append(again, m)
	}
	if len(again) == 0 { // every failed message went to the DLQ
		c.commitOrderly(pq, len(batch), lim)
		return 0
	}
	if lead > 0 {
		c.commitOrderly(pq, lead, lim)
	} else {
		pq.giveBack()
	}
	// Java suspends the whole rest, DLQ'd messages included; count one more attempt.
	pq.bumpReconsume(rest)
	return clampSuspend(cmpOr(r.Suspend, c.cfg.SuspendCurrentQueue))
}

// commitOrderly commits the first n messages taken. A queue whose offset a reset moved
// meanwhile keeps the reset's offset: the loop checks resetting once its delivery ends,
// but a reset may come between that check and this store, which would otherwise put the
// queue past the messages the reset asked to consume again.
func (c *PushConsumer) commitOrderly(pq *processQueue, n int, lim limits) {
	off, resume := pq.commit(n, lim)
	if off >= 0 {
		c.storeUnlessReset(pq, off, false)
	}
	if resume {
		c.sched.pullNow(pq)
	}
}

// orderlyExit ends a queue's goroutine. A queue dropped by a rebalance persists its
// offset and, unless its last batch was abandoned, releases its lock; at shutdown the
// queue stays where it is (held, or closing) for Shutdown to do both, or to keep the lock
// when the batch was abandoned.
func (c *PushConsumer) orderlyExit(pq *processQueue, settled bool) {
	defer pq.release()
	if c.runCtx.Err() != nil || !pq.isDropped() {
		c.mu.Lock()
		pq.exited, pq.abandoned = true, !settled
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(c.runCtx, c.cfg.SendBackTimeout)
	defer cancel()
	if !pq.resetting.Load() {
		if err := c.offsets.persist(ctx, pq.mq); err != nil {
			c.log.Warn("consumer: persisting a dropped queue's offset failed", "queue", pq.mq.String(), "err", err)
		}
		c.offsets.remove(pq.mq)
	}
	// lockAll renews the locks of closing queues: leaving closing and unlocking under
	// lockMu keeps a renewal from locking the queue again after the unlock.
	c.lockMu.Lock()
	c.mu.Lock()
	pq.exited = true
	retake := false
	if c.closing[pq.mq] == pq {
		delete(c.closing, pq.mq)
		// Not while an abandoned batch may still be consumed: the queue taken anew would
		// be consumed beside it.
		retake = pq.wanted && settled
	}
	c.mu.Unlock()
	if c.cfg.Model == remoting.Clustering && settled {
		// Waited for (releaseUnused says why): the queue may be taken again at once.
		c.unlock(ctx, []instance.MessageQueue{pq.mq}, false)
	}
	c.lockMu.Unlock()
	if retake {
		c.RebalanceImmediately()
	}
}

// bumpReconsume replaces the held messages with copies one reconsumption further on, so
// that a message a Handler may still read is never modified, and returns the copies.
func (pq *processQueue) bumpReconsume(msgs []*message.Ext) []*message.Ext {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	out := make([]*message.Ext, 0, len(msgs))
	for _, m := range msgs {
		cp := *m
		cp.ReconsumeTimes++
		if i := pq.find(m.QueueOffset); i >= 0 && pq.entries[i].msg != nil {
			pq.entries[i].msg = &cp
		}
		out = append(out, &cp)
	}
	return out
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
