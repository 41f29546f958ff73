package telemetry

import (
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Counter is a monotonic count recorded on the hot paths (an atomic add a message) whose
// series can be forgotten, as a Histogram's: the readers collect it through the same
// metric producer, cumulative or as deltas. Unlike an SDK observable counter over counts
// its owner keeps, a series forgotten and made again for the same attributes (a consumer
// group restarted) is a new series to every reader: a delta reader never gets a negative
// count, a cumulative one a reset with its own start time.
type Counter struct {
	hs                      *histograms
	scope, name, desc, unit string
	series                  seriesTable[CounterSeries]
}

// CounterSeries is one attribute set's count of a Counter.
type CounterSeries struct {
	attrs attribute.Set
	start time.Time
	n     atomic.Int64
}

// Series returns the series of attrs, made on first use, as Histogram.Series. A nil
// Counter gives a nil series, whose Add does nothing.
func (c *Counter) Series(attrs attribute.Set) *CounterSeries {
	if c == nil {
		return nil
	}
	return c.series.get(attrs, newCounterSeries)
}

func newCounterSeries(attrs attribute.Set) *CounterSeries {
	return &CounterSeries{attrs: attrs, start: time.Now()}
}

// Forget drops s from the counter's output, as Histogram.Forget.
func (c *Counter) Forget(s *CounterSeries) {
	if c == nil || s == nil {
		return
	}
	c.series.forget(s.attrs, s, c.hs.deltas.Load())
}

// Add adds n, which must not be negative.
func (s *CounterSeries) Add(n int64) {
	if s != nil && n > 0 {
		s.n.Add(n)
	}
}

func (hs *histograms) counter(scope, name, desc, unit string) *Counter {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, c := range hs.counters {
		if c.scope == scope && c.name == name {
			return c
		}
	}
	c := &Counter{hs: hs, scope: scope, name: name, desc: desc, unit: unit}
	hs.counters = append(hs.counters, c)
	return c
}

// produce collects c's series with a count, as deltas since st's previous collection
// when st is not nil (forgotten series a last time), marking in seen the series st keeps;
// ok is false when no series has a count to report.
func (c *Counter) produce(st *deltaState, seen map[*CounterSeries]bool, now time.Time, temporality metricdata.Temporality) (m metricdata.Metrics, ok bool) {
	var dps []metricdata.DataPoint[int64]
	for _, s := range c.series.collect(st != nil) {
		n := s.n.Load()
		dp := metricdata.DataPoint[int64]{Attributes: s.attrs, StartTime: s.start, Time: now, Value: n}
		if st != nil {
			seen[s] = true
			dp.Value -= st.counts[s]
			st.counts[s] = n
			if st.at.After(s.start) {
				dp.StartTime = st.at
			}
		}
		if dp.Value == 0 {
			continue
		}
		dps = append(dps, dp)
	}
	if len(dps) == 0 {
		return m, false
	}
	return metricdata.Metrics{Name: c.name, Description: c.desc, Unit: c.unit,
		Data: metricdata.Sum[int64]{Temporality: temporality, IsMonotonic: true, DataPoints: dps}}, true
}
