package consumer

import "sync/atomic"

// Flow control (Java's checks at the top of DefaultMQPushConsumerImpl.pullMessage): a
// queue holding more than its message or size threshold, or, consumed concurrently,
// whose oldest message in process is more than MaxSpan offsets behind its newest, is not
// pulled. Java looks again every 50 ms; here the pull is parked and the acknowledgement
// that brings the queue back under its limits resumes it, so a consumer held back by a
// slow application costs nothing while it waits and resumes at once.

// limits are the thresholds one check applies.
type limits struct {
	count   int   // messages; Java's pullThresholdForQueue
	sizeMiB int64 // body MiB; pullThresholdSizeForQueue
	maxSpan int64 // 0 for orderly consumption, which has no span check
}

// thresholds holds the per-queue thresholds, which the topic thresholds change at
// rebalances (Java's messageQueueChanged).
type thresholds struct {
	count   atomic.Int64
	sizeMiB atomic.Int64
	maxSpan int64
}

func (t *thresholds) limits() limits {
	return limits{count: int(t.count.Load()), sizeMiB: t.sizeMiB.Load(), maxSpan: t.maxSpan}
}

// flowReason names why a pull is held back.
type flowReason uint8

const (
	flowOK flowReason = iota
	flowCount
	flowSize
	flowSpan
)

var flowReasonNames = [...]string{"", "cached message count", "cached message size", "offset span"}

func (r flowReason) String() string { return flowReasonNames[r] }

// holdBack checks the queue against lim and, when it is over, parks its pull: the pull
// is then resumed by the completion that brings the queue under (see resumeLocked).
// The check and the parking happen under the queue's lock, so that no completion slips
// between them.
func (pq *processQueue) holdBack(lim limits) flowReason {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	r := pq.overLocked(lim)
	if r != flowOK {
		pq.paused = true
	}
	return r
}

// overLocked reports the first threshold the queue is over (Java's order: count, size,
// span). Called with mu held.
func (pq *processQueue) overLocked(lim limits) flowReason {
	switch {
	case pq.count > lim.count:
		return flowCount
	case pq.bytes>>20 > lim.sizeMiB:
		return flowSize
	case lim.maxSpan > 0 && pq.span() > lim.maxSpan:
		return flowSpan
	}
	return flowOK
}

// resumeLocked unparks a pull held back once the queue is under lim again and reports
// whether the caller must schedule it. Called with mu held.
func (pq *processQueue) resumeLocked(lim limits) bool {
	if !pq.paused || pq.overLocked(lim) != flowOK {
		return false
	}
	pq.paused = false
	return true
}

// isPaused reports a parked pull.
func (pq *processQueue) isPaused() bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.paused
}
