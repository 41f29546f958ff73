package store

import (
	"slices"
	"testing"

	"github.com/mqgate/mqgate/message"
)

// The cases of Java 4.9.4's DefaultMessageStore.getMessage on a master.
func TestGetStatus(t *testing.T) {
	s := openStore(t, Config{})
	for i := range 10 {
		tags := "TagA"
		if i%2 == 1 {
			tags = "TagB"
		}
		mustPut(t, s, newMsg("Q", 1, bodyOf(100, "m%d", i), tags))
	}
	rejectStored := rejectAllStored{}
	tests := []struct {
		name     string
		topic    string
		queueID  int32
		offset   int64
		maxMsgs  int32
		filter   Filter
		status   GetStatus
		next     int64
		min, max int64
		offsets  []int64
	}{
		{"queue never written, offset 0: NO_MESSAGE_IN_QUEUE next 0", "Other", 0, 0, 32, nil, NoMessageInQueue, 0, 0, 0, nil},
		{"queue never written, offset 5: NO_MESSAGE_IN_QUEUE next 0", "Other", 0, 5, 32, nil, NoMessageInQueue, 0, 0, 0, nil},
		{"another queue id of a written topic: NO_MESSAGE_IN_QUEUE", "Q", 7, 3, 32, nil, NoMessageInQueue, 0, 0, 0, nil},
		{"offset == max: OFFSET_OVERFLOW_ONE next offset", "Q", 1, 10, 32, nil, OffsetOverflowOne, 10, 0, 10, nil},
		{"offset > max: OFFSET_OVERFLOW_BADLY next max", "Q", 1, 1001, 32, nil, OffsetOverflowBadly, 10, 0, 10, nil},
		{"offset < min: OFFSET_TOO_SMALL next min", "Q", 1, -1, 32, nil, OffsetTooSmall, 0, 0, 10, nil},
		{"all from 0: FOUND next max", "Q", 1, 0, 32, nil, Found, 10, 0, 10, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"maxMsgs stops the batch: next is the first not returned", "Q", 1, 3, 4, nil, Found, 7, 0, 10, []int64{3, 4, 5, 6}},
		{"maxMsgs 0 still returns one message, as Java's isTheBatchFull", "Q", 1, 3, 0, nil, Found, 4, 0, 10, []int64{3}},
		{"negative maxMsgs returns one message too", "Q", 1, 3, -5, nil, Found, 4, 0, 10, []int64{3}},
		{"tag filter skips entries, next after the last scanned", "Q", 1, 0, 2, tagsIs("TagA"), Found, 3, 0, 10, []int64{0, 2}},
		{"tag filter from an odd offset", "Q", 1, 1, 32, tagsIs("TagB"), Found, 10, 0, 10, []int64{1, 3, 5, 7, 9}},
		{"no entry matches: NO_MATCHED_MESSAGE next max", "Q", 1, 0, 32, tagsIs("TagC"), NoMatchedMessage, 10, 0, 10, nil},
		{"the stored-message filter rejects all: NO_MATCHED_MESSAGE", "Q", 1, 4, 32, rejectStored, NoMatchedMessage, 10, 0, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Get(tt.topic, tt.queueID, tt.offset, tt.maxMsgs, tt.filter)
			if got.Status != tt.status || got.NextBeginOffset != tt.next || got.MinOffset != tt.min || got.MaxOffset != tt.max {
				t.Fatalf("got %v next %d min %d max %d; want %v next %d min %d max %d",
					got.Status, got.NextBeginOffset, got.MinOffset, got.MaxOffset, tt.status, tt.next, tt.min, tt.max)
			}
			if offs := queueOffsets(t, &got); !slices.Equal(offs, tt.offsets) {
				t.Fatalf("queue offsets %v, want %v", offs, tt.offsets)
			}
			total := 0
			for _, m := range got.Messages {
				total += len(m)
			}
			if total != got.TotalBytes {
				t.Fatalf("TotalBytes %d, messages hold %d", got.TotalBytes, total)
			}
		})
	}
	if got := NoMatchedLogicQueue.String(); got != "NO_MATCHED_LOGIC_QUEUE" {
		t.Fatalf("String() = %q", got)
	}
	if got := GetStatus(0).String(); got != "GetStatus(0)" {
		t.Fatalf("String() of the zero value = %q", got)
	}
}

type rejectAllStored struct{}

func (rejectAllStored) MatchTagsCode(int64) bool { return true }
func (rejectAllStored) MatchStored([]byte) bool  { return false }

func TestGetBatchLimits(t *testing.T) {
	t.Run("32 messages in memory", func(t *testing.T) {
		s := openStore(t, Config{})
		for i := range 40 {
			mustPut(t, s, newMsg("L", 0, bodyOf(10, "%d", i), ""))
		}
		got := s.Get("L", 0, 0, 64, nil)
		if got.Status != Found || len(got.Messages) != 32 || got.NextBeginOffset != 32 {
			t.Fatalf("%v %d messages next %d; want 32 and next 32", got.Status, len(got.Messages), got.NextBeginOffset)
		}
	})
	t.Run("256 KiB in memory", func(t *testing.T) {
		s := openStore(t, Config{})
		for i := range 5 {
			mustPut(t, s, newMsg("L", 0, bodyOf(100<<10, "%d", i), ""))
		}
		got := s.Get("L", 0, 1, 32, nil)
		if got.Status != Found || len(got.Messages) != 2 || got.NextBeginOffset != 3 {
			t.Fatalf("%v %d messages next %d; want 2 (a third passes 256 KiB) and next 3", got.Status, len(got.Messages), got.NextBeginOffset)
		}
	})
	t.Run("one message over 256 KiB is still returned", func(t *testing.T) {
		s := openStore(t, Config{})
		mustPut(t, s, newMsg("L", 0, bodyOf(300<<10, "big"), ""))
		mustPut(t, s, newMsg("L", 0, bodyOf(10, "small"), ""))
		got := s.Get("L", 0, 0, 32, nil)
		if got.Status != Found || len(got.Messages) != 1 || got.NextBeginOffset != 1 {
			t.Fatalf("%v %d messages next %d", got.Status, len(got.Messages), got.NextBeginOffset)
		}
	})
	t.Run("beyond the memory window: 8 messages", func(t *testing.T) {
		s := openStore(t, Config{MemoryWindow: 1})
		for i := range 20 {
			mustPut(t, s, newMsg("L", 0, bodyOf(10, "%d", i), ""))
		}
		got := s.Get("L", 0, 0, 32, nil)
		if got.Status != Found || len(got.Messages) != 8 || got.NextBeginOffset != 8 || !got.SuggestPullingFromSlave {
			t.Fatalf("%v %d messages next %d slave %v; want 8, next 8, slave suggested", got.Status, len(got.Messages), got.NextBeginOffset, got.SuggestPullingFromSlave)
		}
	})
	t.Run("beyond the memory window: 64 KiB", func(t *testing.T) {
		s := openStore(t, Config{MemoryWindow: 1})
		for i := range 5 {
			mustPut(t, s, newMsg("L", 0, bodyOf(30<<10, "%d", i), ""))
		}
		got := s.Get("L", 0, 0, 32, nil)
		if got.Status != Found || len(got.Messages) != 2 || got.NextBeginOffset != 2 {
			t.Fatalf("%v %d messages next %d; want 2", got.Status, len(got.Messages), got.NextBeginOffset)
		}
	})
	t.Run("a filter scans at most 800 entries", func(t *testing.T) {
		s := openStore(t, Config{})
		putMany(t, s, "L", 0, 1000, "TagB")
		got := s.Get("L", 0, 0, 32, tagsIs("TagA"))
		if got.Status != NoMatchedMessage || got.NextBeginOffset != 800 {
			t.Fatalf("%v next %d; want NO_MATCHED_MESSAGE next 800 (16000/20)", got.Status, got.NextBeginOffset)
		}
		got = s.Get("L", 0, 0, 1000, tagsIs("TagA"))
		if got.NextBeginOffset != 1000 {
			t.Fatalf("maxMsgs 1000: next %d; want 1000 (maxMsgs*20/20)", got.NextBeginOffset)
		}
	})
	t.Run("a scan stops at the end of Java's consume queue file", func(t *testing.T) {
		s := openStore(t, Config{})
		s.cqFileEntries = 100
		putMany(t, s, "L", 0, 150, "")
		got := s.Get("L", 0, 95, 32, nil)
		if got.Status != Found || len(got.Messages) != 5 || got.NextBeginOffset != 100 {
			t.Fatalf("%v %d messages next %d; want 5, next 100", got.Status, len(got.Messages), got.NextBeginOffset)
		}
		got = s.Get("L", 0, 98, 32, tagsIs("TagZ"))
		if got.Status != NoMatchedMessage || got.NextBeginOffset != 100 {
			t.Fatalf("filtered: %v next %d; want NO_MATCHED_MESSAGE next 100", got.Status, got.NextBeginOffset)
		}
	})
}

// putMany puts n small messages with tags in batches of 100.
func putMany(tb testing.TB, s *Store, topic string, queueID int32, n int, tags string) {
	tb.Helper()
	for n > 0 {
		k := min(n, 100)
		batch := make([]message.Ext, k)
		for i := range batch {
			batch[i] = *newMsg(topic, queueID, []byte("m"), tags)
		}
		if _, err := s.PutBatch(batch, nil); err != nil {
			tb.Fatal(err)
		}
		n -= k
	}
}

func TestGetIntoReusesTheResult(t *testing.T) {
	s := openStore(t, Config{})
	putMany(t, s, "R", 0, 64, "")
	var r GetResult
	s.GetInto(&r, "R", 0, 0, 32, nil)
	first := &r.Messages[:1][0]
	s.GetInto(&r, "R", 0, 32, 32, nil)
	if &r.Messages[:1][0] != first || r.NextBeginOffset != 64 || len(r.Messages) != 32 {
		t.Fatalf("the second call did not reuse Messages, or found %d next %d", len(r.Messages), r.NextBeginOffset)
	}
	s.GetInto(&r, "R", 0, 64, 32, nil)
	if r.Status != OffsetOverflowOne || len(r.Messages) != 0 || r.TotalBytes != 0 {
		t.Fatalf("%v %d messages %d bytes", r.Status, len(r.Messages), r.TotalBytes)
	}
}

// MESSAGE_WAS_REMOVING and OFFSET_FOUND_NULL happen when retention runs between a pull's
// min/max check and its read; the tests set up the state such a race leaves.
func TestGetDuringRetention(t *testing.T) {
	// setup puts 12 messages over two segments, then drops segment 0's bytes but not the
	// queue's entries, and returns the first queue offset whose bytes are left.
	setup := func(t *testing.T) (*Store, int64) {
		s := openStore(t, Config{SegmentSize: 4096})
		var firstLeft int64 = -1
		for i := range 12 { // ~7 per segment
			r := mustPut(t, s, newMsg("W", 0, bodyOf(450, "%d", i), ""))
			if r.CommitLogOffset >= 4096 && firstLeft < 0 {
				firstLeft = r.QueueOffset
			}
		}
		segs := s.segs.Load()
		s.segs.Store(&segTable{segs: segs.segs[1:]})
		return s, firstLeft
	}
	t.Run("entries whose bytes are gone are skipped", func(t *testing.T) {
		s, firstLeft := setup(t)
		got := s.Get("W", 0, 0, 2, nil)
		if offs := queueOffsets(t, &got); got.Status != Found || got.NextBeginOffset != firstLeft+2 || !slices.Equal(offs, []int64{firstLeft, firstLeft + 1}) {
			t.Fatalf("%v next %d offsets %v; want FOUND next %d", got.Status, got.NextBeginOffset, offs, firstLeft+2)
		}
	})
	t.Run("only entries whose bytes are gone: MESSAGE_WAS_REMOVING", func(t *testing.T) {
		s, firstLeft := setup(t)
		s.cqFileEntries = firstLeft // the scan ends where the bytes start again
		got := s.Get("W", 0, 0, 32, nil)
		if got.Status != MessageWasRemoving || got.NextBeginOffset != firstLeft || len(got.Messages) != 0 {
			t.Fatalf("%v next %d, %d messages; want MESSAGE_WAS_REMOVING next %d", got.Status, got.NextBeginOffset, len(got.Messages), firstLeft)
		}
	})
	t.Run("entries compacted away: OFFSET_FOUND_NULL next where they start", func(t *testing.T) {
		s, _ := setup(t)
		q := s.queue("W", 0)
		a := q.arr.Load()
		q.arr.Store(&cqEntries{first: 5, entries: a.entries[5:]})
		got := s.Get("W", 0, 2, 32, nil)
		if got.Status != OffsetFoundNull || got.NextBeginOffset != 5 {
			t.Fatalf("%v next %d; want OFFSET_FOUND_NULL next 5", got.Status, got.NextBeginOffset)
		}
	})
}
