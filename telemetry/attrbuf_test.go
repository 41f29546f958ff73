package telemetry

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// startPooled starts a span whose attributes, in a pooled list, name it: id i.
func startPooled(tr trace.Tracer, i int) trace.Span {
	_, s := StartOfKind(context.Background(), tr, "s"+strconv.Itoa(i), trace.SpanKindProducer, func() []attribute.KeyValue {
		return append(AttributeBuffer(3), KeyDestinationName.String("T"+strconv.Itoa(i)),
			KeyMessageID.String("id"+strconv.Itoa(i)), attribute.Int("i", i))
	})
	return s
}

// TestRecycledAttributesStayTheirSpans: spans exported over OTLP while others are made
// from the lists the exported ones gave back each arrive with their own attributes.
func TestRecycledAttributesStayTheirSpans(t *testing.T) {
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16") // many exports, many lists given back
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	p, err := Setup(context.Background(), Config{Enabled: true, Endpoint: srv.URL, Protocol: "http", MetricInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !p.tp.recycles {
		t.Fatal("the OTLP exporter's provider does not give attribute lists back")
	}
	tr := p.Instruments().Tracer("test")
	const workers, each = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range each {
				startPooled(tr, w*each+j).End()
			}
		})
	}
	wg.Wait()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	seen := 0
	for _, req := range col.traces {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					seen++
					i := s.GetName()[1:]
					got := otlpAttrs(s.GetAttributes())
					want := map[string]string{string(KeyDestinationName): "T" + i, string(KeyMessageID): "id" + i, "i": i}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("span %s arrived with %v, want %v", s.GetName(), got, want)
					}
				}
			}
		}
	}
	if seen != workers*each {
		t.Errorf("%d spans arrived, want %d", seen, workers*each)
	}
}

// TestAttributesKeptWhereAnExporterMayKeepThem: an exporter that may keep spans past its
// ExportSpans (an in-memory one), or a second processor beside the batcher, keeps the
// attributes of every exported span as they were.
func TestAttributesKeptWhereAnExporterMayKeepThem(t *testing.T) {
	for _, c := range []struct {
		name string
		make func() ([]sdktrace.SpanProcessor, func() []sdktrace.ReadOnlySpan)
	}{
		{"in-memory exporter", func() ([]sdktrace.SpanProcessor, func() []sdktrace.ReadOnlySpan) {
			exp := tracetest.NewInMemoryExporter()
			return []sdktrace.SpanProcessor{NewSpanBatcher(exp)}, func() []sdktrace.ReadOnlySpan {
				return exp.GetSpans().Snapshots()
			}
		}},
		{"a recorder beside a batcher", func() ([]sdktrace.SpanProcessor, func() []sdktrace.ReadOnlySpan) {
			rec := tracetest.NewSpanRecorder()
			return []sdktrace.SpanProcessor{NewSpanBatcher(tracetest.NewNoopExporter()), rec}, rec.Ended
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sps, ended := c.make()
			p := newTracerProvider(nil, sdktrace.AlwaysSample(), sps)
			tr := p.Tracer("test")
			for i := range 200 {
				startPooled(tr, i).End()
				if i%10 == 9 {
					if err := p.ForceFlush(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			spans := ended()
			if len(spans) != 200 {
				t.Fatalf("%d spans, want 200", len(spans))
			}
			for _, s := range spans {
				i := s.Name()[1:]
				got := map[string]string{}
				for _, a := range s.Attributes() {
					got[string(a.Key)] = a.Value.String()
				}
				want := map[string]string{string(KeyDestinationName): "T" + i, string(KeyMessageID): "id" + i, "i": i}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("span %s has %v, want %v", s.Name(), got, want)
				}
			}
			_ = p.Shutdown(context.Background())
		})
	}
}
