package store

import (
	"cmp"
	"path/filepath"
	"slices"
	"sync/atomic"
)

// cqFileEntries is the number of entries in one of Java's consume queue files
// (mappedFileSizeConsumeQueue / 20). A pull scans no further than the end of the file its
// offset is in, and a search by time searches one file, so the store keeps the boundary.
const cqFileEntries = 300000

// cqEntry is a consume queue entry: Java's 20-byte unit (commit log offset, size, tags
// code) plus the store timestamp that Java reads from the commit log when it searches.
type cqEntry struct {
	clOffset  int64
	tagsCode  int64
	storeTime int64
	size      int32
}

// cqEntries holds a queue's entries from queue offset first on. Its slice is never
// resliced: the writer fills entries past the published max offset, which readers do not
// look at, and replaces the whole struct when it needs room.
type cqEntries struct {
	first   int64
	entries []cqEntry
}

// at returns the entry at queue offset off, which must be below a max offset loaded
// before e.
func (e *cqEntries) at(off int64) (cqEntry, bool) {
	i := off - e.first
	if i < 0 || i >= int64(len(e.entries)) {
		return cqEntry{}, false
	}
	return e.entries[i], true
}

// consumeQueue is one (topic, queue id). Readers load min, then max, then entries; the
// writer (holding Store.mu) writes entries, then stores max.
type consumeQueue struct {
	topic string
	id    int32
	min   atomic.Int64 // the first offset still served
	max   atomic.Int64 // the next offset to be written: published entries are below it
	arr   atomic.Pointer[cqEntries]

	next int64 // writer-owned: offset of the next entry, = max between puts
}

const minQueueCap = 16

func newConsumeQueue(topic string, id int32, first int64) *consumeQueue {
	q := &consumeQueue{topic: topic, id: id, next: first}
	q.min.Store(first)
	q.max.Store(first)
	q.arr.Store(&cqEntries{first: first, entries: make([]cqEntry, minQueueCap)})
	return q
}

// add writes the entry for offset q.next without publishing it.
func (q *consumeQueue) add(e cqEntry) {
	a := q.arr.Load()
	if q.next-a.first >= int64(len(a.entries)) {
		a = q.realloc(2 * (q.next - q.min.Load()))
	}
	a.entries[q.next-a.first] = e
	q.next++
}

// publish makes the entries added so far visible.
func (q *consumeQueue) publish() { q.max.Store(q.next) }

// realloc moves the live entries (from min) into a new array of capacity n.
func (q *consumeQueue) realloc(n int64) *cqEntries {
	old := q.arr.Load()
	from := q.min.Load()
	a := &cqEntries{first: from, entries: make([]cqEntry, max(n, minQueueCap))}
	copy(a.entries, old.entries[from-old.first:q.next-old.first])
	q.arr.Store(a)
	return a
}

// dropBelow moves min to the first entry whose message is at or after commit log offset
// minCL (Java's correctMinOffset), to max when there is none, and frees the array's
// dead half when it has one.
func (q *consumeQueue) dropBelow(minCL int64) {
	a := q.arr.Load()
	lo, hi := q.min.Load()-a.first, q.next-a.first
	i, _ := slices.BinarySearchFunc(a.entries[lo:hi], minCL, func(e cqEntry, t int64) int { return cmp.Compare(e.clOffset, t) })
	newMin := a.first + lo + int64(i)
	q.min.Store(newMin)
	if live := q.next - newMin; newMin-a.first > int64(len(a.entries))/2 {
		q.realloc(2 * live)
	}
}

// topicQueues are one topic's queues, by id; the map is replaced, never modified.
type topicQueues struct {
	queues atomic.Pointer[map[int32]*consumeQueue]
}

// queue returns the consume queue (topic, id), or nil.
func (s *Store) queue(topic string, id int32) *consumeQueue {
	t := (*s.topics.Load())[topic]
	if t == nil {
		return nil
	}
	return (*t.queues.Load())[id]
}

// queueForPut returns the consume queue (topic, id), creating it empty when it does not
// exist. Called with s.mu held.
func (s *Store) queueForPut(topic string, id int32) *consumeQueue {
	if q := s.queue(topic, id); q != nil {
		return q
	}
	return s.createQueue(topic, id, 0)
}

// createQueue adds a queue whose first offset is first. Called with s.mu held.
func (s *Store) createQueue(topic string, id int32, first int64) *consumeQueue {
	topics := *s.topics.Load()
	t := topics[topic]
	if t == nil {
		t = new(topicQueues)
		empty := map[int32]*consumeQueue{}
		t.queues.Store(&empty)
		next := make(map[string]*topicQueues, len(topics)+1)
		for k, v := range topics {
			next[k] = v
		}
		next[topic] = t
		s.topics.Store(&next)
	}
	old := *t.queues.Load()
	queues := make(map[int32]*consumeQueue, len(old)+1)
	for k, v := range old {
		queues[k] = v
	}
	q := newConsumeQueue(topic, id, first)
	queues[id] = q
	t.queues.Store(&queues)
	return q
}

// allQueues returns every consume queue, in no order.
func (s *Store) allQueues() []*consumeQueue {
	var qs []*consumeQueue
	for _, t := range *s.topics.Load() {
		for _, q := range *t.queues.Load() {
			qs = append(qs, q)
		}
	}
	return qs
}

// queueOffsetsFile is queueOffsets.json in a file-mode store's directory: every queue's
// max offset when retention last dropped commit log segments, saved before their files are
// deleted. Consume queues are rebuilt from the commit log, and one whose every message
// was dropped has no record left to rebuild it from.
type queueOffsetsFile struct {
	Queues []savedQueue `json:"queues"`
}

type savedQueue struct {
	Topic     string `json:"topic"`
	QueueID   int32  `json:"queueId"`
	MaxOffset int64  `json:"maxOffset"`
}

func queueOffsetsPath(dir string) string { return filepath.Join(dir, "queueOffsets.json") }

// queueOffsets returns every queue's max offset. Called with s.mu held, so that no put
// moves them meanwhile.
func (s *Store) queueOffsets() *queueOffsetsFile {
	qs := s.allQueues()
	f := &queueOffsetsFile{Queues: make([]savedQueue, 0, len(qs))}
	for _, q := range qs {
		f.Queues = append(f.Queues, savedQueue{Topic: q.topic, QueueID: q.id, MaxOffset: q.max.Load()})
	}
	return f
}

// QueueInfo describes a consume queue.
type QueueInfo struct {
	Topic     string
	QueueID   int32
	MinOffset int64
	MaxOffset int64
}

// Queues lists every consume queue that holds or held a message (one emptied by retention
// stays, with min == max), by topic then queue id.
func (s *Store) Queues() []QueueInfo {
	qs := s.allQueues()
	infos := make([]QueueInfo, 0, len(qs))
	for _, q := range qs {
		minOff := q.min.Load()
		infos = append(infos, QueueInfo{Topic: q.topic, QueueID: q.id, MinOffset: minOff, MaxOffset: q.max.Load()})
	}
	slices.SortFunc(infos, func(a, b QueueInfo) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.QueueID, b.QueueID))
	})
	return infos
}

// MinOffset returns the first queue offset still served (Java's getMinOffsetInQueue): 0
// for a queue that has no message, as Java creates it on the spot.
func (s *Store) MinOffset(topic string, queueID int32) int64 {
	if q := s.queue(topic, queueID); q != nil {
		return q.min.Load()
	}
	return 0
}

// MaxOffset returns the offset the next message of the queue will get (Java's
// getMaxOffsetInQueue): 0 for a queue that has no message.
func (s *Store) MaxOffset(topic string, queueID int32) int64 {
	if q := s.queue(topic, queueID); q != nil {
		return q.max.Load()
	}
	return 0
}

// QueueEntry is a consume queue entry: where its message is in the commit log and its
// tags code (for SCHEDULE_TOPIC_XXXX, the delivery time in milliseconds).
type QueueEntry struct {
	CommitLogOffset int64
	Size            int32
	TagsCode        int64
	StoreTimestamp  int64
}

// Entry returns the entry at a queue offset, which must be in [MinOffset, MaxOffset): the
// unit Java's schedule service reads from the consume queue. ok is false outside, and for
// an entry retention dropped meanwhile.
func (s *Store) Entry(topic string, queueID int32, offset int64) (QueueEntry, bool) {
	q := s.queue(topic, queueID)
	if q == nil || offset < q.min.Load() || offset >= q.max.Load() {
		return QueueEntry{}, false
	}
	e, ok := q.arr.Load().at(offset)
	if !ok {
		return QueueEntry{}, false
	}
	return QueueEntry{CommitLogOffset: e.clOffset, Size: e.size, TagsCode: e.tagsCode, StoreTimestamp: e.storeTime}, true
}
