package store

// SearchOffset returns the queue offset of the message stored closest to timestampMillis,
// as Java 4.9.4's ConsumeQueue.getOffsetInQueueByTime answers SEARCH_OFFSET_BY_TIMESTAMP:
//
//   - the Java consume queue file (300000 entries) searched is the first whose last write
//     (here: its last entry's store timestamp) is at or after timestampMillis, else the
//     last file;
//   - in it, a binary search over store timestamps from the queue's min offset: an entry
//     stored at exactly timestampMillis wins (whichever the search meets first when
//     several are), otherwise the closer of its neighbours, the earlier on a tie;
//   - so a time before the first message gives the first entry, a time after the last
//     message gives the last entry (max-1, not max), and a queue without messages 0.
func (s *Store) SearchOffset(topic string, queueID int32, timestampMillis int64) int64 {
	q := s.queue(topic, queueID)
	if q == nil {
		return 0
	}
	minPhy := s.segs.Load().first()
	minOff := q.min.Load()
	maxOff := q.max.Load()
	entries := q.arr.Load()
	if maxOff == 0 {
		return 0
	}
	// Java deletes a consume queue file once all its messages are gone from the commit
	// log, except the last file.
	per := s.cqFileEntries
	firstFile := minOff / per
	if minOff >= maxOff {
		firstFile = (maxOff - 1) / per
	}
	lastFile := (maxOff - 1) / per
	file := lastFile
	for f := firstFile; f < lastFile; f++ {
		if e, ok := entries.at(min(maxOff, (f+1)*per) - 1); ok && e.storeTime >= timestampMillis {
			file = f
			break
		}
	}
	from := file * per
	count := min(maxOff, from+per) - from

	// Java's search, in bytes within the file, kept as it is so that ties and misses
	// land where Java's do.
	const unit = cqUnitSize
	low := int64(0)
	if minOff > from {
		low = (minOff - from) * unit
	}
	high := count*unit - unit
	target, left, right := int64(-1), int64(-1), int64(-1)
	leftValue, rightValue := int64(-1), int64(-1)
	for high >= low {
		mid := (low + high) / (2 * unit) * unit
		e, ok := entries.at(from + mid/unit)
		if !ok || e.clOffset < minPhy {
			// Below the commit log's min (or compacted away meanwhile): go right.
			low = mid + unit
			left = mid
			continue
		}
		switch t := e.storeTime; {
		case t == timestampMillis:
			target = mid
		case t > timestampMillis:
			high = mid - unit
			right, rightValue = mid, t
			continue
		default:
			low = mid + unit
			left, leftValue = mid, t
			continue
		}
		break
	}
	var off int64
	switch {
	case target != -1:
		off = target
	case leftValue == -1:
		off = right
	case rightValue == -1:
		off = left
	case abs(timestampMillis-leftValue) > abs(timestampMillis-rightValue):
		off = right
	default:
		off = left
	}
	return (from*unit + off) / unit
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// EarliestMessageTime returns the store timestamp of the queue's first served message, or
// -1 when it has none (Java's getEarliestMessageTime(topic, queueId)).
func (s *Store) EarliestMessageTime(topic string, queueID int32) int64 {
	q := s.queue(topic, queueID)
	if q == nil {
		return -1
	}
	return s.storeTime(q, q.min.Load())
}

// StoreTimestamp returns the store timestamp of the message at a queue offset, or -1 when
// the offset holds none (Java's getMessageStoreTimeStamp, for consume stats).
func (s *Store) StoreTimestamp(topic string, queueID int32, offset int64) int64 {
	q := s.queue(topic, queueID)
	if q == nil {
		return -1
	}
	return s.storeTime(q, offset)
}

func (s *Store) storeTime(q *consumeQueue, offset int64) int64 {
	if offset < q.min.Load() || offset >= q.max.Load() {
		return -1
	}
	e, ok := q.arr.Load().at(offset)
	if !ok || e.clOffset < s.segs.Load().first() {
		return -1
	}
	return e.storeTime
}
