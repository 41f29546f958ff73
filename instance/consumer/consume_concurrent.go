package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Concurrent consumption (Java's ConsumeMessageConcurrentlyService): the messages of each
// pull go to a pool of ConsumeGoroutines workers as one task; a worker cuts it into
// deliveries of ConsumeBatchMaxSize messages. When the Handler is slow (it consumes
// synchronously) and other workers are idle, a worker hands the rest of its task to
// them, so that one pull's messages are consumed in parallel as Java's one-task-per-batch
// does; when the Handler is quick (an asynchronous one that only hands the delivery on),
// a worker delivers the whole pull itself, saving a goroutine wake-up per message.

// splitAbove is the mean Consume time above which a worker shares its task.
const splitAbove = 50 * time.Microsecond

// consumeTask is work for the pool: messages of a queue to deliver, or the failed
// messages of a completed delivery to send back.
type consumeTask struct {
	pq   *processQueue
	msgs []*message.Ext
	// back, when set, makes the task a send-back: msgs failed, ok were consumed.
	back *sendBackTask
}

type sendBackTask struct {
	ok         []*message.Ext
	delayLevel int
}

// taskQueue is the pool's unbounded FIFO. Flow control bounds what it holds: every task
// is messages held by a process queue.
type taskQueue struct {
	mu   sync.Mutex
	buf  []consumeTask
	head int
	wake chan struct{} // capacity 1: an idle worker may look again
	idle atomic.Int32
	// ctx is the consumer's intake: once it ended, a worker finding the queue empty ends
	// (Shutdown's drain), rather than wait for tasks.
	ctx context.Context
}

func newTaskQueue(ctx context.Context) *taskQueue {
	return &taskQueue{wake: make(chan struct{}, 1), ctx: ctx}
}

func (q *taskQueue) signal() {
	if q.idle.Load() > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

func (q *taskQueue) push(t consumeTask) {
	q.mu.Lock()
	q.buf = append(q.buf, t)
	q.mu.Unlock()
	q.signal()
}

// pushFront queues t before everything else: the rest of a task being consumed, and
// send-backs, which complete work rather than start more.
func (q *taskQueue) pushFront(t consumeTask) {
	q.mu.Lock()
	if q.head > 0 {
		q.head--
		q.buf[q.head] = t
	} else {
		q.buf = append(q.buf, consumeTask{})
		copy(q.buf[1:], q.buf)
		q.buf[0] = t
	}
	q.mu.Unlock()
	q.signal()
}

// pop takes the first task, waiting for one; false once the consumer stops and no task
// is left.
func (q *taskQueue) pop() (consumeTask, bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.buf) {
			t := q.buf[q.head]
			q.buf[q.head] = consumeTask{}
			q.head++
			more := q.head < len(q.buf)
			if !more {
				q.buf, q.head = q.buf[:0], 0
			} else if q.head >= 256 && q.head*2 >= len(q.buf) {
				// Under a steady backlog the queue never drains: without moving the
				// tasks down, push would grow the buffer by one slot per task for ever.
				n := copy(q.buf, q.buf[q.head:])
				clear(q.buf[n:])
				q.buf, q.head = q.buf[:n], 0
			}
			q.mu.Unlock()
			if more {
				q.signal() // chain: another idle worker takes the next
			}
			return t, true
		}
		if q.ctx.Err() != nil {
			q.mu.Unlock()
			return consumeTask{}, false
		}
		q.idle.Add(1)
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-q.ctx.Done():
		}
		q.idle.Add(-1)
	}
}

// len returns the tasks waiting.
func (q *taskQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf) - q.head
}

// worker runs tasks until the consumer stops. At shutdown it finishes what it holds and
// the send-backs queued, and leaves the deliveries not yet made.
func (c *PushConsumer) worker() {
	defer c.wg.Done()
	for {
		t, ok := c.tasks.pop()
		if !ok {
			return
		}
		if t.back != nil {
			c.sendBackFailed(t.pq, t.msgs, t.back)
			continue
		}
		c.runTask(t)
	}
}

// runTask delivers a task's messages, ConsumeBatchMaxSize at a time (Java's
// ConsumeRequest.run for each batch of submitConsumeRequest).
func (c *PushConsumer) runTask(t consumeTask) {
	msgs := t.msgs
	for len(msgs) > 0 {
		if t.pq.isDropped() || c.runCtx.Err() != nil {
			return
		}
		n := min(c.cfg.ConsumeBatchMaxSize, len(msgs))
		batch, rest := msgs[:n:n], msgs[n:]
		if len(rest) > 0 && c.tasks.idle.Load() > 0 && time.Duration(c.consumeAvg.Load()) > splitAbove {
			c.tasks.pushFront(consumeTask{pq: t.pq, msgs: rest})
			rest = nil
		}
		c.deliverConcurrent(t.pq, batch)
		msgs = rest
	}
}

// deliverConcurrent hands one batch to the Handler.
func (c *PushConsumer) deliverConcurrent(pq *processQueue, batch []*message.Ext) {
	ctx := c.consumeCtx
	deliver, hb := c.beforeHooks(ctx, pq.mq, batch)
	d := c.newDelivery(pq, concurrentDelivery, deliver)
	d.hooked = hb
	if len(deliver) == 0 { // every message skipped or failed by the hooks
		_ = d.Complete(ConsumeSuccess())
		return
	}
	pq.inFlight.Add(int64(len(deliver)))
	pq.markDelivered(deliver, d)
	took, _ := c.callHandler(ctx, d)
	// A moving average of Consume's time (1/8 weight to the last), to decide on sharing.
	avg := c.consumeAvg.Load()
	c.consumeAvg.Store(avg + (int64(took)-avg)/8)
}

// completeConcurrent records a concurrent delivery's outcome (Java's
// processConsumeResult): the consumed messages leave the queue and the committed offset
// moves; in clustering mode the failed ones are sent back to the broker first, on a
// worker, and those that cannot be are consumed again locally.
func (c *PushConsumer) completeConcurrent(d *Delivery, r Result) error {
	pq := d.pq
	now := c.clock.Now()
	ok, failed := d.outcome(r)
	pq.stats.consumed(len(ok), len(failed), now.Sub(d.start))
	c.afterHooks(c.consumeCtx, d, r.consumed(len(d.msgs)) == len(d.msgs))
	pq.inFlight.Add(-int64(len(d.msgs)))
	if pq.isDropped() {
		return ErrQueueDropped
	}
	if len(failed) == 0 || c.cfg.Model == remoting.Broadcasting {
		for _, m := range failed {
			c.log.Warn("consumer: broadcasting, a message failed and is dropped",
				"topic", m.Topic, "msgId", m.MsgID(), "queueOffset", m.QueueOffset)
		}
		c.removeAndCommit(pq, d.batch(), now)
		return nil
	}
	c.tasks.pushFront(consumeTask{pq: pq, msgs: failed, back: &sendBackTask{ok: ok, delayLevel: r.DelayLevel}})
	return nil
}

// sendBackFailed sends a delivery's failed messages back for later consumption; those
// that cannot be sent stay in the queue and are delivered again after
// ConsumeRetryDelay with ReconsumeTimes increased.
func (c *PushConsumer) sendBackFailed(pq *processQueue, failed []*message.Ext, t *sendBackTask) {
	if pq.isDropped() {
		return // the queue's next owner consumes them again
	}
	done := t.ok
	var again []*message.Ext
	for i, m := range failed {
		err := c.sendBack(c.consumeCtx, m, t.delayLevel, pq.mq.BrokerName)
		if err != nil && c.consumeCtx.Err() != nil {
			// Shut down past the drain (a group removed, say): the rest stay in the
			// queue, uncommitted, for the queue's next owner. Not a warning a message.
			c.log.Debug("consumer: shutting down: failed messages left for the queue's next owner",
				"queue", pq.mq.String(), "messages", len(failed)-i)
			break
		}
		if err != nil {
			c.log.Warn("consumer: sending a failed message back failed; consuming it again locally",
				"topic", m.Topic, "msgId", m.MsgID(), "err", err)
			pq.setErr(err, c.clock.Now())
			c.noteErr(err)
			again = append(again, m)
			continue
		}
		done = append(done, m)
	}
	if pq.isDropped() {
		return
	}
	c.removeAndCommit(pq, done, c.clock.Now())
	if len(again) > 0 {
		again = pq.bumpReconsume(again) // copies: the failed delivery's messages stay as they were
		c.sched.after(c.cfg.ConsumeRetryDelay, nil, func() {
			if !pq.isDropped() {
				c.tasks.push(consumeTask{pq: pq, msgs: again})
			}
		})
	}
}

// removeAndCommit takes msgs out of the queue and commits the offset that leaves, when
// the queue is still held; a pull held back by flow control resumes when it may.
func (c *PushConsumer) removeAndCommit(pq *processQueue, msgs []*message.Ext, now time.Time) {
	commit, resume := pq.remove(msgs, c.limits(pq), now)
	if commit >= 0 && !pq.isDropped() {
		// A reset landing after the look at isDropped would otherwise see its offset
		// raised past the messages it asked to consume again (the update only increases).
		c.storeUnlessReset(pq, commit, true)
	}
	if resume {
		c.sched.pullNow(pq)
	}
}

// expireDeliveries fails the deliveries older than ConsumeTimeout that still hold the
// oldest messages of their queues (Java's cleanExpiredMsg, which sends them back with
// delay level 3): a delivery the application lost must not hold a queue forever.
func (c *PushConsumer) expireDeliveries(now time.Time) {
	if c.cfg.Orderly {
		return
	}
	deadline := now.Add(-c.cfg.ConsumeTimeout)
	for _, pq := range c.queues() {
		for _, d := range pq.expired(deadline) {
			if err := d.Complete(ReconsumeLater(3)); err == nil {
				c.log.Warn("consumer: delivery not completed within the consume timeout; failed",
					"queue", pq.mq.String(), "timeout", c.cfg.ConsumeTimeout,
					"messages", len(d.msgs))
			}
		}
	}
}
