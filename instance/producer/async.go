package producer

import (
	"context"
	"errors"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// SendAsync sends msg and returns once the request is on its way; cb gets the result or
// the error exactly once, when SendAsync returns nil. Errors found before anything is sent
// (validation, no route, not running) are returned and cb is not called. cb runs on
// whichever goroutine learns the outcome: a transport goroutine, a retry's, another
// caller's that led a coalesced batch, or the caller's own before SendAsync returns when
// every attempt fails at once. It must not block. ctx governs the whole send, callback
// included: cancelling it abandons the send (unless its coalesced batch is already built).
//
// As Java's async send (MQClientAPIImpl.sendMessageAsync), an attempt that got no answer
// (it could not be written, or timed out) is sent again, to another broker when there is
// one, up to RetriesWhenAsyncFailed times within SendTimeout; a broker's error answer is
// not retried. With coalescing on, the message may travel in a batch. msg must not be
// modified until cb runs. Shutdown waits for the sends in flight.
func (p *Producer) SendAsync(ctx context.Context, msg *message.Message, cb func(instance.SendResult, error)) error {
	if cb == nil {
		return errors.New("producer: SendAsync without a callback")
	}
	if p.tel != nil {
		return p.tel.observeAsync(ctx, p, msg, cb, p.sendAsync)
	}
	return p.sendAsync(ctx, msg, cb)
}

func (p *Producer) sendAsync(ctx context.Context, msg *message.Message, cb func(instance.SendResult, error)) error {
	if err := p.checkRunning("send async"); err != nil {
		return err
	}
	c := p.getCall(ctx, nil, msg, modeAsync)
	c.cb = cb
	if err := p.prepare(c); err != nil {
		putCall(c)
		return err
	}
	if _, err := p.publishInfo(&c.ctx, c.te); err != nil {
		putCall(c)
		return err
	}
	if !p.asyncStarted() {
		putCall(c)
		return p.checkRunning("send async")
	}
	p.asyncNext(c)
	return nil
}

// asyncNext makes the next async attempt; it loops while attempts fail before anything is
// written, and finishes c when no attempt is left.
func (p *Producer) asyncNext(c *sendCall) {
	total := 1 + p.cfg.retriesAsync
	for {
		ps := c.te.pub.Load()
		if ps == nil || !ps.info.OK() {
			var err error
			if ps, err = p.publishInfo(&c.ctx, c.te); err != nil {
				p.asyncFinish(c, instance.SendResult{}, err)
				return
			}
		}
		if err := c.ctx.Err(); err != nil {
			p.asyncFinish(c, instance.SendResult{}, err)
			return
		}
		if c.ctx.expired(time.Now()) {
			p.asyncFinish(c, instance.SendResult{}, p.asyncError(c, true))
			return
		}
		mq := p.selectQueue(c.te, ps.info, c.last)
		c.attempts++
		c.last, c.mq = mq.BrokerName, mq
		addr, err := p.brokerAddr(c, mq)
		if err == nil {
			var pending bool
			if c.coalesce {
				pending = p.coalesced(c, mq, addr)
			} else {
				pending = p.sendOne(c, mq, addr)
			}
			if pending {
				return // asyncReply or the batch takes it from here; c is theirs
			}
			err = c.err
		}
		c.brokers = append(c.brokers, mq.BrokerName)
		c.err = err
		if !retryableAsync(err) || c.attempts >= total {
			p.asyncFinish(c, instance.SendResult{}, p.asyncError(c, false))
			return
		}
	}
}

// asyncReply is the transport's answer to an async attempt made alone.
func (c *sendCall) asyncReply(res instance.SendResult, err error) {
	p, line := c.p, c.line
	c.result, c.err, c.line = res, err, nil
	p.attemptDone(c)
	p.asyncAttemptDone(c) // c may be recycled from here on
	if line != nil {
		p.handOff(line)
	}
}

// asyncAttemptDone takes the outcome of an async attempt (alone or in a batch) left in
// c.result and c.err: the result goes to the callback, a failure worth it to another
// attempt. It runs on a transport goroutine, so the retry goes to a goroutine of its own:
// choosing a queue may refresh a route or dial a broker. (Only failures pay for one.)
func (p *Producer) asyncAttemptDone(c *sendCall) {
	if c.err == nil {
		p.asyncFinish(c, c.result, nil)
		return
	}
	c.brokers = append(c.brokers, c.mq.BrokerName)
	if !retryableAsync(c.err) || c.attempts >= 1+p.cfg.retriesAsync || c.ctx.Err() != nil {
		p.asyncFinish(c, instance.SendResult{}, p.asyncError(c, false))
		return
	}
	p.log.Debug("producer: async send failed, sending again", "topic", c.msg.Topic, "broker", c.mq.BrokerName,
		"attempt", c.attempts, "err", c.err)
	go p.asyncNext(c)
}

// asyncError is the error an async send ends with.
func (p *Producer) asyncError(c *sendCall, outOfTime bool) error {
	if c.err == nil {
		if outOfTime {
			return &timeoutError{topic: c.msg.Topic}
		}
		return c.err
	}
	if c.attempts <= 1 && !outOfTime {
		return c.err
	}
	return &SendError{Topic: c.msg.Topic, Attempts: c.attempts, Brokers: append([]string(nil), c.brokers...),
		Err: c.err, Timeout: outOfTime}
}

// asyncFinish hands the outcome to the callback and releases the call.
func (p *Producer) asyncFinish(c *sendCall, res instance.SendResult, err error) {
	cb := c.cb
	putCall(c)
	cb(res, err)
	p.asyncDone()
}
