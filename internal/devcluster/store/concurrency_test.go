package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqgate/mqgate/message"
)

// Producers put (single and batches) on three queues while consumers pull them, retention
// drops segments and admin reads run: every message read must be whole, at its queue
// offset, in each producer's order, and every offset between a consumer's start and the
// end must be read once unless retention dropped it first.
func TestConcurrentPutGet(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testConcurrentPutGet(t, "") })
	t.Run("files, flushed on every put", func(t *testing.T) { testConcurrentPutGet(t, t.TempDir()) })
}

func testConcurrentPutGet(t *testing.T, dir string) {
	const (
		producers   = 6
		perProducer = 300
		queues      = 3
	)
	var arrivals atomic.Int64
	s := openStore(t, Config{Dir: dir, SegmentSize: 64 << 10, MaxBytes: 256 << 10,
		OnArrival: func(string, int32, int64) { arrivals.Add(1) }})

	var wg sync.WaitGroup
	done := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := int32(p % queues)
			var batch []message.Ext
			var results []PutResult
			for i := 0; i < perProducer; {
				if i%50 < 40 {
					_, err := s.Put(newMsg("C", q, bodyOf(50+(i*37)%350, "p=%d seq=%06d;", p, i), ""))
					if err != nil {
						t.Error(err)
						return
					}
					i++
					continue
				}
				batch = batch[:0]
				for k := 0; k < 8 && i < perProducer; k++ {
					batch = append(batch, *newMsg("C", q, bodyOf(60, "p=%d seq=%06d;", p, i), ""))
					i++
				}
				var err error
				if results, err = s.PutBatch(batch, results); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}

	var readers sync.WaitGroup
	var read, skipped [queues]int64
	for q := range int32(queues) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := map[string]string{} // producer -> last seq read
			var res GetResult
			off := int64(0)
			finished := false
			for {
				select {
				case <-done:
					finished = true
				default:
				}
				s.GetInto(&res, "C", q, off, 32, nil)
				switch res.Status {
				case Found:
					// Entries whose bytes retention dropped while the read ran are skipped,
					// even ahead of the first message found.
					next := off
					for _, raw := range res.Messages {
						at, err := checkStored(s, raw, q, next, last)
						if err != nil {
							t.Error(err)
							return
						}
						skipped[q] += at - next
						next = at + 1
					}
					skipped[q] += res.NextBeginOffset - next
					read[q] += int64(len(res.Messages))
				case OffsetTooSmall, OffsetFoundNull, MessageWasRemoving:
					// Retention dropped these entries: before the read began (too small), or
					// while it ran (their consume queue entries, or their commit log bytes).
					skipped[q] += res.NextBeginOffset - off
				case NoMessageInQueue, OffsetOverflowOne:
					if finished && off == s.MaxOffset("C", q) {
						return
					}
				default:
					t.Errorf("queue %d at %d: %v", q, off, res.Status)
					return
				}
				off = res.NextBeginOffset
			}
		}()
	}
	readers.Add(1)
	go func() { // admin reads
		defer readers.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, qi := range s.Queues() {
				if qi.MinOffset > qi.MaxOffset {
					t.Errorf("%v: min above max", qi)
				}
				s.SearchOffset(qi.Topic, qi.QueueID, 0)
				s.EarliestMessageTime(qi.Topic, qi.QueueID)
			}
		}
	}()
	wg.Wait()
	close(done)
	readers.Wait()

	total := int64(0)
	for q := range int32(queues) {
		max := s.MaxOffset("C", q)
		if max != producers/queues*perProducer {
			t.Errorf("queue %d: max %d, want %d", q, max, producers/queues*perProducer)
		}
		if read[q]+skipped[q] != max {
			t.Errorf("queue %d: read %d + skipped %d != %d", q, read[q], skipped[q], max)
		}
		total += read[q]
	}
	if s.MinCommitLogOffset() == 0 {
		t.Error("retention never ran; the test should exercise it")
	}
	if arrivals.Load() == 0 || total == 0 {
		t.Errorf("arrivals %d, read %d", arrivals.Load(), total)
	}
	if dir == "" {
		return
	}
	// Everything retained was flushed: reopening finds the same queues.
	want := s.Queues()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Config{Dir: dir, SegmentSize: 64 << 10, MaxBytes: 256 << 10})
	if got := s.Queues(); !slices.Equal(got, want) {
		t.Fatalf("after reopening: %v, want %v", got, want)
	}
}

// checkStored checks a pulled message: it decodes with a valid CRC, sits in queue q at
// offset off or beyond (when retention dropped the entries before it), is what ReadAt
// returns at its commit log offset, and follows the previous message of its producer. It
// returns the message's queue offset.
func checkStored(s *Store, raw []byte, q int32, off int64, last map[string]string) (int64, error) {
	msgs, err := message.DecodeStored(raw)
	if err != nil || len(msgs) != 1 {
		return 0, fmt.Errorf("queue %d at %d: %d messages, %v", q, off, len(msgs), err)
	}
	e := &msgs[0]
	if e.QueueID != q || e.QueueOffset < off || e.BodyCRC != message.BodyCRC(e.Body) {
		return 0, fmt.Errorf("queue %d at %d: read queue %d offset %d crc %d/%d", q, off, e.QueueID, e.QueueOffset, e.BodyCRC, message.BodyCRC(e.Body))
	}
	if at, err := s.ReadAt(e.CommitLogOffset); err == nil && !bytes.Equal(at, raw) {
		return 0, fmt.Errorf("queue %d at %d: ReadAt(%d) differs", q, off, e.CommitLogOffset)
	}
	var p, seq string
	if _, err := fmt.Sscanf(string(e.Body), "p=%s seq=%s", &p, &seq); err != nil {
		return 0, fmt.Errorf("queue %d at %d: body %q", q, off, e.Body[:min(len(e.Body), 30)])
	}
	if prev, ok := last[p]; ok && seq <= prev {
		return 0, fmt.Errorf("queue %d at %d: producer %s seq %s after %s", q, off, p, seq, prev)
	}
	last[p] = seq
	return e.QueueOffset, nil
}
