package broker

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
)

// javaHashMap is a literal model of java.util.HashMap's table: buckets of chains, new
// nodes at a chain's tail, the table doubled past 3/4 full with each chain split into a
// low and a high chain in order (HashMap.resize), removal unlinking a node.
type javaHashMap struct {
	table [][]javaProp
	size  int
}

func (m *javaHashMap) put(k, v string) {
	if m.table == nil {
		m.table = make([][]javaProp, 16)
	}
	h := javaHash(k)
	h ^= h >> 16
	i := h & uint32(len(m.table)-1)
	for j := range m.table[i] {
		if m.table[i][j].key == k {
			m.table[i][j].value = v
			return
		}
	}
	m.table[i] = append(m.table[i], javaProp{key: k, value: v, hash: h})
	m.size++
	if m.size > len(m.table)*3/4 {
		next := make([][]javaProp, 2*len(m.table))
		for i, chain := range m.table {
			for _, e := range chain {
				if e.hash&uint32(len(m.table)) == 0 {
					next[i] = append(next[i], e)
				} else {
					next[i+len(m.table)] = append(next[i+len(m.table)], e)
				}
			}
		}
		m.table = next
	}
}

func (m *javaHashMap) remove(k string) {
	for i, chain := range m.table {
		for j := range chain {
			if chain[j].key == k {
				m.table[i] = slices.Delete(chain, j, j+1)
				m.size--
				return
			}
		}
	}
}

func (m *javaHashMap) encode() string {
	var parts []string
	for _, chain := range m.table {
		for _, e := range chain {
			parts = append(parts, e.key+"\x01"+e.value)
		}
	}
	return strings.Join(parts, "\x02")
}

func TestJavaPropsIterateAsJavaHashMap(t *testing.T) {
	names := []string{"KEYS", "TAGS", "UNIQ_KEY", "WAIT", "DELAY", "CLUSTER", "REAL_TOPIC", "REAL_QID", "PGROUP",
		"TRAN_MSG", "RETRY_TOPIC", "ORIGIN_MESSAGE_ID", "MAX_OFFSET", "MIN_OFFSET", "color", "seq", "a", "bb", "Aa", "BB",
		"TRACE_ON", "MSG_REGION", "RECONSUME_TIME", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		var p javaProps
		p.reset()
		var m javaHashMap
		for op := 0; op < 1+rng.IntN(40); op++ {
			k := names[rng.IntN(len(names))]
			if rng.IntN(4) == 0 {
				p.remove(k)
				m.remove(k)
				continue
			}
			v := "v" + itoa(op)
			p.put(k, v)
			m.put(k, v)
			if rng.IntN(8) == 0 { // serializing in between must not change what follows
				p.order()
			}
		}
		if got, want := string(p.appendEncoded(nil)), m.encode(); got != want {
			t.Fatalf("round %d:\n got %q\nwant %q", round, got, want)
		}
	}
}

func TestJavaPropsReadLikeString2MessageProperties(t *testing.T) {
	var p javaProps
	// Pairs with an empty name or value are skipped, a trailing separator too (the Go
	// client writes one), and a repeated name keeps its first place with its last value.
	p.parse("KEYS\x01k\x02\x01empty\x02novalue\x01\x02TAGS\x01a\x02KEYS\x01k2\x02")
	var got message.Properties
	p.writeTo(&got)
	if got.Encode() != "KEYS\x01k2\x02TAGS\x01a" {
		t.Errorf("parsed %q", got.Encode())
	}
}
