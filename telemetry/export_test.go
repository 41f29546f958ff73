package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is an OTLP/HTTP receiver keeping what it is sent.
type otlpCollector struct {
	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp proto.Message
	c.mu.Lock()
	switch r.URL.Path {
	case "/v1/traces":
		req := &coltracepb.ExportTraceServiceRequest{}
		err = proto.Unmarshal(body, req)
		c.traces = append(c.traces, req)
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/v1/metrics":
		req := &colmetricpb.ExportMetricsServiceRequest{}
		err = proto.Unmarshal(body, req)
		c.metrics = append(c.metrics, req)
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		err = errors.New("unknown path " + r.URL.Path)
	}
	c.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func otlpAttrs(kv []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, a := range kv {
		switch v := a.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[a.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[a.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		default:
			m[a.GetKey()] = a.GetValue().String()
		}
	}
	return m
}

// TestExportOverOTLP sends spans of the gateway's tracer provider and a duration
// histogram through the real OTLP/HTTP exporters to a receiver: what a collector gets is
// what the spans were made with.
func TestExportOverOTLP(t *testing.T) {
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	p, err := Setup(context.Background(), Config{Enabled: true, Endpoint: srv.URL, Protocol: "http",
		ServiceName: "mqgate-export-test", MetricInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Instruments().Tracer("test")
	ctx, parent := tr.Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(KeyDestinationName.String("T"), KeyDestinationName.String("T2")))
	link := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{8}, TraceFlags: trace.FlagsSampled})
	child := StartSpan(ctx, tr, "child", trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(trace.Link{SpanContext: link}))
	child.RecordError(errors.New("broker gone"))
	child.SetStatus(codes.Error, "broker gone")
	child.End()
	parent.End()
	h := p.Instruments().DurationHistogram("test", "test.duration", "Test durations.")
	h.Series(attribute.NewSet(KeyDestinationName.String("T"))).Record(0.003)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	spans := map[string]*tracepb.Span{}
	var resource map[string]string
	for _, req := range col.traces {
		for _, rs := range req.GetResourceSpans() {
			resource = otlpAttrs(rs.GetResource().GetAttributes())
			for _, ss := range rs.GetScopeSpans() {
				if ss.GetScope().GetName() != ScopePrefix+"test" {
					t.Errorf("scope %q", ss.GetScope().GetName())
				}
				for _, s := range ss.GetSpans() {
					spans[s.GetName()] = s
				}
			}
		}
	}
	ps, cs := spans["parent"], spans["child"]
	if ps == nil || cs == nil {
		t.Fatalf("spans received: %v", spans)
	}
	if resource["service.name"] != "mqgate-export-test" {
		t.Errorf("resource %v", resource)
	}
	if ps.GetKind() != tracepb.Span_SPAN_KIND_PRODUCER || len(ps.GetAttributes()) != 1 ||
		otlpAttrs(ps.GetAttributes())["messaging.destination.name"] != "T2" {
		t.Errorf("parent: kind %v, attributes %v (the last value of a key given twice)", ps.GetKind(), ps.GetAttributes())
	}
	if string(cs.GetParentSpanId()) != string(ps.GetSpanId()) || string(cs.GetTraceId()) != string(ps.GetTraceId()) {
		t.Error("the child is not the parent's child")
	}
	if cs.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || cs.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR ||
		cs.GetStatus().GetMessage() != "broker gone" {
		t.Errorf("child: kind %v, status %v", cs.GetKind(), cs.GetStatus())
	}
	if ev := cs.GetEvents(); len(ev) != 1 || ev[0].GetName() != "exception" ||
		otlpAttrs(ev[0].GetAttributes())["exception.message"] != "broker gone" {
		t.Errorf("child events %v", ev)
	}
	linkTrace, linkSpan := link.TraceID(), link.SpanID()
	if l := cs.GetLinks(); len(l) != 1 || !bytes.Equal(l[0].GetTraceId(), linkTrace[:]) || !bytes.Equal(l[0].GetSpanId(), linkSpan[:]) {
		t.Errorf("child links %v", l)
	}
	if cs.GetEndTimeUnixNano() < cs.GetStartTimeUnixNano() || cs.GetStartTimeUnixNano() == 0 {
		t.Errorf("child times %d..%d", cs.GetStartTimeUnixNano(), cs.GetEndTimeUnixNano())
	}

	found := false
	for _, req := range col.metrics {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != "test.duration" {
						continue
					}
					dp := m.GetHistogram().GetDataPoints()
					if m.GetUnit() != "s" || len(dp) != 1 || dp[0].GetCount() != 1 || dp[0].GetSum() != 0.003 ||
						len(dp[0].GetExplicitBounds()) != len(durationBounds) {
						t.Errorf("test.duration: unit %q, points %v", m.GetUnit(), dp)
					}
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("the duration histogram did not arrive")
	}
}

// TestExportDeltaHistograms: with OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta
// the duration histograms go out as deltas, as the SDK's instruments do.
func TestExportDeltaHistograms(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	p, err := Setup(context.Background(), Config{Enabled: true, Endpoint: srv.URL, Protocol: "http", MetricInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.Instruments().DurationHistogram("test", "test.duration", "").Series(attribute.NewSet()).Record(0.01)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, req := range col.metrics {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == "test.duration" {
						if got := m.GetHistogram().GetAggregationTemporality(); got != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
							t.Fatalf("temporality %v", got)
						}
						return
					}
				}
			}
		}
	}
	t.Fatal("the histogram did not arrive")
}
