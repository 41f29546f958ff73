package store

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// scanSegment validates the records of a segment's bytes from the start and calls visit
// for each valid message, with its commit log offset, in order; visit may reject one. It
// returns the length of the valid prefix, the offset the next segment starts at when the
// prefix ends with an end marker (else -1), and what is wrong at the end of the prefix
// (nil when it ends at a marker or at the end of data). Bytes after a marker are not
// looked at.
func scanSegment(data []byte, base int64, visit func(r *record, off int64) error) (valid int, next int64, err *CorruptError) {
	pos := 0
	for pos < len(data) {
		off := base + int64(pos)
		r, perr := parseRecord(data[pos:], true)
		if perr != nil {
			ce := perr.(*CorruptError)
			ce.Offset += off
			return pos, -1, ce
		}
		if r.blank {
			return pos + blankLen, off + int64(r.size), nil
		}
		if r.commitLogOffset != off {
			return pos, -1, &CorruptError{Offset: off, Reason: fmt.Sprintf("record claims commit log offset %d", r.commitLogOffset)}
		}
		if visit != nil {
			if err := visit(&r, off); err != nil {
				return pos, -1, &CorruptError{Offset: off, Reason: err.Error()}
			}
		}
		pos += r.size
	}
	return pos, -1, nil
}

// segmentFileName is a file of the commit log directory and the offset it is named by.
type segmentFileName struct {
	base int64
	path string
}

// parseSegmentName returns the start offset a segment file is named by: 20 decimal digits.
func parseSegmentName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	for _, c := range []byte(name) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name, 10, 64)
	return n, err == nil
}

// rebuilder rebuilds the consume queues from the records recovery visits.
type rebuilder struct {
	s      *Store
	topics map[string]map[int32]*consumeQueue
}

// queuesOf returns topic's queues, made empty when it has none yet.
func (rb *rebuilder) queuesOf(topic string) map[int32]*consumeQueue {
	queues := rb.topics[topic]
	if queues == nil {
		queues = map[int32]*consumeQueue{}
		rb.topics[topic] = queues
	}
	return queues
}

func (rb *rebuilder) visit(r *record, off int64) error {
	if !dispatched(r.sysFlag) {
		return nil
	}
	queues := rb.queuesOf(string(r.topic))
	q := queues[r.queueID]
	if q == nil {
		// The first message retained of a queue: the queue starts there.
		q = newConsumeQueue(string(r.topic), r.queueID, r.queueOffset)
		queues[r.queueID] = q
	} else if r.queueOffset != q.next {
		return fmt.Errorf("queue offset %d in %s/%d, which is at %d", r.queueOffset, q.topic, q.id, q.next)
	}
	q.add(cqEntry{
		clOffset:  off,
		tagsCode:  tagsCode(q.topic, r.props, r.storeTimestamp, rb.s.delays),
		storeTime: r.storeTimestamp,
		size:      int32(r.size),
	})
	return nil
}

// recover reads the commit log files of dir, truncates them after the last valid record,
// and rebuilds the segments and consume queues. It leaves s.segs, s.active, s.maxCL and
// s.topics set.
func (s *Store) recover(dir string) error {
	dirents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: reading the commit log directory: %w", err)
	}
	var files []segmentFileName
	for _, d := range dirents {
		base, ok := parseSegmentName(d.Name())
		if !ok || !d.Type().IsRegular() {
			s.log.Warn("ignoring a file that is not a commit log segment", "path", filepath.Join(dir, d.Name()))
			continue
		}
		files = append(files, segmentFileName{base: base, path: filepath.Join(dir, d.Name())})
	}
	slices.SortFunc(files, func(a, b segmentFileName) int { return cmp.Compare(a.base, b.base) })

	rb := &rebuilder{s: s, topics: map[string]map[int32]*consumeQueue{}}
	var segs []*segment
	var active *segment
	expect, atLeast := int64(-1), int64(0) // where the next file must start, exactly or at least
	for i, f := range files {
		if (expect >= 0 && f.base != expect) || (expect < 0 && f.base < atLeast) {
			s.log.Warn("commit log truncated: a segment does not start where the previous one ends",
				"path", f.path, "starts", f.base, "previous_ends", max(expect, atLeast))
			if err := removeFiles(dir, files[i:]); err != nil {
				return err
			}
			break
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("store: reading commit log segment: %w", err)
		}
		valid, next, cerr := scanSegment(data, f.base, rb.visit)
		if cerr != nil {
			s.log.Warn("commit log truncated at an invalid record", "path", f.path,
				"offset", cerr.Offset, "reason", cerr.Reason, "bytes_dropped", len(data)-valid)
		}
		if valid < len(data) {
			if err := truncateFile(f.path, int64(valid)); err != nil {
				return err
			}
		}
		last := i == len(files)-1
		switch {
		case cerr != nil || (next < 0 && last):
			// The segment to write on: the rest of the log is gone or never was.
			active = s.activeFrom(f.base, data[:valid])
			if err := removeFiles(dir, files[i+1:]); err != nil {
				return err
			}
		case next >= 0:
			segs = append(segs, sealedSegment(f.base, next, data[:valid]))
			expect, atLeast = next, 0
		default:
			// Ends without a marker, and a later file exists: a roll whose marker never
			// reached the disk. The next file's name says where the next segment starts.
			segs = append(segs, sealedSegment(f.base, f.base+int64(valid), data[:valid]))
			expect, atLeast = -1, f.base+int64(valid)
		}
		if active != nil {
			break
		}
	}
	if active == nil {
		base := int64(0)
		if len(segs) > 0 {
			base = max(expect, atLeast)
		}
		active = newSegment(base, s.cfg.SegmentSize)
	}
	segs = append(segs, active)
	s.segs.Store(&segTable{segs: segs})
	s.active = active
	s.maxCL.Store(active.base + int64(active.pos))

	// A queue retention emptied has no record left to rebuild it from: it starts at its
	// saved offset, as Java's keeps its last consume queue file, so that its offsets go on
	// from there instead of starting over at 0.
	var saved queueOffsetsFile
	if _, err := LoadJSON(queueOffsetsPath(s.cfg.Dir), &saved); err != nil {
		s.log.Warn("the queues' saved offsets are unreadable: a queue retention emptied starts again at 0", "err", err)
		saved = queueOffsetsFile{} // nothing of what a failed decoding left
	}
	for _, q := range saved.Queues {
		if q.Topic == "" || q.MaxOffset < 0 {
			continue // not written by the store
		}
		if queues := rb.queuesOf(q.Topic); queues[q.QueueID] == nil {
			queues[q.QueueID] = newConsumeQueue(q.Topic, q.QueueID, q.MaxOffset)
		}
	}

	topics := make(map[string]*topicQueues, len(rb.topics))
	for name, queues := range rb.topics {
		for _, q := range queues {
			q.publish()
		}
		t := new(topicQueues)
		t.queues.Store(&queues)
		topics[name] = t
	}
	s.topics.Store(&topics)
	return nil
}

// activeFrom makes the segment to append to from a recovered segment's valid bytes.
func (s *Store) activeFrom(base int64, data []byte) *segment {
	seg := newSegment(base, max(s.cfg.SegmentSize, len(data)))
	copy(seg.buf, data)
	seg.pos = len(data)
	seg.written.Store(int64(len(data)))
	seg.flushed = int64(len(data))
	return seg
}

// sealedSegment makes a recovered segment that takes no more records.
func sealedSegment(base, next int64, data []byte) *segment {
	seg := &segment{base: base, next: next, buf: data, pos: len(data), flushed: int64(len(data))}
	seg.written.Store(int64(len(data)))
	seg.sealed.Store(true)
	return seg
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("store: truncating commit log segment: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: truncating commit log segment %s: %w", path, err)
	}
	return nil
}

func removeFiles(dir string, files []segmentFileName) error {
	if len(files) == 0 {
		return nil
	}
	for _, f := range files {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: removing commit log segment after the truncation: %w", err)
		}
	}
	return syncDir(dir)
}
