package store

import (
	"math"
	"strconv"
)

// Java's pull limits (MessageStoreConfig 4.9.4 defaults).
const (
	maxTransferBytesInMemory = 256 << 10
	maxTransferCountInMemory = 32
	maxTransferBytesOnDisk   = 64 << 10
	maxTransferCountOnDisk   = 8
	cqUnitSize               = 20 // ConsumeQueue.CQ_STORE_UNIT_SIZE: Java counts scans in bytes of it
)

// GetStatus is the outcome of Get: Java's GetMessageStatus. String returns the Java name,
// which the broker sends as the PULL_MESSAGE response's remark.
type GetStatus int

// The statuses, in Java's order; the zero value is none of them.
const (
	Found GetStatus = iota + 1
	NoMatchedMessage
	MessageWasRemoving
	OffsetFoundNull
	OffsetOverflowBadly
	OffsetOverflowOne
	OffsetTooSmall
	// NoMatchedLogicQueue is never returned: Java 4.9.4's findConsumeQueue creates a
	// missing queue, so a pull of a queue that never had a message finds it empty and
	// answers NoMessageInQueue; the store answers the same without creating anything.
	NoMatchedLogicQueue
	NoMessageInQueue
)

var getStatusNames = [...]string{
	Found:               "FOUND",
	NoMatchedMessage:    "NO_MATCHED_MESSAGE",
	MessageWasRemoving:  "MESSAGE_WAS_REMOVING",
	OffsetFoundNull:     "OFFSET_FOUND_NULL",
	OffsetOverflowBadly: "OFFSET_OVERFLOW_BADLY",
	OffsetOverflowOne:   "OFFSET_OVERFLOW_ONE",
	OffsetTooSmall:      "OFFSET_TOO_SMALL",
	NoMatchedLogicQueue: "NO_MATCHED_LOGIC_QUEUE",
	NoMessageInQueue:    "NO_MESSAGE_IN_QUEUE",
}

func (s GetStatus) String() string {
	if s > 0 && int(s) < len(getStatusNames) {
		return getStatusNames[s]
	}
	return "GetStatus(" + strconv.Itoa(int(s)) + ")"
}

// Filter selects the messages a pull returns (Java's MessageFilter). Get asks
// MatchTagsCode for every consume queue entry it scans, then MatchStored for those that
// passed, with the stored message (aliasing the commit log; do not retain or modify).
// A nil Filter matches everything.
type Filter interface {
	MatchTagsCode(tagsCode int64) bool
	MatchStored(stored []byte) bool
}

// TagsCodeFilter is a Filter by tags code alone, as a TAG subscription filters on the
// broker.
type TagsCodeFilter func(tagsCode int64) bool

func (f TagsCodeFilter) MatchTagsCode(tagsCode int64) bool { return f(tagsCode) }
func (f TagsCodeFilter) MatchStored([]byte) bool           { return true }

// GetResult is the answer to a Get: Java's GetMessageResult.
type GetResult struct {
	Status GetStatus
	// NextBeginOffset is where the consumer should pull next, as Java's master computes
	// it (nextOffsetCorrection corrects the offset).
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
	// Messages are the stored messages found, in queue order, each aliasing the commit
	// log (see the package documentation); back to back they are a PULL_MESSAGE body.
	Messages   [][]byte
	TotalBytes int // of Messages
	// SuggestPullingFromSlave is Java's hint that the consumer lags beyond the memory
	// window; a broker without slave-read ignores it.
	SuggestPullingFromSlave bool
}

func (r *GetResult) reset() {
	clear(r.Messages)
	*r = GetResult{Messages: r.Messages[:0]}
}

// Get reads up to maxMsgs messages of a queue from offset on; see GetInto.
func (s *Store) Get(topic string, queueID int32, offset int64, maxMsgs int32, filter Filter) GetResult {
	var r GetResult
	s.GetInto(&r, topic, queueID, offset, maxMsgs, filter)
	return r
}

// GetInto is Get reusing res and its Messages slice: a pull that allocates nothing.
//
// It is Java 4.9.4's DefaultMessageStore.getMessage on a master broker. By the queue's
// min and max offsets: no message ever (max 0) -> NoMessageInQueue, next 0; offset < min
// -> OffsetTooSmall, next min; offset == max -> OffsetOverflowOne, next offset; offset >
// max -> OffsetOverflowBadly, next max. Otherwise entries are scanned from offset: up to
// the end of the Java consume queue file the offset is in (300000 entries), up to
// max(16000, maxMsgs*20)/20 entries, and until the batch is full — maxMsgs messages (at
// least one), or 256 KiB / 32 messages (64 KiB / 8 for messages beyond the memory
// window). Found if a message was returned, else NoMatchedMessage when the filter
// rejected the entries, MessageWasRemoving when retention dropped their bytes meanwhile;
// next is the first entry not scanned.
func (s *Store) GetInto(res *GetResult, topic string, queueID int32, offset int64, maxMsgs int32, filter Filter) {
	res.reset()
	maxPy := s.maxCL.Load()
	q := s.queue(topic, queueID)
	if q == nil {
		res.Status, res.NextBeginOffset = NoMessageInQueue, 0
		return
	}
	minOff := q.min.Load()
	maxOff := q.max.Load()
	res.MinOffset, res.MaxOffset = minOff, maxOff
	switch {
	case maxOff == 0:
		res.Status, res.NextBeginOffset = NoMessageInQueue, 0
		return
	case offset < minOff:
		res.Status, res.NextBeginOffset = OffsetTooSmall, minOff
		return
	case offset == maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowOne, offset
		return
	case offset > maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowBadly, maxOff
		return
	}

	entries := q.arr.Load()
	if offset < entries.first {
		// Retention dropped the entry between the min check and now; Java's
		// getIndexBuffer returns null then. Java would skip to the next consume queue
		// file; where the entries now start is the better answer.
		res.Status, res.NextBeginOffset = OffsetFoundNull, max(q.min.Load(), entries.first)
		return
	}
	segs := s.segs.Load()
	fileEnd := (offset/s.cqFileEntries + 1) * s.cqFileEntries
	avail := min(maxOff, fileEnd) - offset
	// Java steps i by 20 bytes while i < max(16000, maxMsgNums*20), in int arithmetic.
	maxScanBytes := max(16000, int64(maxMsgs*cqUnitSize))
	maxScan := (maxScanBytes + cqUnitSize - 1) / cqUnitSize

	res.Status = NoMatchedMessage
	nextSegStart := int64(math.MinInt64)
	var maxPhyPulling int64
	n := int64(0)
	for ; n < avail && n < maxScan; n++ {
		e, ok := entries.at(offset + n)
		if !ok {
			break // not reached: entries below max are all in the array
		}
		maxPhyPulling = e.clOffset
		if nextSegStart != math.MinInt64 && e.clOffset < nextSegStart {
			continue
		}
		if s.batchFull(e.size, maxMsgs, res.TotalBytes, len(res.Messages), maxPy-e.clOffset > s.cfg.MemoryWindow) {
			break
		}
		if filter != nil && !filter.MatchTagsCode(e.tagsCode) {
			if res.TotalBytes == 0 {
				res.Status = NoMatchedMessage
			}
			continue
		}
		raw, ok := segs.slice(e.clOffset, e.size)
		if !ok {
			if res.TotalBytes == 0 {
				res.Status = MessageWasRemoving
			}
			nextSegStart = segs.first() // Java's rollNextFile: skip to the first retained segment
			continue
		}
		if filter != nil && !filter.MatchStored(raw) {
			if res.TotalBytes == 0 {
				res.Status = NoMatchedMessage
			}
			continue
		}
		res.Messages = append(res.Messages, raw)
		res.TotalBytes += len(raw)
		res.Status = Found
		nextSegStart = math.MinInt64
	}
	res.NextBeginOffset = offset + n
	res.SuggestPullingFromSlave = maxPy-maxPhyPulling > s.cfg.MemoryWindow
}

// batchFull is Java's isTheBatchFull.
func (s *Store) batchFull(size int32, maxMsgs int32, totalBytes, count int, onDisk bool) bool {
	if totalBytes == 0 || count == 0 {
		return false
	}
	if int(maxMsgs) <= count {
		return true
	}
	maxBytes, maxCount := maxTransferBytesInMemory, maxTransferCountInMemory
	if onDisk {
		maxBytes, maxCount = maxTransferBytesOnDisk, maxTransferCountOnDisk
	}
	return totalBytes+int(size) > maxBytes || count > maxCount-1
}
