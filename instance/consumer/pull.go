package consumer

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The pull service (Java's PullMessageService and DefaultMQPushConsumerImpl.pullMessage):
// one scheduler goroutine per consumer issues every queue's pulls as asynchronous long
// polls and runs delayed work (pulls after a back-off, local retries) on the injected
// clock. A queue is in one place at a time: waiting in the scheduler (now or later),
// parked by flow control, or in flight — and while in flight it costs no goroutine: the
// pull's callback, on a transport goroutine, decodes the answer, hands the messages to
// the consume service and queues the next pull.

// offsetIllegalDelay is how long a queue whose offset the broker refused stays dropped
// before its offset is corrected and it is taken anew (Java's 10 s).
const offsetIllegalDelay = 10 * time.Second

// scheduler runs pulls and delayed work on one goroutine.
type scheduler struct {
	clock clock.Clock
	run   func(pq *processQueue) // issues a pull

	mu    sync.Mutex
	ready []*processQueue
	spare []*processQueue
	later delayHeap
	wake  chan struct{} // capacity 1
}

// delayed is a pull or a function due at a time.
type delayed struct {
	at  time.Time
	seq uint64 // FIFO among equal times
	pq  *processQueue
	fn  func()
}

type delayHeap struct {
	items []delayed
	seq   uint64
}

func (h *delayHeap) Len() int { return len(h.items) }
func (h *delayHeap) Less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
}
func (h *delayHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *delayHeap) Push(x any)    { h.items = append(h.items, x.(delayed)) }
func (h *delayHeap) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items[n] = delayed{}
	h.items = h.items[:n]
	return x
}

func newScheduler(clk clock.Clock, run func(*processQueue)) *scheduler {
	return &scheduler{clock: clk, run: run, wake: make(chan struct{}, 1)}
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pullNow queues a pull of pq (Java's executePullRequestImmediately).
func (s *scheduler) pullNow(pq *processQueue) {
	s.mu.Lock()
	s.ready = append(s.ready, pq)
	s.mu.Unlock()
	s.signal()
}

// after runs the pull of pq, or fn, once d has passed (Java's executePullRequestLater and
// executeTaskLater).
func (s *scheduler) after(d time.Duration, pq *processQueue, fn func()) {
	at := s.clock.Now().Add(d)
	s.mu.Lock()
	s.later.seq++
	heap.Push(&s.later, delayed{at: at, seq: s.later.seq, pq: pq, fn: fn})
	s.mu.Unlock()
	s.signal()
}

// loop runs until ctx ends. Its timer is armed for the earliest delayed item only.
func (s *scheduler) loop(ctx context.Context) {
	timer := clock.NewStoppedTimer(s.clock)
	defer timer.Stop()
	var due []delayed
	for {
		now := s.clock.Now()
		s.mu.Lock()
		for s.later.Len() > 0 && !s.later.items[0].at.After(now) {
			due = append(due, heap.Pop(&s.later).(delayed))
		}
		ready := s.ready
		s.ready, s.spare = s.spare[:0], nil
		var next time.Time
		if s.later.Len() > 0 {
			next = s.later.items[0].at
		}
		s.mu.Unlock()

		for i := range due {
			if ctx.Err() != nil {
				return
			}
			if due[i].pq != nil {
				s.run(due[i].pq)
			} else {
				due[i].fn()
			}
			due[i] = delayed{}
		}
		due = due[:0]
		for i, pq := range ready {
			if ctx.Err() != nil {
				return
			}
			s.run(pq)
			ready[i] = nil
		}
		s.mu.Lock()
		if s.spare == nil {
			s.spare = ready[:0]
		}
		s.mu.Unlock()

		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// pending returns the pulls and tasks waiting, for tests and status.
func (s *scheduler) pending() (ready, later int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ready), s.later.Len()
}

// pull issues the next pull of pq, unless the queue is dropped, held back by flow
// control, not locked (orderly clustering) or without a broker (Java's pullMessage).
// It runs on the scheduler goroutine.
func (c *PushConsumer) pull(pq *processQueue) {
	if pq.isDropped() || c.runCtx.Err() != nil {
		return
	}
	now := c.clock.Now()
	pq.lastPull.Store(now.UnixMilli())
	if c.suspended.Load() { // an offset reset is under way (Java's pause)
		c.sched.after(time.Second, pq, nil)
		return
	}
	if r := pq.holdBack(c.limits(pq)); r != flowOK {
		if n := c.flowControlTimes.Add(1); n%1000 == 1 {
			count, bytes := pq.held()
			c.log.Warn("consumer: flow control, pull held back until messages are acknowledged",
				"queue", pq.mq.String(), "reason", r.String(),
				"count", count, "sizeMiB", bytes>>20, "times", n)
		}
		return
	}
	if c.cfg.Orderly && c.cfg.Model == remoting.Clustering && !pq.locked.Load() {
		c.sched.after(c.cfg.PullDelayOnError, pq, nil)
		return
	}
	sub, ok := c.subs.forPull(pq.mq.Topic)
	if !ok {
		c.sched.after(c.cfg.PullDelayOnError, pq, nil)
		return
	}
	broker, ok := c.inst.FindBrokerAddrInSubscribe(pq.mq.BrokerName, pq.brokerID.Load(), false)
	if !ok {
		c.needRoute(pq.mq.Topic)
		err := errors.New("consumer: no address for broker " + pq.mq.BrokerName)
		pq.setErr(err, now)
		c.sched.after(c.cfg.PullDelayOnError, pq, nil)
		return
	}
	sysFlag := remoting.PullFlagSuspend
	var commitOffset int64
	if c.cfg.Model == remoting.Clustering && !broker.Slave {
		if off, ok := c.offsets.readMemory(pq.mq); ok && off > 0 {
			commitOffset = off
			sysFlag |= remoting.PullFlagCommitOffset
		}
	}
	h := remoting.PullRequest{
		ConsumerGroup:        c.cfg.Group,
		Topic:                pq.mq.Topic,
		QueueID:              pq.mq.QueueID,
		QueueOffset:          pq.nextOffset.Load(),
		MaxMsgNums:           int32(c.cfg.PullBatchSize),
		SysFlag:              sysFlag,
		CommitOffset:         commitOffset,
		SuspendTimeoutMillis: c.cfg.BrokerSuspend.Milliseconds(),
		SubVersion:           sub.SubVersion,
		ExpressionType:       sub.ExpressionType,
	}
	if c.cfg.PostSubscriptionWhenPull && !sub.ClassFilterMode {
		h.Subscription = sub.SubString
		h.SysFlag |= remoting.PullFlagSubscription
	}
	pq.pullStart = now
	filter := newTagFilter(&sub)
	ctx, cancel := context.WithTimeout(c.runCtx, c.cfg.PullTimeout)
	err := c.inst.PullMessageAsync(ctx, broker.Addr, &h, func(r instance.PullResult, err error) {
		cancel()
		c.onPull(pq, filter, r, err)
	})
	if err != nil {
		cancel()
		c.pullFailed(pq, err)
	}
}

// onPull handles a pull's answer (Java's PullCallback), on a transport goroutine.
func (c *PushConsumer) onPull(pq *processQueue, filter tagFilter, r instance.PullResult, err error) {
	if pq.isDropped() || c.runCtx.Err() != nil {
		return
	}
	if err != nil {
		c.pullFailed(pq, err)
		return
	}
	now := c.clock.Now()
	pq.brokerID.Store(r.SuggestWhichBrokerID)
	pq.brokerMaxOffset.Store(r.MaxOffset)
	switch r.Status {
	case instance.PullFound:
		prev := pq.nextOffset.Load()
		pq.nextOffset.Store(r.NextBeginOffset)
		msgs := c.decode(pq, filter, r)
		pq.stats.pulled(len(msgs), now.Sub(pq.pullStart))
		if len(msgs) > 0 {
			if first := msgs[0].QueueOffset; first < prev {
				c.log.Warn("consumer: [BUG] pull answered offsets before the one asked", "queue", pq.mq.String(),
					"asked", prev, "first", first, "next", r.NextBeginOffset)
			}
			pq.put(msgs, r.MaxOffset)
			if !c.cfg.Orderly {
				c.tasks.push(consumeTask{pq: pq, msgs: msgs})
			}
		}
		if c.cfg.PullInterval > 0 && len(msgs) > 0 {
			c.sched.after(c.cfg.PullInterval, pq, nil)
		} else {
			c.sched.pullNow(pq)
		}
	case instance.PullNoNewMsg, instance.PullNoMatchedMsg:
		pq.nextOffset.Store(r.NextBeginOffset)
		// Java's correctTagsOffset: nothing held, so the offset may move past what the
		// filter skipped.
		if count, _ := pq.held(); count == 0 {
			c.offsets.update(pq.mq, r.NextBeginOffset, true)
		}
		c.sched.pullNow(pq)
	case instance.PullOffsetIllegal:
		c.log.Warn("consumer: pull offset illegal; the queue is dropped and its offset corrected",
			"queue", pq.mq.String(), "asked", pq.nextOffset.Load(), "next", r.NextBeginOffset,
			"min", r.MinOffset, "max", r.MaxOffset)
		pq.nextOffset.Store(r.NextBeginOffset)
		pq.drop()
		next := r.NextBeginOffset
		// On a goroutine of its own: the correction waits for a rebalance or reset under way,
		// which the pulls must not.
		c.sched.after(offsetIllegalDelay, nil, func() { c.goOwned(func() { c.correctOffset(pq, next) }) })
	}
}

// pullFailed backs the queue's pull off after an error (Java's onException).
func (c *PushConsumer) pullFailed(pq *processQueue, err error) {
	if c.runCtx.Err() != nil {
		return
	}
	pq.setErr(err, c.clock.Now())
	if !isRetryTopic(pq.mq.Topic) {
		c.noteErr(err)
		c.log.Warn("consumer: pull failed", "queue", pq.mq.String(), "err", err,
			"retryIn", c.cfg.PullDelayOnError)
	}
	c.sched.after(c.cfg.PullDelayOnError, pq, nil)
}

// correctOffset stores the offset the broker gave for a queue whose offset was illegal,
// and lets the next rebalance take the queue anew from there. A queue an offset reset or
// a rebalance took out of the table meanwhile is left alone: its offset is no longer this
// one's to correct, and writing it would undo the reset or another consumer's progress.
func (c *PushConsumer) correctOffset(pq *processQueue, next int64) {
	c.rebalanceMu.Lock()
	defer c.rebalanceMu.Unlock()
	c.mu.Lock()
	held := c.table[pq.mq] == pq
	c.mu.Unlock()
	if !held || c.runCtx.Err() != nil {
		return
	}
	c.offsets.update(pq.mq, next, false)
	if err := c.offsets.persist(c.runCtx, pq.mq); err != nil {
		c.log.Warn("consumer: persisting the corrected offset failed", "queue", pq.mq.String(), "err", err)
	}
	c.mu.Lock()
	if c.table[pq.mq] == pq { // held still: every change of the table waits for rebalanceMu
		delete(c.table, pq.mq)
	}
	c.mu.Unlock()
	c.offsets.remove(pq.mq)
	c.RebalanceImmediately()
}

// decoders decode pull bodies without copying the bodies.
var decoders = sync.Pool{New: func() any { return &message.Decoder{ZeroCopy: true} }}

// decode turns a FOUND answer into the messages to consume (Java's processPullResult):
// messages decoded (bodies alias the answer), tags checked again, MIN_OFFSET and
// MAX_OFFSET set, the broker name recorded and, for messages consumed again through the
// retry topic, the original topic restored (Java's resetRetryAndNamespace).
func (c *PushConsumer) decode(pq *processQueue, filter tagFilter, r instance.PullResult) []*message.Ext {
	dec := decoders.Get().(*message.Decoder)
	exts, err := dec.DecodeStored(make([]message.Ext, 0, countStored(r.Body)), r.Body)
	decoders.Put(dec)
	if err != nil {
		c.log.Error("consumer: pull body could not be decoded entirely; the rest is skipped",
			"queue", pq.mq.String(), "decoded", len(exts), "err", err)
		pq.setErr(err, c.clock.Now())
		c.noteErr(err)
	}
	if len(exts) == 0 {
		return nil
	}
	minOff := strconv.FormatInt(r.MinOffset, 10)
	maxOff := strconv.FormatInt(r.MaxOffset, 10)
	retry := pq.mq.Topic == c.retryTopic
	out := make([]*message.Ext, 0, len(exts))
	for i := range exts {
		m := &exts[i]
		if !filter.match(m) {
			continue
		}
		m.Properties.Set(message.PropertyMinOffset, minOff)
		m.Properties.Set(message.PropertyMaxOffset, maxOff)
		m.BrokerName = pq.mq.BrokerName
		if retry {
			if t := m.RetryTopic(); t != "" {
				m.Topic = t
			}
		}
		out = append(out, m)
	}
	return out
}

// countStored counts the stored messages of a pull body by their size fields, so that
// the messages are allocated at their number: a message an application keeps keeps the
// array it was decoded into. A malformed size ends the count; the decoder reports it.
func countStored(body []byte) int {
	n := 0
	for off := 0; off+4 <= len(body); n++ {
		size := int(int32(binary.BigEndian.Uint32(body[off:])))
		if size <= 0 {
			return n + 1
		}
		off += size
	}
	return max(n, 1)
}

func isRetryTopic(topic string) bool { return strings.HasPrefix(topic, message.RetryTopicPrefix) }
