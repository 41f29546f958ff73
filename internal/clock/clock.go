package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes tickers and timers.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
	NewTimer(d time.Duration) Timer
}

// Ticker delivers ticks on C until stopped, as time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Timer fires once on C, as time.Timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Real is the system clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                   { return time.Now() }
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
func (realClock) NewTimer(d time.Duration) Timer   { return realTimer{time.NewTimer(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time   { return t.t.C }
func (t realTicker) Stop()                 { t.t.Stop() }
func (t realTicker) Reset(d time.Duration) { t.t.Reset(d) }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// Fake is a clock that moves only when Advance is called. Tickers and timers made from it
// fire during Advance, in time order, each tick delivered without blocking (a tick nobody
// has taken yet is dropped, as time.Ticker drops them).
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	// created is signalled whenever a ticker or timer is made, for WaitForWaiters.
	created chan struct{}
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, created: make(chan struct{}, 1)}
}

type fakeWaiter struct {
	c      chan time.Time
	at     time.Time
	period time.Duration // 0 for a timer
	active bool
	listed bool // in Fake.waiters (a stopped waiter stays listed until compact)
}

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return &fakeTicker{f: f, w: f.add(d, d)}
}

func (f *Fake) NewTimer(d time.Duration) Timer {
	return &fakeTimer{f: f, w: f.add(d, 0)}
}

func (f *Fake) add(d, period time.Duration) *fakeWaiter {
	f.mu.Lock()
	w := &fakeWaiter{c: make(chan time.Time, 1), at: f.now.Add(d), period: period, active: true, listed: true}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	f.signal()
	return w
}

// signal wakes WaitForWaiters.
func (f *Fake) signal() {
	select {
	case f.created <- struct{}{}:
	default:
	}
}

// Advance moves the clock forward by d, firing what falls due on the way.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for {
		next := f.nextDue(end)
		if next == nil {
			break
		}
		f.now = next.at
		select {
		case next.c <- f.now:
		default:
		}
		if next.period > 0 {
			next.at = next.at.Add(next.period)
		} else {
			next.active = false
		}
	}
	f.now = end
	f.compact()
	f.mu.Unlock()
}

func (f *Fake) nextDue(end time.Time) *fakeWaiter {
	var due []*fakeWaiter
	for _, w := range f.waiters {
		if w.active && !w.at.After(end) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	return due[0]
}

func (f *Fake) compact() {
	live := f.waiters[:0]
	for _, w := range f.waiters {
		if w.active {
			live = append(live, w)
		} else {
			w.listed = false
		}
	}
	for i := len(live); i < len(f.waiters); i++ {
		f.waiters[i] = nil
	}
	f.waiters = live
}

// Waiters returns the number of active tickers and timers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waiters {
		if w.active {
			n++
		}
	}
	return n
}

// WaitForWaiters blocks until at least n tickers and timers are active, so a test can
// advance the clock only once the goroutines under test are waiting on it.
func (f *Fake) WaitForWaiters(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for f.Waiters() < n {
		select {
		case <-f.created:
		case <-deadline.C:
			return f.Waiters() >= n
		case <-time.After(time.Millisecond):
		}
	}
	return true
}

type fakeTicker struct {
	f *Fake
	w *fakeWaiter
}

func (t *fakeTicker) C() <-chan time.Time { return t.w.c }

func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	t.w.active = false
	t.f.mu.Unlock()
}

func (t *fakeTicker) Reset(d time.Duration) {
	t.f.mu.Lock()
	t.w.at, t.w.period = t.f.now.Add(d), d
	t.f.arm(t.w)
	t.f.mu.Unlock()
	t.f.signal()
}

type fakeTimer struct {
	f *Fake
	w *fakeWaiter
}

func (t *fakeTimer) C() <-chan time.Time { return t.w.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.w.active
	t.w.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.w.active
	t.w.at = t.f.now.Add(d)
	t.f.arm(t.w)
	t.f.signal()
	return was
}

// arm makes w active, listing it once however often it was stopped and reset.
// f.mu is held.
func (f *Fake) arm(w *fakeWaiter) {
	w.active = true
	if !w.listed {
		w.listed = true
		f.waiters = append(f.waiters, w)
	}
}

// NewStoppedTimer returns a timer of c that is not running, to be armed with Reset. On a
// Fake it never counts as a waiter before then, so WaitForWaiters does not mistake it for
// one that a goroutine waits on.
func NewStoppedTimer(c Clock) Timer {
	if f, ok := c.(*Fake); ok {
		return &fakeTimer{f: f, w: &fakeWaiter{c: make(chan time.Time, 1)}}
	}
	t := c.NewTimer(time.Hour)
	t.Stop()
	return t
}
