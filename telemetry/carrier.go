package telemetry

import (
	"context"

	"github.com/mqgate/mqgate/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The message properties that carry the W3C trace context of the span that produced a
// message. Their names are the W3C header names, as other RocketMQ instrumentations
// (the Java agent's, for one) write them, so a trace crosses clients.
const (
	PropertyTraceParent = "traceparent"
	PropertyTraceState  = "tracestate"
)

// propagator is the W3C TraceContext propagator: traceparent and tracestate.
var propagator propagation.TraceContext

// MessageCarrier adapts message properties to propagation.TextMapCarrier.
type MessageCarrier struct{ P *message.Properties }

var _ propagation.TextMapCarrier = MessageCarrier{}

// Get returns the property, "" when absent.
func (c MessageCarrier) Get(key string) string { return c.P.Get(key) }

// Set sets the property.
func (c MessageCarrier) Set(key, value string) { c.P.Set(key, value) }

// Keys lists the properties.
func (c MessageCarrier) Keys() []string {
	keys := make([]string, 0, c.P.Len())
	for k := range c.P.All() {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context of ctx into the properties; nothing when ctx holds no
// valid span context.
func Inject(ctx context.Context, p *message.Properties) {
	NewTraceContext(trace.SpanContextFromContext(ctx)).Inject(p)
}

// TraceContext is a span context formatted as the properties that carry it, the values
// the W3C TraceContext propagator writes, formatted once for any number of messages.
type TraceContext struct{ parent, state string }

// NewTraceContext formats sc; the zero TraceContext, which injects nothing, when sc is
// not valid.
func NewTraceContext(sc trace.SpanContext) TraceContext {
	if !sc.IsValid() {
		return TraceContext{}
	}
	return TraceContext{parent: TraceParent(sc), state: sc.TraceState().String()}
}

// TraceContextOf is NewTraceContext(s.SpanContext()), with the traceparent a span of
// StartProducerSpan was allocated with rather than a new one.
func TraceContextOf(s trace.Span) TraceContext {
	if sp, ok := s.(*span); ok {
		if text := sp.parentText(); text != "" {
			return TraceContext{parent: text, state: sp.traceState().String()}
		}
	}
	return NewTraceContext(s.SpanContext())
}

// Len returns the number of properties Inject sets.
func (c TraceContext) Len() int {
	switch {
	case c.parent == "":
		return 0
	case c.state == "":
		return 1
	}
	return 2
}

// Inject writes the trace context into the properties: traceparent, and tracestate when
// the span context has one.
func (c TraceContext) Inject(p *message.Properties) {
	if c.parent == "" {
		return
	}
	if c.state != "" {
		p.Set(PropertyTraceState, c.state)
	}
	p.Set(PropertyTraceParent, c.parent)
}

// TraceParent is the W3C traceparent of sc, "00-<trace id>-<span id>-<flags>" in lower
// case hex, keeping only the flags the specification defines (sampled, random), as the
// TraceContext propagator writes it: formatted into an array, one string allocated.
func TraceParent(sc trace.SpanContext) string {
	var b [traceParentLen]byte
	putTraceParent(&b, sc.TraceID(), sc.SpanID(), sc.TraceFlags())
	return string(b[:])
}

const traceParentLen = 55

// putTraceParent formats a traceparent into b.
func putTraceParent(b *[traceParentLen]byte, tid trace.TraceID, sid trace.SpanID, flags trace.TraceFlags) {
	b[0], b[1], b[2], b[35], b[52] = '0', '0', '-', '-', '-'
	putHex(b[3:35], tid[:])
	putHex(b[36:52], sid[:])
	putHex(b[53:55], []byte{byte(flags & (trace.FlagsSampled | trace.FlagsRandom))})
}

// hexPairs holds the two lower-case hex digits of every byte: one load and one store a
// byte, where encoding/hex takes two of each (a third of a send's trace-context cost).
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&15]}
	}
	return t
}()

// putHex writes src in hex into dst, which holds 2*len(src) bytes.
func putHex(dst, src []byte) {
	dst = dst[:2*len(src)]
	for i, c := range src {
		*(*[2]byte)(dst[2*i:]) = hexPairs[c]
	}
}

// Extract returns the remote span context the properties carry; not valid when they
// carry none, or a malformed one.
func Extract(p *message.Properties) trace.SpanContext {
	if _, ok := p.Lookup(PropertyTraceParent); !ok {
		return trace.SpanContext{}
	}
	ctx := propagator.Extract(context.Background(), MessageCarrier{p})
	return trace.SpanContextFromContext(ctx)
}
