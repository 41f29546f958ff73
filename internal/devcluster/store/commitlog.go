package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/mqgate/mqgate/message"
)

// segment is one commit log segment: a buffer filled from the start and never reused.
type segment struct {
	base int64  // commit log offset of buf[0]
	next int64  // where the following segment starts: base + the segment's size
	buf  []byte // bytes below written are published and never change

	// written is the length of the published prefix: whole records, then the end marker
	// once sealed. It is stored after the bytes are written.
	written atomic.Int64
	// sealed is set after the end marker's written: written is then final.
	sealed atomic.Bool

	pos int // writer-owned (Store.mu): end of the records written

	// flusher-owned
	file    segmentFile
	flushed int64 // bytes on disk
}

func newSegment(base int64, size int) *segment {
	return &segment{base: base, next: base + int64(size), buf: make([]byte, size)}
}

// segTable is an immutable snapshot of the retained segments, ascending.
type segTable struct {
	segs []*segment
}

// find returns the segment holding commit log offset off, or nil.
func (t *segTable) find(off int64) *segment {
	lo, hi := 0, len(t.segs) // the first segment starting after off is at hi
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.segs[mid].base <= off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil
	}
	if seg := t.segs[lo-1]; off < seg.next {
		return seg
	}
	return nil
}

// slice returns the published bytes [off, off+size), or false when they are not retained.
func (t *segTable) slice(off int64, size int32) ([]byte, bool) {
	seg := t.find(off)
	if seg == nil || size < 0 {
		return nil, false
	}
	p, end := off-seg.base, off-seg.base+int64(size)
	if end > seg.written.Load() {
		return nil, false
	}
	return seg.buf[p:end:end], true
}

func (t *segTable) first() int64 { return t.segs[0].base }

// roll ends the active segment with Java's end marker and starts the next one; then
// retention may drop the oldest segments. Called with s.mu held.
func (s *Store) roll() {
	old := s.active
	if left := len(old.buf) - old.pos; left >= blankLen {
		binary.BigEndian.PutUint32(old.buf[old.pos:], uint32(left))
		binary.BigEndian.PutUint32(old.buf[old.pos+4:], blankBits)
		old.written.Store(int64(old.pos + blankLen))
	}
	old.sealed.Store(true)

	seg := newSegment(old.next, s.cfg.SegmentSize)
	t := s.segs.Load()
	s.segs.Store(&segTable{segs: append(slices.Clip(t.segs), seg)})
	s.active = seg
	s.maxCL.Store(seg.base)
	s.retain()
}

// retain drops the oldest segments while the segments hold more than MaxBytes, never the
// active one, and moves the consume queues' min offsets past what was dropped. Called
// with s.mu held.
func (s *Store) retain() {
	if s.cfg.MaxBytes < 0 {
		return
	}
	t := s.segs.Load()
	var total int64
	for _, seg := range t.segs {
		total += int64(len(seg.buf))
	}
	drop := 0
	for total > s.cfg.MaxBytes && drop < len(t.segs)-1 {
		total -= int64(len(t.segs[drop].buf))
		drop++
	}
	if drop == 0 {
		return
	}
	minCL := t.segs[drop].base
	// Queues first, so that fewer readers find an entry whose bytes are gone.
	for _, q := range s.allQueues() {
		q.dropBelow(minCL)
	}
	s.segs.Store(&segTable{segs: slices.Clone(t.segs[drop:])})
	if s.flusher != nil {
		s.dropped = append(s.dropped, t.segs[:drop]...)
		s.dropOffsets = s.queueOffsets()
		s.flusher.kickNow()
	}
	s.log.Info("commit log retention dropped segments", "from", t.segs[0].base, "to", minCL, "bytes", total)
}

// ReadAt returns the stored message that starts at commit log offset off, as stored (the
// layout of a PULL_MESSAGE body), aliasing the commit log: see the package documentation
// for its lifetime. It fails with ErrNotFound when no message starts there: Java's
// lookMessageByOffset, for VIEW_MESSAGE_BY_ID, CONSUMER_SEND_MSG_BACK and transactions.
func (s *Store) ReadAt(off int64) ([]byte, error) {
	seg := s.segs.Load().find(off)
	if seg == nil {
		return nil, fmt.Errorf("store: %w at commit log offset %d: not retained", ErrNotFound, off)
	}
	p, w := off-seg.base, seg.written.Load()
	if p >= w {
		return nil, fmt.Errorf("store: %w at commit log offset %d: not written", ErrNotFound, off)
	}
	rec, err := parseRecord(seg.buf[p:w], false)
	switch {
	case err != nil:
		return nil, fmt.Errorf("store: %w at commit log offset %d: %v", ErrNotFound, off, err.(*CorruptError).Reason)
	case rec.blank:
		return nil, fmt.Errorf("store: %w at commit log offset %d: end of segment", ErrNotFound, off)
	case rec.commitLogOffset != off:
		return nil, fmt.Errorf("store: %w at commit log offset %d: the record there claims offset %d", ErrNotFound, off, rec.commitLogOffset)
	}
	end := p + int64(rec.size)
	return seg.buf[p:end:end], nil
}

// Lookup returns the message stored at commit log offset off, decoded. Its body aliases
// the commit log and stays compressed when it was stored compressed (SysFlag says so), as
// Java's lookMessageByOffset leaves it; do not modify it.
func (s *Store) Lookup(off int64) (message.Ext, error) {
	raw, err := s.ReadAt(off)
	if err != nil {
		return message.Ext{}, err
	}
	d := message.Decoder{ZeroCopy: true, KeepCompressed: true}
	msgs, err := d.DecodeStored(nil, raw)
	if err != nil || len(msgs) != 1 {
		return message.Ext{}, fmt.Errorf("store: %w at commit log offset %d: %v", ErrNotFound, off, err)
	}
	return msgs[0], nil
}

// MinCommitLogOffset returns the commit log offset of the oldest retained segment (Java's
// getMinPhyOffset).
func (s *Store) MinCommitLogOffset() int64 { return s.segs.Load().first() }

// MaxCommitLogOffset returns the commit log offset the next message would be written at,
// unless it rolls (Java's getMaxPhyOffset).
func (s *Store) MaxCommitLogOffset() int64 { return s.maxCL.Load() }
