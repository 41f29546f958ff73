package consumer

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// processQueue is the state of one queue this consumer holds: Java's ProcessQueue (the
// messages pulled and not yet consumed) and PullRequest (where the next pull starts) in
// one.
//
// The messages are kept in offset order in a slice used as a queue: a pull appends its
// messages (offsets only grow within a queue), a completion marks its messages done, and
// the done messages at the front are dropped. The first message not done is the smallest
// offset still in process, which is what may be committed (Java's removeMessage answer);
// with none left it is the offset after the last message put. Lookups by offset are
// binary searches.
type processQueue struct {
	mq      instance.MessageQueue
	orderly bool
	stats   *topicStats

	mu        sync.Mutex
	entries   []pqEntry // entries[head:] are held, in offset order
	head      int
	count     int   // messages held, done ones excluded (Java's msgCount)
	bytes     int64 // their body bytes (msgSize)
	taken     int   // orderly: entries[head:head+taken] are being consumed
	maxOffset int64 // offset of the last message put (queueOffsetMax)
	accCnt    int64 // messages behind the last one pulled (msgAccCnt)
	paused    bool  // the pull is held back by flow control until acknowledgements resume it

	dropped   atomic.Bool
	droppedCh chan struct{} // closed by drop
	dropOnce  sync.Once
	// delivery is the orderly delivery being consumed, withdrawn by drop when unclaimed.
	delivery atomic.Pointer[Delivery]
	// resetting: dropped by an offset reset, whose new offset must not be overwritten by
	// the orderly goroutine's last persist.
	resetting atomic.Bool
	// exited: the orderly goroutine has ended, so it would never take the queue out of
	// PushConsumer.closing; under PushConsumer.mu.
	exited bool
	// abandoned: the orderly goroutine ended at shutdown with its batch still being
	// consumed, so Shutdown keeps the queue's lock; under PushConsumer.mu.
	abandoned bool
	// wanted: a rebalance allocated the queue again while it was closing, and could not
	// take it; the goroutine's exit asks for another when its batch completed; under
	// PushConsumer.mu.
	wanted bool

	locked         atomic.Bool
	lastLock       atomic.Int64 // unix ms
	lastPull       atomic.Int64
	lastConsume    atomic.Int64
	tryUnlockTimes atomic.Int64
	inFlight       atomic.Int64 // messages delivered and not completed

	// The pull state. One pull of the queue is under way at a time; whoever holds it (the
	// scheduler, then the pull's callback) is the only writer.
	nextOffset      atomic.Int64
	brokerID        atomic.Int64 // the broker suggested for the next pull
	brokerMaxOffset atomic.Int64 // the queue's max offset in the last pull's answer
	pullStart       time.Time

	// notify wakes the orderly consumer of the queue when messages are put (capacity 1).
	notify chan struct{}

	lastErr atomic.Pointer[queueError]
}

type pqEntry struct {
	msg    *message.Ext
	offset int64
	size   int32
	done   bool
	// d is the delivery the message is in, for the consume timeout; nil before.
	d *Delivery
}

// queueError is the last failure seen on a queue, for Status.
type queueError struct {
	err error
	at  time.Time
}

func newProcessQueue(mq instance.MessageQueue, orderly bool, nextOffset int64, stats *topicStats, now time.Time) *processQueue {
	pq := &processQueue{mq: mq, orderly: orderly, stats: stats, droppedCh: make(chan struct{}),
		notify: make(chan struct{}, 1)}
	pq.nextOffset.Store(nextOffset)
	pq.brokerMaxOffset.Store(-1)
	ms := now.UnixMilli()
	pq.lastPull.Store(ms)
	pq.lastConsume.Store(ms)
	pq.lastLock.Store(ms)
	return pq
}

// drop marks the queue dropped: its pull stops and its deliveries' completions are
// ignored; the messages of a concurrent queue are released at once, those of an orderly
// queue when its goroutine exits (it may still commit the batch in flight). It reports
// whether this call dropped it.
func (pq *processQueue) drop() bool {
	first := false
	pq.dropOnce.Do(func() {
		first = true
		pq.dropped.Store(true)
		close(pq.droppedCh)
		if !pq.orderly {
			pq.release()
		}
		// After dropped is set: an Unclaim that does not see it is seen here.
		if d := pq.delivery.Load(); d != nil {
			d.withdraw()
		}
	})
	return first
}

// release lets go of the messages held.
func (pq *processQueue) release() {
	pq.mu.Lock()
	clear(pq.entries)
	pq.entries, pq.head, pq.count, pq.bytes, pq.taken = nil, 0, 0, 0, 0
	pq.mu.Unlock()
}

func (pq *processQueue) isDropped() bool { return pq.dropped.Load() }

// put appends the messages of a pull (Java's putMessage) and wakes the queue's orderly
// consumer. A message at or before the last offset put is skipped: it is held already.
// brokerMax is the queue's max offset in the pull's answer.
func (pq *processQueue) put(msgs []*message.Ext, brokerMax int64) {
	pq.mu.Lock()
	for _, m := range msgs {
		if pq.count > 0 && m.QueueOffset <= pq.maxOffset {
			continue
		}
		pq.entries = append(pq.entries, pqEntry{msg: m, offset: m.QueueOffset, size: int32(len(m.Body))})
		pq.count++
		pq.bytes += int64(len(m.Body))
		pq.maxOffset = m.QueueOffset
	}
	if n := len(msgs); n > 0 {
		if acc := brokerMax - msgs[n-1].QueueOffset; acc > 0 {
			pq.accCnt = acc
		}
	}
	pq.mu.Unlock()
	if pq.orderly {
		select {
		case pq.notify <- struct{}{}:
		default:
		}
	}
}

// find returns the index in entries of the message at offset, -1 when it is not held.
// Called with mu held.
func (pq *processQueue) find(offset int64) int {
	live := pq.entries[pq.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i < len(live) && live[i].offset == offset {
		return pq.head + i
	}
	return -1
}

// markDelivered records the delivery its messages are in, for the consume timeout.
func (pq *processQueue) markDelivered(msgs []*message.Ext, d *Delivery) {
	pq.mu.Lock()
	for _, m := range msgs {
		if i := pq.find(m.QueueOffset); i >= 0 {
			pq.entries[i].d = d
		}
	}
	pq.mu.Unlock()
}

// remove marks messages consumed (Java's removeMessage). It returns the offset that may be
// committed — the smallest offset still held, or the one after the last message put when
// none is left — or -1 when the queue held nothing; and whether a pull held back by flow
// control may go on.
func (pq *processQueue) remove(msgs []*message.Ext, lim limits, now time.Time) (commit int64, resume bool) {
	pq.lastConsume.Store(now.UnixMilli())
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if pq.count == 0 {
		return -1, false
	}
	for _, m := range msgs {
		i := pq.find(m.QueueOffset)
		if i < 0 || pq.entries[i].done {
			continue
		}
		e := &pq.entries[i]
		e.done, e.msg, e.d = true, nil, nil
		pq.count--
		pq.bytes -= int64(e.size)
	}
	pq.advance()
	commit = pq.maxOffset + 1
	if pq.count > 0 {
		commit = pq.entries[pq.head].offset
	}
	return commit, pq.resumeLocked(lim)
}

// advance drops the done entries at the front and compacts the slice now and then.
func (pq *processQueue) advance() {
	for pq.head < len(pq.entries) && pq.entries[pq.head].done {
		pq.entries[pq.head] = pqEntry{}
		pq.head++
	}
	if pq.head == len(pq.entries) {
		pq.entries, pq.head = pq.entries[:0], 0
		return
	}
	if pq.head >= 256 && pq.head*2 >= len(pq.entries) {
		n := copy(pq.entries, pq.entries[pq.head:])
		clear(pq.entries[n:])
		pq.entries, pq.head = pq.entries[:n], 0
	}
}

// span is the distance between the first and the last message held (Java's getMaxSpan).
// Called with mu held.
func (pq *processQueue) span() int64 {
	if pq.count == 0 {
		return 0
	}
	last := len(pq.entries) - 1
	for last > pq.head && pq.entries[last].done {
		last--
	}
	return pq.entries[last].offset - pq.entries[pq.head].offset
}

// take hands out up to n messages after those being consumed, for orderly consumption
// (Java's takeMessages).
func (pq *processQueue) take(n int, now time.Time) []*message.Ext {
	pq.lastConsume.Store(now.UnixMilli())
	pq.mu.Lock()
	defer pq.mu.Unlock()
	start := pq.head + pq.taken
	end := min(start+n, len(pq.entries))
	if start >= end {
		return nil
	}
	out := make([]*message.Ext, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, pq.entries[i].msg)
	}
	pq.taken += end - start
	return out
}

// commit ends the consumption of the first n messages taken (Java's commit, which ends all
// of them) and gives the others back (makeMessageToConsumeAgain). It returns the offset
// after the last message committed, or -1 when none was, and whether a held-back pull
// may go on.
func (pq *processQueue) commit(n int, lim limits) (int64, bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	n = min(n, pq.taken)
	if n <= 0 {
		pq.taken = 0
		return -1, false
	}
	last := pq.entries[pq.head+n-1].offset
	for i := pq.head; i < pq.head+n; i++ {
		e := &pq.entries[i]
		e.done, e.msg, e.d = true, nil, nil
		pq.count--
		pq.bytes -= int64(e.size)
	}
	pq.taken = 0
	pq.advance()
	return last + 1, pq.resumeLocked(lim)
}

// markResetting says a reset is moving the queue's offset: a commit under way
// (storeUnlessReset) either stored its offset already, before the reset stores its own, or
// stores nothing.
func (pq *processQueue) markResetting() {
	pq.mu.Lock()
	pq.resetting.Store(true)
	pq.mu.Unlock()
}

// storeUnlessReset stores off as pq's committed offset (increaseOnly: only if higher),
// unless a reset is moving it: under pq.mu against markResetting, so that a commit's store
// comes before the reset's, or not at all.
func (c *PushConsumer) storeUnlessReset(pq *processQueue, off int64, increaseOnly bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if !pq.resetting.Load() {
		c.offsets.update(pq.mq, off, increaseOnly)
	}
}

// giveBack returns the taken messages to be consumed again (makeMessageToConsumeAgain).
func (pq *processQueue) giveBack() {
	pq.mu.Lock()
	pq.taken = 0
	pq.mu.Unlock()
}

// hasMessages reports whether the queue holds any message (Java's hasTempMessage).
func (pq *processQueue) hasMessages() bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.count > 0
}

// held returns the messages and bytes held.
func (pq *processQueue) held() (int, int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.count, pq.bytes
}

// expired returns the deliveries holding the oldest messages that were delivered before
// deadline (at most 16 of them, as Java's cleanExpiredMsg).
func (pq *processQueue) expired(deadline time.Time) []*Delivery {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	var out []*Delivery
	for i := pq.head; i < len(pq.entries) && len(out) < 16; i++ {
		e := &pq.entries[i]
		if e.done {
			continue
		}
		if e.d == nil || !e.d.start.Before(deadline) {
			break
		}
		if len(out) == 0 || out[len(out)-1] != e.d {
			out = append(out, e.d)
		}
	}
	return out
}

func (pq *processQueue) setErr(err error, now time.Time) {
	pq.lastErr.Store(&queueError{err: err, at: now})
}

// info fills Java's ProcessQueueInfo (fillProcessQueueInfo).
func (pq *processQueue) info(commitOffset int64) remoting.ProcessQueueInfo {
	info := remoting.ProcessQueueInfo{
		CommitOffset:         commitOffset,
		Dropped:              pq.isDropped(),
		Locked:               pq.locked.Load(),
		TryUnlockTimes:       pq.tryUnlockTimes.Load(),
		LastLockTimestamp:    pq.lastLock.Load(),
		LastPullTimestamp:    pq.lastPull.Load(),
		LastConsumeTimestamp: pq.lastConsume.Load(),
	}
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if pq.count > 0 {
		first, last := -1, -1
		for i := pq.head + pq.taken; i < len(pq.entries); i++ {
			if !pq.entries[i].done {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first >= 0 {
			info.CachedMsgMinOffset = pq.entries[first].offset
			info.CachedMsgMaxOffset = pq.entries[last].offset
			info.CachedMsgCount = int32(pq.count - pq.taken)
		}
		info.CachedMsgSizeInMiB = int32(pq.bytes >> 20)
	}
	if pq.taken > 0 {
		info.TransactionMsgMinOffset = pq.entries[pq.head].offset
		info.TransactionMsgMaxOffset = pq.entries[pq.head+pq.taken-1].offset
		info.TransactionMsgCount = int32(pq.taken)
	}
	return info
}
