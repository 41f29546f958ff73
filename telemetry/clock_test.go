package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
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

// TestSpanEndAcrossWallClockStep: the system clock steps back 10 s (NTP, a VM resumed)
// while a span runs and the clock base is renewed in between: the span still ends after
// it started, its exported duration the time that passed, as the SDK's. A span whose
// start the caller gave ends at the current time.
func TestSpanEndAcrossWallClockStep(t *testing.T) {
	const step = 10 * time.Second
	t.Cleanup(func() { wallNow = time.Now; clockBase.Store(nil) })
	stepBack := func() {
		wallNow = func() time.Time { return time.Now().Add(-step) }
		clockBase.Store(nil) // renewed at the next reading, as a second after the last
		spanNow()
	}
	tr := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), nil).Tracer("x")

	wallNow = time.Now
	clockBase.Store(nil)
	before := time.Now()
	_, s := tr.Start(context.Background(), "across the step")
	afterStart := time.Now()
	stepBack()
	beforeEnd := time.Now()
	s.End()
	after := time.Now()
	ro := s.(sdktrace.ReadOnlySpan)
	// Exporters send the wall times, in Unix nanoseconds.
	d := time.Duration(ro.EndTime().UnixNano() - ro.StartTime().UnixNano())
	if d < beforeEnd.Sub(afterStart) || d > after.Sub(before) {
		t.Fatalf("exported duration %v (start %v, end %v), want between %v and %v", d, ro.StartTime(), ro.EndTime(),
			beforeEnd.Sub(afterStart), after.Sub(before))
	}

	// A start the caller gave: the end is the clock's now, stepped back or not.
	wallNow = time.Now
	clockBase.Store(nil)
	given := time.Now().Round(0) // no monotonic reading, as a time decoded or built from a date
	_, s = tr.Start(context.Background(), "given start", trace.WithTimestamp(given))
	stepBack()
	s.End()
	if end := s.(sdktrace.ReadOnlySpan).EndTime(); end.After(given.Add(-step / 2)) {
		t.Fatalf("end %v of a span started at %v by the caller: want the clock's, %v back", end, given, step)
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
	b.Run("span.endNow", func(b *testing.B) { // what End reads, the start being spanNow's
		s := &span{start: spanNow()}
		for b.Loop() {
			_ = s.endNow()
		}
	})
}
