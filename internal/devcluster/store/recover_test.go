package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// written is what a test put: each message's result and stored bytes.
type written struct {
	results []PutResult
	raw     [][]byte
}

// writeMessages puts n messages round-robin on two queues of topic P and keeps copies.
func writeMessages(tb testing.TB, s *Store, w *written, n int) {
	tb.Helper()
	for range n {
		k := len(w.results)
		r := mustPut(tb, s, newMsg("P", int32(k%2), bodyOf(300+k%7, "message %d", k), fmt.Sprintf("Tag%d", k%3)))
		raw, err := s.ReadAt(r.CommitLogOffset)
		if err != nil {
			tb.Fatal(err)
		}
		w.results = append(w.results, r)
		w.raw = append(w.raw, bytes.Clone(raw))
	}
}

// checkServes checks that s serves exactly the first n messages of w, through Get and ReadAt.
func checkServes(tb testing.TB, s *Store, w *written, n int) {
	tb.Helper()
	for q := range int32(2) {
		var want [][]byte
		for i := q; i < int32(n); i += 2 {
			want = append(want, w.raw[i])
		}
		if got := s.MaxOffset("P", q); got != int64(len(want)) {
			tb.Fatalf("queue %d: max offset %d, want %d", q, got, len(want))
		}
		var got [][]byte
		for off := int64(0); off < int64(len(want)); {
			r := s.Get("P", q, off, 32, nil)
			if r.Status != Found {
				tb.Fatalf("queue %d at %d: %v", q, off, r.Status)
			}
			for _, m := range r.Messages {
				got = append(got, bytes.Clone(m))
			}
			off = r.NextBeginOffset
		}
		for i := range want {
			equalBytes(tb, fmt.Sprintf("queue %d message %d", q, i), got[i], want[i])
		}
	}
	for i := range n {
		raw, err := s.ReadAt(w.results[i].CommitLogOffset)
		if err != nil {
			tb.Fatalf("ReadAt message %d: %v", i, err)
		}
		equalBytes(tb, fmt.Sprintf("message %d", i), raw, w.raw[i])
	}
	if n < len(w.results) {
		if _, err := s.ReadAt(w.results[n].CommitLogOffset); err == nil && w.results[n].CommitLogOffset >= s.MaxCommitLogOffset() {
			tb.Fatalf("message %d, truncated, is still served", n)
		}
	}
}

func TestPersistence(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("flush interval %v", interval), func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{Dir: dir, SegmentSize: 4096, FlushInterval: interval}
			s := openStore(t, cfg)
			var w written
			writeMessages(t, s, &w, 40) // several segments
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, cfg)
			checkServes(t, s, &w, 40)
			if got := s.SearchOffset("P", 0, w.results[10].StoreTimestamp); got < 0 || got > 20 {
				t.Fatalf("search after reopening: %d", got)
			}
			// New puts continue where the log ended.
			end := w.results[39].CommitLogOffset + int64(w.results[39].StoreSize)
			r := mustPut(t, s, newMsg("P", 0, []byte("after"), ""))
			if r.QueueOffset != 20 || (r.CommitLogOffset != end && r.CommitLogOffset%4096 != 0) {
				t.Fatalf("put after reopening: %+v, log ended at %d", r, end)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, cfg)
			if got := s.MaxOffset("P", 0); got != 21 {
				t.Fatalf("max offset after the second reopen %d, want 21", got)
			}
		})
	}
}

func TestRecoveryTruncatesAtTheFirstInvalidRecord(t *testing.T) {
	type damage struct {
		name  string
		apply func(t *testing.T, path string, w *written, segBase int64)
		keep  int // messages served after reopening
	}
	lastOff := func(w *written, segBase int64, i int) int64 { return w.results[i].CommitLogOffset - segBase }
	tests := []damage{
		{"a partial record appended", func(t *testing.T, path string, w *written, _ int64) {
			appendFile(t, path, w.raw[3][:50])
		}, 10},
		{"a record cut in its header", func(t *testing.T, path string, w *written, segBase int64) {
			cutFile(t, path, lastOff(w, segBase, 9)+6)
		}, 9},
		{"a record cut in its body", func(t *testing.T, path string, w *written, segBase int64) {
			cutFile(t, path, lastOff(w, segBase, 9)+int64(w.results[9].StoreSize)-5)
		}, 9},
		{"a byte flipped in the last body", func(t *testing.T, path string, w *written, segBase int64) {
			flipByte(t, path, lastOff(w, segBase, 9)+int64(w.results[9].StoreSize)-40)
		}, 9},
		{"a byte flipped in the 8th record's size", func(t *testing.T, path string, w *written, segBase int64) {
			flipByte(t, path, lastOff(w, segBase, 7)+2)
		}, 7},
		{"the 6th record's magic code broken", func(t *testing.T, path string, w *written, segBase int64) {
			flipByte(t, path, lastOff(w, segBase, 6)+5)
		}, 6},
		{"the 5th record's commit log offset changed", func(t *testing.T, path string, w *written, segBase int64) {
			flipByte(t, path, lastOff(w, segBase, 5)+offCommitLog+7)
		}, 5},
		{"the 4th record's queue offset skips one", func(t *testing.T, path string, w *written, segBase int64) {
			flipByte(t, path, lastOff(w, segBase, 4)+offQueueOffset+7)
		}, 4},
		{"garbage appended", func(t *testing.T, path string, w *written, _ int64) {
			appendFile(t, path, []byte("\x00\x00\x01\x00garbage that is not a record at all"))
		}, 10},
		{"zeros appended, as a preallocated file has", func(t *testing.T, path string, w *written, _ int64) {
			appendFile(t, path, make([]byte, 1000))
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{Dir: dir, SegmentSize: 64 << 10}
			s := openStore(t, cfg)
			var w written
			writeMessages(t, s, &w, 10)
			s.Close()
			path := filepath.Join(dir, "commitlog", segmentName(0))
			tt.apply(t, path, &w, 0)

			s = openStore(t, cfg)
			checkServes(t, s, &w, tt.keep)
			wantLen := int64(0)
			if tt.keep > 0 {
				wantLen = w.results[tt.keep-1].CommitLogOffset + int64(w.results[tt.keep-1].StoreSize)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != wantLen {
				t.Fatalf("file size %v, want it truncated to %d (%v)", fi.Size(), wantLen, err)
			}
			if s.MaxCommitLogOffset() != wantLen {
				t.Fatalf("max commit log offset %d, want %d", s.MaxCommitLogOffset(), wantLen)
			}
			// New puts continue at the truncated position, with the next queue offsets.
			r := mustPut(t, s, newMsg("P", int32(tt.keep%2), []byte("after"), ""))
			if r.CommitLogOffset != wantLen || r.QueueOffset != int64(tt.keep/2) {
				t.Fatalf("put after recovery at %d/%d, want %d/%d", r.CommitLogOffset, r.QueueOffset, wantLen, tt.keep/2)
			}
			s.Close()
			s = openStore(t, cfg)
			if got := s.MaxCommitLogOffset(); got != wantLen+int64(r.StoreSize) {
				t.Fatalf("after the next reopen the log ends at %d, want %d", got, wantLen+int64(r.StoreSize))
			}
		})
	}
}

func TestRecoveryAcrossSegmentRolls(t *testing.T) {
	const seg = 4096
	// setup writes messages over three segments and returns where segment 1 ends its
	// records (its end marker's position).
	setup := func(t *testing.T) (string, *written, Config) {
		dir := t.TempDir()
		cfg := Config{Dir: dir, SegmentSize: seg}
		s := openStore(t, cfg)
		var w written
		writeMessages(t, s, &w, 30)
		s.Close()
		return dir, &w, cfg
	}
	// firstIn returns the index of the first message in the segment starting at base.
	firstIn := func(w *written, base int64) int {
		for i, r := range w.results {
			if r.CommitLogOffset >= base {
				return i
			}
		}
		return len(w.results)
	}
	path := func(dir string, base int64) string { return filepath.Join(dir, "commitlog", segmentName(base)) }

	t.Run("end marker lost, next segment exists: both kept", func(t *testing.T) {
		dir, w, cfg := setup(t)
		end := w.results[firstIn(w, seg)-1]
		cutFile(t, path(dir, 0), end.CommitLogOffset+int64(end.StoreSize))
		s := openStore(t, cfg)
		checkServes(t, s, w, 30)
	})
	t.Run("end marker torn: the next segments are removed", func(t *testing.T) {
		dir, w, cfg := setup(t)
		i := firstIn(w, seg)
		end := w.results[i-1].CommitLogOffset + int64(w.results[i-1].StoreSize)
		cutFile(t, path(dir, 0), end+4)
		s := openStore(t, cfg)
		checkServes(t, s, w, i)
		if names := segmentFiles(t, dir); !slices.Equal(names, []string{segmentName(0)}) {
			t.Fatalf("files %v", names)
		}
		if r := mustPut(t, s, newMsg("P", int32(i%2), []byte("x"), "")); r.CommitLogOffset != end {
			t.Fatalf("put after recovery at %d, want %d", r.CommitLogOffset, end)
		}
	})
	lastBase := func(w *written) int64 {
		return w.results[len(w.results)-1].CommitLogOffset / seg * seg
	}
	t.Run("crash after the marker, before the last segment's first write", func(t *testing.T) {
		dir, w, cfg := setup(t)
		last := lastBase(w)
		i := firstIn(w, last)
		os.Remove(path(dir, last))
		s := openStore(t, cfg)
		checkServes(t, s, w, i)
		if r := mustPut(t, s, newMsg("P", int32(i%2), []byte("x"), "")); r.CommitLogOffset != last {
			t.Fatalf("put after recovery at %d, want %d", r.CommitLogOffset, last)
		}
	})
	t.Run("the last segment created but empty", func(t *testing.T) {
		dir, w, cfg := setup(t)
		last := lastBase(w)
		i := firstIn(w, last)
		cutFile(t, path(dir, last), 0)
		s := openStore(t, cfg)
		checkServes(t, s, w, i)
		if r := mustPut(t, s, newMsg("P", int32(i%2), []byte("x"), "")); r.CommitLogOffset != last {
			t.Fatalf("put after recovery at %d, want %d", r.CommitLogOffset, last)
		}
	})
	t.Run("a middle segment emptied: what follows is truncated, its queue offsets skip", func(t *testing.T) {
		dir, w, cfg := setup(t)
		i := firstIn(w, seg)
		cutFile(t, path(dir, seg), 0)
		s := openStore(t, cfg)
		checkServes(t, s, w, i)
		if r := mustPut(t, s, newMsg("P", int32(i%2), []byte("x"), "")); r.CommitLogOffset != 2*seg || r.QueueOffset != int64(i/2) {
			t.Fatalf("put after recovery at %d/%d, want %d/%d", r.CommitLogOffset, r.QueueOffset, 2*seg, i/2)
		}
	})
	t.Run("a segment that does not start where the previous ends is removed", func(t *testing.T) {
		dir, w, cfg := setup(t)
		last := lastBase(w)
		i := firstIn(w, last)
		if err := os.Rename(path(dir, last), path(dir, last+100)); err != nil {
			t.Fatal(err)
		}
		s := openStore(t, cfg)
		checkServes(t, s, w, i)
		if names := segmentFiles(t, dir); slices.Contains(names, segmentName(last+100)) {
			t.Fatalf("files %v", names)
		}
	})
	t.Run("the oldest segment deleted: queues start at their first message left", func(t *testing.T) {
		dir, w, cfg := setup(t)
		os.Remove(path(dir, 0))
		s := openStore(t, cfg)
		i := firstIn(w, seg)
		for q := range int32(2) {
			want := int64(0)
			for j := i; j < len(w.results); j++ {
				if int32(j%2) == q {
					want = w.results[j].QueueOffset
					break
				}
			}
			if got := s.MinOffset("P", q); got != want {
				t.Fatalf("queue %d: min %d, want %d", q, got, want)
			}
			if got := s.Get("P", q, 0, 32, nil); got.Status != OffsetTooSmall || got.NextBeginOffset != want {
				t.Fatalf("queue %d at 0: %v next %d", q, got.Status, got.NextBeginOffset)
			}
		}
	})
	t.Run("files that are not segments are left alone", func(t *testing.T) {
		dir, w, cfg := setup(t)
		other := filepath.Join(dir, "commitlog", "README")
		os.WriteFile(other, []byte("hello"), 0o644)
		s := openStore(t, cfg)
		checkServes(t, s, w, 30)
		if _, err := os.Stat(other); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecoveryAppliesRetention(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir, SegmentSize: 4096})
	var w written
	writeMessages(t, s, &w, 40)
	s.Close()
	s = openStore(t, Config{Dir: dir, SegmentSize: 4096, MaxBytes: 2 * 4096})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Fatalf("%d files left, want 2", n)
	}
	if s.MinOffset("P", 0) == 0 {
		t.Fatal("min offset did not move")
	}
}

// failingFile fails its writes while fail is set.
type failingFile struct {
	segmentFile
	fail *bool
	mu   *sync.Mutex
}

func (f failingFile) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.fail {
		return 0, errors.New("disk on fire")
	}
	return f.segmentFile.WriteAt(b, off)
}

func TestFlushFailureIsReportedAndRetried(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	var mu sync.Mutex
	fail := true
	open := s.flusher.open
	s.flusher.open = func(path string) (segmentFile, error) {
		f, err := open(path)
		if err != nil {
			return nil, err
		}
		return failingFile{f, &fail, &mu}, nil
	}
	r, err := s.Put(newMsg("F", 0, []byte("stored anyway"), ""))
	if !errors.Is(err, ErrFlushFailed) {
		t.Fatalf("Put: %v, want ErrFlushFailed", err)
	}
	if got := s.Get("F", 0, r.QueueOffset, 1, nil); got.Status != Found {
		t.Fatalf("the message must be visible: %v", got.Status)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if _, err := s.Put(newMsg("F", 0, []byte("second"), "")); err != nil {
		t.Fatalf("Put after the disk healed: %v", err)
	}
	s.Close()
	s = openStore(t, Config{Dir: dir})
	if got := s.MaxOffset("F", 0); got != 2 {
		t.Fatalf("after reopening: max %d, want 2 (the retry wrote the first)", got)
	}
}

func appendFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}

func cutFile(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
}

func flipByte(tb testing.TB, path string, at int64) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	data[at] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestCloseStopsTheFlusher(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, interval := range []time.Duration{0, time.Millisecond} {
		s, err := Open(Config{Dir: t.TempDir(), FlushInterval: interval, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, newMsg("G", 0, []byte("x"), ""))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("a second Close: %v", err)
		}
		if err := s.Flush(); !errors.Is(err, ErrClosed) && err != nil {
			t.Fatalf("Flush after Close: %v", err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}
