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
// on demand to max, and replaces a discarded instance in the background. It is part of
// its version, first, so that a call's way to an instance is two dependent loads from
// the plugin (its version, the instance), each cold between the send path's calls.
type pool struct {
	// fast holds one ready instance outside the channel. A call that finds an instance
	// there takes it with one swap and hands it back with one compare-and-swap: when
	// calls do not overlap, that and the count are all the locked instructions a call
	// costs.
	fast  atomic.Pointer[guest]
	ready chan *guest
	// calls counts the calls finished.
	calls atomic.Uint64
	live  atomic.Int32 // created and not discarded (ready, in use, or being created)
	min   int32
	max   int32
	v     *version

	mu sync.Mutex
	// slots holds the live instances by guest.slot - 1, for Status and close.
	slots []*guest
	// retiring is closed when the version retires, to wake calls waiting for an instance.
	retiring chan struct{}
}

func (p *pool) init(v *version, lo, hi int) {
	hi = max(lo, hi) // put must never block: the channel holds every live instance
	p.v, p.ready, p.min, p.max, p.slots, p.retiring = v, make(chan *guest, hi), int32(lo), int32(hi), make([]*guest, hi), make(chan struct{})
}

// track gives g a slot. The caller claimed it in live, so one is free.
func (p *pool) track(g *guest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.slots {
		if s == nil {
			p.slots[i], g.slot = g, uint64(i+1)
			return
		}
	}
	panic("host: pool tracks more instances than it has slots") // live bounds them: a bug
}

// untrack frees g's slot.
func (p *pool) untrack(g *guest) {
	p.mu.Lock()
	p.slots[g.slot-1] = nil
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
		p.put(g, 0)
	}
	return nil
}

// takeFast takes the instance in fast, if there is one.
func (p *pool) takeFast() *guest {
	if p.fast.Load() == nil {
		return nil
	}
	return p.fast.Swap(nil)
}

// get takes an instance: a ready one, else a new one while under max, else the first
// returned within wait. Called with the version's in-flight lock held for reading.
func (p *pool) get(wait time.Duration) (*guest, failure) {
	if g := p.takeFast(); g != nil {
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

// put returns an instance, counting calls (0 or 1) for it. The channel has room for
// every live instance.
func (p *pool) put(g *guest, calls uint64) {
	if calls != 0 {
		p.calls.Add(calls)
	}
	if p.fast.Load() == nil && p.fast.CompareAndSwap(nil, g) {
		return
	}
	p.ready <- g
}

// discard closes a broken instance, counting its failed call, and starts its replacement
// in the background.
func (p *pool) discard(g *guest) {
	p.calls.Add(1)
	p.untrack(g)
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
	p.put(g, 0) // if the version retired meanwhile, the drain closes it
}

// drain closes every instance as it comes back from its call, until none is live. The
// version is retired: no call takes an instance for long, and none is created.
func (p *pool) drain() {
	close(p.retiring)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p.live.Load() > 0 {
		g := p.takeFast()
		if g == nil {
			select {
			case g = <-p.ready:
			case <-tick.C: // a discard lowers live without handing anything back
				continue
			}
		}
		p.untrack(g)
		g.close()
		p.live.Add(-1)
	}
}

// counts returns the live and idle instances and the calls finished.
func (p *pool) counts() (live, idle int, calls uint64) {
	calls = p.calls.Load()
	idle = len(p.ready)
	if p.fast.Load() != nil {
		idle++
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.slots {
		if g != nil {
			live++
		}
	}
	return live, idle, calls
}
