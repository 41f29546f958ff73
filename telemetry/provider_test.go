package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/metric"
)

func TestSetupOffGivesNothing(t *testing.T) {
	p, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Instruments() != nil || p.MetricsHandler() != nil {
		t.Fatal("telemetry off, yet instruments or a metrics handler")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSetSampleRatioTakesEffectAtOnce(t *testing.T) {
	p, err := Setup(context.Background(), Config{Enabled: true, SampleRatio: ptr(0.0)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	tr := p.Instruments().Tracer("test")
	recorded := func() int {
		n := 0
		for range 200 {
			_, s := tr.Start(context.Background(), "x")
			if s.IsRecording() {
				n++
			}
			s.End()
		}
		return n
	}
	if n := recorded(); n != 0 {
		t.Fatalf("ratio 0 recorded %d of 200", n)
	}
	if err := p.SetSampleRatio(1); err != nil {
		t.Fatal(err)
	}
	if n := recorded(); n != 200 {
		t.Fatalf("ratio 1 recorded %d of 200", n)
	}
	if err := p.SetSampleRatio(0.5); err != nil {
		t.Fatal(err)
	}
	if n := recorded(); n < 60 || n > 140 {
		t.Fatalf("ratio 0.5 recorded %d of 200", n)
	}
	if err := p.SetSampleRatio(2); err == nil {
		t.Fatal("ratio 2 accepted")
	}
}

func TestCarrierRoundTrip(t *testing.T) {
	p, err := Setup(context.Background(), Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx, span := p.Instruments().Tracer("test").Start(context.Background(), "send")
	defer span.End()
	var msg message.Message
	msg.Properties.Set("KEYS", "k1")
	Inject(ctx, &msg.Properties)
	tp := msg.Properties.Get(PropertyTraceParent)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if tp != want {
		t.Fatalf("traceparent %q, want %q", tp, want)
	}
	// Through the wire encoding and back, as a consumer sees it.
	var back message.Properties
	back.Parse(msg.Properties.Encode())
	sc := Extract(&back)
	if !sc.IsRemote() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("extracted %+v", sc)
	}
	var none message.Properties
	if Extract(&none).IsValid() {
		t.Fatal("a message without traceparent gave a span context")
	}
	none.Set(PropertyTraceParent, "garbage")
	if Extract(&none).IsValid() {
		t.Fatal("a malformed traceparent gave a span context")
	}
	Inject(context.Background(), &none) // no span: nothing written over
	if none.Get(PropertyTraceParent) != "garbage" {
		t.Fatal("Inject without a span wrote a traceparent")
	}
}

func TestMetricsExposition(t *testing.T) {
	p, err := Setup(context.Background(), Config{Enabled: true, ResourceAttributes: map[string]string{"deployment.environment": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	m := p.Instruments().Meter("test")
	c, _ := m.Int64Counter("messaging.client.sent.messages", metric.WithUnit("{message}"), metric.WithDescription("Sent."))
	h, _ := m.Float64Histogram("messaging.client.operation.duration", metric.WithUnit("s"))
	c.Add(context.Background(), 3, metric.WithAttributes(KeyDestinationName.String(`to"pic`)))
	h.Record(context.Background(), 0.002, metric.WithAttributes(KeyDestinationName.String("t")))
	rec := httptest.NewRecorder()
	p.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := string(body)
	for _, want := range []string{
		"# TYPE messaging_client_sent_messages_total counter\n",
		`messaging_client_sent_messages_total{messaging_destination_name="to\"pic"} 3` + "\n",
		"# TYPE messaging_client_operation_duration_seconds histogram\n",
		`messaging_client_operation_duration_seconds_bucket{messaging_destination_name="t",le="0.0025"} 1` + "\n",
		`messaging_client_operation_duration_seconds_bucket{messaging_destination_name="t",le="0.001"} 0` + "\n",
		`messaging_client_operation_duration_seconds_count{messaging_destination_name="t"} 1` + "\n",
		`deployment_environment="test"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}
