package allocate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// javaRing is the ring as Java's ConsistentHashRouter builds it, a node at a time into a
// map (TreeMap.put): the reference the cached, radix-sorted rings must equal.
func javaRing(clients []string, virtualNodes int) (owner map[uint32]string, put int) {
	owner = map[uint32]string{}
	onRing := map[string]int{}
	for _, c := range clients {
		existing := onRing[c]
		for i := range virtualNodes {
			h := md5Hash([]byte(c + "-" + strconv.Itoa(i+existing)))
			if prev, ok := owner[h]; ok {
				onRing[prev]--
			}
			owner[h] = c
			onRing[c]++
			put++
		}
	}
	return owner, put
}

func javaConsistentHash(self string, clients, queueNames []string, virtualNodes int) []int {
	if !valid(self, clients, len(queueNames)) || virtualNodes <= 0 {
		return nil
	}
	owner, _ := javaRing(clients, virtualNodes)
	return javaRoute(owner, self, queueNames)
}

// javaRoute answers self's queues on the ring owner: Java's tailMap, else firstKey.
func javaRoute(owner map[uint32]string, self string, queueNames []string) []int {
	hashes := make([]uint32, 0, len(owner))
	for h := range owner {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes)
	var out []int
	for i, q := range queueNames {
		j, _ := slices.BinarySearch(hashes, md5Hash([]byte(q)))
		if owner[hashes[j%len(hashes)]] == self {
			out = append(out, i)
		}
	}
	return out
}

// The kept rings and node hashes change no answer: sequences of calls that hit them,
// miss them and evict them answer as rings built afresh, the Java way.
func TestConsistentHashCacheAnswersAsJava(t *testing.T) {
	names := make([]string, 96)
	for i := range names {
		names[i] = Queue{Topic: "T", BrokerName: fmt.Sprintf("broker-%d", i/16), QueueID: int32(i % 16)}.String()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	groups := make([][]string, 8) // more groups than rings kept
	for g := range groups {
		for range 1 + rng.IntN(40) {
			groups[g] = append(groups[g], fmt.Sprintf("10.0.%d.%d@%d", rng.IntN(2), rng.IntN(30), rng.IntN(9)))
		}
		if g%3 == 0 {
			groups[g] = append(groups[g], groups[g][0]) // a client listed twice
		}
	}
	for i := range 3000 {
		g := rng.IntN(len(groups))
		clients := groups[g]
		if rng.IntN(4) == 0 { // a client joins or leaves
			if c := fmt.Sprintf("10.1.0.%d@%d", rng.IntN(50), i); rng.IntN(2) == 0 || len(clients) < 2 {
				clients = append(slices.Clip(clients), c)
			} else {
				clients = slices.Delete(slices.Clone(clients), 0, 1)
			}
			groups[g] = clients
		}
		nodes := []int{1, 3, 10, 10, 10, 160}[rng.IntN(6)]
		qs := names[:1+rng.IntN(len(names))]
		self := clients[rng.IntN(len(clients))]
		got, want := ConsistentHash(self, clients, qs, nodes), javaConsistentHash(self, clients, qs, nodes)
		if !slices.Equal(got, want) {
			t.Fatalf("call %d: %s of %d clients, %d nodes, %d queues: %v, Java %v", i, self, len(clients), nodes, len(qs), got, want)
		}
	}
}

// At the largest ring allowed, nodes collide (the hash has 32 bits): the later put wins.
func TestConsistentHashLargestRingAnswersAsJava(t *testing.T) {
	clients := make([]string, 300)
	for i := range clients {
		clients[i] = fmt.Sprintf("10.0.%d.%d@%d", i/250, i%250, 4000+i)
	}
	owner, put := javaRing(clients, MaxVirtualNodes)
	if len(owner) == put {
		t.Fatal("no two nodes collide: the test tests no collision")
	}
	rings.Lock()
	r := rings.get(clients, MaxVirtualNodes)
	rings.Unlock()
	if len(r.ring) != len(owner) {
		t.Fatalf("%d nodes, Java %d", len(r.ring), len(owner))
	}
	for _, n := range r.ring {
		if h, c := uint32(n>>32), clients[uint32(n)]; owner[h] != c {
			t.Fatalf("node %08x is %s's, Java's %s's", h, c, owner[h])
		}
	}
	names := make([]string, 4096)
	for i := range names {
		names[i] = Queue{Topic: "T", BrokerName: fmt.Sprintf("broker-%d", i/16), QueueID: int32(i % 16)}.String()
	}
	total := 0
	for _, self := range clients[:20] {
		got, want := ConsistentHash(self, clients, names, MaxVirtualNodes), javaRoute(owner, self, names)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %v, Java %v", self, got, want)
		}
		total += len(got)
	}
	if total == 0 {
		t.Fatal("no queue allocated")
	}
}
