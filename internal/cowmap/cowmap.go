package cowmap

import (
	"sync"
	"sync/atomic"
)

// maxCopied bounds the keys kept in the copied map: each new key copies it, so that a
// table that keeps growing (topics named by HTTP clients, codes answered by a broker)
// would cost more with every key. Keys past it go to a sync.Map.
const maxCopied = 256

// Map maps K to V. The zero Map is empty and ready to use; it must not be copied after
// first use.
type Map[K comparable, V any] struct {
	mu      sync.Mutex // serialises writers
	m       atomic.Pointer[map[K]V]
	spilled atomic.Bool // more holds keys
	more    sync.Map    // K -> V, past maxCopied
}

// Load returns the value of k and whether there is one.
func (m *Map[K, V]) Load(k K) (V, bool) {
	if p := m.m.Load(); p != nil {
		if v, ok := (*p)[k]; ok {
			return v, true
		}
	}
	if m.spilled.Load() {
		if v, ok := m.more.Load(k); ok {
			return v.(V), true
		}
	}
	var zero V
	return zero, false
}

// LoadOrMake returns the value of k, making it with make and storing it when there is
// none; make runs at most once per key, with the writers' lock held. It is not inlined:
// on a path where the key is nearly always there (a lookup per message), callers Load
// first, so that a hit builds no closure and makes one call, not two.
func (m *Map[K, V]) LoadOrMake(k K, make func() V) V {
	if v, ok := m.Load(k); ok {
		return v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.Load(k); ok {
		return v
	}
	next := make()
	old := m.m.Load()
	if old != nil && len(*old) >= maxCopied {
		m.more.Store(k, next)
		m.spilled.Store(true)
		return next
	}
	grown := map[K]V{k: next}
	if old != nil {
		for ok, ov := range *old {
			grown[ok] = ov
		}
	}
	m.m.Store(&grown)
	return next
}

// Range calls f for every key and value until f returns false; keys added meanwhile may
// or may not be seen.
func (m *Map[K, V]) Range(f func(K, V) bool) {
	if p := m.m.Load(); p != nil {
		for k, v := range *p {
			if !f(k, v) {
				return
			}
		}
	}
	if m.spilled.Load() {
		m.more.Range(func(k, v any) bool { return f(k.(K), v.(V)) })
	}
}

// Len returns the number of keys.
func (m *Map[K, V]) Len() int {
	n := 0
	if p := m.m.Load(); p != nil {
		n = len(*p)
	}
	if m.spilled.Load() {
		m.more.Range(func(any, any) bool { n++; return true })
	}
	return n
}
