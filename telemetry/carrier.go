package telemetry

import (
	"context"
	"encoding/hex"

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
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], flags[:])
	return string(b[:])
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
