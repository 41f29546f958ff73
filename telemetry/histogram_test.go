package telemetry

import (
	"context"
	"io"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// histogramPoint returns the data point of metric name with attributes attrs.
func histogramPoint(t *testing.T, rm *metricdata.ResourceMetrics, name string, attrs attribute.Set) (metricdata.HistogramDataPoint[float64], bool) {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is a %T", name, m.Data)
			}
			for _, dp := range h.DataPoints {
				if dp.Attributes.Equals(&attrs) {
					return dp, true
				}
			}
		}
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

// TestHistogramMatchesSDK records the same values into an SDK histogram (with the
// gateway's bounds) and into a Histogram: the readers get the same data points.
func TestHistogramMatchesSDK(t *testing.T) {
	p, err := Setup(context.Background(), Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	sdkHist, _ := p.Instruments().Meter("test").Float64Histogram("sdk.duration", metric.WithUnit("s"))
	ours := p.Instruments().DurationHistogram("test", "our.duration", "Our durations.")
	set := attribute.NewSet(KeyDestinationName.String("t"))
	series := ours.Series(set)
	if again := ours.Series(attribute.NewSet(KeyDestinationName.String("t"))); again != series {
		t.Fatal("the same attributes gave another series")
	}
	values := []float64{0, 0.0001, 0.00011, 0.001, 0.0025, 0.003, 7, 10, 11, 1e6, 0.04}
	for _, v := range values {
		sdkHist.Record(context.Background(), v, metric.WithAttributeSet(set))
		series.Record(v)
	}
	var rm metricdata.ResourceMetrics
	if err := p.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want, ok1 := histogramPoint(t, &rm, "sdk.duration", set)
	got, ok2 := histogramPoint(t, &rm, "our.duration", set)
	if !ok1 || !ok2 {
		t.Fatalf("data points: sdk %v, ours %v", ok1, ok2)
	}
	if got.Count != want.Count || got.Sum != want.Sum || !slices.Equal(got.BucketCounts, want.BucketCounts) ||
		!slices.Equal(got.Bounds, want.Bounds) {
		t.Errorf("ours: count %d sum %v buckets %v bounds %v\n sdk: count %d sum %v buckets %v bounds %v",
			got.Count, got.Sum, got.BucketCounts, got.Bounds, want.Count, want.Sum, want.BucketCounts, want.Bounds)
	}
	gmin, _ := got.Min.Value()
	gmax, _ := got.Max.Value()
	wmin, _ := want.Min.Value()
	wmax, _ := want.Max.Value()
	if gmin != wmin || gmax != wmax {
		t.Errorf("min/max %v/%v, the SDK's %v/%v", gmin, gmax, wmin, wmax)
	}

	// What no duration is, the SDK would count (and NaN spoil the sum): dropped.
	series.Record(-1)
	series.Record(math.NaN())
	if err := p.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got, _ := histogramPoint(t, &rm, "our.duration", set); got.Count != 11 || got.Sum != want.Sum {
		t.Errorf("after -1 and NaN: count %d sum %v, want 11 and %v", got.Count, got.Sum, want.Sum)
	}

	// The exposition has both, under the names Prometheus gives them.
	srv := httptest.NewServer(p.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{"# TYPE our_duration_seconds histogram\n", "# HELP our_duration_seconds Our durations.\n",
		`our_duration_seconds_bucket{messaging_destination_name="t",le="0.0001"} 2` + "\n",
		`our_duration_seconds_count{messaging_destination_name="t"} 11` + "\n"} {
		if !strings.Contains(string(body), line) {
			t.Errorf("exposition lacks %q:\n%s", line, body)
		}
	}
}

// TestHistogramConcurrentRecords: measurements from many goroutines are all counted, and
// a collection while they run sees a count equal to its buckets' sum (go test -race).
func TestHistogramConcurrentRecords(t *testing.T) {
	hs := &histograms{}
	s := hs.histogram("scope", "d", "").Series(attribute.NewSet())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				s.Record(float64(g*1000+i) * 1e-5)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := hs.Produce(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	out, _ := hs.Produce(context.Background())
	dp := out[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints[0]
	mx, _ := dp.Max.Value()
	mn, _ := dp.Min.Value()
	if dp.Count != 4000 || mn != 0 || math.Abs(mx-0.03999) > 1e-12 || math.Abs(dp.Sum-79.98) > 1e-9 {
		t.Fatalf("count %d min %v max %v sum %v: want 4000, 0, 0.03999, 79.98", dp.Count, mn, mx, dp.Sum)
	}
}

// TestHistogramsNilAndEmpty: metrics off give nil histograms that record nothing; series
// with no measurement are not reported.
func TestHistogramsNilAndEmpty(t *testing.T) {
	var in *Instruments
	h := in.DurationHistogram("x", "y", "")
	h.Series(attribute.NewSet()).Record(1) // no panic
	hs := &histograms{}
	hs.histogram("scope", "unused", "").Series(attribute.NewSet())
	if out, _ := hs.Produce(context.Background()); len(out) != 0 {
		t.Fatalf("an empty series reported: %+v", out)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	p, err := Setup(context.Background(), Config{Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	set := attribute.NewSet(SystemRocketMQ, KeyDestinationName.String("BenchTopic"), KeyOperationName.String("send"))
	b.Run("impl=sdk", func(b *testing.B) {
		h, _ := p.Instruments().Meter("bench").Float64Histogram("sdk.duration", metric.WithUnit("s"))
		opt := []metric.RecordOption{metric.WithAttributeSet(set)}
		for b.Loop() {
			h.Record(context.Background(), 0.0012, opt...)
		}
	})
	b.Run("impl=mqgate", func(b *testing.B) {
		s := p.Instruments().DurationHistogram("bench", "our.duration", "").Series(set)
		for b.Loop() {
			s.Record(0.0012)
		}
	})
}

// TestHistogramDeltas: for an exporter that wants deltas, each collection reports what was
// measured since the previous one, from where that one ended, without min and max.
func TestHistogramDeltas(t *testing.T) {
	hs := &histograms{}
	s := hs.histogram("scope", "d", "").Series(attribute.NewSet(KeyDestinationName.String("t")))
	d := hs.delta()
	point := func() (metricdata.HistogramDataPoint[float64], bool) {
		out, _ := d.Produce(context.Background())
		if len(out) == 0 {
			return metricdata.HistogramDataPoint[float64]{}, false
		}
		h := out[0].Metrics[0].Data.(metricdata.Histogram[float64])
		if h.Temporality != metricdata.DeltaTemporality {
			t.Fatalf("temporality %v", h.Temporality)
		}
		return h.DataPoints[0], true
	}
	s.Record(0.001)
	s.Record(0.001)
	first, ok := point()
	if !ok || first.Count != 2 || first.Sum != 0.002 {
		t.Fatalf("first: %+v", first)
	}
	if _, ok := first.Min.Value(); ok {
		t.Fatal("a delta point with a min")
	}
	s.Record(0.004)
	second, ok := point()
	if !ok || second.Count != 1 || math.Abs(second.Sum-0.004) > 1e-12 || !second.StartTime.Equal(first.Time) {
		t.Fatalf("second: %+v (first ended at %v)", second, first.Time)
	}
	if _, ok := point(); ok {
		t.Fatal("a point for an interval with no measurement")
	}
	// The cumulative producer is unaffected.
	out, _ := hs.Produce(context.Background())
	if dp := out[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints[0]; dp.Count != 3 {
		t.Fatalf("cumulative count %d, want 3", dp.Count)
	}
}

// A forgotten series leaves the cumulative output at once, and the delta output once the
// delta producer has reported what it measured since its previous Produce (nothing
// measured is lost); a series made again for the same attributes counts from zero, from
// its own start time.
func TestHistogramForget(t *testing.T) {
	hs := &histograms{}
	h := hs.histogram("scope", "d", "")
	d := hs.delta()
	gone, kept := attribute.NewSet(KeyConsumerGroupName.String("gone")), attribute.NewSet(KeyConsumerGroupName.String("kept"))
	s, k := h.Series(gone), h.Series(kept)
	s.Record(0.001)
	k.Record(0.001)
	d.Produce(context.Background())
	s.Record(0.002) // after the delta producer's last Produce: still reported
	h.Forget(s)
	k.Record(0.002)
	rm := &metricdata.ResourceMetrics{ScopeMetrics: hs.produce(nil)}
	if _, ok := histogramPoint(t, rm, "d", gone); ok {
		t.Error("cumulative: the forgotten series is exported")
	}
	if _, ok := histogramPoint(t, rm, "d", kept); !ok {
		t.Error("cumulative: the kept series is not exported")
	}
	for i, want := range []uint64{1, 0} {
		rm := &metricdata.ResourceMetrics{ScopeMetrics: hs.produce(&d.st)}
		dp, ok := histogramPoint(t, rm, "d", gone)
		if got := dp.Count; got != want || ok != (want > 0) {
			t.Errorf("delta, Produce %d after the Forget: the forgotten series' count %d (exported %v), want %d", i+1, got, ok, want)
		}
	}
	if _, ok := d.st.last[s]; ok || len(d.st.last) != 1 {
		t.Errorf("delta state of %d series, the forgotten one's kept: %v", len(d.st.last), ok)
	}
	h.Forget(k)
	h.Forget(s) // twice: nothing
	again := h.Series(gone)
	if again == s {
		t.Fatal("Series gave the forgotten series back")
	}
	again.Record(0.004)
	rm = &metricdata.ResourceMetrics{ScopeMetrics: hs.produce(nil)}
	if dp, ok := histogramPoint(t, rm, "d", gone); !ok || dp.Count != 1 || !dp.StartTime.After(s.start) {
		t.Errorf("the series made again: %+v, %v; want a count of 1 from its own start", dp, ok)
	}
}
