package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRetentionDropsWholeOldestSegments(t *testing.T) {
	clock := newFakeClock(1000)
	s := openStore(t, Config{SegmentSize: 4096, MaxBytes: 3 * 4096, Clock: clock.now})
	var results []PutResult
	var first []byte
	for i := range 60 { // ~530 bytes each: 7 per segment, 9 segments
		clock.advance(10)
		q := int32(i % 2)
		results = append(results, mustPut(t, s, newMsg("R", q, bodyOf(400, "m%d", i), "")))
		if i == 0 {
			got := s.Get("R", 0, 0, 1, nil)
			first = got.Messages[0]
		}
	}
	firstCopy := bytes.Clone(first)
	minCL := s.MinCommitLogOffset()
	if minCL == 0 || minCL%4096 != 0 || s.MaxCommitLogOffset()-minCL > 3*4096 {
		t.Fatalf("commit log [%d, %d): want whole segments dropped down to 3", minCL, s.MaxCommitLogOffset())
	}
	for q := range int32(2) {
		minOff := s.MinOffset("R", q)
		var wantMin int64 = -1
		for i, r := range results {
			if int32(i%2) == q && r.CommitLogOffset >= minCL {
				wantMin = r.QueueOffset
				break
			}
		}
		if minOff != wantMin {
			t.Fatalf("queue %d: min offset %d, want %d (first entry in the commit log)", q, minOff, wantMin)
		}
		got := s.Get("R", q, 0, 32, nil)
		if got.Status != OffsetTooSmall || got.NextBeginOffset != minOff || got.MinOffset != minOff || got.MaxOffset != 30 {
			t.Fatalf("queue %d at 0: %v next %d min %d max %d; want OFFSET_TOO_SMALL next %d", q, got.Status, got.NextBeginOffset, got.MinOffset, got.MaxOffset, minOff)
		}
		got = s.Get("R", q, minOff, 32, nil)
		if got.Status != Found || got.NextBeginOffset != 30 {
			t.Fatalf("queue %d at min: %v next %d", q, got.Status, got.NextBeginOffset)
		}
		if want := results[2*minOff+int64(q)].StoreTimestamp; s.EarliestMessageTime("R", q) != want {
			t.Fatalf("queue %d: earliest time %d, want %d", q, s.EarliestMessageTime("R", q), want)
		}
		if got := s.SearchOffset("R", q, 0); got != minOff {
			t.Fatalf("queue %d: search before everything gives %d, want the min %d", q, got, minOff)
		}
	}
	if _, err := s.ReadAt(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadAt of a dropped offset: %v", err)
	}
	if !bytes.Equal(first, firstCopy) {
		t.Fatal("a message read before its segment was dropped changed")
	}
}

// emptyOldQueue puts 3 messages in queue Old/0, then in New/0 enough for retention (of a
// store of 4 KiB segments and MaxBytes) to drop every one of them.
func emptyOldQueue(t *testing.T, s *Store) {
	t.Helper()
	for i := range 3 {
		mustPut(t, s, newMsg("Old", 0, bodyOf(1000, "%d", i), ""))
	}
	for i := range 10 {
		mustPut(t, s, newMsg("New", 0, bodyOf(1000, "%d", i), ""))
	}
	if min, max := s.MinOffset("Old", 0), s.MaxOffset("Old", 0); min != 3 || max != 3 {
		t.Fatalf("Old/0: min %d max %d; want 3 and 3, every message dropped", min, max)
	}
}

func TestRetentionEmptiesAQueue(t *testing.T) {
	s := openStore(t, Config{SegmentSize: 4096, MaxBytes: 4096})
	emptyOldQueue(t, s)
	tests := []struct {
		offset int64
		status GetStatus
		next   int64
	}{
		{0, OffsetTooSmall, 3},
		{3, OffsetOverflowOne, 3},
		{4, OffsetOverflowBadly, 3},
	}
	for _, tt := range tests {
		if got := s.Get("Old", 0, tt.offset, 32, nil); got.Status != tt.status || got.NextBeginOffset != tt.next {
			t.Errorf("at %d: %v next %d; want %v next %d", tt.offset, got.Status, got.NextBeginOffset, tt.status, tt.next)
		}
	}
	if s.EarliestMessageTime("Old", 0) != -1 {
		t.Fatal("earliest time of an emptied queue: want -1")
	}
	if got := s.SearchOffset("Old", 0, 0); got != 0 {
		t.Fatalf("search in an emptied queue: %d, want 0 as Java's empty file search", got)
	}
}

func TestRetentionDeletesFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir, SegmentSize: 4096, MaxBytes: 2 * 4096})
	for i := range 40 {
		mustPut(t, s, newMsg("R", 0, bodyOf(500, "%d", i), ""))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	names := segmentFiles(t, dir)
	want := []string{segmentName(s.MinCommitLogOffset()), segmentName(s.MinCommitLogOffset() + 4096)}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
}

func segmentFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "commitlog"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A queue whose every message retention dropped keeps its offsets across a restart: its
// next message takes the offset after its last, as on a Java broker, which keeps the last
// file of every consume queue. (Rebuilt from the commit log alone, it started again at 0,
// under the offsets its consumers had committed.)
func TestRetentionKeepsAnEmptiedQueuesOffsetsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, SegmentSize: 4096, MaxBytes: 4096}
	s := openStore(t, cfg)
	emptyOldQueue(t, s)
	want := s.Queues()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for restart := range 2 { // the second finds the queue in the saved offsets only
		s = openStore(t, cfg)
		if got := s.Queues(); !slices.Equal(got, want) {
			t.Fatalf("restart %d: queues %v, want %v", restart, got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, cfg)
	if r := mustPut(t, s, newMsg("Old", 0, []byte("after"), "")); r.QueueOffset != 3 {
		t.Fatalf("the next message of the emptied queue took offset %d, want 3", r.QueueOffset)
	}
}

// Saved offsets that do not decode are ignored whole: the store opens, its queues as the
// commit log holds them.
func TestUnreadableSavedOffsetsAreIgnored(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, SegmentSize: 4096, MaxBytes: 4096}
	s := openStore(t, cfg)
	for i := range 10 {
		mustPut(t, s, newMsg("New", 0, bodyOf(1000, "%d", i), ""))
	}
	want := s.Queues()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(queueOffsetsPath(dir), []byte(`{"queues": [{"topic": "Gone", "queueId": 0, "maxOffset": 7}, {"topic": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	if got := s.Queues(); !slices.Equal(got, want) {
		t.Fatalf("queues %v, want %v", got, want)
	}
}
