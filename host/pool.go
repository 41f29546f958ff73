package host

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pool holds a version's ready instances on a channel: sync.Pool would drop them at every
// GC, and an instance costs milliseconds to create. It starts with min instances, grows
// on demand to max, and replaces a discarded instance in the background.
type pool struct {
	v *version
	// fast holds one ready instance outside the channel: a call that finds it there takes
	// it with one atomic swap instead of a channel receive and send, which is most of the
	// host's cost of a call when calls do not overlap.
	fast  atomic.Pointer[guest]
	ready chan *guest
	live  atomic.Int32 // created and not discarded (ready, in use, or being created)
	min   int32
	max   int32

	mu  sync.Mutex
	all map[*guest]struct{} // live instances, for Status and close
	// retiredCalls counts the calls of discarded instances, for Status.
	retiredCalls uint64
	// retiring is closed when the version retires, to wake calls waiting for an instance.
	retiring chan struct{}
}

func newPool(v *version, lo, hi int) *pool {
	hi = max(lo, hi) // put must never block: the channel holds every live instance
	return &pool{v: v, ready: make(chan *guest, hi), min: int32(lo), max: int32(hi), all: make(map[*guest]struct{}),
		retiring: make(chan struct{})}
}

func (p *pool) track(g *guest) {
	p.mu.Lock()
	p.all[g] = struct{}{}
	p.mu.Unlock()
}

// fill creates instances until min are live; the first error stops it, as does the
// runtime's Close (ErrClosed), which waits for the Load or Swap filling.
func (p *pool) fill(ctx context.Context) error {
	for p.live.Load() < p.min {
		if p.v.p.r.isClosed() {
			return ErrClosed
		}
		p.live.Add(1)
		g, err := p.v.newGuest(ctx, p.v.deterministic)
		if err != nil {
			p.live.Add(-1)
			return err
		}
		p.track(g)
		p.put(g)
	}
	return nil
}

// get takes an instance: a ready one, else a new one while under max, else the first
// returned within wait. Called with the version's in-flight lock held for reading.
func (p *pool) get(wait time.Duration) (*guest, failure) {
	if g := p.fast.Swap(nil); g != nil {
		return g, failure{}
	}
	if p.v.retired.Load() {
		return nil, failure{kind: failRetired}
	}
	select {
	case g := <-p.ready:
		return g, failure{}
	default:
	}
	for {
		n := p.live.Load()
		if n >= p.max {
			break
		}
		if p.live.CompareAndSwap(n, n+1) {
			g, err := p.v.newGuest(context.Background(), p.v.deterministic)
			if err != nil {
				p.live.Add(-1)
				return nil, failure{kind: FailBusy, detail: "growing the pool: " + err.Error()}
			}
			p.track(g)
			return g, failure{}
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g := <-p.ready:
		return g, failure{}
	case <-p.retiring:
		return nil, failure{kind: failRetired}
	case <-t.C:
		return nil, failure{kind: FailBusy, detail: "all " + strconv.Itoa(int(p.max)) + " instances busy for " + wait.String()}
	}
}

// put returns an instance. The channel has room for every live instance.
func (p *pool) put(g *guest) {
	if p.fast.Load() == nil && p.fast.CompareAndSwap(nil, g) {
		return
	}
	p.ready <- g
}

// discard closes a broken instance and starts its replacement in the background.
func (p *pool) discard(g *guest) {
	p.mu.Lock()
	delete(p.all, g)
	p.retiredCalls += g.calls.Load()
	p.mu.Unlock()
	g.close()
	if p.live.Add(-1) < p.min {
		p.v.mu.Lock()
		if !p.v.retired.Load() {
			p.v.bg.Add(1)
			go p.replace()
		}
		p.v.mu.Unlock()
	}
}

// replace creates one instance in the background, unless the version is retiring.
func (p *pool) replace() {
	defer p.v.bg.Done()
	for { // claim the slot atomically: concurrent replacements must not overfill the pool
		n := p.live.Load()
		if p.v.retired.Load() || n >= p.min {
			return
		}
		if p.live.CompareAndSwap(n, n+1) {
			break
		}
	}
	g, err := p.v.newGuest(context.Background(), p.v.deterministic)
	if err != nil {
		p.live.Add(-1)
		p.v.p.r.log.Error("plugin instance could not be replaced", "plugin", p.v.p.name, "version", p.v.seq, "err", err)
		return
	}
	p.track(g)
	p.put(g) // if the version retired meanwhile, the drain closes it
}

// drain closes every instance as it comes back from its call, until none is live. The
// version is retired: no call takes an instance for long, and none is created.
func (p *pool) drain() {
	close(p.retiring)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p.live.Load() > 0 {
		var g *guest
		if g = p.fast.Swap(nil); g == nil {
			select {
			case g = <-p.ready:
			case <-tick.C: // a discard lowers live without handing anything back
				continue
			}
		}
		p.mu.Lock()
		delete(p.all, g)
		p.mu.Unlock()
		g.close()
		p.live.Add(-1)
	}
}

// counts returns the live and idle instances and the calls of all instances ever.
func (p *pool) counts() (live, idle int, calls uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls = p.retiredCalls
	for g := range p.all {
		calls += g.calls.Load()
	}
	idle = len(p.ready)
	if p.fast.Load() != nil {
		idle++
	}
	return len(p.all), idle, calls
}
