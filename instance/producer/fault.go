package producer

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/instance"
)

// The latency fault strategy, Java's MQFaultStrategy with LatencyFaultToleranceImpl: after
// each send the broker's latency is recorded with a time before which the broker counts as
// unavailable, the longer the slower it answered; a failed send counts as 30 s of latency.
// Queue selection then skips brokers not yet available again.
var (
	// latencyMax[i] ms of latency make a broker unavailable for notAvailableDuration[i] ms.
	latencyMax           = [...]int64{50, 100, 550, 1000, 2000, 3000, 15000}
	notAvailableDuration = [...]int64{0, 0, 30000, 60000, 120000, 180000, 600000}
)

// isolationLatency is the latency a failed send counts as (Java's updateFaultItem with
// isolation).
const isolationLatency = 30000

// record is update for an attempt on broker name that ended with err after latency, as
// Java's sendDefaultImpl calls updateFaultItem: a failure isolates the broker unless the
// caller cancelled the send (an interrupted send's latency is recorded without isolation);
// an RPC hook's failure around the request records nothing, saying nothing of the broker.
func (f *faultTolerance) record(name string, latency time.Duration, err error) {
	if err == nil {
		f.update(name, latency, false)
		return
	}
	if he := (*instance.HookError)(nil); errors.As(err, &he) {
		return
	}
	f.update(name, latency, !errors.Is(err, context.Canceled))
}

// faultTolerance holds a fault item per broker name. Reads (available, on every send with
// the strategy on) take no lock: the table is copied on insert, items are updated in place
// with atomics.
type faultTolerance struct {
	now   func() time.Time
	mu    sync.Mutex // serialises writers of items
	items atomic.Pointer[map[string]*faultItem]
	worst atomic.Uint32 // Java's whichItemWorst
}

type faultItem struct {
	name    string
	latency atomic.Int64 // ms
	// availableAt is when the broker is available again, in ms since the epoch of now
	// (Java's startTimestamp).
	availableAt atomic.Int64
}

func newFaultTolerance(now func() time.Time) *faultTolerance {
	f := &faultTolerance{now: now}
	empty := map[string]*faultItem{}
	f.items.Store(&empty)
	return f
}

// notAvailableFor is Java's computeNotAvailableDuration.
func notAvailableFor(latencyMs int64) int64 {
	for i := len(latencyMax) - 1; i >= 0; i-- {
		if latencyMs >= latencyMax[i] {
			return notAvailableDuration[i]
		}
	}
	return 0
}

// update records a send to broker name that took latency; a failed send (isolation) makes
// the broker unavailable as a 30 s latency would (Java's MQFaultStrategy.updateFaultItem).
func (f *faultTolerance) update(name string, latency time.Duration, isolation bool) {
	ms := latency.Milliseconds()
	d := ms
	if isolation {
		d = isolationLatency
	}
	at := f.now().UnixMilli() + notAvailableFor(d)
	it := (*f.items.Load())[name]
	if it == nil {
		it = f.insert(name)
	}
	it.latency.Store(ms)
	it.availableAt.Store(at)
}

func (f *faultTolerance) insert(name string) *faultItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.items.Load()
	if it := old[name]; it != nil {
		return it
	}
	m := make(map[string]*faultItem, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	it := &faultItem{name: name}
	m[name] = it
	f.items.Store(&m)
	return it
}

// available reports whether broker name may be chosen: it has no item, or its time has
// come (Java's isAvailable).
func (f *faultTolerance) available(name string) bool {
	it := (*f.items.Load())[name]
	return it == nil || f.now().UnixMilli() >= it.availableAt.Load()
}

// remove forgets broker name.
func (f *faultTolerance) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.items.Load()
	if _, ok := old[name]; !ok {
		return
	}
	m := make(map[string]*faultItem, len(old))
	for k, v := range old {
		if k != name {
			m[k] = v
		}
	}
	f.items.Store(&m)
}

// pickOneAtLeast returns a broker to use when none is available: among the better half of
// the items, ordered available first, then by latency, then by when they become
// available, the next in turn (Java's pickOneAtLeast). "" when there is no item.
func (f *faultTolerance) pickOneAtLeast() string {
	items := *f.items.Load()
	if len(items) == 0 {
		return ""
	}
	now := f.now().UnixMilli()
	type snap struct {
		name             string
		avail            bool
		latency, startAt int64
	}
	list := make([]snap, 0, len(items))
	for _, it := range items {
		at := it.availableAt.Load()
		list = append(list, snap{it.name, now >= at, it.latency.Load(), at})
	}
	slices.SortFunc(list, func(a, b snap) int {
		if a.avail != b.avail {
			if a.avail {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.latency, b.latency), cmp.Compare(a.startAt, b.startAt),
			cmp.Compare(a.name, b.name)) // the name makes the order total, unlike Java's
	})
	half := len(list) / 2
	if half <= 0 {
		return list[0].name
	}
	return list[int(f.worst.Add(1)%uint32(half))].name
}
