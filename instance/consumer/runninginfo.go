package consumer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// What the consumer answers to the requests brokers forward from admins
// (GET_CONSUMER_RUNNING_INFO, RESET_CONSUMER_CLIENT_OFFSET, GET_CONSUMER_STATUS_FROM_CLIENT,
// CONSUME_MESSAGE_DIRECTLY), and Status, the gateway's view of it.

// directTimeout bounds the wait for a delivery consumed directly.
const directTimeout = 5 * time.Second

// RunningInfo answers GET_CONSUMER_RUNNING_INFO (instance.Consumer; Java's
// consumerRunningInfo): the settings, the subscriptions, every queue held with its
// committed offset, and the statistics of each subscribed topic.
func (c *PushConsumer) RunningInfo() *remoting.ConsumerRunningInfo {
	if c.state.Load() != stateRunning {
		return nil
	}
	now := c.clock.Now()
	info := &remoting.ConsumerRunningInfo{
		Properties:    c.properties(),
		Subscriptions: c.subs.list(),
		MQTable:       make(remoting.QueueTable[remoting.ProcessQueueInfo]),
		StatusTable:   make(map[string]remoting.ConsumeStatus),
	}
	for _, pq := range c.queues() {
		off, ok := c.offsets.readMemory(pq.mq)
		if !ok {
			off = -1
		}
		info.MQTable[pq.mq] = pq.info(off)
	}
	for topic, s := range c.topicStats() {
		info.StatusTable[topic] = s.status(now)
	}
	return info
}

// properties are the consumer's settings under Java's DefaultMQPushConsumer property
// names, plus the PROP_* entries.
func (c *PushConsumer) properties() map[string]string {
	cfg := &c.cfg
	b := strconv.FormatBool
	i := strconv.Itoa
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	threads := cfg.ConsumeGoroutines
	if cfg.Orderly {
		threads = 0
	}
	return map[string]string{
		"consumerGroup":                     cfg.Group,
		"messageModel":                      string(cfg.Model),
		"consumeFromWhere":                  string(cfg.ConsumeFromWhere),
		"consumeTimestamp":                  c.consumeTimestamp.Format("20060102150405"),
		"allocateMessageQueueStrategy":      cfg.Strategy.Name(),
		"consumeThreadMin":                  i(threads),
		"consumeThreadMax":                  i(threads),
		"consumeConcurrentlyMaxSpan":        i(cfg.MaxSpan),
		"pullThresholdForQueue":             strconv.FormatInt(c.thresholds.count.Load(), 10),
		"pullThresholdSizeForQueue":         strconv.FormatInt(c.thresholds.sizeMiB.Load(), 10),
		"pullThresholdForTopic":             i(cmpOrInt(cfg.PullThresholdForTopic, -1)),
		"pullThresholdSizeForTopic":         i(cmpOrInt(cfg.PullThresholdSizeForTopic, -1)),
		"pullInterval":                      ms(cfg.PullInterval),
		"consumeMessageBatchMaxSize":        i(cfg.ConsumeBatchMaxSize),
		"pullBatchSize":                     i(cfg.PullBatchSize),
		"postSubscriptionWhenPull":          b(cfg.PostSubscriptionWhenPull),
		"unitMode":                          b(cfg.UnitMode),
		"maxReconsumeTimes":                 strconv.FormatInt(int64(c.maxReconsume), 10),
		"suspendCurrentQueueTimeMillis":     ms(cfg.SuspendCurrentQueue),
		"consumeTimeout":                    strconv.FormatInt(int64(cfg.ConsumeTimeout/time.Minute), 10),
		"instanceName":                      c.inst.Config().InstanceName,
		"clientIP":                          c.inst.Config().ClientIP,
		remoting.PropConsumeOrderly:         b(cfg.Orderly),
		remoting.PropThreadPoolCoreSize:     i(threads),
		remoting.PropConsumerStartTimestamp: strconv.FormatInt(c.startedAt.UnixMilli(), 10),
	}
}

func cmpOrInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// OffsetTable answers GET_CONSUMER_STATUS_FROM_CLIENT (instance.Consumer): the offsets
// in memory of topic's queues.
func (c *PushConsumer) OffsetTable(topic string) map[instance.MessageQueue]int64 {
	if c.state.Load() != stateRunning {
		return map[instance.MessageQueue]int64{}
	}
	return c.offsets.table(topic)
}

// ResetOffset moves the offsets of topic's queues held (and of orderly queues still
// finishing a batch after a rebalance dropped them) to offsets
// (RESET_CONSUMER_CLIENT_OFFSET; Java's MQClientInstance.resetOffset): the pulls pause,
// the queues are dropped (their deliveries in flight are ignored), the new offsets are
// stored and persisted, and the queues are taken anew from them at once (an orderly queue
// once its batch in flight is done), not from the broker's copy (pendingReset). Java
// waits 10 s for the deliveries in flight; dropped queues ignore them, so nothing waits
// here.
func (c *PushConsumer) ResetOffset(ctx context.Context, topic string, offsets map[instance.MessageQueue]int64) {
	if c.state.Load() != stateRunning {
		return
	}
	c.rebalanceMu.Lock()
	defer c.rebalanceMu.Unlock()
	c.suspended.Store(true)
	defer c.suspended.Store(false)
	closing := c.closingQueues() // before the queues held join it
	var reset []instance.MessageQueue
	for _, pq := range c.queues() {
		if _, ok := offsets[pq.mq]; !ok || pq.mq.Topic != topic {
			continue
		}
		pq.markResetting()
		c.mu.Lock()
		if c.table[pq.mq] == pq {
			delete(c.table, pq.mq)
			c.resets[pq.mq] = pendingReset{offset: offsets[pq.mq], maxOffset: pq.brokerMaxOffset.Load()}
			if c.cfg.Orderly && !pq.exited {
				c.closing[pq.mq] = pq
			}
		}
		c.mu.Unlock()
		pq.drop()
		reset = append(reset, pq.mq)
	}
	// An orderly queue a rebalance dropped, its batch still in flight, is the consumer's
	// until the batch is done (Java's reset finds it in processQueueTable): its exit must
	// not persist the offset from before the reset over the reset's, and the queue taken
	// again must start from the reset's.
	for _, pq := range closing {
		if _, ok := offsets[pq.mq]; !ok || pq.mq.Topic != topic {
			continue
		}
		pq.markResetting()
		c.mu.Lock()
		if c.closing[pq.mq] == pq && !pq.exited {
			c.resets[pq.mq] = pendingReset{offset: offsets[pq.mq], maxOffset: pq.brokerMaxOffset.Load()}
			reset = append(reset, pq.mq)
		}
		c.mu.Unlock()
	}
	for _, mq := range reset {
		c.offsets.update(mq, offsets[mq], false)
		if err := c.offsets.persist(ctx, mq); err != nil {
			c.log.Warn("consumer: persisting a reset offset failed", "queue", mq.String(), "err", err)
		}
	}
	if c.cfg.Model == remoting.Broadcasting && len(reset) > 0 {
		if err := c.offsets.persistAll(ctx, append(c.heldQueues(), reset...), true); err != nil {
			c.log.Warn("consumer: persisting reset offsets failed", "err", err)
		}
	}
	c.log.Info("consumer: offsets reset", "topic", topic, "queues", len(reset))
	c.RebalanceImmediately()
}

// pendingReset is where a queue dropped by an offset reset starts again. The reset's
// offset is persisted at once, but the broker's copy cannot be trusted when the queue is
// taken anew: a pull's commit offset or a periodic persist from before the reset, still on
// the wire, may land after the reset's oneway update (Java sleeps 10 s for them to settle),
// and a oneway update may itself be handled after the query that reads it back.
type pendingReset struct {
	offset int64
	// maxOffset is the broker's max offset the dropped queue knew, for the queue that
	// replaces it until its first pull answers (Status's lag): a reset moves none. -1:
	// unknown.
	maxOffset int64
}

// ConsumeMessageDirectly consumes msg with the Handler and reports how it went
// (CONSUME_MESSAGE_DIRECTLY; Java's consumeMessageDirectly). Offsets are not touched. It
// waits for the delivery's completion up to 5 s.
func (c *PushConsumer) ConsumeMessageDirectly(ctx context.Context, msg *message.Ext, brokerName string) *remoting.ConsumeMessageDirectlyResult {
	if c.state.Load() != stateRunning {
		return nil
	}
	if msg.Topic == c.retryTopic {
		if t := msg.RetryTopic(); t != "" {
			msg.Topic = t
		}
	}
	msg.BrokerName = brokerName
	res := &remoting.ConsumeMessageDirectlyResult{Order: c.cfg.Orderly, AutoCommit: true}
	d := c.newDelivery(nil, directDelivery, []*message.Ext{msg})
	start := c.clock.Now()
	_, panicked := c.callHandler(ctx, d)
	t := time.NewTimer(directTimeout)
	defer t.Stop()
	select {
	case r := <-d.done:
		switch {
		case panicked != nil:
			res.ConsumeResult = remoting.CRThrowException
			res.Remark = fmt.Sprint(panicked)
		case r.consumed(1) == 1:
			res.ConsumeResult = remoting.CRSuccess
		default:
			res.ConsumeResult = remoting.CRLater
		}
	case <-t.C:
		res.ConsumeResult = remoting.CRReturnNull
		res.Remark = "not completed within " + directTimeout.String()
	case <-ctx.Done():
		res.ConsumeResult = remoting.CRReturnNull
		res.Remark = ctx.Err().Error()
	}
	res.SpentTimeMills = c.clock.Now().Sub(start).Milliseconds()
	return res
}

// Status is a consumer's state as the gateway shows it.
type Status struct {
	Group   string
	Model   remoting.MessageModel
	Orderly bool
	Running bool
	Started time.Time
	// Rebalances counts the rebalances run; Rebalancing is set while one runs or is due
	// (the group or the topic's queues changed), when the queues held may change.
	Rebalances  int64
	Rebalancing bool
	// Queues are the queues held, sorted.
	Queues []QueueStatus
	// Cached and InFlight sum the queues': messages pulled and not yet acknowledged, and
	// those of them delivered and not yet completed.
	Cached   int
	InFlight int64
	// Topics holds the statistics of each subscribed topic, as running info reports them.
	Topics map[string]remoting.ConsumeStatus
	// LastError is the last failure of a pull, rebalance, send-back or hook.
	LastError   string
	LastErrorAt time.Time
}

// QueueStatus is the state of one queue held.
type QueueStatus struct {
	Queue instance.MessageQueue
	// CommittedOffset is the offset that is or will be persisted: the smallest one still
	// in process; -1 when not known yet.
	CommittedOffset int64
	// NextOffset is where the next pull starts.
	NextOffset int64
	// MaxOffset is the queue's max offset in the last pull's answer, -1 before one; Lag
	// is MaxOffset - CommittedOffset (-1 when either is unknown).
	MaxOffset int64
	Lag       int64
	// Cached messages and body bytes held; InFlight of them delivered and not completed.
	Cached      int
	CachedBytes int64
	InFlight    int64
	// FlowControlled: the pull waits for acknowledgements.
	FlowControlled bool
	// Locked: the orderly lock on the broker is held.
	Locked      bool
	LastPull    time.Time
	LastConsume time.Time
	LastError   string
	LastErrorAt time.Time
}

// Status reports the consumer's state.
func (c *PushConsumer) Status() Status {
	now := c.clock.Now()
	st := Status{Group: c.cfg.Group, Model: c.cfg.Model, Orderly: c.cfg.Orderly,
		Running: c.state.Load() == stateRunning, Started: c.startedAt, Rebalances: c.rebalances.Load(),
		Rebalancing: c.rebalancing.Load() || c.rebalancePending()}
	for _, pq := range c.queues() {
		committed := int64(-1)
		if off, ok := c.offsets.readMemory(pq.mq); ok {
			committed = off
		}
		count, bytes := pq.held()
		q := QueueStatus{Queue: pq.mq, CommittedOffset: committed, NextOffset: pq.nextOffset.Load(),
			MaxOffset: pq.brokerMaxOffset.Load(), Lag: -1, Cached: count, CachedBytes: bytes,
			InFlight: pq.inFlight.Load(), FlowControlled: pq.isPaused(), Locked: pq.locked.Load(),
			LastPull: time.UnixMilli(pq.lastPull.Load()), LastConsume: time.UnixMilli(pq.lastConsume.Load())}
		if q.MaxOffset >= 0 && committed >= 0 {
			q.Lag = max(q.MaxOffset-committed, 0)
		}
		if e := pq.lastErr.Load(); e != nil {
			q.LastError, q.LastErrorAt = e.err.Error(), e.at
		}
		st.Queues = append(st.Queues, q)
		st.Cached += count
		st.InFlight += q.InFlight
	}
	slices.SortFunc(st.Queues, func(a, b QueueStatus) int { return a.Queue.Compare(b.Queue) })
	st.Topics = make(map[string]remoting.ConsumeStatus)
	for topic, s := range c.topicStats() {
		st.Topics[topic] = s.status(now)
	}
	c.errMu.Lock()
	if c.lastErr != nil {
		st.LastError, st.LastErrorAt = c.lastErr.Error(), c.lastErrAt
	}
	c.errMu.Unlock()
	return st
}
