package producer

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// SendBatch sends msgs, all to one topic, as one SEND_BATCH_MESSAGE and waits, as Java's
// DefaultMQProducer.send(Collection) (MessageBatch with sendDefaultImpl): the messages are
// validated as a batch (message.ValidateBatch: same topic and WAIT, no delay level, no
// retry topic, the encoded batch at most MaxMessageSize), each gets its unique id, the
// body is not compressed, and the batch is retried as a whole like Send.
//
// It returns one result per message, in order: MsgID the message's UNIQ_KEY, OffsetMsgID
// the i-th id of the broker's answer, QueueOffset the first offset plus i. When the send
// hooks reject some messages the others are sent and the error is a *BatchError holding
// each message's error; a failed request fails every message (the error as Send's).
func (p *Producer) SendBatch(ctx context.Context, msgs []*message.Message) ([]instance.SendResult, error) {
	if p.tel != nil {
		return p.tel.observeBatch(ctx, msgs, p.sendBatch)
	}
	return p.sendBatch(ctx, msgs)
}

func (p *Producer) sendBatch(ctx context.Context, msgs []*message.Message) ([]instance.SendResult, error) {
	if err := p.checkRunning("send batch"); err != nil {
		return nil, err
	}
	c := p.getCall(ctx, nil, nil, modeSync)
	defer putCall(c)
	if err := p.prepareBatch(c, msgs); err != nil {
		return nil, err
	}
	_, err := p.sendSync(c)
	bs := c.bat
	results := make([]instance.SendResult, len(msgs))
	if err != nil {
		return results, err
	}
	var errs []error
	for i := range msgs {
		if e := bs.errs[i]; e != nil {
			if errs == nil {
				errs = make([]error, len(msgs))
			}
			errs[i] = e
			continue
		}
		results[i] = bs.results[i]
	}
	if errs != nil {
		return results, &BatchError{Errs: errs}
	}
	return results, nil
}

// BatchError reports the messages of a SendBatch that were not sent while the others
// were: Errs[i] is message i's error (a *instance.RejectedError), nil for those sent.
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	n := 0
	for i, err := range e.Errs {
		if err == nil {
			continue
		}
		if n == 0 {
			b.WriteString("producer: batch: message ")
		} else {
			b.WriteString("; message ")
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteString(": ")
		b.WriteString(err.Error())
		n++
	}
	return b.String()
}

// Unwrap returns the messages' errors, for errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// batchState is what a SendBatch call keeps beside its sendCall.
type batchState struct {
	msgs    []*message.Message
	ids     []string
	results []instance.SendResult
	errs    []error // per message: rejected by a hook
	live    []int   // the messages not rejected, in order
	hooked  []int   // the messages of the attempt's hook events: events[k] is msgs[hooked[k]]
	events  []instance.SendEvent
	by      []int16
}

// reset drops what bs points to, keeping its slices for the next batch.
func (bs *batchState) reset() {
	clear(bs.ids)
	clear(bs.errs)
	clear(bs.events)
	bs.msgs, bs.results = nil, nil
	bs.ids, bs.errs, bs.live, bs.hooked = bs.ids[:0], bs.errs[:0], bs.live[:0], bs.hooked[:0]
	bs.events, bs.by = bs.events[:0], bs.by[:0]
}

// prepareBatch is DefaultMQProducer.batch: validation (the rules of
// message.ValidateBatch, checked here on the pointers without copying the messages), ids,
// the namespace.
func (p *Producer) prepareBatch(c *sendCall, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return &message.ValidationError{Field: "messages", Reason: "the batch is empty"}
	}
	first := msgs[0]
	if first == nil {
		return batchInvalid(0, "", &message.ValidationError{Field: "message", Reason: "the message is nil"})
	}
	wait := first.WaitStoreMsgOK()
	for i, m := range msgs {
		if m == nil {
			return batchInvalid(i, "", &message.ValidationError{Field: "message", Reason: "the message is nil"})
		}
		if err := m.ValidateLeaving(p.cfg.MaxMessageSize, p.propertyRoom(m)); err != nil {
			return batchInvalid(i, "", err)
		}
		switch {
		case m.Topic != first.Topic:
			return batchInvalid(i, "topic", errors.New("topic "+strconv.Quote(m.Topic)+" differs from the batch's "+strconv.Quote(first.Topic)))
		case strings.HasPrefix(m.Topic, message.RetryTopicPrefix):
			return batchInvalid(i, "topic", errors.New("a retry topic is not supported in a batch"))
		case m.WaitStoreMsgOK() != wait:
			return batchInvalid(i, "properties", errors.New("WAIT differs from the batch's first message"))
		}
		if d, ok := m.Properties.Lookup(message.PropertyDelayTimeLevel); ok && d != "0" {
			return batchInvalid(i, "delay", errors.New("a delay level is not supported in a batch"))
		}
	}
	bs := c.bat
	if bs == nil {
		bs = new(batchState)
	}
	bs.msgs = msgs
	bs.ids = slices.Grow(bs.ids[:0], len(msgs))[:len(msgs)]
	bs.errs = slices.Grow(bs.errs[:0], len(msgs))[:len(msgs)]
	bs.live = slices.Grow(bs.live[:0], len(msgs))[:len(msgs)]
	bs.results = make([]instance.SendResult, len(msgs)) // returned to the caller
	c.bat, c.msg, c.batch = bs, first, true
	c.te = p.entry(first.Topic)
	if p.cfg.Namespace != "" {
		if err := message.ValidateTopic(c.te.wire); err != nil {
			return err
		}
	}
	size := 0
	for i, m := range msgs {
		if p.cfg.Namespace != "" {
			m.Properties.Set(message.PropertyInstanceID, p.cfg.Namespace)
		}
		if bs.ids[i] = m.UniqKey(); bs.ids[i] == "" {
			bs.ids[i] = p.ids.Next()
			m.Properties.Set(message.PropertyUniqKey, bs.ids[i])
		}
		bs.errs[i], bs.live[i] = nil, i
		size += batchEntrySize(m)
	}
	if size > p.cfg.MaxMessageSize {
		return &message.ValidationError{Field: "messages", Err: message.ErrMessageTooLarge,
			Reason: "the batch body of " + strconv.Itoa(size) + " bytes exceeds " + strconv.Itoa(p.cfg.MaxMessageSize)}
	}
	c.props = p.batchProps
	if !wait {
		c.props = p.batchPropsNoWait
	}
	return nil
}

// errDelayByHookInBatch refuses a message of a SendBatch that a send hook gave a delay
// level: the broker would store it at once, with the rest of the batch.
var errDelayByHookInBatch = errors.New("a send hook set a delay level, which a batch cannot carry")

// batchInvalid is the error of message i of a batch: its ValidationError with the field
// prefixed "messages[i].", as message.ValidateBatch names them.
func batchInvalid(i int, field string, err error) error {
	prefix := "messages[" + strconv.Itoa(i) + "]"
	var ve *message.ValidationError
	if errors.As(err, &ve) {
		ve.Field = prefix + "." + ve.Field
		return err
	}
	return &message.ValidationError{Field: prefix + "." + field, Reason: err.Error()}
}

// sendBatchOnce is one attempt of a SendBatch (sendKernelImpl with a MessageBatch): hooks
// over the messages not rejected so far, then the request.
func (p *Producer) sendBatchOnce(c *sendCall, mq instance.MessageQueue, addr string) {
	bs := c.bat
	c.result, c.err = instance.SendResult{}, nil
	if len(p.hooks) > 0 {
		bs.events, bs.by = bs.events[:0], bs.by[:0]
		bs.hooked = append(bs.hooked[:0], bs.live...)
		for _, i := range bs.live {
			bs.events = append(bs.events, instance.SendEvent{ProducerGroup: p.group, Message: bs.msgs[i], Queue: mq, BrokerAddr: addr})
			bs.by = append(bs.by, -1)
		}
		if err := p.beforeSend(&c.ctx, bs.events, bs.by); err != nil {
			c.err = err
			p.batchAfter(c)
			return
		}
		live := bs.live[:0]
		for k, i := range bs.live {
			if err := p.rejection(&bs.events[k], bs.by[k]); err != nil {
				bs.errs[i] = err
				continue
			}
			if delayedByHook(bs.msgs[i]) { // a batch would store it at once: refused, not sent undelayed
				bs.errs[i] = batchInvalid(i, "delay", errDelayByHookInBatch)
				continue
			}
			live = append(live, i)
		}
		if len(live) == 0 { // all rejected: nothing to send
			p.batchAfter(c)
			bs.live = live
			return
		}
		bs.live = live
	}
	body := c.zbuf[:0]
	var err error
	for _, i := range bs.live {
		if body, err = message.AppendBatch(body, unsafe.Slice(bs.msgs[i], 1)); err != nil {
			c.err = err
			p.batchAfter(c)
			return
		}
	}
	c.zbuf = body
	c.started = time.Now()
	h := p.header(c, mq, c.started)
	h.Flag, h.Batch = 0, true
	res, err := p.inst.SendMessage(&c.ctx, addr, mq.BrokerName, h, body, "")
	if p.fault != nil {
		p.fault.record(mq.BrokerName, time.Since(c.started), err)
	}
	c.result, c.err = res, err
	if err == nil {
		ids := res.OffsetMsgID
		for k, i := range bs.live {
			var id string
			if j := strings.IndexByte(ids, ','); j >= 0 {
				id, ids = ids[:j], ids[j+1:]
			} else {
				id, ids = ids, ""
			}
			bs.results[i] = instance.SendResult{Status: res.Status, MsgID: bs.ids[i], OffsetMsgID: id,
				Queue:       instance.MessageQueue{Topic: c.te.topic, BrokerName: res.Queue.BrokerName, QueueID: res.Queue.QueueID},
				QueueOffset: res.QueueOffset + int64(k), TransactionID: res.TransactionID, RegionID: res.RegionID, TraceOn: res.TraceOn}
		}
		c.result.Queue.Topic = c.te.topic
	}
	p.batchAfter(c)
}

// batchAfter runs the hooks' AfterSend over the attempt's messages.
func (p *Producer) batchAfter(c *sendCall) {
	bs := c.bat
	if len(p.hooks) == 0 || len(bs.events) == 0 {
		return
	}
	for k := range bs.events {
		ev, i := &bs.events[k], bs.hooked[k]
		switch {
		case bs.errs[i] != nil:
			ev.Err = bs.errs[i]
		case c.err != nil:
			ev.Err = c.err
		default:
			ev.Result = &bs.results[i]
		}
	}
	p.afterSend(&c.ctx, bs.events)
}

// batchProperties are the properties of a batch request's header, those of Java's
// MessageBatch: WAIT, and INSTANCE_ID with a namespace.
func batchProperties(ns string, wait bool) string {
	var props message.Properties
	props.Set(message.PropertyWaitStoreMsgOK, strconv.FormatBool(wait))
	if ns != "" {
		props.Set(message.PropertyInstanceID, ns)
	}
	return props.Encode()
}
