package cowmap

import (
	"fmt"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[string, int]
	if _, ok := m.Load("a"); ok || m.Len() != 0 {
		t.Fatal("a zero Map has a key")
	}
	made := 0
	mk := func(v int) func() int { return func() int { made++; return v } }
	if got := m.LoadOrMake("a", mk(1)); got != 1 {
		t.Fatalf("LoadOrMake made %d, want 1", got)
	}
	if got := m.LoadOrMake("a", mk(2)); got != 1 || made != 1 {
		t.Fatalf("LoadOrMake of a present key gave %d after %d makes", got, made)
	}
	m.LoadOrMake("b", mk(2))
	if v, ok := m.Load("b"); !ok || v != 2 || m.Len() != 2 {
		t.Fatalf("b = %d, %v; %d keys", v, ok, m.Len())
	}
	seen := map[string]int{}
	m.Range(func(k string, v int) bool { seen[k] = v; return true })
	if fmt.Sprint(seen) != "map[a:1 b:2]" {
		t.Fatalf("Range saw %v", seen)
	}
	n := 0
	m.Range(func(string, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range went on after false: %d calls", n)
	}
}

// A map that keeps growing copies no more than maxCopied keys per write: the rest are kept
// beside it, found, ranged over and counted the same.
func TestMapSpills(t *testing.T) {
	var m Map[int, int]
	const n = 3 * maxCopied
	for i := range n {
		m.LoadOrMake(i, func() int { return -i })
	}
	if copied := len(*m.m.Load()); copied != maxCopied {
		t.Fatalf("%d keys copied, want %d", copied, maxCopied)
	}
	for i := range n {
		if v, ok := m.Load(i); !ok || v != -i {
			t.Fatalf("key %d: %d, %v", i, v, ok)
		}
		if v := m.LoadOrMake(i, func() int { t.Fatalf("key %d made twice", i); return 0 }); v != -i {
			t.Fatalf("key %d: LoadOrMake gave %d", i, v)
		}
	}
	seen := map[int]bool{}
	m.Range(func(k, v int) bool {
		if seen[k] || v != -k {
			t.Fatalf("Range gave %d=%d (seen before: %v)", k, v, seen[k])
		}
		seen[k] = true
		return true
	})
	if len(seen) != n || m.Len() != n {
		t.Fatalf("Range saw %d keys, Len %d, want %d", len(seen), m.Len(), n)
	}
	stops := 0
	m.Range(func(k, _ int) bool { stops++; return k != maxCopied+1 })
	if stops > n {
		t.Fatalf("Range went on after false")
	}
}

// Concurrent readers and writers of overlapping keys: every key made once, every reader
// seeing the one value (run with -race).
func TestMapConcurrent(t *testing.T) {
	var m Map[int, *int]
	var made sync.Map
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 400 {
				k := (i + 50*w) % 700 // 700 keys, most made concurrently, past maxCopied
				v := m.LoadOrMake(k, func() *int {
					if _, dup := made.LoadOrStore(k, true); dup {
						t.Errorf("key %d made twice", k)
					}
					return &k
				})
				if got, ok := m.Load(k); !ok || got != v {
					t.Errorf("key %d: Load gave %v, LoadOrMake %v", k, got, v)
				}
			}
		})
	}
	wg.Wait()
	if m.Len() != 700 {
		t.Fatalf("%d keys, want 700", m.Len())
	}
}

func BenchmarkLoad(b *testing.B) {
	type pair struct{ req, queue int32 } // a key of two fields
	var ints Map[uint64, int]
	var addrs Map[string, int]
	var s sync.Map
	for i := range 8 {
		ints.LoadOrMake(uint64(i)<<33, func() int { return i })
		addrs.LoadOrMake(fmt.Sprintf("10.0.0.%d:10911", i), func() int { return i })
		s.Store(pair{req: int32(i), queue: 1}, i)
	}
	addr := fmt.Sprintf("10.0.0.%d:10911", 3) // not the stored string: compared, not by pointer
	b.Run("cowmap/uint64", func(b *testing.B) {
		for b.Loop() {
			ints.Load(3 << 33)
		}
	})
	b.Run("cowmap/address", func(b *testing.B) {
		for b.Loop() {
			addrs.Load(addr)
		}
	})
	b.Run("sync.Map/struct", func(b *testing.B) {
		k := pair{req: 3, queue: 1}
		for b.Loop() {
			s.Load(k)
		}
	})
}

// Reading allocates nothing, and neither does LoadOrMake of a present key with a
// closure.
func TestLoadAllocatesNothing(t *testing.T) {
	var m Map[string, *int]
	v := 1
	m.LoadOrMake("a", func() *int { return &v })
	key := "a"
	if n := testing.AllocsPerRun(100, func() {
		m.Load(key)
		m.LoadOrMake(key, func() *int { return &v })
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
