package telemetry

import (
	"sync/atomic"
	"time"
)

// clockBase is the reading spanNow counts from.
var clockBase atomic.Pointer[time.Time]

// wallNow reads a new base: time.Now, or in a test a system clock that stepped back.
var wallNow = time.Now

// spanNow reads the time for a span with one clock reading instead of time.Now's two
// (the wall clock and the monotonic one; ~29 against ~41 ns here, two to four a message):
// the wall time is a base reading's plus the monotonic time elapsed since, and the base is
// read again once it is a second old. A span's times so follow the system clock within a
// second of it changing and within its slew over a second (under a millisecond); its end
// is its start plus the monotonic time since (span.endNow), so that its duration is the
// time that passed, as the SDK's, even when a base renewed in between saw the clock step.
func spanNow() time.Time {
	if b := clockBase.Load(); b != nil {
		if d := time.Since(*b); d >= 0 && d < time.Second {
			return b.Add(d)
		}
	}
	t := wallNow()
	clockBase.Store(&t)
	return t
}
