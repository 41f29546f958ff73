package host

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// sampleMask: one call of an instance in sampleMask+1 is timed, its first among them, so
// that the two clock readings (~25 ns each here) do not weigh on every call (a send hook's
// call is ~100 ns) and a status has its quantiles from an instance's first call on.
const sampleMask = 63

// timed tells whether an instance's n-th call is timed.
func timed(n uint64) bool { return n&sampleMask == 1 }

// histogram counts durations in buckets of a quarter of a power of two: quantiles are
// within 25%, which is what a p99 on a status page needs, for 2 KiB and no locks.
type histogram struct {
	b [64 << subBits]atomic.Uint64
}

const subBits = 2

func bucketOf(ns uint64) int {
	if ns < 1<<subBits {
		return int(ns)
	}
	e := bits.Len64(ns) - 1
	return e<<subBits | int(ns>>(e-subBits))&(1<<subBits-1)
}

// bucketUpper is the largest duration bucket i holds.
func bucketUpper(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	e, sub := i>>subBits, uint64(i&(1<<subBits-1))
	if e < subBits {
		return 1<<subBits - 1 // buckets bucketOf never uses
	}
	return (1<<subBits+sub+1)<<(e-subBits) - 1
}

func (h *histogram) record(d time.Duration) { h.b[bucketOf(uint64(max(d, 0)))].Add(1) }

// quantile returns the upper bound of the bucket holding quantile q, 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	var counts [len(h.b)]uint64
	for i := range h.b {
		counts[i] = h.b[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= max(rank, 1) {
			return time.Duration(bucketUpper(i))
		}
	}
	return time.Duration(bucketUpper(len(counts) - 1))
}

// Status is what a plugin slot reports.
type Status struct {
	Name string
	Kind Kind
	// Version is the active version's number (1 for the first loaded, counting every
	// Swap); SHA256 is its module's digest. Previous is the version Rollback goes back
	// to, 0 when there is none.
	Version  int
	SHA256   string
	Previous int
	LoadedAt time.Time
	Policy   Policy
	// Calls and Failures count the active version's calls; Skipped the calls that went
	// straight to the policy while quarantined. ConsecutiveFailures quarantines the plugin
	// at QuarantineAfter.
	Calls               uint64
	Failures            uint64
	Skipped             uint64
	ConsecutiveFailures int
	Quarantined         bool
	// LastError is the last failure, of any version; LastErrorAt when it happened.
	LastError   string
	LastErrorAt time.Time
	// P50 and P99 are quantiles of sampled call durations of the active version, within 25%.
	P50, P99 time.Duration
	// Instances is the number of live instances, Idle those waiting in the pool.
	Instances, Idle int
	// DroppedLogBytes counts what the module logged over its budget.
	DroppedLogBytes uint64
}
