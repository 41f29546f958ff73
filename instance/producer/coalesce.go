package producer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"go.opentelemetry.io/otel/trace"
)

// Coalescing (Config.Coalesce): a broker stores a batch of 32 messages several times
// faster than 32 single sends, so concurrent single sends to one queue may share one
// SEND_BATCH_MESSAGE.
//
// Per queue (broker and queue id) at most one request is in flight. A caller that finds
// its queue idle sends at once, alone, as a plain SEND_MESSAGE_V2 (after waiting Linger for
// company, when set). Callers that arrive while a request is in flight wait in line; when
// it completes, the first MaxMessages of them (within MaxBytes) go as the next batch, sent
// by the first synchronous caller among them (or, for a line of async callers only, by
// whoever completed the previous request). Every caller still gets its own SendResult:
// MsgID its UNIQ_KEY, OffsetMsgID the i-th id of the broker's comma-joined answer,
// QueueOffset the first offset plus i. A failed batch fails each of its callers' attempt
// as a single send would, and each retries (on another queue, coalescing again) or fails
// by its own rules: Java's for a sync send (retryable), an async send (retryableAsync), a
// selector send (no retry at all).
//
// What is coalesced: Send, SendAsync, SendWithSelector and SendOrderly of a message sent as
// it is. Not coalesced, sent alone: oneway sends (there is no answer to share), batches
// (SendBatch), transactional half messages (the broker refuses them in batches), messages
// with a delay level (a batch ignores it), messages to retry topics, messages with WAIT
// false (a batch has one WAIT), bodies compressed (Java never compresses a batch), and
// messages larger than MaxBytes. The decision is made before the send hooks run; a
// message the hooks give a delay level is then taken out of its batch and sent alone
// right after it, so that the broker delays it as it would without coalescing.
//
// Ordering: one request per queue in flight means a queue stores its messages in the
// order their callers joined its line, and a caller that waits for each send before the
// next (as SendOrderly's callers do) has its messages stored in its order. Retries may go to
// another queue, as without coalescing; selector sends never retry.
//
// Deadlines: a caller whose time runs out, or whose context is cancelled, while it waits
// in line is dropped from its batch (a timeout, or its context's error) and nothing of it
// is sent. Once its batch is built it waits for the batch's answer, whose deadline is the
// latest of its callers': a caller may then wait past its own deadline, never past
// SendTimeout after the last caller joined.

// queueBatcher is one queue's line of waiting callers.
type queueBatcher struct {
	mq instance.MessageQueue

	mu       sync.Mutex
	busy     bool // a request to the queue is in flight, or a batch is being formed
	head     *sendCall
	tail     *sendCall
	n, bytes int
	// linger is the first caller lingering, to wake once a batch is full or at Shutdown:
	// a sync one through its wake channel, an async one by firing its timer at once.
	linger      *sendCall
	lingerTimer *time.Timer
	lingerGen   uint64 // tells an async lingering phase's timer from a later one's
}

// batcher returns the line of mq (a queue of e's topic).
func (e *topicEntry) batcher(mq instance.MessageQueue) *queueBatcher {
	for _, b := range *e.batchers.Load() {
		if b.mq.QueueID == mq.QueueID && b.mq.BrokerName == mq.BrokerName {
			return b
		}
	}
	e.bmu.Lock()
	defer e.bmu.Unlock()
	old := *e.batchers.Load()
	for _, b := range old {
		if b.mq.QueueID == mq.QueueID && b.mq.BrokerName == mq.BrokerName {
			return b
		}
	}
	b := &queueBatcher{mq: mq}
	bs := append(append(make([]*queueBatcher, 0, len(old)+1), old...), b)
	e.batchers.Store(&bs)
	return b
}

// coalescable reports whether c may share a batch (see above).
func (p *Producer) coalescable(c *sendCall, tran bool) bool {
	if !p.cfg.Coalesce.Enabled || c.mode == modeOneway || tran || c.sysFlag != 0 {
		return false
	}
	msg := c.msg
	if _, delayed := msg.Properties.Lookup(message.PropertyDelayTimeLevel); delayed {
		return false
	}
	if strings.HasPrefix(c.te.wire, message.RetryTopicPrefix) || !msg.WaitStoreMsgOK() {
		return false
	}
	c.bsize = batchEntrySize(msg)
	return c.bsize <= p.cfg.Coalesce.MaxBytes
}

// batchEntrySize is the size of msg in a batch body (see message.AppendBatch).
func batchEntrySize(msg *message.Message) int {
	return 20 + len(msg.Body) + 2 + msg.Properties.EncodedLen()
}

// coalesced makes one attempt of c on mq through mq's line. A sync caller returns with
// its outcome in c.result and c.err; an async one returns pending once c is in line or
// its request written (c then belongs to the line, see sendOne).
func (p *Producer) coalesced(c *sendCall, mq instance.MessageQueue, addr string) (pending bool) {
	qb := c.te.batcher(mq)
	qb.mu.Lock()
	if !qb.busy {
		qb.busy = true
		if p.cfg.Coalesce.Linger <= 0 {
			qb.mu.Unlock()
			return p.sendAlone(c, qb, mq, addr)
		}
		return p.lingerFirst(c, qb)
	}
	async := c.mode == modeAsync // once in line, an async c is the line's: read nothing of it after
	qb.push(c)
	if l := qb.linger; l != nil && qb.full(p, l) {
		if qb.lingerTimer != nil {
			qb.lingerTimer.Reset(0)
		} else {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
	qb.mu.Unlock()
	if async {
		return true
	}
	<-c.wake
	if b := c.lead; b != nil {
		c.lead = nil
		p.runBatch(b, c)
	}
	if c.alone {
		p.sendDelayed(c)
	}
	return false
}

// sendAlone sends the first caller to an idle queue on its own, then hands the queue to
// those who lined up meanwhile.
func (p *Producer) sendAlone(c *sendCall, qb *queueBatcher, mq instance.MessageQueue, addr string) bool {
	if c.mode == modeAsync {
		c.line = qb // asyncReply hands the queue on
		if p.sendOne(c, mq, addr) {
			return true
		}
		c.line = nil
	} else {
		p.sendOne(c, mq, addr)
	}
	p.handOff(qb)
	return false
}

// lingerFirst has the first caller to an idle queue wait Linger, or until a batch is
// full, for others to join it. Called with qb locked.
func (p *Producer) lingerFirst(c *sendCall, qb *queueBatcher) bool {
	// At most half the time the send has left: the rest is the request's.
	wait := p.cfg.Coalesce.Linger
	if dl := c.ctx.deadline; !dl.IsZero() {
		wait = min(wait, time.Until(dl)/2)
	}
	if !p.lingerStarted(qb) {
		wait = 0 // Shutdown has begun: its flush is over, and there is no company to wait for
	}
	if c.mode == modeAsync {
		qb.linger = c
		qb.lingerGen++
		gen := qb.lingerGen
		qb.lingerTimer = time.AfterFunc(wait, func() { p.lingerDone(qb, gen) })
		qb.mu.Unlock()
		return true
	}
	qb.linger = c
	qb.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-c.wake:
	case <-t.C:
	}
	t.Stop()
	qb.mu.Lock()
	qb.linger = nil
	p.lingerEnded(qb)
	select { // a wake-up sent as the timer fired
	case <-c.wake:
	default:
	}
	b := p.newBatch(qb)
	b.add(c)
	qb.takeInto(b, p)
	qb.mu.Unlock()
	p.runBatch(b, c)
	if c.alone {
		p.sendDelayed(c)
	}
	return false
}

// lingerDone ends an async first caller's lingering (its timer fired, or was fired at
// once by a full line): it and the line go as a batch.
func (p *Producer) lingerDone(qb *queueBatcher, gen uint64) {
	qb.mu.Lock()
	c := qb.linger
	if c == nil || qb.lingerGen != gen {
		qb.mu.Unlock() // a timer fired again after its batch went
		return
	}
	qb.linger, qb.lingerTimer = nil, nil
	p.lingerEnded(qb)
	b := p.newBatch(qb)
	b.add(c)
	qb.takeInto(b, p)
	qb.mu.Unlock()
	p.dispatch(b)
}

// flushLingering ends every linger at once, so that the batches first callers linger for
// go now (Shutdown waits for the async callers among them). It finds them in
// p.lingering, not through the topic table: a send that finds no route drops its topic's
// entry while callers that got the entry before may still find the route and linger in
// the entry's lines. Called once closing is set: a linger that begins after this sees it,
// and does not wait (lingerStarted).
func (p *Producer) flushLingering() {
	p.lingerMu.Lock()
	qbs := make([]*queueBatcher, 0, len(p.lingering))
	for qb := range p.lingering {
		qbs = append(qbs, qb)
	}
	p.lingerMu.Unlock()
	for _, qb := range qbs {
		qb.mu.Lock()
		if qb.lingerTimer != nil {
			qb.lingerTimer.Reset(0)
		} else if qb.linger != nil {
			select {
			case qb.linger.wake <- struct{}{}:
			default:
			}
		}
		qb.mu.Unlock()
	}
}

// lingerStarted records that a first caller lingers on qb, for flushLingering; false once
// Shutdown has begun, when the caller must not wait. Called with qb locked: the linger it
// sets up is there when flushLingering locks qb.
func (p *Producer) lingerStarted(qb *queueBatcher) bool {
	p.lingerMu.Lock()
	defer p.lingerMu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.lingering[qb] = struct{}{}
	return true
}

// lingerEnded forgets qb's linger. Called with qb locked.
func (p *Producer) lingerEnded(qb *queueBatcher) {
	p.lingerMu.Lock()
	delete(p.lingering, qb)
	p.lingerMu.Unlock()
}

func (qb *queueBatcher) push(c *sendCall) {
	c.next = nil
	if qb.tail == nil {
		qb.head = c
	} else {
		qb.tail.next = c
	}
	qb.tail = c
	qb.n++
	qb.bytes += c.bsize
}

// full reports whether a lingering leader l and the line fill a batch.
func (qb *queueBatcher) full(p *Producer, l *sendCall) bool {
	return qb.n+1 >= p.cfg.Coalesce.MaxMessages || qb.bytes+l.bsize >= p.cfg.Coalesce.MaxBytes
}

// takeInto moves the head of the line into b, up to the batch limits. Called with qb locked.
func (qb *queueBatcher) takeInto(b *batch, p *Producer) {
	maxN, maxBytes := p.cfg.Coalesce.MaxMessages, p.cfg.Coalesce.MaxBytes
	for c := qb.head; c != nil; c = qb.head {
		if len(b.members) >= maxN || len(b.members) > 0 && b.bytes+c.bsize > maxBytes {
			break
		}
		qb.head = c.next
		if qb.head == nil {
			qb.tail = nil
		}
		c.next = nil
		qb.n--
		qb.bytes -= c.bsize
		b.add(c)
	}
}

// handOff runs after a request to qb's queue completed: the line's head goes as the next
// batch, led by its first synchronous caller, or sent from here when all are async; an
// empty line leaves the queue idle.
func (p *Producer) handOff(qb *queueBatcher) {
	qb.mu.Lock()
	if qb.head == nil {
		qb.busy = false
		qb.mu.Unlock()
		return
	}
	b := p.newBatch(qb)
	qb.takeInto(b, p)
	qb.mu.Unlock()
	p.dispatch(b)
}

// dispatch has b sent: by its first synchronous member, woken to lead it, or from here,
// without waiting, when all its members are async.
func (p *Producer) dispatch(b *batch) {
	for _, m := range b.members {
		if m.mode == modeSync {
			m.lead = b
			m.wake <- struct{}{}
			return
		}
	}
	p.runBatchAsync(b)
}

// batch is one coalesced SEND_BATCH_MESSAGE and its callers. Batches are pooled.
type batch struct {
	p       *Producer
	qb      *queueBatcher
	members []*sendCall // in line order
	live    []*sendCall // the members still waiting when the batch was built: the hooks' events
	sent    []*sendCall // the live members the request carries (not rejected)
	events  []instance.SendEvent
	by      []int16
	bytes   int
	addr    string
	body    []byte
	h       remoting.SendRequest
	ctx     deadlineCtx
	started time.Time
	onReply func(instance.SendResult, error) // b.reply, bound once
}

var batches sync.Pool // New set in init, as calls'

func init() {
	batches.New = func() any {
		b := new(batch)
		b.onReply = b.reply
		return b
	}
}

func (p *Producer) newBatch(qb *queueBatcher) *batch {
	b := batches.Get().(*batch)
	b.p, b.qb = p, qb
	return b
}

func (b *batch) add(c *sendCall) {
	b.members = append(b.members, c)
	b.bytes += c.bsize
}

func putBatch(b *batch) {
	clear(b.members)
	clear(b.live)
	clear(b.sent)
	clear(b.events)
	body := b.body[:0]
	if cap(body) > 4<<20 {
		body = nil
	}
	*b = batch{members: b.members[:0], live: b.live[:0], sent: b.sent[:0], events: b.events[:0], by: b.by[:0], body: body,
		onReply: b.onReply}
	batches.Put(b)
}

// build drops the members whose time ran out or whose context was cancelled while they
// waited, runs the hooks over the others and encodes the request of those not rejected.
// It returns false when there is nothing to send (every member's error set).
func (p *Producer) build(b *batch) bool {
	mq := b.qb.mq
	now := time.Now()
	var dl time.Time
	for _, m := range b.members {
		switch err := m.ctx.Err(); {
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			m.err = err
		case err != nil || m.ctx.expired(now):
			m.err = &timeoutError{topic: m.msg.Topic}
		default:
			m.err = nil
			b.live = append(b.live, m)
			if m.ctx.deadline.After(dl) {
				dl = m.ctx.deadline
			}
		}
	}
	if len(b.live) == 0 {
		return false
	}
	// The batch is no member's to cancel. Traced, it is the first member's send's: its
	// broker call (a client span) and its hooks' calls are children of that producer span.
	parent, span := context.Background(), trace.Span(nil)
	if p.tel != nil && p.tel.tracer != nil {
		parent, span = context.WithoutCancel(b.live[0].ctx.Context), b.live[0].ctx.span
	}
	b.ctx = deadlineCtx{Context: parent, deadline: dl, span: span}
	if b.addr = p.inst.FindBrokerAddrInPublish(mq.BrokerName); b.addr == "" {
		b.fail(&brokerNotFoundError{broker: mq.BrokerName})
		return false
	}
	if len(p.hooks) > 0 {
		for _, m := range b.live {
			b.events = append(b.events, instance.SendEvent{ProducerGroup: p.group, Message: m.msg, Queue: mq, BrokerAddr: b.addr})
			b.by = append(b.by, -1)
		}
		if err := p.beforeSend(&b.ctx, b.events, b.by); err != nil {
			b.fail(err)
			return false
		}
		delayed := 0
		for i, m := range b.live {
			switch m.err = p.rejection(&b.events[i], b.by[i]); {
			case m.err != nil:
			case delayedByHook(m.msg):
				m.alone, m.events[0], m.props = true, b.events[i], ""
				delayed++
			default:
				b.sent = append(b.sent, m)
			}
		}
		if delayed > 0 {
			b.dropAlone()
		}
		if len(b.sent) == 0 {
			b.after()
			return false
		}
	} else {
		b.sent = append(b.sent, b.live...)
	}
	// A message that cannot be encoded (its properties grown past the limit by a hook)
	// fails alone: the others were coalesced with it by chance.
	sent := b.sent[:0]
	for _, m := range b.sent {
		at := len(b.body)
		var err error
		if b.body, err = message.AppendBatch(b.body, unsafe.Slice(m.msg, 1)); err != nil {
			b.body, m.err = b.body[:at], err
			continue
		}
		m.result = instance.SendResult{}
		sent = append(sent, m)
	}
	clear(b.sent[len(sent):])
	if b.sent = sent; len(sent) == 0 {
		b.after()
		return false
	}
	b.h = remoting.SendRequest{
		ProducerGroup:         p.group,
		Topic:                 mq.Topic,
		DefaultTopic:          p.cfg.CreateTopicKey,
		DefaultTopicQueueNums: int32(p.cfg.DefaultTopicQueueNums),
		QueueID:               mq.QueueID,
		BornTimestamp:         now.UnixMilli(),
		Properties:            p.batchProps,
		Batch:                 true,
	}
	b.started = now
	return true
}

// delayedByHook reports whether a coalesced message, which had no delay level when it
// joined its line, has one now: a send hook set it. A batch stores its messages at once,
// so such a message goes on its own, as it would have without coalescing.
func delayedByHook(msg *message.Message) bool {
	v, ok := msg.Properties.Lookup(message.PropertyDelayTimeLevel)
	return ok && v != "0" // as ValidateBatch reads it
}

// dropAlone takes the members to be sent alone out of the live members and their
// events: their AfterSend comes with their own request's outcome.
func (b *batch) dropAlone() {
	k := 0
	for i, m := range b.live {
		if !m.alone {
			b.live[k], b.events[k] = m, b.events[i]
			k++
		}
	}
	clear(b.live[k:])
	clear(b.events[k:])
	b.live, b.events = b.live[:k], b.events[:k]
}

// sendDelayed sends c on its own when its batch's hooks gave it a delay level (build):
// the request of sendOne without running the hooks again. It reports pending as sendOne
// does; c had its turn in the batch, so the queue's line does not wait for it.
func (p *Producer) sendDelayed(c *sendCall) (pending bool) {
	c.alone = false
	c.result, c.err = instance.SendResult{}, nil
	return p.request(c, c.mq, c.events[0].BrokerAddr)
}

// fail gives every live member err (after the hooks saw it, when they ran).
func (b *batch) fail(err error) {
	for _, m := range b.live {
		m.err = err
	}
	b.after()
}

// after runs the hooks' AfterSend over the live members, with their outcomes.
func (b *batch) after() {
	if len(b.p.hooks) == 0 || len(b.events) == 0 {
		return
	}
	for i, m := range b.live {
		ev := &b.events[i]
		ev.Err = m.err
		if m.err == nil {
			ev.Result = &m.result
		}
	}
	b.p.afterSend(&b.ctx, b.events)
}

// runBatch sends b and waits, on the goroutine of its leader (a member).
func (p *Producer) runBatch(b *batch, leader *sendCall) {
	if !p.build(b) {
		p.batchDone(b, leader)
		return
	}
	res, err := p.inst.SendMessage(&b.ctx, b.addr, b.qb.mq.BrokerName, &b.h, b.body, "")
	b.results(res, err)
	p.batchDone(b, leader)
}

// runBatchAsync sends b without waiting; reply completes it.
func (p *Producer) runBatchAsync(b *batch) {
	if !p.build(b) {
		p.batchDone(b, nil)
		return
	}
	if err := p.inst.SendMessageAsync(&b.ctx, b.addr, b.qb.mq.BrokerName, &b.h, b.body, "", b.onReply); err != nil {
		b.results(instance.SendResult{}, err)
		p.batchDone(b, nil)
	}
}

func (b *batch) reply(res instance.SendResult, err error) {
	b.results(res, err)
	b.p.batchDone(b, nil)
}

// results splits the broker's answer among the members sent: the i-th gets the i-th
// offset message id and the first queue offset plus i.
func (b *batch) results(res instance.SendResult, err error) {
	if b.p.fault != nil {
		b.p.fault.record(b.qb.mq.BrokerName, time.Since(b.started), err)
	}
	ids := res.OffsetMsgID
	for i, m := range b.sent {
		if err != nil {
			m.result, m.err = instance.SendResult{}, err
			continue
		}
		var id string
		if k := strings.IndexByte(ids, ','); k >= 0 {
			id, ids = ids[:k], ids[k+1:]
		} else {
			id, ids = ids, ""
		}
		m.result = instance.SendResult{
			Status:        res.Status,
			MsgID:         m.msgID,
			OffsetMsgID:   id,
			Queue:         instance.MessageQueue{Topic: m.msg.Topic, BrokerName: res.Queue.BrokerName, QueueID: res.Queue.QueueID},
			QueueOffset:   res.QueueOffset + int64(i),
			TransactionID: res.TransactionID,
			RegionID:      res.RegionID,
			TraceOn:       res.TraceOn,
		}
		m.err = nil
	}
	b.after()
}

// batchDone hands each member its outcome (the leader, running this, takes its own), then
// the queue to the next in line, and recycles b.
func (p *Producer) batchDone(b *batch, leader *sendCall) {
	qb := b.qb
	for _, m := range b.members {
		switch {
		case m == leader:
		case m.mode == modeSync:
			m.wake <- struct{}{}
		case m.alone:
			if !p.sendDelayed(m) {
				p.asyncAttemptDone(m)
			}
		default:
			p.asyncAttemptDone(m)
		}
	}
	putBatch(b)
	p.handOff(qb)
}
