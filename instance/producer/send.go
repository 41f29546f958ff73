package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"go.opentelemetry.io/otel/trace"
)

// Send sends msg and waits for the broker's answer, as Java's DefaultMQProducer.send
// (sendDefaultImpl in SYNC mode): it validates the message, gives it a unique id (the
// UNIQ_KEY property, set on msg as Java does, which SendResult.MsgID carries), compresses a
// body of CompressThreshold bytes or more, chooses a queue in turn and sends; a failure
// worth retrying (see retryable) is sent again, to another broker when the topic has one,
// up to RetriesWhenSyncFailed times, all within SendTimeout (or ctx's deadline, when
// earlier). With coalescing on, the message may travel in a batch with other callers'
// (see coalesce.go); the result is the same.
//
// A result whose Status is not SendOK (the broker stored the message but did not flush or
// replicate it in time) is returned with a nil error unless RetryAnotherBroker is set.
// msg must not be modified until Send returns. See errors.go for the errors returned.
func (p *Producer) Send(ctx context.Context, msg *message.Message) (instance.SendResult, error) {
	if p.tel != nil {
		return p.tel.observeSend(ctx, p, msg, nil, p.send)
	}
	return p.send(ctx, nil, msg)
}

// send is Send; span, when not nil, is its producer span.
func (p *Producer) send(ctx context.Context, span trace.Span, msg *message.Message) (instance.SendResult, error) {
	if err := p.checkRunning("send"); err != nil {
		return instance.SendResult{}, err
	}
	c := p.getCall(ctx, span, msg, modeSync)
	defer putCall(c)
	if err := p.prepare(c); err != nil {
		return instance.SendResult{}, err
	}
	return p.sendSync(c)
}

// SendOneway sends msg without waiting for any answer (Java's sendOneway): one attempt,
// no result; the error says only whether the request could be written. Never coalesced.
func (p *Producer) SendOneway(ctx context.Context, msg *message.Message) error {
	if err := p.checkRunning("send oneway"); err != nil {
		return err
	}
	c := p.getCall(ctx, nil, msg, modeOneway)
	defer putCall(c)
	if err := p.prepare(c); err != nil {
		return err
	}
	_, err := p.sendSync(c)
	return err
}

// prepare does, once per send, what Java's sendDefaultImpl and sendKernelImpl do to a
// message before its first attempt: validation, the unique id, the namespace's instance
// id, compression, the transaction flag, and the retry-topic header fields.
func (p *Producer) prepare(c *sendCall) error {
	msg := c.msg
	c.msgID = msg.UniqKey()
	if err := msg.ValidateLeaving(p.cfg.MaxMessageSize, p.roomFor(c.msgID == "")); err != nil {
		return err
	}
	c.te = p.entry(msg.Topic)
	if p.cfg.Namespace != "" {
		if err := message.ValidateTopic(c.te.wire); err != nil {
			return err
		}
		if v, ok := msg.Properties.Lookup(message.PropertyInstanceID); !ok || v != p.cfg.Namespace {
			msg.Properties.Set(message.PropertyInstanceID, p.cfg.Namespace) // Java's msg.setInstanceId
		}
	}
	if c.msgID == "" {
		c.msgID = p.ids.NextAt(c.born)
		if len(p.hooks) > 0 {
			msg.Properties.Grow(p.addedProperties()) // without hooks, Set grows the list as append does
		}
		msg.Properties.Set(message.PropertyUniqKey, c.msgID)
	}
	c.body = msg.Body
	if p.cfg.CompressThreshold > 0 && len(msg.Body) >= p.cfg.CompressThreshold {
		z, err := message.CompressBody(c.zbuf[:0], msg.Body, p.cfg.CompressLevel)
		if err == nil { // as Java, a body that fails to compress goes as it is
			c.zbuf, c.body = z, z
			c.sysFlag |= message.SysFlagCompressed | message.SysFlagCompressionZlib
		}
	}
	tran := msg.TransactionPrepared()
	if tran {
		c.sysFlag |= message.SysFlagTransactionPrepared
	}
	if strings.HasPrefix(c.te.wire, message.RetryTopicPrefix) {
		p.retryTopicFields(c)
	}
	c.coalesce = p.coalescable(c, tran)
	return nil
}

// retryTopicFields moves RECONSUME_TIME and MAX_RECONSUME_TIMES of a message sent to a
// retry topic into the header, as sendKernelImpl does.
func (p *Producer) retryTopicFields(c *sendCall) {
	props := &c.msg.Properties
	if v, ok := props.Lookup(message.PropertyReconsumeTime); ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			c.recon = int32(n)
		}
		props.Delete(message.PropertyReconsumeTime)
	}
	if v, ok := props.Lookup(message.PropertyMaxReconsumeTimes); ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			c.maxRecon = remoting.Some(int32(n))
		}
		props.Delete(message.PropertyMaxReconsumeTimes)
	}
}

// sendSync is Java's sendDefaultImpl for SYNC and ONEWAY: attempts on queues chosen in
// turn until one succeeds, the error is not worth retrying, the retries are spent or the
// time is up.
func (p *Producer) sendSync(c *sendCall) (instance.SendResult, error) {
	// The first attempt's deadline check takes the call's clock reading when nothing
	// since can have taken long: the route was at hand and the body was not compressed.
	cached := c.te.pub.Load()
	quick := cached != nil && cached.info.OK() && c.sysFlag&message.SysFlagCompressed == 0
	ps, err := p.publishInfo(&c.ctx, c.te)
	if err != nil {
		return instance.SendResult{}, err
	}
	total := 1
	if c.mode == modeSync {
		total += p.cfg.retriesSync
	}
	var kept instance.SendResult // a stored-but-not-OK result kept while retrying
	haveKept, timedOut := false, false
	var lastErr error
	for c.attempts < total {
		if cur := c.te.pub.Load(); cur != nil && cur.info.OK() {
			ps = cur // a route refreshed meanwhile
		}
		mq := p.selectQueue(c.te, ps.info, c.last)
		if err := c.ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) { // Java's InterruptedException
			if lastErr == nil {
				return instance.SendResult{}, err
			}
			return instance.SendResult{}, fmt.Errorf("producer: send to %s cancelled after %d attempt(s), the last failing with %v: %w",
				c.msg.Topic, c.attempts, lastErr, err)
		}
		now := c.born
		if c.attempts > 0 || !quick {
			now = time.Now()
		}
		if c.ctx.expired(now) || c.ctx.Err() != nil {
			timedOut = true
			break
		}
		res, err := p.attempt(c, mq)
		if err == nil {
			if c.mode == modeSync && res.Status != instance.SendOK && p.cfg.RetryAnotherBroker {
				kept, haveKept = res, true
				continue
			}
			return res, nil
		}
		lastErr = err
		if !retryable(err) || c.mode != modeSync {
			if haveKept {
				return kept, nil
			}
			if c.attempts == 1 {
				return instance.SendResult{}, err
			}
			break
		}
		p.log.Debug("producer: send failed, sending again", "topic", c.msg.Topic, "broker", mq.BrokerName,
			"attempt", c.attempts, "err", err)
	}
	if haveKept {
		return kept, nil
	}
	if lastErr == nil {
		return instance.SendResult{}, &timeoutError{topic: c.msg.Topic}
	}
	return instance.SendResult{}, &SendError{Topic: c.msg.Topic, Attempts: c.attempts,
		Brokers: append([]string(nil), c.brokers...), Err: lastErr, Timeout: timedOut}
}

// propertyRoom is how many encoded bytes of properties the producer adds to msg before
// sending it, which its validation leaves room for.
func (p *Producer) propertyRoom(msg *message.Message) int { return p.roomFor(msg.UniqKey() == "") }

// roomFor is propertyRoom of a message with or without a unique id: its id if it has
// none (name, 32 hex digits and the two separators), the namespace's instance id.
func (p *Producer) roomFor(needsID bool) int {
	room := 0
	if needsID {
		room += len(message.PropertyUniqKey) + 32 + 2
	}
	if ns := p.cfg.Namespace; ns != "" {
		room += len(message.PropertyInstanceID) + len(ns) + 2
	}
	return room
}

// addedProperties is how many properties a send may add to a message, to make room for
// at once: UNIQ_KEY and, with send hooks, a header one adds (what an enricher does), so
// that the list grows once rather than once for each.
func (p *Producer) addedProperties() int {
	if p != nil && len(p.hooks) > 0 {
		return 2
	}
	return 1
}

// attempt sends c once to mq (Java's sendKernelImpl), alone or coalesced, recording the
// broker's latency for the fault strategy.
func (p *Producer) attempt(c *sendCall, mq instance.MessageQueue) (instance.SendResult, error) {
	c.attempts++
	c.last, c.mq = mq.BrokerName, mq
	addr, err := p.brokerAddr(c, mq)
	if err != nil {
		c.brokers = append(c.brokers, mq.BrokerName)
		return instance.SendResult{}, err
	}
	switch {
	case c.batch:
		p.sendBatchOnce(c, mq, addr)
	case c.coalesce:
		p.coalesced(c, mq, addr)
	default:
		p.sendOne(c, mq, addr)
	}
	if c.err != nil {
		c.brokers = append(c.brokers, mq.BrokerName)
	}
	return c.result, c.err
}

// brokerAddr returns the master address of mq's broker, refreshing the route once when it
// is unknown (sendKernelImpl's second tryToFindTopicPublishInfo).
func (p *Producer) brokerAddr(c *sendCall, mq instance.MessageQueue) (string, error) {
	if addr := p.inst.FindBrokerAddrInPublish(mq.BrokerName); addr != "" {
		return addr, nil
	}
	_, _ = p.updatePublishInfo(&c.ctx, c.te)
	if addr := p.inst.FindBrokerAddrInPublish(mq.BrokerName); addr != "" {
		return addr, nil
	}
	return "", &brokerNotFoundError{broker: mq.BrokerName}
}

// sendOne runs one attempt of a message on its own: hooks, header, request. Sync and
// oneway sends wait here and leave the outcome in c.result and c.err. An async send
// returns pending once its request is written: from then on c belongs to asyncReply, which
// may run before sendOne returns, and must not be touched.
func (p *Producer) sendOne(c *sendCall, mq instance.MessageQueue, addr string) (pending bool) {
	c.result, c.err = instance.SendResult{}, nil
	if len(p.hooks) > 0 {
		ev := &c.events[0]
		*ev = instance.SendEvent{ProducerGroup: p.group, Message: c.msg, Queue: mq, BrokerAddr: addr}
		if err := p.beforeSend(&c.ctx, c.events[:], c.by[:]); err != nil {
			c.err = err
		} else if err := p.rejection(ev, c.by[0]); err != nil {
			c.err = err
		}
		if c.err != nil {
			ev.Err = c.err
			p.afterSend(&c.ctx, c.events[:])
			c.events[0] = instance.SendEvent{}
			return false
		}
		c.props = "" // the hooks may have changed them
	}
	return p.request(c, mq, addr)
}

// request sends c's message on its own once its hooks' BeforeSend ran (and for a
// coalesced message, left it with c.events[0] its event): header, request, and for all
// but a pending async send, attemptDone. It reports pending as sendOne does.
func (p *Producer) request(c *sendCall, mq instance.MessageQueue, addr string) (pending bool) {
	if c.props == "" {
		// Encoded here, not in prepare: a coalesced message goes in a batch body, which
		// encodes its properties there, unless it is sent alone.
		c.props = c.msg.Properties.Encode()
	}
	c.started = time.Now()
	h := p.header(c, mq, c.started)
	switch c.mode {
	case modeSync:
		c.result, c.err = p.inst.SendMessage(&c.ctx, addr, mq.BrokerName, h, c.body, c.msgID)
	case modeOneway:
		c.err = p.inst.SendMessageOneway(&c.ctx, addr, h, c.body)
	case modeAsync:
		err := p.inst.SendMessageAsync(&c.ctx, addr, mq.BrokerName, h, c.body, c.msgID, c.onReply)
		if err == nil {
			return true
		}
		c.err = err
	}
	p.attemptDone(c)
	return false
}

// header fills c's request header for an attempt on mq (sendKernelImpl's
// SendMessageRequestHeader, sent as V2).
func (p *Producer) header(c *sendCall, mq instance.MessageQueue, now time.Time) *remoting.SendRequest {
	c.h = remoting.SendRequest{
		ProducerGroup:         p.group,
		Topic:                 c.te.wire,
		DefaultTopic:          p.cfg.CreateTopicKey,
		DefaultTopicQueueNums: int32(p.cfg.DefaultTopicQueueNums),
		QueueID:               mq.QueueID,
		SysFlag:               c.sysFlag,
		BornTimestamp:         now.UnixMilli(),
		Flag:                  c.msg.Flag,
		Properties:            c.props,
		ReconsumeTimes:        c.recon,
		MaxReconsumeTimes:     c.maxRecon,
	}
	return &c.h
}

// attemptDone finishes an attempt made alone: the fault strategy's bookkeeping, the hooks'
// AfterSend, the caller's topic in the result.
func (p *Producer) attemptDone(c *sendCall) {
	if p.fault != nil {
		p.fault.record(c.mq.BrokerName, time.Since(c.started), c.err)
	}
	if c.err == nil {
		c.result.Queue.Topic = c.msg.Topic
	}
	if len(p.hooks) > 0 {
		ev := &c.events[0]
		if c.err == nil && c.mode != modeOneway {
			ev.Result = &c.result
		}
		ev.Err = c.err
		p.afterSend(&c.ctx, c.events[:])
		c.events[0] = instance.SendEvent{}
	}
}
