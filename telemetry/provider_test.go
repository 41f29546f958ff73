package telemetry

import (
	"cmp"
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
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

// Remote parents whose trace ids are on the other side of ratio 0.5 from their flag (the
// top bit of byte 8 decides): the sampled one's trace is dropped at 0.5, the other's kept.
var (
	sampledDroppedByRatio = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 8: 0xff},
		SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	unsampledKeptByRatio = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2},
		SpanID: trace.SpanID{2}, Remote: true})
)

// recordedUnder starts and ends n spans under parent (none when invalid) and says how many
// of them reached the span processors: "none", "some" or "all".
func recordedUnder(tr trace.Tracer, rec *tracetest.SpanRecorder, parent trace.SpanContext) string {
	const n = 100
	before := len(rec.Ended())
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	for range n {
		_, s := tr.Start(ctx, "x")
		s.End()
	}
	switch len(rec.Ended()) - before {
	case 0:
		return "none"
	case n:
		return "all"
	}
	return "some"
}

// recordedUnderEach is what recordedUnder gives for roots, under a sampled parent and
// under a parent sampled out.
func recordedUnderEach(tr trace.Tracer, rec *tracetest.SpanRecorder) [3]string {
	return [3]string{recordedUnder(tr, rec, trace.SpanContext{}), recordedUnder(tr, rec, sampledDroppedByRatio),
		recordedUnder(tr, rec, unsampledKeptByRatio)}
}

// tracedProvider sets cfg up with traces on and metrics off, the spans recorded; it is
// shut down with the test.
func tracedProvider(t *testing.T, cfg Config) (*Provider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	cfg.Enabled, cfg.Metrics, cfg.SpanProcessors = true, ptr(false), []sdktrace.SpanProcessor{rec}
	p, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, rec
}

// TestEnvSamplerKinds: the sampler OTEL_TRACES_SAMPLER names decides as the SDK's of that
// name: always_on, always_off and traceidratio whatever the parent (a caller's
// traceparent, a message's), only the parentbased_ forms after the parent. Unset, it is
// the SDK's default, parentbased_always_on; the file's sample_ratio wins over it and is
// parent-based.
func TestEnvSamplerKinds(t *testing.T) {
	const none, some, all = "none", "some", "all"
	tests := []struct {
		sampler, arg string
		file         *float64         // [telemetry] sample_ratio
		sdk          sdktrace.Sampler // the SDK's sampler of that name, for its Description
		// what is recorded of a root, of a span under a sampled parent whose trace ratio
		// 0.5 drops, of a span under a parent sampled out whose trace ratio 0.5 keeps
		root, sampled, unsampled string
	}{
		{"", "", nil, sdktrace.ParentBased(sdktrace.AlwaysSample()), all, all, none},
		{"always_on", "", nil, sdktrace.AlwaysSample(), all, all, all},
		{"always_off", "", nil, sdktrace.NeverSample(), none, none, none},
		{"traceidratio", "", nil, sdktrace.TraceIDRatioBased(1), all, all, all},
		{"traceidratio", "0", nil, sdktrace.TraceIDRatioBased(0), none, none, none},
		{"traceidratio", "0.5", nil, sdktrace.TraceIDRatioBased(0.5), some, none, all},
		{"parentbased_always_on", "", nil, sdktrace.ParentBased(sdktrace.AlwaysSample()), all, all, none},
		{"parentbased_always_off", "", nil, sdktrace.ParentBased(sdktrace.NeverSample()), none, all, none},
		{"parentbased_traceidratio", "0", nil, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), none, all, none},
		{"parentbased_traceidratio", "0.5", nil, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.5)), some, all, none},
		{"ALWAYS_OFF", "", nil, sdktrace.NeverSample(), none, none, none}, // as the SDK, any case
		{" TraceIdRatio ", " 0.5 ", nil, sdktrace.TraceIDRatioBased(0.5), some, none, all},
		{"ParentBased_TraceIdRatio", "0.5", nil, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.5)), some, all, none},
		{"always_off", "", ptr(1.0), sdktrace.ParentBased(sdktrace.TraceIDRatioBased(1)), all, all, none},
		{"traceidratio", "0", ptr(0.0), sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), none, all, none},
	}
	for _, tt := range tests {
		name := cmp.Or(tt.sampler, "unset")
		if tt.arg != "" {
			name += "=" + tt.arg
		}
		if tt.file != nil {
			name += ",sample_ratio=" + strconv.FormatFloat(*tt.file, 'g', -1, 64)
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			cfg := Config{SampleRatio: tt.file}
			// As the gateway does: its Validate applies the environment, then Setup again.
			if err := cfg.ApplyEnv(); err != nil {
				t.Fatal(err)
			}
			p, rec := tracedProvider(t, cfg)
			if got, want := p.Sampler(), tt.sdk.Description(); got != want {
				t.Errorf("description %q, the SDK's %q", got, want)
			}
			got := recordedUnderEach(p.Instruments().Tracer("test"), rec)
			if want := [3]string{tt.root, tt.sampled, tt.unsampled}; got != want {
				t.Errorf("recorded of roots, under a sampled parent, under one sampled out: %v, want %v", got, want)
			}
		})
	}
}

// TestSetSampleRatioKeepsTheSamplerKind: a new ratio (a configuration reload) changes the
// share of traces recorded, not whether the sampler follows the parent.
func TestSetSampleRatioKeepsTheSamplerKind(t *testing.T) {
	tests := []struct {
		sampler, desc      string
		sampled, unsampled string // recorded under each parent after SetSampleRatio(1)
	}{
		{"always_off", "AlwaysOnSampler", "all", "all"},
		{"traceidratio", "TraceIDRatioBased{1}", "all", "all"},
		{"parentbased_always_off", sdktrace.ParentBased(sdktrace.AlwaysSample()).Description(), "all", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.sampler, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
			p, rec := tracedProvider(t, Config{})
			if err := p.SetSampleRatio(1); err != nil {
				t.Fatal(err)
			}
			tr := p.Instruments().Tracer("test")
			if got := recordedUnder(tr, rec, trace.SpanContext{}); got != "all" {
				t.Errorf("roots at ratio 1: %s recorded", got)
			}
			if got := recordedUnder(tr, rec, sampledDroppedByRatio); got != tt.sampled {
				t.Errorf("under a sampled parent: %s recorded, want %s", got, tt.sampled)
			}
			if got := recordedUnder(tr, rec, unsampledKeptByRatio); got != tt.unsampled {
				t.Errorf("under a parent sampled out: %s recorded, want %s", got, tt.unsampled)
			}
			if got := p.tp.sampler.Description(); got != tt.desc {
				t.Errorf("description %q, want %q", got, tt.desc)
			}
		})
	}
}

// TestSetSamplingAsARestartWould: a reload adding the file's sample_ratio over an
// OTEL_TRACES_SAMPLER that ignores the parent samples as a restart with that file would,
// following the parent; removing it again brings back the environment's sampler.
func TestSetSamplingAsARestartWould(t *testing.T) {
	for _, env := range []string{"traceidratio", "always_off", "parentbased_traceidratio"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", env)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
			p, rec := tracedProvider(t, Config{})
			tr := p.Instruments().Tracer("test")
			// What each configuration gives at start.
			atStart := func(cfg Config) ([3]string, string) {
				q, rec := tracedProvider(t, cfg)
				return recordedUnderEach(q.Instruments().Tracer("test"), rec), q.Sampler()
			}
			envOnly, envDesc := atStart(Config{})
			file := Config{SampleRatio: ptr(0.5)}
			withFile, fileDesc := atStart(file)

			if err := p.SetSampling(file); err != nil {
				t.Fatal(err)
			}
			if got := recordedUnderEach(tr, rec); got != withFile || p.Sampler() != fileDesc {
				t.Errorf("after adding sample_ratio: %v %s, a restart gives %v %s", got, p.Sampler(), withFile, fileDesc)
			}
			if err := p.SetSampling(Config{}); err != nil {
				t.Fatal(err)
			}
			if got := recordedUnderEach(tr, rec); got != envOnly || p.Sampler() != envDesc {
				t.Errorf("after removing it: %v %s, a restart gives %v %s", got, p.Sampler(), envOnly, envDesc)
			}
		})
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
