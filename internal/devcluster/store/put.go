package store

import (
	"fmt"
	"net/netip"

	"github.com/mqgate/mqgate/message"
)

// PutResult is where the store put a message.
type PutResult struct {
	CommitLogOffset int64
	// QueueOffset is the message's position in its consume queue; 0 for a prepared or
	// rolled back transactional message, which enters no consume queue (as in Java).
	QueueOffset    int64
	StoreTimestamp int64 // milliseconds since the epoch
	StoreSize      int32
	StoreHost      netip.AddrPort
}

// OffsetMsgID returns the offset message id: store host and commit log offset in hex.
func (r *PutResult) OffsetMsgID() string { return message.OffsetMsgID(r.StoreHost, r.CommitLogOffset) }

// AppendOffsetMsgID appends the offset message id to dst, for a response header without
// an intermediate string.
func (r *PutResult) AppendOffsetMsgID(dst []byte) []byte {
	return message.AppendOffsetMsgID(dst, r.StoreHost, r.CommitLogOffset)
}

// Put stores one message. The store reads the fields the broker decided — Topic, QueueID,
// Flag, Body (as it is: compressed or not, as SysFlag says), Properties, SysFlag,
// BornTimestamp, BornHost, StoreHost (Config.StoreHost when zero), ReconsumeTimes,
// PreparedTransactionOffset — and assigns the others: commit log offset, queue offset,
// store timestamp (the body CRC and size follow from the fields). m is not modified nor
// retained.
//
// The message is visible to Get when Put returns (OnArrival has been called). In file
// mode with a zero FlushInterval, Put returns once it is on disk; an error wrapping
// ErrFlushFailed then means the message is stored and visible but not durable, and the
// result is valid.
func (s *Store) Put(m *message.Ext) (PutResult, error) {
	var r PutResult
	size, err := s.check(m)
	if err != nil {
		return r, err
	}
	if size+blankLen > s.cfg.SegmentSize {
		return r, fmt.Errorf("store: %w: a message of %d bytes does not fit a segment of %d", ErrMessageTooLarge, size, s.cfg.SegmentSize)
	}
	dispatch := dispatched(m.SysFlag)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return r, ErrClosed
	}
	now := s.cfg.Clock().UnixMilli()
	seg := s.reserve(size)
	var q *consumeQueue
	if dispatch {
		q = s.queueForPut(m.Topic, m.QueueID)
	}
	if err := s.write(seg, m, q, size, now, &r); err != nil {
		s.mu.Unlock()
		return r, err
	}
	seg.written.Store(int64(seg.pos))
	s.maxCL.Store(seg.base + int64(seg.pos))
	maxOff := int64(-1)
	if q != nil {
		q.publish()
		maxOff = q.next
	}
	s.mu.Unlock()

	if maxOff >= 0 && s.cfg.OnArrival != nil {
		s.cfg.OnArrival(m.Topic, m.QueueID, maxOff)
	}
	return r, s.waitFlushed(r.CommitLogOffset + int64(r.StoreSize))
}

// PutBatch stores msgs, all of one topic and queue, in one segment with consecutive queue
// offsets and one store timestamp, all visible at once (Java's putMessages), and appends
// their results to results[:0]. Fields are read as Put reads them; transactional half
// messages are refused, as batches cannot be transactional. Nothing is stored on error,
// except after ErrFlushFailed (see Put).
func (s *Store) PutBatch(msgs []message.Ext, results []PutResult) ([]PutResult, error) {
	results = results[:0]
	if len(msgs) == 0 {
		return results, nil
	}
	total := 0
	for i := range msgs {
		m := &msgs[i]
		size, err := s.check(m)
		if err != nil {
			return results, fmt.Errorf("batch message %d: %w", i, err)
		}
		if m.Topic != msgs[0].Topic || m.QueueID != msgs[0].QueueID {
			return results, fmt.Errorf("store: %w: batch message %d is for %s/%d, message 0 for %s/%d",
				ErrInvalidMessage, i, m.Topic, m.QueueID, msgs[0].Topic, msgs[0].QueueID)
		}
		if !dispatched(m.SysFlag) {
			return results, fmt.Errorf("store: %w: batch message %d is a transactional half or rollback (sysFlag %#x)", ErrInvalidMessage, i, m.SysFlag)
		}
		total += size
	}
	if total+blankLen > s.cfg.SegmentSize {
		return results, fmt.Errorf("store: %w: a batch of %d bytes does not fit a segment of %d", ErrMessageTooLarge, total, s.cfg.SegmentSize)
	}
	results = append(results, make([]PutResult, len(msgs))...)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return results[:0], ErrClosed
	}
	now := s.cfg.Clock().UnixMilli()
	seg := s.reserve(total)
	q := s.queueForPut(msgs[0].Topic, msgs[0].QueueID)
	startPos, startNext := seg.pos, q.next
	for i := range msgs {
		// Sizes were checked: write fails only if storedSize and AppendStored disagree,
		// and then nothing has been published.
		if err := s.write(seg, &msgs[i], q, 0, now, &results[i]); err != nil {
			seg.pos, q.next = startPos, startNext
			s.mu.Unlock()
			return results[:0], err
		}
	}
	seg.written.Store(int64(seg.pos))
	s.maxCL.Store(seg.base + int64(seg.pos))
	q.publish()
	maxOff := q.next
	s.mu.Unlock()

	if s.cfg.OnArrival != nil {
		s.cfg.OnArrival(msgs[0].Topic, msgs[0].QueueID, maxOff)
	}
	last := &results[len(results)-1]
	return results, s.waitFlushed(last.CommitLogOffset + int64(last.StoreSize))
}

// check validates what the store needs of m and returns its stored size.
func (s *Store) check(m *message.Ext) (int, error) {
	switch {
	case m.Topic == "":
		return 0, fmt.Errorf("store: %w: no topic", ErrInvalidMessage)
	case m.QueueID < 0:
		return 0, fmt.Errorf("store: %w: queue id %d", ErrInvalidMessage, m.QueueID)
	case len(m.Body) > s.cfg.MaxMessageSize:
		return 0, fmt.Errorf("store: %w: body of %d bytes exceeds %d", ErrMessageTooLarge, len(m.Body), s.cfg.MaxMessageSize)
	}
	return storedSize(m, s.storeHost(m))
}

// storeHost is the host m is stored with: its own, or the store's.
func (s *Store) storeHost(m *message.Ext) netip.AddrPort {
	if m.StoreHost.IsValid() {
		return m.StoreHost
	}
	return s.cfg.StoreHost
}

// reserve returns the segment to write n bytes to, rolling when they do not fit with the
// end marker's 8 bytes to spare. Called with s.mu held; n fits an empty segment.
func (s *Store) reserve(n int) *segment {
	if seg := s.active; seg.pos+n+blankLen <= len(seg.buf) {
		return seg
	}
	s.roll()
	return s.active
}

// write encodes m at the segment's writer position, adds its consume queue entry to q
// (nil: not dispatched) without publishing, and advances the position. size is m's
// stored size, 0 to let the encoder say. Called with s.mu held.
func (s *Store) write(seg *segment, m *message.Ext, q *consumeQueue, size int, now int64, r *PutResult) error {
	pos := seg.pos
	var queueOffset int64 // Java stores 0 for a message that enters no queue
	if q != nil {
		queueOffset = q.next
	}
	e := &s.scratch
	*e = *m
	e.CommitLogOffset = seg.base + int64(pos)
	e.QueueOffset = queueOffset
	e.StoreTimestamp = now
	host := s.storeHost(m)
	e.StoreHost = host
	out, err := message.AppendStored(seg.buf[pos:pos], e)
	*e = message.Ext{} // retain nothing of the caller's
	switch {
	case err != nil:
		return fmt.Errorf("store: %w", err)
	case len(out) > len(seg.buf)-pos-blankLen || (size != 0 && len(out) != size) || (len(out) > 0 && &out[0] != &seg.buf[pos]):
		// Never reached while storedSize agrees with AppendStored.
		return fmt.Errorf("store: stored message of %d bytes at %d, %d expected", len(out), pos, size)
	}
	*r = PutResult{
		CommitLogOffset: seg.base + int64(pos),
		QueueOffset:     queueOffset,
		StoreTimestamp:  now,
		StoreSize:       int32(len(out)),
		StoreHost:       host,
	}
	if q != nil {
		propsLen := m.Properties.EncodedLen()
		q.add(cqEntry{
			clOffset:  r.CommitLogOffset,
			tagsCode:  tagsCode(m.Topic, out[len(out)-propsLen:], now, s.delays),
			storeTime: now,
			size:      r.StoreSize,
		})
	}
	seg.pos += len(out)
	return nil
}
