package cowmap

import (
	"sync"
	"sync/atomic"
)

// Map maps K to V. The zero Map is empty and ready to use; it must not be copied after
// first use.
type Map[K comparable, V any] struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[K]V]
}

// Load returns the value of k and whether there is one.
func (m *Map[K, V]) Load(k K) (V, bool) {
	if p := m.m.Load(); p != nil {
		v, ok := (*p)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// LoadOrMake returns the value of k, making it with make and storing it when there is
// none; make runs at most once per key, with the writers' lock held.
func (m *Map[K, V]) LoadOrMake(k K, make func() V) V {
	if v, ok := m.Load(k); ok {
		return v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make()
	grown := map[K]V{k: next}
	if old != nil {
		for ok, ov := range *old {
			grown[ok] = ov
		}
	}
	m.m.Store(&grown)
	return next
}

// Range calls f for every key and value until f returns false, over the map as it was
// when Range began.
func (m *Map[K, V]) Range(f func(K, V) bool) {
	p := m.m.Load()
	if p == nil {
		return
	}
	for k, v := range *p {
		if !f(k, v) {
			return
		}
	}
}

// Len returns the number of keys.
func (m *Map[K, V]) Len() int {
	if p := m.m.Load(); p != nil {
		return len(*p)
	}
	return 0
}
