package store

import "testing"

func TestSearchOffset(t *testing.T) {
	clock := newFakeClock(0)
	s := openStore(t, Config{Clock: clock.now})
	for _, ts := range []int64{1000, 1000, 2000, 3000, 5000} { // offsets 0..4
		clock.set(ts)
		mustPut(t, s, newMsg("S", 0, nil, ""))
	}
	tests := []struct {
		name string
		ts   int64
		want int64
	}{
		{"before the first message: the first", 500, 0},
		{"exactly a message's time", 2000, 2},
		{"a time two messages share: the one the binary search meets", 1000, 0},
		{"after the last message: the last, not max", 9999, 4},
		{"between two: the closer earlier one", 3900, 3},
		{"between two: the closer later one", 4100, 4},
		{"between two, equally close: the earlier", 4000, 3},
		{"zero", 0, 0},
		{"negative", -5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.SearchOffset("S", 0, tt.ts); got != tt.want {
				t.Fatalf("SearchOffset(%d) = %d, want %d", tt.ts, got, tt.want)
			}
		})
	}
	if got := s.SearchOffset("S", 1, 1000); got != 0 {
		t.Fatalf("a queue without messages: %d, want 0", got)
	}
	if got := s.EarliestMessageTime("S", 0); got != 1000 {
		t.Fatalf("EarliestMessageTime = %d", got)
	}
	if got := s.StoreTimestamp("S", 0, 3); got != 3000 {
		t.Fatalf("StoreTimestamp(3) = %d", got)
	}
}

// Java searches one consume queue file: the first whose last write is at or after the
// time, else the last.
func TestSearchOffsetAcrossConsumeQueueFiles(t *testing.T) {
	clock := newFakeClock(0)
	s := openStore(t, Config{Clock: clock.now})
	s.cqFileEntries = 4
	for i := range 10 { // offset i stored at 100*i; files [0,4) [4,8) [8,10)
		clock.set(int64(100 * i))
		mustPut(t, s, newMsg("S", 0, nil, ""))
	}
	tests := []struct {
		name string
		ts   int64
		want int64
	}{
		{"in the first file, equally close: the earlier", 250, 2},
		{"in the second file, equally close: the earlier", 650, 6},
		{"the last write of a file", 300, 3},
		{"after the last message: the last", 2000, 9},
		{"before the first message: the first", -100, 0},
		{"in the last file", 880, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.SearchOffset("S", 0, tt.ts); got != tt.want {
				t.Fatalf("SearchOffset(%d) = %d, want %d", tt.ts, got, tt.want)
			}
		})
	}
}
