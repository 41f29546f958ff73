package namesrv

import (
	"cmp"
	"slices"
	"unicode/utf8"
)

// The NameServer's answers list brokers, queues and topics in the order Java's HashMaps
// and HashSets iterate them: by bucket (the key's String.hashCode, spread, masked by the
// table size), and within a bucket in insertion order. A value copied from one hash table
// into another keeps the source order within each bucket of the destination. The tables
// here remember an insertion sequence number per key so that the order can be rebuilt.

// hashTable is a java.util.HashMap (or HashSet) by its constructor's capacity argument.
type hashTable struct {
	initial int // 0 for the default constructor (16)
}

// size is the table length once n keys are in: tableSizeFor(initial), doubled whenever
// the size exceeds three quarters of it.
func (t hashTable) size(n int) uint32 {
	s := uint32(16)
	if t.initial > 0 {
		s = 1
		for int(s) < t.initial {
			s <<= 1
		}
	}
	for s < 1<<30 && n > int(s/4*3) {
		s <<= 1
	}
	return s
}

// Capacities of RouteInfoManager's tables and of the sets it builds.
var (
	topicQueueTable = hashTable{initial: 1024}
	defaultTable    = hashTable{}
)

// seqKey is a key with its insertion sequence number.
type seqKey struct {
	key string
	seq uint64
}

// javaOrder returns the keys in the order a table of kind t iterates them when they were
// inserted in the order of keys. Call it on the result of another javaOrder to follow a
// copy from one table to the next.
func javaOrder(keys []string, t hashTable) []string {
	size := t.size(len(keys))
	slices.SortStableFunc(keys, func(a, b string) int {
		return cmp.Compare(javaBucket(a, size), javaBucket(b, size))
	})
	return keys
}

// bySeq returns the keys in insertion order.
func bySeq(ks []seqKey) []string {
	slices.SortFunc(ks, func(a, b seqKey) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.key
	}
	return out
}

// javaBucket is the bucket of key in a HashMap table of the given size.
func javaBucket(key string, size uint32) uint32 {
	h := javaStringHash(key)
	return (h ^ h>>16) & (size - 1)
}

// javaStringHash is String.hashCode over UTF-16 code units.
func javaStringHash(s string) uint32 {
	var h uint32
	for _, r := range s {
		if r == utf8.RuneError {
			r = 0xFFFD
		}
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + uint32(0xD800+(r>>10))
			h = 31*h + uint32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + uint32(r)
	}
	return h
}
