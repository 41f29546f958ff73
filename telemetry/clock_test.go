package telemetry

import (
	"testing"
	"time"
)

// TestSpanNow: span times read between two time.Now readings and never go back; a base
// reading over a second old is replaced.
func TestSpanNow(t *testing.T) {
	clockBase.Store(nil) // a fresh base: the wall clock's slew since is nil
	last := spanNow()
	for range 1000 {
		before := time.Now()
		got := spanNow()
		after := time.Now()
		if got.Before(last) {
			t.Fatalf("went back: %v after %v", got, last)
		}
		// Wall times: the base's wall time plus monotonic time may run ahead of or behind
		// the wall clock by its slew since the base, nothing over these microseconds.
		if got.Round(0).Before(before.Round(0).Add(-time.Millisecond)) || got.Round(0).After(after.Round(0).Add(time.Millisecond)) {
			t.Fatalf("%v not within [%v, %v]", got, before, after)
		}
		last = got
	}

	// A base over a second old is replaced: a change of the system clock shows within a
	// second.
	old := time.Now().Add(-2 * time.Second)
	clockBase.Store(&old)
	spanNow()
	if b := clockBase.Load(); b == &old || time.Since(*b) > time.Second {
		t.Fatalf("a two-second-old base was kept: %v, now %v", *b, time.Now())
	}
}

func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
	b.Run("spanNow", func(b *testing.B) {
		for b.Loop() {
			_ = spanNow()
		}
	})
}
