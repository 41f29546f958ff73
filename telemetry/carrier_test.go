package telemetry

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestInjectMatchesPropagator: the properties written are those the SDK's W3C TraceContext
// propagator writes, whatever the flags and trace state.
func TestInjectMatchesPropagator(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=x,other=y")
	if err != nil {
		t.Fatal(err)
	}
	base := trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:  trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
	}
	cases := []struct {
		name  string
		flags trace.TraceFlags
		state trace.TraceState
	}{
		{"sampled", trace.FlagsSampled, trace.TraceState{}},
		{"not sampled", 0, trace.TraceState{}},
		{"sampled with a random trace id", trace.FlagsSampled | trace.FlagsRandom, trace.TraceState{}},
		{"undefined flags dropped", 0xfc | trace.FlagsSampled, trace.TraceState{}},
		{"with a trace state", trace.FlagsSampled, ts},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.TraceFlags, cfg.TraceState = tt.flags, tt.state
			ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(cfg))
			want := propagation.HeaderCarrier{}
			propagation.TraceContext{}.Inject(ctx, want)
			var got message.Properties
			Inject(ctx, &got)
			for _, k := range []string{PropertyTraceParent, PropertyTraceState} {
				if g, w := got.Get(k), want.Get(k); g != w {
					t.Errorf("%s %q, the propagator writes %q", k, g, w)
				}
			}
			if n := NewTraceContext(trace.NewSpanContext(cfg)).Len(); n != got.Len() {
				t.Errorf("Len %d, Inject set %d properties", n, got.Len())
			}
		})
	}
	var none message.Properties
	NewTraceContext(trace.SpanContext{}).Inject(&none)
	if n := NewTraceContext(trace.SpanContext{}).Len(); none.Len() != 0 || n != 0 {
		t.Errorf("an invalid span context wrote %d properties, Len %d", none.Len(), n)
	}
}

func BenchmarkInject(b *testing.B) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	var p message.Properties
	b.ReportAllocs()
	for range b.N {
		NewTraceContext(sc).Inject(&p)
	}
}

// TestPutHexMatchesEncodingHex: every byte value, in every position of a trace id.
func TestPutHexMatchesEncodingHex(t *testing.T) {
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	got := make([]byte, 512)
	putHex(got, src)
	if want := hex.EncodeToString(src); string(got) != want {
		t.Fatalf("putHex\n got %s\nwant %s", got, want)
	}
	for i := range 256 - 16 {
		var tid trace.TraceID
		copy(tid[:], src[i:])
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID(src[i+8 : i+16]), TraceFlags: trace.FlagsSampled})
		want := propagation.HeaderCarrier{}
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), want)
		if got := TraceParent(sc); got != want.Get("traceparent") {
			t.Fatalf("traceparent %s, the propagator writes %s", got, want.Get("traceparent"))
		}
	}
}

// TraceContextOf a producer span is what NewTraceContext formats from its span context,
// whether the span was allocated with its traceparent (the gateway's tracer, recording),
// sampled out, in a trace with a trace state, or the SDK's.
func TestTraceContextOfAProducerSpan(t *testing.T) {
	ts, _ := trace.TraceState{}.Insert("vendor", "v")
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	ours := newTracerProvider(resource.Empty(), sdktrace.ParentBased(sdktrace.AlwaysSample()), nil).Tracer("x")
	never := newTracerProvider(resource.Empty(), sdktrace.NeverSample(), nil).Tracer("x")
	sdk := sdktrace.NewTracerProvider().Tracer("x")
	for _, c := range []struct {
		name     string
		tr       trace.Tracer
		ctx      context.Context
		withText bool
	}{
		{"recording", ours, context.Background(), true},
		{"a child of a remote parent with a trace state", ours, trace.ContextWithRemoteSpanContext(context.Background(), remote), true},
		{"sampled out", never, context.Background(), false},
		{"the SDK's", sdk, context.Background(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := StartProducerSpan(c.ctx, c.tr, "T publish", nil)
			defer s.End()
			got, want := TraceContextOf(s), NewTraceContext(s.SpanContext())
			if got != want || want.parent == "" {
				t.Fatalf("TraceContextOf = %+v, want %+v", got, want)
			}
			if sp, ok := s.(*span); ok != c.withText || ok && sp.parentText() == "" {
				t.Fatalf("span %T: allocated with its traceparent %v, want %v", s, ok && sp.parentText() != "", c.withText)
			}
			if s.SpanContext().TraceState().Len() != trace.SpanContextFromContext(c.ctx).TraceState().Len() {
				t.Fatalf("trace state %q, want the parent's", s.SpanContext().TraceState())
			}
		})
	}
}
