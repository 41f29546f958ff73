package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
)

// seriesTable is an instrument's series by attribute set (a Histogram's, a Counter's),
// and those forgotten since a delta producer last collected, which it reports once more
// so that nothing measured is lost.
type seriesTable[S any] struct {
	mu     sync.Mutex
	byAttr map[attribute.Distinct]*S
	gone   []*S
}

// get returns the series of attrs, made by newSeries on first use.
func (t *seriesTable[S]) get(attrs attribute.Set, newSeries func(attribute.Set) *S) *S {
	k := attrs.Equivalent()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.byAttr[k]; ok {
		return s
	}
	if t.byAttr == nil {
		t.byAttr = map[attribute.Distinct]*S{}
	}
	s := newSeries(attrs)
	t.byAttr[k] = s
	return s
}

// forget drops s, the series of attrs, unless another took its place; keepGone keeps it
// for a delta producer's last report.
func (t *seriesTable[S]) forget(attrs attribute.Set, s *S, keepGone bool) {
	k := attrs.Equivalent()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byAttr[k] == s {
		delete(t.byAttr, k)
		if keepGone {
			t.gone = append(t.gone, s)
		}
	}
}

// collect returns the series to report: those in the table and, for a delta producer
// (withGone), the forgotten ones, which it reports this once.
func (t *seriesTable[S]) collect(withGone bool) []*S {
	t.mu.Lock()
	defer t.mu.Unlock()
	series := make([]*S, 0, len(t.byAttr)+len(t.gone))
	for _, s := range t.byAttr {
		series = append(series, s)
	}
	if withGone {
		series = append(series, t.gone...)
		t.gone = nil
	}
	return series
}
