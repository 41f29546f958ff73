package allocate

import (
	"crypto/md5"
	"encoding/binary"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultVirtualNodes is the virtual node count of AllocateMessageQueueConsistentHash's
// default constructor.
const DefaultVirtualNodes = 10

// MaxVirtualNodes bounds the virtual node counts the gateway and the consistenthash
// plugin accept: the ring of clients × virtual nodes is built at every rebalance whose
// clients changed, so a huge count runs a rebalance out of its deadline, or of memory.
const MaxVirtualNodes = 1000

// ConsistentHash is AllocateMessageQueueConsistentHash with Java's default MD5 hash:
// every client is put on a ring virtualNodes times, at the hash of "clientId-i"; each
// queue goes to the first node at or after the hash of its name (queueNames[i], Java's
// MessageQueue.toString), wrapping around. The hash is the first four bytes of the MD5 of
// the UTF-8 string, big-endian, unsigned. As in Java's TreeMap, a node whose hash collides
// with an earlier one replaces it, and a client listed twice gets further replicas
// numbered after those it still has on the ring.
//
// A negative virtualNodes is Java's IllegalArgumentException; like zero, it yields an
// empty ring and no queues.
//
// The rings of the last calls are kept, and each client's node hashes: a ring is clients ×
// virtualNodes MD5 sums (300,000 for 300 clients at the bound, over 100 ms in a
// WebAssembly guest), while a group rebalances on the same clients again and again, and a
// client joining adds only its own.
func ConsistentHash(self string, clients []string, queueNames []string, virtualNodes int) []int {
	if !valid(self, clients, len(queueNames)) || virtualNodes <= 0 {
		return nil
	}
	rings.Lock()
	defer rings.Unlock()
	r := rings.get(clients, virtualNodes)
	var out []int
	for i, q := range queueNames {
		if clients[r.route(q)] == self {
			out = append(out, i)
		}
	}
	return out
}

// ring is Java's ConsistentHashRouter over a TreeMap<Long, VirtualNode>: its nodes sorted,
// each the hash in the high 32 bits and the index of its client in the low ones, the
// hashes unique.
type ring struct {
	clients []string // owned copies: the plugin's are views of its input
	nodes   int      // virtual nodes per client
	ring    []uint64
}

// route is routeNode: the client of the first node of tailMap(hash), else of the first
// of the ring.
func (r *ring) route(key string) int {
	h := uint64(md5Hash([]byte(key))) << 32
	i, _ := slices.BinarySearch(r.ring, h) // the first node whose hash is at least h
	if i == len(r.ring) {
		i = 0
	}
	return int(uint32(r.ring[i]))
}

// Cache bounds: rings of at most ringCacheNodes nodes together, counted by their arrays'
// capacity (the newest is kept whatever its size), and the node hashes of their clients.
const (
	ringCacheRings = 4
	ringCacheNodes = 1 << 19
)

// ringCache holds the newest rings first, and the node hashes of their clients for
// virtual node count nodes.
type ringCache struct {
	sync.Mutex
	rings  []*ring
	nodes  int
	hashes map[string][]uint32 // client -> hashes of "client-0" .. "client-(nodes-1)"
	key    []byte
	tmp    []uint64
}

var rings ringCache

func (c *ringCache) get(clients []string, nodes int) *ring {
	for i, r := range c.rings {
		if r.nodes == nodes && slices.Equal(r.clients, clients) {
			copy(c.rings[1:i+1], c.rings[:i])
			c.rings[0] = r
			return r
		}
	}
	r := &ring{clients: make([]string, len(clients)), nodes: nodes}
	for i, cl := range clients {
		r.clients[i] = strings.Clone(cl)
	}
	// Keep the newest, then the most recent others while they fit (their arrays, which may
	// be larger). The array of one that does not is reused for the new ring: a new one for
	// every ring of 300,000 nodes ran a guest out of its 32 MiB, its garbage collector
	// letting the heap double.
	newest, size := []*ring{r}, len(clients)*nodes
	var spare []uint64
	for _, o := range c.rings {
		if len(newest) < ringCacheRings && size+cap(o.ring) <= ringCacheNodes {
			newest, size = append(newest, o), size+cap(o.ring)
		} else if cap(o.ring) > cap(spare) {
			spare = o.ring
		}
	}
	c.rings = newest
	if !listedTwice(r.clients) {
		r.ring = c.build(r.clients, nodes, spare)
	} else {
		r.ring = buildListedTwice(r.clients, nodes)
	}
	// Forget the hashes of clients in no kept ring.
	kept := map[string]bool{}
	for _, r := range c.rings {
		if r.nodes == c.nodes {
			for _, cl := range r.clients {
				kept[cl] = true
			}
		}
	}
	for cl := range c.hashes {
		if !kept[cl] {
			delete(c.hashes, cl)
		}
	}
	return r
}

func listedTwice(clients []string) bool {
	seen := make(map[string]bool, len(clients))
	for _, c := range clients {
		if seen[c] {
			return true
		}
		seen[c] = true
	}
	return false
}

// build makes the ring of clients, none listed twice, in spare if it is large enough,
// from their node hashes (computed only for the clients whose hashes are not kept) with a
// radix sort, linear: a comparison sort of 300,000 nodes took a WebAssembly guest 45 ms.
func (c *ringCache) build(clients []string, nodes int, spare []uint64) []uint64 {
	if c.nodes != nodes || c.hashes == nil {
		c.nodes, c.hashes = nodes, map[string][]uint32{}
	}
	keys := slices.Grow(spare[:0], len(clients)*nodes)
	for j, cl := range clients {
		hs := c.hashes[cl]
		if hs == nil {
			hs = make([]uint32, nodes)
			c.key = nodeHashes(hs, cl, c.key)
			c.hashes[cl] = hs
		}
		for _, h := range hs {
			keys = append(keys, uint64(h)<<32|uint64(j))
		}
	}
	// Stable on the hash, 11 bits a pass: nodes of one hash stay in the order they were put.
	tmp := slices.Grow(c.tmp[:0], len(keys))[:len(keys)]
	for shift := 32; shift < 64; shift += 11 {
		var count [1 << 11]int
		for _, k := range keys {
			count[k>>shift&(1<<11-1)]++
		}
		sum := 0
		for i, n := range count {
			count[i], sum = sum, sum+n
		}
		for _, k := range keys {
			d := k >> shift & (1<<11 - 1)
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	c.tmp = tmp[:0]
	return dedupe(keys)
}

// dedupe keeps, of the nodes sorted by hash, the last put of each hash: TreeMap.put
// replaces the value.
func dedupe(keys []uint64) []uint64 {
	out := keys[:0]
	for i, k := range keys {
		if i+1 < len(keys) && keys[i+1]>>32 == k>>32 {
			continue
		}
		out = append(out, k)
	}
	return out
}

// buildListedTwice makes the ring node by node, as Java's ConsistentHashRouter: a client
// listed again gets replicas numbered from the count of its nodes on the ring, which
// depends on which of them later nodes replaced.
func buildListedTwice(clients []string, nodes int) []uint64 {
	owner := make(map[uint32]int, len(clients)*nodes)
	onRing := map[string]int{} // getExistingReplicas: a client's nodes still on the ring
	var key []byte
	for j, c := range clients {
		existing := onRing[c]
		for i := range nodes {
			key = strconv.AppendInt(append(append(key[:0], c...), '-'), int64(i+existing), 10)
			h := md5Hash(key)
			if prev, ok := owner[h]; ok {
				onRing[clients[prev]]-- // TreeMap.put replaces the value
			}
			owner[h] = j
			onRing[c]++
		}
	}
	out := make([]uint64, 0, len(owner))
	for h, j := range owner {
		out = append(out, uint64(h)<<32|uint64(j))
	}
	slices.Sort(out)
	return out
}

// md5Hash is ConsistentHashRouter.MD5Hash.hash: the first four digest bytes as an
// unsigned big-endian number (Java keeps it in a long, so it is never negative).
func md5Hash(b []byte) uint32 {
	if runtime.GOARCH == "wasm" && len(b) <= 55 {
		return md5First(b)
	}
	d := md5.Sum(b)
	return binary.BigEndian.Uint32(d[:4])
}
