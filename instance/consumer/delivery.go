package consumer

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// Handler consumes the consumer's deliveries.
//
// Consume is called on a consumer goroutine — a worker of the pool for concurrent
// consumption, the queue's own goroutine for orderly consumption — with a context that
// ends when the consumer's Shutdown stops waiting for it: Shutdown drains, waiting for
// the Consume calls under way while its budget allows, and their completions count; an
// orderly delivery still claimed once Consume returned is waited for OrderlyDropWait
// more within that budget, and one the Handler holds unclaimed is withdrawn at once (see
// Delivery.Unclaim). Delivery.Stopping tells a handler that Shutdown began, so that it
// starts nothing new (a retry). Consume may complete the delivery before it returns (a
// synchronous handler: see ConsumeFunc) or hand it on and complete it later from any
// goroutine (a webhook, a receive/ack lease). A delivery not completed within
// Config.ConsumeTimeout is completed as failed by the consumer (concurrent consumption).
// A Consume that panics fails the delivery, unless it completed it first.
//
// Concurrent consumption calls Consume from up to ConsumeGoroutines goroutines at once;
// a handler that completes later frees its worker at once, so the deliveries in flight
// are bounded by flow control (PullThresholdForQueue, MaxSpan), not by the pool. Orderly
// consumption delivers a queue's next batch only when the previous one completed.
type Handler interface {
	Consume(ctx context.Context, d *Delivery)
}

// HandlerFunc is a Handler function.
type HandlerFunc func(ctx context.Context, d *Delivery)

// Consume calls f.
func (f HandlerFunc) Consume(ctx context.Context, d *Delivery) { f(ctx, d) }

// ConsumeFunc is a synchronous Handler: the delivery completes with the result the
// function returns (Java's MessageListenerConcurrently and MessageListenerOrderly).
type ConsumeFunc func(ctx context.Context, msgs []*message.Ext) Result

// Consume calls f and completes d with its result.
func (f ConsumeFunc) Consume(ctx context.Context, d *Delivery) { _ = d.Complete(f(ctx, d.Messages())) }

// Result is how a delivery went.
type Result struct {
	// Consumed is how many messages, from the first, were consumed; the others failed
	// (Java's ackIndex + 1). Values past the batch's length mean all of them.
	Consumed int
	// DelayLevel applies to the failed messages of concurrent clustering consumption: 0
	// lets the broker choose (level 3 + reconsume times), n > 0 is delay level n, -1
	// sends them to the dead letter queue at once (Java's delayLevelWhenNextConsume).
	// Orderly consumption takes -1 too, and ignores the others.
	DelayLevel int
	// Suspend is how long an orderly queue pauses before the failed messages are
	// delivered again; 0 means Config.SuspendCurrentQueue (Java's
	// suspendCurrentQueueTimeMillis).
	Suspend time.Duration
}

// ConsumeSuccess is the result of a batch consumed entirely (CONSUME_SUCCESS, SUCCESS).
func ConsumeSuccess() Result { return Result{Consumed: math.MaxInt} }

// ReconsumeLater is the result of a batch that failed entirely (RECONSUME_LATER,
// SUSPEND_CURRENT_QUEUE_A_MOMENT), with Result.DelayLevel delayLevel.
func ReconsumeLater(delayLevel int) Result { return Result{DelayLevel: delayLevel} }

type deliveryKind uint8

// Delivery states.
const (
	deliveryPending   uint32 = iota // claimed: being consumed, to be completed
	deliveryCompleted               // completed: the first completion won
	deliveryAbandoned               // orderly: the consumer stopped waiting; a completion is ignored
	deliveryParked                  // unclaimed: waiting in the Handler, not consumed yet
	deliveryWithdrawn               // orderly: taken back while parked; never to be consumed
)

const (
	concurrentDelivery deliveryKind = iota
	orderlyDelivery
	directDelivery // CONSUME_MESSAGE_DIRECTLY: no queue, no offsets
)

// Delivery is a batch of messages of one queue handed to the Handler, to be completed
// exactly once with Ack, Retry or Complete.
//
// Ownership: the messages are the consumer's, and read-only. The Handler may keep them
// after completing the delivery: nothing modifies a message once delivered (a message
// consumed again locally — orderly retries, concurrent messages the broker would not take
// back — is delivered as a copy with ReconsumeTimes increased). The bodies alias the pull
// response they came in (zero copy), so keeping one message keeps that response's bytes
// and its siblings (up to Config.PullBatchSize messages) alive: a handler that keeps
// messages long after completing them should keep a Clone.
type Delivery struct {
	c     *PushConsumer
	pq    *processQueue // nil for a direct delivery
	kind  deliveryKind
	msgs  []*message.Ext // what the handler sees
	start time.Time
	state atomic.Uint32 // deliveryPending, ...

	// hooked is set when consume hooks ran: the whole batch and the hooks' verdicts,
	// msgs being the messages they let through.
	hooked *hookedBatch
	// done hands the result to the goroutine waiting for it (orderly, direct).
	done chan Result
	// withdrawn is closed when an orderly delivery is withdrawn; nil for the others.
	withdrawn chan struct{}
	one       [1]*message.Ext
	tel       *deliveryTelemetry // nil: telemetry off (telemetry.go)
}

// hookedBatch is a batch the consume hooks saw.
type hookedBatch struct {
	ctx      instance.ConsumeContext
	all      []*message.Ext
	verdicts []instance.ConsumeVerdict
}

// Messages returns the delivery's messages, in offset order.
func (d *Delivery) Messages() []*message.Ext { return d.msgs }

// Queue returns the queue the messages come from (a %RETRY%group queue for messages
// consumed again; their Topic is the original one).
func (d *Delivery) Queue() instance.MessageQueue {
	if d.pq == nil {
		if len(d.msgs) > 0 {
			m := d.msgs[0]
			return instance.MessageQueue{Topic: m.Topic, BrokerName: m.BrokerName, QueueID: m.QueueID}
		}
		return instance.MessageQueue{}
	}
	return d.pq.mq
}

// Group returns the consumer group.
func (d *Delivery) Group() string { return d.c.cfg.Group }

// Orderly reports an orderly delivery: the queue's next batch waits for this one.
func (d *Delivery) Orderly() bool { return d.kind == orderlyDelivery }

// Started returns when the delivery was handed to the Handler.
func (d *Delivery) Started() time.Time { return d.start }

// Dropped reports whether the delivery's queue left the consumer meanwhile (a rebalance
// gave it to another consumer, or an offset reset takes it anew from its new offset). A
// concurrent delivery's completion then records nothing: its messages are the queue's
// next owner's to consume. An orderly delivery's still counts after a rebalance: the
// queue's next owner waits for it (see Config.ConsumeTimeout).
func (d *Delivery) Dropped() bool { return d.pq != nil && d.pq.isDropped() }

// Stopping returns a channel closed when the consumer's Shutdown begins: no delivery
// follows, and one under way should finish without starting more work (a retry): left
// uncompleted, its messages are consumed again later.
func (d *Delivery) Stopping() <-chan struct{} { return d.c.runCtx.Done() }

// Completed reports whether the delivery was completed.
func (d *Delivery) Completed() bool { return d.state.Load() == deliveryCompleted }

// Ack completes the delivery as consumed.
func (d *Delivery) Ack() error { return d.Complete(ConsumeSuccess()) }

// Retry completes the delivery as failed: consumed again later, after delayLevel for
// concurrent clustering consumption (see Result.DelayLevel), after
// Config.SuspendCurrentQueue for orderly consumption. Broadcasting consumption drops
// failed messages, as Java does.
func (d *Delivery) Retry(delayLevel int) error { return d.Complete(ReconsumeLater(delayLevel)) }

// Complete completes the delivery with r. Only the first completion counts: later ones
// return ErrCompleted. It returns ErrQueueDropped when the outcome is not recorded: a
// concurrent delivery whose queue left the consumer; an orderly one withdrawn (see
// Unclaim), whose queue's offsets were reset, or that the consumer stopped waiting for
// (ConsumeTimeout after its queue was rebalanced away; once the consumer stops,
// OrderlyDropWait after Consume returned, within Shutdown's drain); the queue's next
// owner consumes the messages again. Complete does not block: sending failed messages
// back to the broker happens on a consumer goroutine.
func (d *Delivery) Complete(r Result) error {
	if err := d.settle(); err != nil {
		return err
	}
	if d.tel != nil {
		d.c.tel.end(d, r)
	}
	switch d.kind {
	case concurrentDelivery:
		return d.c.completeConcurrent(d, r)
	case orderlyDelivery:
		d.done <- r // capacity 1, sent once
		if d.pq.resetting.Load() {
			return ErrQueueDropped
		}
		return nil
	default:
		d.done <- r
		return nil
	}
}

// settle moves the delivery to completed, claimed or not; it fails when it was completed,
// abandoned or withdrawn first.
func (d *Delivery) settle() error {
	for {
		switch st := d.state.Load(); st {
		case deliveryPending, deliveryParked:
			if d.state.CompareAndSwap(st, deliveryCompleted) {
				return nil
			}
		case deliveryAbandoned, deliveryWithdrawn:
			return ErrQueueDropped
		default:
			return ErrCompleted
		}
	}
}

// Unclaim tells the consumer that the delivery waits in the Handler without being
// consumed: buffered until an application receives it, its lease run out, waiting for a
// free slot. A delivery is claimed when it is handed to the Handler. While an orderly
// delivery is unclaimed, its queue can leave this consumer (a rebalance, Shutdown)
// without waiting for it: the delivery is then withdrawn — Withdrawn is closed, Claim
// reports false, completing it returns ErrQueueDropped — and the queue's next owner
// consumes its messages.
func (d *Delivery) Unclaim() {
	if !d.state.CompareAndSwap(deliveryPending, deliveryParked) {
		return
	}
	if d.kind == orderlyDelivery && (d.pq.isDropped() || d.c.runCtx.Err() != nil) {
		d.withdraw() // dropped or stopping before: nothing else would
	}
}

// Claim tells the consumer that the delivery, unclaimed, is being consumed again (leased
// to an application, POSTed): a queue rebalanced away waits for it. It reports false
// when the delivery must not be handed out: withdrawn, completed, or its queue dropped
// meanwhile.
func (d *Delivery) Claim() bool {
	for {
		switch d.state.Load() {
		case deliveryPending:
			return true
		case deliveryParked:
			if d.Dropped() || d.kind == orderlyDelivery && d.c.runCtx.Err() != nil {
				return false // to be withdrawn
			}
			if d.state.CompareAndSwap(deliveryParked, deliveryPending) {
				return true
			}
		default:
			return false
		}
	}
}

// Withdrawn is closed when the consumer withdraws the delivery (see Unclaim). It is nil,
// never closed, for a delivery that is not orderly.
func (d *Delivery) Withdrawn() <-chan struct{} { return d.withdrawn }

// withdraw takes back an orderly delivery that is unclaimed. It reports whether it did.
func (d *Delivery) withdraw() bool {
	if d.withdrawn == nil || !d.state.CompareAndSwap(deliveryParked, deliveryWithdrawn) {
		return false
	}
	close(d.withdrawn)
	if d.tel != nil { // its messages are consumed again
		d.c.tel.end(d, Result{})
	}
	return true
}

// abandon gives up an orderly delivery not completed yet: a completion is ignored from
// now on. It reports false when the delivery was completed first.
func (d *Delivery) abandon() bool {
	if !d.state.CompareAndSwap(deliveryPending, deliveryAbandoned) {
		return false
	}
	if d.tel != nil { // its messages are consumed again by the queue's next owner
		d.c.tel.end(d, Result{})
	}
	return true
}

// consumed returns how many of the delivered messages r says were consumed.
func (r Result) consumed(n int) int { return min(max(r.Consumed, 0), n) }

// newDelivery makes a delivery of msgs; when one is set, msgs is a single message kept in
// the delivery itself.
func (c *PushConsumer) newDelivery(pq *processQueue, kind deliveryKind, msgs []*message.Ext) *Delivery {
	d := &Delivery{c: c, pq: pq, kind: kind, start: c.clock.Now()}
	if len(msgs) == 1 {
		d.one[0] = msgs[0]
		d.msgs = d.one[:]
	} else {
		d.msgs = msgs
	}
	if kind != concurrentDelivery {
		d.done = make(chan Result, 1)
	}
	if kind == orderlyDelivery {
		d.withdrawn = make(chan struct{})
	}
	if c.tel != nil { // before anything else can see d: a timeout may complete it
		c.tel.start(c, d)
	}
	return d
}

// callHandler runs the Handler on d and fails d when the Handler panics before completing
// it. It returns how long Consume took and what it panicked with.
func (c *PushConsumer) callHandler(ctx context.Context, d *Delivery) (took time.Duration, panicked any) {
	if d.tel != nil {
		ctx = d.tel.context(ctx)
	}
	start := time.Now()
	defer func() {
		took = time.Since(start)
		if r := recover(); r != nil {
			panicked = r
			c.log.Error("consumer: handler panicked", "queue", d.Queue().String(), "panic", r)
			c.noteErr(errHandlerPanic{r})
			_ = d.Complete(ReconsumeLater(0))
		}
	}()
	c.cfg.Handler.Consume(ctx, d)
	return
}

type errHandlerPanic struct{ v any }

func (e errHandlerPanic) Error() string { return fmt.Sprintf("consumer: handler panicked: %v", e.v) }
