package broker

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// lockManager is Java's RebalanceLockManager: the queues orderly consumers hold, per
// group, each with its client and the time it was last locked; a lock not renewed within
// the expiry (REBALANCE_LOCK_MAX_LIVE_TIME, 60 s) may be taken by another client.
type lockManager struct {
	mu     sync.Mutex
	groups map[string]map[remoting.MessageQueue]*lockEntry
	expiry time.Duration
	now    func() time.Time
}

type lockEntry struct {
	clientID string
	last     time.Time
}

func newLockManager(expiry time.Duration, now func() time.Time) *lockManager {
	return &lockManager{groups: make(map[string]map[remoting.MessageQueue]*lockEntry), expiry: expiry, now: now}
}

func (e *lockEntry) expired(now time.Time, expiry time.Duration) bool {
	return now.Sub(e.last) > expiry
}

// tryLockBatch locks what it can of mqs for clientID and returns the queues the client
// now holds: those it held (renewed), those free, and those whose lock expired. mqs are in
// the request set's order; the answer is in the order of Java's answer, a HashSet the
// queues the client held go into first, then the others (recording 380).
func (m *lockManager) tryLockBatch(group string, mqs []remoting.MessageQueue, clientID string) []remoting.MessageQueue {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	locks := m.groups[group]
	if locks == nil {
		locks = make(map[remoting.MessageQueue]*lockEntry)
		m.groups[group] = locks
	}
	var locked, others []remoting.MessageQueue
	for _, mq := range mqs {
		if e := locks[mq]; e != nil && e.clientID == clientID && !e.expired(now, m.expiry) {
			e.last = now
			locked = append(locked, mq)
		} else {
			others = append(others, mq)
		}
	}
	for _, mq := range javaSetOrder(others, len(mqs)) {
		e := locks[mq]
		switch {
		case e == nil:
			locks[mq] = &lockEntry{clientID: clientID, last: now}
		case e.clientID == clientID || e.expired(now, m.expiry):
			e.clientID, e.last = clientID, now
		default:
			continue // held by another client
		}
		locked = append(locked, mq)
	}
	return javaSetOrder(locked, len(mqs))
}

// unlockBatch releases the queues of mqs that clientID holds.
func (m *lockManager) unlockBatch(group string, mqs []remoting.MessageQueue, clientID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	locks := m.groups[group]
	for _, mq := range mqs {
		if e := locks[mq]; e != nil && e.clientID == clientID {
			delete(locks, mq)
		}
	}
}

// handleLockBatch is AdminBrokerProcessor.lockBatchMQ.
func (b *Broker) handleLockBatch(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if resp := lockBodyMissing(req, "LockBatchRequestBody", "lockBatchMQ(AdminBrokerProcessor.java:664)"); resp != nil {
		return resp
	}
	var body remoting.LockBatchRequestBody
	if err := body.Decode(req.Body); err != nil {
		return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
	}
	if len(body.MQSet) > 0 && !hasGroup(req.Body) { // RebalanceLockManager.isLocked: mqLockTable.get(null)
		return response(req, remoting.SystemError, npeNullKeyGet)
	}
	// fastjson reads the request's mqSet into a new HashSet.
	mqs := javaSetOrder(dedupQueues(body.MQSet), 0)
	locked := b.locks.tryLockBatch(body.ConsumerGroup, mqs, body.ClientID)
	resp := response(req, remoting.Success, "")
	resp.Body = (&remoting.LockBatchResponseBody{LockOKMQSet: locked}).Encode()
	return resp
}

// handleUnlockBatch is AdminBrokerProcessor.unlockBatchMQ.
func (b *Broker) handleUnlockBatch(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if resp := lockBodyMissing(req, "UnlockBatchRequestBody", "unlockBatchMQ(AdminBrokerProcessor.java:683)"); resp != nil {
		return resp
	}
	var body remoting.LockBatchRequestBody
	if err := body.Decode(req.Body); err != nil {
		return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
	}
	if !hasGroup(req.Body) { // RebalanceLockManager.unlockBatch: mqLockTable.get(null)
		return response(req, remoting.SystemError, npeNullKeyGet)
	}
	b.locks.unlockBatch(body.ConsumerGroup, body.MQSet, body.ClientID)
	return response(req, remoting.Success, "")
}

// lockBodyMissing answers a lock or unlock request without a body, or with a null one, as
// Java's handler fails on it; nil when there is a body.
func lockBodyMissing(req *remoting.Command, class, frame string) *remoting.Command {
	switch {
	case len(req.Body) == 0:
		return response(req, remoting.SystemError, nullBodyRemark)
	case jsonNull(req.Body):
		return response(req, remoting.SystemError, nullObjectRemark(
			"org.apache.rocketmq.common.protocol.body."+class+".getConsumerGroup()", "requestBody",
			"org.apache.rocketmq.broker.processor.AdminBrokerProcessor."+frame))
	}
	return nil
}

// hasGroup reports whether a lock request body names its consumer group: Java's is null
// when it is left out or sent as null.
func hasGroup(body []byte) bool {
	var b struct {
		ConsumerGroup json.RawMessage `json:"consumerGroup"`
	}
	return json.Unmarshal(body, &b) == nil && !isAbsent(b.ConsumerGroup)
}

// javaSetOrder returns queues in the iteration order of a java.util.HashSet they were
// added to in order, created with initialCapacity (0: new HashSet()): by bucket of
// MessageQueue.hashCode in the final table, in insertion order within a bucket.
func javaSetOrder(mqs []remoting.MessageQueue, initialCapacity int) []remoting.MessageQueue {
	table := uint32(16)
	if initialCapacity > 0 {
		for table = 1; table < uint32(initialCapacity); table <<= 1 { // HashMap.tableSizeFor
		}
	}
	for uint32(len(mqs)) > table*3/4 {
		table <<= 1
	}
	bucket := func(q remoting.MessageQueue) uint32 {
		h := uint32(1)
		h = 31*h + javaHash(q.BrokerName)
		h = 31*h + uint32(q.QueueID)
		h = 31*h + javaHash(q.Topic)
		return (h ^ h>>16) & (table - 1)
	}
	slices.SortStableFunc(mqs, func(a, b remoting.MessageQueue) int { return int(bucket(a)) - int(bucket(b)) })
	return mqs
}

// dedupQueues drops repeated queues: Java's mqSet is a Set.
func dedupQueues(mqs []remoting.MessageQueue) []remoting.MessageQueue {
	seen := make(map[remoting.MessageQueue]bool, len(mqs))
	out := mqs[:0:0]
	for _, mq := range mqs {
		if !seen[mq] {
			seen[mq] = true
			out = append(out, mq)
		}
	}
	return out
}
