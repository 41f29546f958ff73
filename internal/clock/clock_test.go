package clock

import (
	"testing"
	"time"
)

func TestFakeTickerFiresOncePerPeriodCrossed(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tk := f.NewTicker(30 * time.Second)
	defer tk.Stop()
	f.Advance(29 * time.Second)
	select {
	case <-tk.C():
		t.Fatal("ticked before its period")
	default:
	}
	f.Advance(time.Second)
	if got := <-tk.C(); !got.Equal(time.Unix(30, 0)) {
		t.Errorf("tick at %v, want 30s", got)
	}
	// A tick not taken is dropped, as with time.Ticker: advancing two periods leaves one.
	f.Advance(60 * time.Second)
	<-tk.C()
	select {
	case <-tk.C():
		t.Fatal("more than one tick buffered")
	default:
	}
}

func TestFakeTimerFiresOnceAndStops(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(5 * time.Second)
	f.Advance(5 * time.Second)
	<-tm.C()
	if tm.Stop() {
		t.Error("Stop of a fired timer reported it active")
	}
	tm.Reset(time.Second)
	if f.Waiters() != 1 {
		t.Errorf("%d waiters after Reset", f.Waiters())
	}
	if !tm.Stop() {
		t.Error("Stop of a reset timer reported it inactive")
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestWaitForWaitersSeesTickersMadeByOtherGoroutines(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	go func() { f.NewTicker(time.Second) }()
	if !f.WaitForWaiters(1, 5*time.Second) {
		t.Fatal("ticker not seen")
	}
}

func TestRealClockTicks(t *testing.T) {
	tk := Real.NewTicker(time.Millisecond)
	defer tk.Stop()
	<-tk.C()
}

// A timer stopped and reset many times is one waiter, and a stopped timer made for later
// use is none: WaitForWaiters must count only goroutines really waiting.
func TestFakeWaitersCountEachArmedTimerOnce(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	idle := NewStoppedTimer(f)
	if n := f.Waiters(); n != 0 {
		t.Fatalf("a stopped timer counts as %d waiters", n)
	}
	tm := f.NewTimer(time.Second)
	for range 3 {
		tm.Stop()
		tm.Reset(time.Second)
	}
	if n := f.Waiters(); n != 1 {
		t.Fatalf("one timer reset 3 times counts as %d waiters", n)
	}
	idle.Reset(2 * time.Second)
	f.Advance(2 * time.Second)
	for name, c := range map[string]<-chan time.Time{"reset timer": tm.C(), "stopped-then-armed timer": idle.C()} {
		select {
		case <-c:
		default:
			t.Errorf("%s did not fire", name)
		}
	}
	if n := f.Waiters(); n != 0 {
		t.Fatalf("%d waiters after both fired", n)
	}
}
