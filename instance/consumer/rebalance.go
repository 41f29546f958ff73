package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// The rebalance (Java's RebalanceImpl and RebalancePushImpl): for each subscribed topic,
// the queues of its route and, in clustering mode, the group's consumer ids from a
// broker, sorted, go through the allocation strategy; the queues this consumer gets and
// does not hold are taken (locked first for orderly consumption, started where
// ConsumeFromWhere and the stored offset say), those it holds and does not get are
// dropped (their offset persisted). It runs on the service goroutine every
// RebalanceInterval and at once when the broker says the group changed.

// rebalance rebalances every subscribed topic (Java's doRebalance).
func (c *PushConsumer) rebalance(ctx context.Context) {
	c.rebalanceMu.Lock()
	defer c.rebalanceMu.Unlock()
	c.rebalancing.Store(true)
	defer c.rebalancing.Store(false)
	for _, topic := range c.subs.topicList() {
		if ctx.Err() != nil {
			return
		}
		if err := c.rebalanceTopic(ctx, topic); err != nil {
			if isRetryTopic(topic) && errors.Is(err, instance.ErrNoRoute) {
				continue // the retry topic appears with the first send-back
			}
			c.noteErr(err)
			c.log.Warn("consumer: rebalance failed; queues kept as they were", "topic", topic, "err", err)
		}
	}
	c.rebalances.Add(1)
}

// rebalanceTopic rebalances one topic (Java's rebalanceByTopic).
func (c *PushConsumer) rebalanceTopic(ctx context.Context, topic string) error {
	all := c.remote.subscribeInfo(topic)
	if len(all) == 0 {
		return fmt.Errorf("consumer: rebalance of %s: %w", topic, instance.ErrNoRoute)
	}
	mine := all
	if c.cfg.Model == remoting.Clustering {
		ids, err := c.remote.consumerIDs(ctx, topic, c.cfg.Group)
		if err != nil {
			return fmt.Errorf("consumer: rebalance of %s: consumer ids: %w", topic, err)
		}
		ids = slices.Clone(ids)
		slices.Sort(ids)
		c.log.Debug("consumer: rebalancing", "topic", topic, "consumers", ids, "queues", len(all))
		mine, err = allocateQueues(c.cfg.Strategy, c.cfg.Group, c.remote.clientID(), ids, all)
		if err != nil {
			return fmt.Errorf("consumer: rebalance of %s: %w", topic, err)
		}
	}
	added, changed := c.updateQueues(ctx, topic, mine)
	if changed {
		c.log.Info("consumer: queues changed", "topic", topic, "strategy", c.cfg.Strategy.Name(),
			"client", c.remote.clientID(), "queues", len(all), "mine", len(mine))
		c.queuesChanged(ctx, topic)
	}
	for _, pq := range added {
		c.sched.pullNow(pq)
	}
	return nil
}

// updateQueues makes the topic's held queues mine (Java's
// updateProcessQueueTableInRebalance). It returns the queues added, whose first pull the
// caller issues once the broker knows the new subscription version, and whether anything
// changed.
func (c *PushConsumer) updateQueues(ctx context.Context, topic string, mine []instance.MessageQueue) ([]*processQueue, bool) {
	want := make(map[instance.MessageQueue]bool, len(mine))
	for _, mq := range mine {
		want[mq] = true
	}
	changed := false
	now := c.clock.Now()
	for _, pq := range c.queues() {
		if pq.mq.Topic != topic {
			continue
		}
		switch {
		case !want[pq.mq]:
			c.dropQueue(ctx, pq, "rebalanced away")
			changed = true
		case c.pullExpired(pq, now):
			c.log.Error("consumer: [BUG] queue not pulled for too long; taking it anew",
				"queue", pq.mq.String(), "expiry", c.cfg.PullExpiry)
			c.dropQueue(ctx, pq, "pull expired")
			changed = true
		}
	}

	var add []instance.MessageQueue
	c.mu.Lock()
	for mq := range c.resets {
		if mq.Topic == topic && !want[mq] { // given away: whoever takes it reads the broker
			delete(c.resets, mq)
		}
	}
	for _, mq := range mine {
		switch {
		case c.table[mq] != nil:
		case c.closing[mq] != nil:
			// Its goroutine still finishes a batch: taken once it is gone (orderlyExit),
			// rather than at the next periodic rebalance.
			c.closing[mq].wanted = true
		default:
			add = append(add, mq)
		}
	}
	c.mu.Unlock()
	if len(add) == 0 {
		return nil, changed
	}
	orderlyLocks := c.cfg.Orderly && c.cfg.Model == remoting.Clustering
	var locked map[instance.MessageQueue]bool
	if orderlyLocks {
		locked, _ = c.lock(ctx, add)
		defer c.releaseUnused(ctx, add, locked)
	}
	var added []*processQueue
	for _, mq := range add {
		if c.rebalancePending() {
			// The group changed again meanwhile: what this rebalance decided may be stale,
			// and taking a queue another consumer now holds would consume its messages
			// twice. The rebalance queued next takes what is still due.
			c.log.Debug("consumer: rebalance superseded; remaining queues left to the next one", "topic", topic)
			break
		}
		if orderlyLocks && !locked[mq] {
			c.log.Info("consumer: queue not taken yet: its lock is held by another consumer", "queue", mq.String())
			c.retryLocksLater()
			continue
		}
		c.offsets.remove(mq) // Java's removeDirtyOffset
		off, reset, err := c.startOffset(ctx, mq)
		if ctx.Err() != nil {
			return added, changed // shutting down
		}
		if err != nil {
			c.noteErr(err)
			c.log.Warn("consumer: queue not taken: no offset to start from", "queue", mq.String(), "err", err)
			continue
		}
		pq := newProcessQueue(mq, c.cfg.Orderly, off, c.topicStats()[topic], c.clock.Now())
		if orderlyLocks {
			// Locked before its offset was read: Java's first pull of an orderly queue
			// reads the offset again under the lock (previouslyLocked); here it was.
			pq.locked.Store(true)
		}
		c.mu.Lock()
		if c.table[mq] != nil || c.runCtx.Err() != nil {
			c.mu.Unlock()
			continue
		}
		c.table[mq] = pq
		if reset != nil {
			pq.brokerMaxOffset.Store(reset.maxOffset)
		}
		if c.cfg.Orderly {
			c.wg.Add(1)
			go c.runOrderly(pq)
		}
		c.mu.Unlock()
		c.log.Info("consumer: queue taken", "queue", mq.String(), "offset", off)
		added = append(added, pq)
		changed = true
	}
	return added, changed
}

// releaseUnused unlocks the queues a rebalance locked and did not take (superseded, or no
// offset to start from): the next rebalance may give them to another consumer, whose lock
// the broker would refuse until this one expired.
func (c *PushConsumer) releaseUnused(ctx context.Context, add []instance.MessageQueue, locked map[instance.MessageQueue]bool) {
	var unused []instance.MessageQueue
	c.mu.Lock()
	for _, mq := range add {
		if locked[mq] && c.table[mq] == nil && c.closing[mq] == nil {
			unused = append(unused, mq)
		}
	}
	c.mu.Unlock()
	if len(unused) > 0 && ctx.Err() == nil {
		// Waited for, not oneway: the broker may handle a oneway unlock after the next
		// rebalance's lock of the same queues, and so release locks this consumer then
		// holds and consumes under, for another consumer to take.
		c.unlock(ctx, unused, false)
	}
}

// rebalancePending reports a rebalance asked for and not started yet.
func (c *PushConsumer) rebalancePending() bool { return len(c.rebalanceNow) > 0 }

// retryLocksLater has the rebalance run again after PullDelayOnError when a queue could
// not be locked: its previous owner releases it once its batch in flight is done, and
// Java's wait for the next periodic rebalance (20 s) would leave it unconsumed meanwhile.
func (c *PushConsumer) retryLocksLater() {
	if c.lockRetry.CompareAndSwap(false, true) {
		c.sched.after(c.cfg.PullDelayOnError, nil, func() {
			c.lockRetry.Store(false)
			c.RebalanceImmediately()
		})
	}
}

// pullExpired reports a queue whose pull has not run for PullExpiry while nothing held
// it back: a pull lost, which Java's rebalance repairs by taking the queue anew.
func (c *PushConsumer) pullExpired(pq *processQueue, now time.Time) bool {
	return now.UnixMilli()-pq.lastPull.Load() > c.cfg.PullExpiry.Milliseconds() && !pq.isPaused() &&
		!(c.cfg.Orderly && c.cfg.Model == remoting.Clustering && !pq.locked.Load())
}

// dropQueue stops consuming a queue (Java's removeUnnecessaryMessageQueue): its offset is
// persisted and forgotten; an orderly queue's goroutine does so itself once its batch in
// flight is done, and releases the queue's lock (consume_orderly.go).
func (c *PushConsumer) dropQueue(ctx context.Context, pq *processQueue, why string) {
	c.mu.Lock()
	if c.table[pq.mq] == pq {
		delete(c.table, pq.mq)
		// A goroutine gone already (the queue dropped after PULL_OFFSET_MOVED) would
		// never take the queue out of closing, and the queue could not be taken again.
		if c.cfg.Orderly && !pq.exited {
			c.closing[pq.mq] = pq
		}
	}
	c.mu.Unlock()
	pq.drop()
	c.log.Info("consumer: queue dropped", "queue", pq.mq.String(), "why", why)
	if c.cfg.Orderly {
		return
	}
	if err := c.offsets.persist(ctx, pq.mq); err != nil {
		c.log.Warn("consumer: persisting a dropped queue's offset failed", "queue", pq.mq.String(), "err", err)
	}
	c.offsets.remove(pq.mq)
}

// queuesChanged follows a change of the queues held (Java's messageQueueChanged): the
// subscription gets a new version and the brokers hear of it at once, and the topic
// thresholds, when set, are divided anew among the queues.
func (c *PushConsumer) queuesChanged(ctx context.Context, topic string) {
	c.subs.bump(topic, c.clock.Now().UnixMilli())
	if n := len(c.queues()); n > 0 {
		if c.cfg.PullThresholdForTopic > 0 {
			c.thresholds.count.Store(int64(max(1, c.cfg.PullThresholdForTopic/n)))
		}
		if c.cfg.PullThresholdSizeForTopic > 0 {
			c.thresholds.sizeMiB.Store(int64(max(1, c.cfg.PullThresholdSizeForTopic/n)))
		}
	}
	// Not cut short by a shutdown: a heartbeat abandoned on the wire could reach the broker
	// after the group's UNREGISTER_CLIENT and register this consumer again.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.inst.Config().RequestTimeout)
	defer cancel()
	versions := c.subs.versions()
	if err := c.remote.heartbeat(hctx); err != nil {
		if ctx.Err() == nil {
			c.log.Debug("consumer: heartbeat after a rebalance incomplete; pulls keep the previous subscription version", "err", err)
		}
		return
	}
	c.subs.announced(versions)
}

// startOffset returns where a queue taken anew starts: an offset reset's offset when the
// queue was dropped by one (pendingReset says why the broker is not asked), else
// computePullFromWhere's. The reset's offset is persisted again, over whatever from before
// the reset overtook it.
func (c *PushConsumer) startOffset(ctx context.Context, mq instance.MessageQueue) (int64, *pendingReset, error) {
	c.mu.Lock()
	r, ok := c.resets[mq]
	delete(c.resets, mq)
	c.mu.Unlock()
	if !ok {
		off, err := c.computePullFromWhere(ctx, mq)
		return off, nil, err
	}
	c.offsets.update(mq, r.offset, false)
	if err := c.offsets.persist(ctx, mq); err != nil {
		c.log.Warn("consumer: persisting a reset offset failed", "queue", mq.String(), "err", err)
	}
	return r.offset, &r, nil
}

// computePullFromWhere returns where a queue taken anew starts (Java's
// RebalancePushImpl.computePullFromWhereWithException): the stored offset when there is
// one; for a group new to the queue, the last offset (0 for the retry topic), the first
// offset, or the offset of ConsumeTimestamp (the last offset for the retry topic).
func (c *PushConsumer) computePullFromWhere(ctx context.Context, mq instance.MessageQueue) (int64, error) {
	off, found, err := c.offsets.readStore(ctx, mq)
	if err != nil {
		return 0, err
	}
	if found && off >= 0 {
		return off, nil
	}
	retry := isRetryTopic(mq.Topic)
	switch c.cfg.ConsumeFromWhere {
	case remoting.ConsumeFromFirstOffset:
		return 0, nil
	case remoting.ConsumeFromTimestamp:
		if retry {
			return c.remote.maxOffset(ctx, mq)
		}
		return c.remote.searchOffset(ctx, mq, c.consumeTimestamp.UnixMilli())
	default:
		if retry {
			return 0, nil
		}
		return c.remote.maxOffset(ctx, mq)
	}
}

// byBroker groups queues by broker name.
func byBroker(mqs []instance.MessageQueue) map[string][]instance.MessageQueue {
	out := make(map[string][]instance.MessageQueue)
	for _, mq := range mqs {
		out[mq.BrokerName] = append(out[mq.BrokerName], mq)
	}
	return out
}

// lock locks queues on their brokers for this client (Java's lock, one request per
// broker rather than per queue) and returns those now locked, marking the queues held,
// and the brokers that answered.
func (c *PushConsumer) lock(ctx context.Context, mqs []instance.MessageQueue) (locked map[instance.MessageQueue]bool, answered map[string]bool) {
	locked = make(map[instance.MessageQueue]bool, len(mqs))
	answered = make(map[string]bool)
	now := c.clock.Now().UnixMilli()
	for name, qs := range byBroker(mqs) {
		lctx, cancel := context.WithTimeout(ctx, c.cfg.LockTimeout)
		got, err := c.remote.lock(lctx, name, &remoting.LockBatchRequestBody{
			ConsumerGroup: c.cfg.Group, ClientID: c.remote.clientID(), MQSet: qs})
		cancel()
		if errors.Is(err, errNoBroker) {
			continue
		}
		if err != nil {
			c.noteErr(err)
			c.log.Warn("consumer: locking queues failed", "broker", name, "err", err)
			continue
		}
		answered[name] = true
		for _, mq := range got {
			locked[mq] = true
		}
	}
	c.mu.Lock()
	for _, pq := range c.table {
		if locked[pq.mq] {
			pq.locked.Store(true)
			pq.lastLock.Store(now)
		}
	}
	c.mu.Unlock()
	return locked, answered
}

// lockOne locks one queue (Java's lockOneMQ).
func (c *PushConsumer) lockOne(ctx context.Context, pq *processQueue) bool {
	locked, _ := c.lock(ctx, []instance.MessageQueue{pq.mq})
	ok := locked[pq.mq]
	if ok {
		pq.locked.Store(true)
		pq.lastLock.Store(c.clock.Now().UnixMilli())
	}
	return ok
}

// lockAll renews the locks of every queue held (Java's lockAll, every LockInterval):
// queues whose lock was lost stop being consumed until it is taken again. The queues
// dropped whose batch is still being consumed are renewed too (Java's processQueueTable
// keeps them until then): another consumer must not take them meanwhile.
func (c *PushConsumer) lockAll(ctx context.Context) {
	c.lockMu.Lock()
	defer c.lockMu.Unlock()
	held := c.queues()
	var closing []*processQueue
	c.mu.Lock()
	for _, pq := range c.closing {
		if !pq.exited {
			closing = append(closing, pq)
		}
	}
	c.mu.Unlock()
	if len(held)+len(closing) == 0 {
		return
	}
	mqs := make([]instance.MessageQueue, 0, len(held)+len(closing))
	for _, pq := range held {
		mqs = append(mqs, pq.mq)
	}
	for _, pq := range closing {
		mqs = append(mqs, pq.mq)
	}
	locked, answered := c.lock(ctx, mqs)
	for _, pq := range held {
		if answered[pq.mq.BrokerName] && !locked[pq.mq] && pq.locked.Load() {
			pq.locked.Store(false)
			c.log.Warn("consumer: queue lock lost", "queue", pq.mq.String())
		}
	}
	for _, pq := range closing {
		if answered[pq.mq.BrokerName] && !locked[pq.mq] {
			c.log.Warn("consumer: lock of a dropped queue lost while its batch is being consumed", "queue", pq.mq.String())
		}
	}
}

// unlock releases queues' locks (Java's unlock and unlockAll).
func (c *PushConsumer) unlock(ctx context.Context, mqs []instance.MessageQueue, oneway bool) {
	for name, qs := range byBroker(mqs) {
		uctx, cancel := context.WithTimeout(ctx, c.cfg.LockTimeout)
		err := c.remote.unlock(uctx, name, &remoting.LockBatchRequestBody{
			ConsumerGroup: c.cfg.Group, ClientID: c.remote.clientID(), MQSet: qs}, oneway)
		cancel()
		if err != nil && !errors.Is(err, errNoBroker) {
			c.log.Warn("consumer: unlocking queues failed", "broker", name, "err", err)
		}
	}
}
