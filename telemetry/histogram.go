package telemetry

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// durationBounds are the bucket bounds, in seconds, of every duration histogram: from
// 100 µs up, fit for messaging, rather than the SDK's default ones in milliseconds up to
// 10000.
var durationBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram is a duration histogram (unit s, durationBounds) recorded on the hot paths:
// a measurement is a few atomic operations on a series the caller keeps (~20 ns; the
// SDK's Float64Histogram.Record cost ~150 ns here, resolving and normalising its
// attribute set on every call). The readers collect it as they collect the SDK's
// instruments, through a metric producer (sdkmetric.WithProducer): cumulative, or as
// deltas for an OTLP exporter that wants them.
type Histogram struct {
	hs                *histograms
	scope, name, desc string
	series            seriesTable[HistogramSeries]
}

// HistogramSeries is one attribute set's measurements of a Histogram.
type HistogramSeries struct {
	attrs   attribute.Set
	start   time.Time                              // made: a cumulative series counts from here
	buckets [len(durationBounds) + 1]atomic.Uint64 // the count is their sum
	sum     atomic.Uint64                          // math.Float64bits
	min     atomic.Uint64                          // math.Float64bits; +Inf until the first measurement
	max     atomic.Uint64                          // math.Float64bits; -Inf until the first measurement
}

// Series returns the series of attrs, made on first use: callers keep it for their
// attribute sets, so that recording looks nothing up. A nil Histogram gives a nil
// series, whose Record does nothing.
func (h *Histogram) Series(attrs attribute.Set) *HistogramSeries {
	if h == nil {
		return nil
	}
	return h.series.get(attrs, newHistogramSeries)
}

func newHistogramSeries(attrs attribute.Set) *HistogramSeries {
	s := &HistogramSeries{attrs: attrs, start: time.Now()}
	s.min.Store(math.Float64bits(math.Inf(1)))
	s.max.Store(math.Float64bits(math.Inf(-1)))
	return s
}

// Forget drops s from the histogram's output, as the owner of its attribute set goes (a
// consumer group removed): a gateway whose groups come and go must not export every
// group it ever had. A delta producer reports what s measured since its last Produce
// once more, so that nothing measured is lost; cumulative readers see the series no
// more. Series makes a new series for the same attributes, counting from zero with its
// own start time (a reset, to a cumulative reader).
func (h *Histogram) Forget(s *HistogramSeries) {
	if h == nil || s == nil {
		return
	}
	h.series.forget(s.attrs, s, h.hs.deltas.Load())
}

// Record adds a measurement, in seconds. Negative and NaN values, which no duration is,
// are dropped (the SDK's histogram would count them, and a NaN spoil the sum).
func (s *HistogramSeries) Record(seconds float64) {
	if s == nil || !(seconds >= 0) {
		return
	}
	s.buckets[sort.SearchFloat64s(durationBounds[:], seconds)].Add(1) // upper bounds inclusive
	for {
		old := s.sum.Load()
		if s.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+seconds)) {
			break
		}
	}
	for {
		old := s.min.Load()
		if seconds >= math.Float64frombits(old) || s.min.CompareAndSwap(old, math.Float64bits(seconds)) {
			break
		}
	}
	for {
		old := s.max.Load()
		if seconds <= math.Float64frombits(old) || s.max.CompareAndSwap(old, math.Float64bits(seconds)) {
			break
		}
	}
}

// histograms is the metric producer of a Provider's Histograms and Counters.
type histograms struct {
	mu       sync.Mutex
	list     []*Histogram
	counters []*Counter
	// deltas: a delta producer reads them, which must report forgotten series once more.
	deltas atomic.Bool
}

var _ sdkmetric.Producer = (*histograms)(nil)

func (hs *histograms) histogram(scope, name, desc string) *Histogram {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, h := range hs.list {
		if h.scope == scope && h.name == name {
			return h
		}
	}
	h := &Histogram{hs: hs, scope: scope, name: name, desc: desc}
	hs.list = append(hs.list, h)
	return h
}

// Produce returns every histogram's and counter's series with a measurement, cumulative,
// one ScopeMetrics per scope. A measurement under way may show in some fields and not yet in
// others; the count is the sum of the buckets, so those two always agree.
func (hs *histograms) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	return hs.produce(nil), nil
}

// deltaHistograms is the producer of the same histograms for an exporter that wants
// deltas (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta or lowmemory): each
// Produce reports what was measured since the previous one, without min and max, which
// deltas of cumulative counts cannot tell.
type deltaHistograms struct {
	hs *histograms
	mu sync.Mutex
	st deltaState
}

type deltaState struct {
	last   map[*HistogramSeries]seriesTotals // at the previous Produce
	counts map[*CounterSeries]int64          // at the previous Produce
	at     time.Time                         // of the previous Produce
}

type seriesTotals struct {
	buckets [len(durationBounds) + 1]uint64
	sum     float64
}

var _ sdkmetric.Producer = (*deltaHistograms)(nil)

func (hs *histograms) delta() *deltaHistograms {
	hs.deltas.Store(true)
	return &deltaHistograms{hs: hs, st: deltaState{last: map[*HistogramSeries]seriesTotals{}, counts: map[*CounterSeries]int64{}}}
}

// Produce returns the measurements since the previous Produce.
func (d *deltaHistograms) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hs.produce(&d.st), nil
}

// produce collects the histograms and counters, as deltas since st's previous collection
// when st is not nil (which reports the forgotten series a last time).
func (hs *histograms) produce(st *deltaState) []metricdata.ScopeMetrics {
	hs.mu.Lock()
	list, counters := slices.Clone(hs.list), slices.Clone(hs.counters)
	hs.mu.Unlock()
	now := time.Now()
	temporality := metricdata.CumulativeTemporality
	if st != nil {
		temporality = metricdata.DeltaTemporality
	}
	var out []metricdata.ScopeMetrics
	// With st: the series still there, to forget the others' state.
	var seen map[*HistogramSeries]bool
	var seenCounts map[*CounterSeries]bool
	if st != nil {
		seen = make(map[*HistogramSeries]bool, len(st.last))
		seenCounts = make(map[*CounterSeries]bool, len(st.counts))
	}
	for _, h := range list {
		var dps []metricdata.HistogramDataPoint[float64]
		for _, s := range h.series.collect(st != nil) {
			var cur seriesTotals
			for i := range s.buckets {
				cur.buckets[i] = s.buckets[i].Load()
			}
			cur.sum = math.Float64frombits(s.sum.Load())
			dp := metricdata.HistogramDataPoint[float64]{Attributes: s.attrs, StartTime: s.start, Time: now,
				Bounds: durationBounds[:], BucketCounts: make([]uint64, len(s.buckets)), Sum: cur.sum}
			var prev seriesTotals
			if st != nil {
				seen[s] = true
				prev = st.last[s]
				st.last[s] = cur
				if st.at.After(s.start) {
					dp.StartTime = st.at
				}
				dp.Sum -= prev.sum
			}
			for i := range cur.buckets {
				dp.BucketCounts[i] = cur.buckets[i] - prev.buckets[i]
				dp.Count += dp.BucketCounts[i]
			}
			if dp.Count == 0 {
				continue
			}
			if st == nil {
				dp.Min = metricdata.NewExtrema(math.Float64frombits(s.min.Load()))
				dp.Max = metricdata.NewExtrema(math.Float64frombits(s.max.Load()))
			}
			dps = append(dps, dp)
		}
		if len(dps) == 0 {
			continue
		}
		m := metricdata.Metrics{Name: h.name, Description: h.desc, Unit: "s",
			Data: metricdata.Histogram[float64]{Temporality: temporality, DataPoints: dps}}
		out = appendMetric(out, h.scope, m)
	}
	for _, c := range counters {
		if m, ok := c.produce(st, seenCounts, now, temporality); ok {
			out = appendMetric(out, c.scope, m)
		}
	}
	if st != nil {
		st.at = now
		for s := range st.last {
			if !seen[s] {
				delete(st.last, s) // forgotten
			}
		}
		for s := range st.counts {
			if !seenCounts[s] {
				delete(st.counts, s)
			}
		}
	}
	return out
}

// appendMetric adds m to its scope's ScopeMetrics in out.
func appendMetric(out []metricdata.ScopeMetrics, scope string, m metricdata.Metrics) []metricdata.ScopeMetrics {
	i := slices.IndexFunc(out, func(sm metricdata.ScopeMetrics) bool { return sm.Scope.Name == scope })
	if i < 0 {
		out = append(out, metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: scope}})
		i = len(out) - 1
	}
	out[i].Metrics = append(out[i].Metrics, m)
	return out
}
