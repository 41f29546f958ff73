package consumer

import (
	"context"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// Consume hooks (instance.ConsumeHook) see every batch before it is delivered and after
// it completes, as Java's executeHookBefore and executeHookAfter. BeforeConsume decides
// per message: Deliver hands it to the Handler, Skip counts it consumed without
// delivering it, Retry fails it (sent back, or for orderly consumption the batch is
// suspended and delivered again). A hook that returns an error fails the whole batch.
// Without hooks, nothing of this runs and nothing is allocated.

// beforeHooks runs the BeforeConsume hooks on msgs and returns what to deliver, with the
// batch's record for the completion; hb is nil when there are no hooks.
func (c *PushConsumer) beforeHooks(ctx context.Context, mq instance.MessageQueue, msgs []*message.Ext) (
	deliver []*message.Ext, hb *hookedBatch) {
	if len(c.cfg.Hooks) == 0 {
		return msgs, nil
	}
	hb = &hookedBatch{
		ctx:      instance.ConsumeContext{ConsumerGroup: c.cfg.Group, Queue: mq, Model: string(c.cfg.Model)},
		all:      msgs,
		verdicts: make([]instance.ConsumeVerdict, len(msgs)),
	}
	for _, h := range c.cfg.Hooks {
		if err := h.BeforeConsume(ctx, &hb.ctx, msgs, hb.verdicts); err != nil {
			c.log.Warn("consumer: consume hook failed; the batch fails",
				"queue", mq.String(), "err", err)
			c.noteErr(err)
			for i := range hb.verdicts {
				hb.verdicts[i] = instance.Retry
			}
			break
		}
	}
	deliver = make([]*message.Ext, 0, len(msgs))
	for i, m := range msgs {
		if hb.verdicts[i] == instance.Deliver {
			deliver = append(deliver, m)
		}
	}
	return deliver, hb
}

// afterHooks runs the AfterConsume hooks on the messages delivered.
func (c *PushConsumer) afterHooks(ctx context.Context, d *Delivery, success bool) {
	if d.hooked == nil || len(d.msgs) == 0 {
		return
	}
	for _, h := range c.cfg.Hooks {
		h.AfterConsume(ctx, &d.hooked.ctx, d.msgs, success)
	}
}

// outcome splits a completed delivery's whole batch into the messages consumed (hook
// skips included) and those failed (hook retries included), in offset order.
func (d *Delivery) outcome(r Result) (ok, failed []*message.Ext) {
	n := r.consumed(len(d.msgs))
	if d.hooked == nil {
		return d.msgs[:n:n], d.msgs[n:]
	}
	delivered := 0
	for i, m := range d.hooked.all {
		switch d.hooked.verdicts[i] {
		case instance.Skip:
			ok = append(ok, m)
		case instance.Retry:
			failed = append(failed, m)
		default:
			if delivered < n {
				ok = append(ok, m)
			} else {
				failed = append(failed, m)
			}
			delivered++
		}
	}
	return ok, failed
}

// batch returns the whole batch of the delivery: what the hooks saw, or what was
// delivered.
func (d *Delivery) batch() []*message.Ext {
	if d.hooked != nil {
		return d.hooked.all
	}
	return d.msgs
}
