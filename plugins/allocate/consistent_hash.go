package allocate

import (
	"crypto/md5"
	"encoding/binary"
	"slices"
	"strconv"
)

// DefaultVirtualNodes is the virtual node count of AllocateMessageQueueConsistentHash's
// default constructor.
const DefaultVirtualNodes = 10

// MaxVirtualNodes bounds the virtual node counts the gateway and the consistenthash
// plugin accept: the ring of clients × virtual nodes is built at every rebalance, so a
// huge count runs a rebalance out of its deadline, or of memory.
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
func ConsistentHash(self string, clients []string, queueNames []string, virtualNodes int) []int {
	if !valid(self, clients, len(queueNames)) || virtualNodes <= 0 {
		return nil
	}
	r := newRing(clients, virtualNodes)
	var out []int
	for i, q := range queueNames {
		if r.route(q) == self {
			out = append(out, i)
		}
	}
	return out
}

type node struct {
	hash   uint32
	client string
}

// ring is Java's ConsistentHashRouter over a TreeMap<Long, VirtualNode>.
type ring struct{ nodes []node } // sorted by hash, hashes unique

func newRing(clients []string, virtualNodes int) *ring {
	// A map and one sort, not a sorted insert per node, which is quadratic in the ring.
	owner := make(map[uint32]string, len(clients)*virtualNodes)
	onRing := map[string]int{} // getExistingReplicas: a client's nodes still on the ring
	var key []byte
	for _, c := range clients {
		existing := onRing[c]
		for i := range virtualNodes {
			key = append(append(append(key[:0], c...), '-'), strconv.Itoa(i+existing)...)
			h := md5Hash(key)
			if prev, ok := owner[h]; ok {
				onRing[prev]-- // TreeMap.put replaces the value
			}
			owner[h] = c
			onRing[c]++
		}
	}
	r := &ring{nodes: make([]node, 0, len(owner))}
	for h, c := range owner {
		r.nodes = append(r.nodes, node{hash: h, client: c})
	}
	slices.SortFunc(r.nodes, func(a, b node) int { return cmpUint32(a.hash, b.hash) })
	return r
}

// route is routeNode: the first node of tailMap(hash), else the first of the ring.
func (r *ring) route(key string) string {
	h := md5Hash([]byte(key))
	i, _ := slices.BinarySearchFunc(r.nodes, h, func(n node, h uint32) int {
		return cmpUint32(n.hash, h)
	})
	if i == len(r.nodes) {
		i = 0
	}
	return r.nodes[i].client
}

// md5Hash is ConsistentHashRouter.MD5Hash.hash: the first four digest bytes as an
// unsigned big-endian number (Java keeps it in a long, so it is never negative).
func md5Hash(b []byte) uint32 {
	d := md5.Sum(b)
	return binary.BigEndian.Uint32(d[:4])
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
