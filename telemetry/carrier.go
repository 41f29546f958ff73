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
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, MessageCarrier{p})
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
