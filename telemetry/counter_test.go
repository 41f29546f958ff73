package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// counterPoint returns the data point of attrs of the counter name in out.
func counterPoint(t *testing.T, out []metricdata.ScopeMetrics, name string, attrs attribute.Set) (metricdata.DataPoint[int64], bool) {
	t.Helper()
	for _, sm := range out {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("%s is a %#v", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				if dp.Attributes.Equals(&attrs) {
					return dp, true
				}
			}
		}
	}
	return metricdata.DataPoint[int64]{}, false
}

// A Counter counts as an SDK counter does, cumulative or as deltas; a series forgotten
// and made again (a consumer group restarted) is a new series: its deltas start from
// zero, never negative, and its cumulative count has its own start time. The forgotten
// series' last counts still reach the delta reader.
func TestCounter(t *testing.T) {
	hs := &histograms{}
	d := hs.delta()
	c := hs.counter("scope", "c", "Things.", "{thing}")
	g := attribute.NewSet(KeyConsumerGroupName.String("g"))
	s := c.Series(g)
	s.Add(3)
	if dp, ok := counterPoint(t, hs.produce(&d.st), "c", g); !ok || dp.Value != 3 {
		t.Fatalf("first delta %+v, %v; want 3", dp, ok)
	}
	s.Add(2)
	c.Forget(s)
	again := c.Series(g)
	if again == s {
		t.Fatal("Series gave the forgotten series back")
	}
	again.Add(1)
	if dp, ok := counterPoint(t, hs.produce(nil), "c", g); !ok || dp.Value != 1 || !dp.StartTime.After(s.start) {
		t.Errorf("cumulative after the restart %+v, %v; want 1 from the new series' start", dp, ok)
	}
	var total int64
	for _, sm := range hs.produce(&d.st) {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if dp.Value < 0 {
					t.Errorf("negative delta %d", dp.Value)
				}
				total += dp.Value
			}
		}
	}
	if total != 3 {
		t.Errorf("second deltas sum to %d, want 3 (2 before the restart, 1 after)", total)
	}
	if _, ok := counterPoint(t, hs.produce(&d.st), "c", g); ok {
		t.Error("a delta with nothing counted since the previous one")
	}
	if len(d.st.counts) != 1 {
		t.Errorf("delta state of %d series, want 1: the forgotten one's dropped", len(d.st.counts))
	}
	var nilCounter *Counter
	nilCounter.Series(g).Add(1) // metrics off: nothing
	_, _ = d.Produce(context.Background())
}
