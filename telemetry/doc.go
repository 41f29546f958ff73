// Package telemetry sets up OpenTelemetry for the gateway and gives the instrumented
// packages what they record with: traces and metrics exported over OTLP (gRPC or HTTP),
// metrics also served as a Prometheus text exposition, and the names of the messaging
// semantic conventions for RocketMQ.
//
// # Setup
//
// Setup(ctx, Config) returns a *Provider holding a TracerProvider, a MeterProvider and
// the /metrics handler; Shutdown(ctx) flushes and stops them. Config is the [telemetry]
// table of gateway.toml. The standard OTEL_* environment variables are honoured: a
// setting written in the file wins over the environment, which wins over the defaults
// (see Config.ApplyEnv for the list). SetSampleRatio changes the trace sampling ratio
// at once, for spans started afterwards; SetSampling applies a reloaded configuration's
// sampler as a restart would make it.
//
// # Off costs nothing
//
// Instrumented packages take an *Instruments in their Config; nil means off, and the hot
// paths then test one pointer and call nothing else: no tracer, no meter, no allocation.
//
// # Trace context in messages
//
// The W3C trace context of the producer span travels in two message properties,
// "traceparent" and "tracestate" (PropertyTraceParent, PropertyTraceState), written as
// the W3C TraceContext propagator writes them (TraceContext: formatted once per span,
// whatever the number of messages) and read with it through MessageCarrier. A consumer
// span takes the extracted context as its parent (so a produce and its deliveries form
// one trace) and also links to it, as the messaging conventions ask of process spans.
// Messages from clients that set no such property still get a consumer span, a root.
//
// # Spans and duration histograms for less
//
// The TracerProvider is the package's own, not the SDK's: it makes the spans the SDK
// makes (its sampler, limits, OTEL_SPAN_* variables, span processors and exporters; a
// test runs both on the same script and compares every field) at about half the CPU, a
// span being its own read-only view instead of copied at End. Spans go to the OTLP
// exporter through a SpanBatcher: the SDK's batch span processor's settings and
// OTEL_BSP_* variables, with a cheaper hand-over of each ended span. The duration
// histograms of the hot paths are Histograms, recorded with atomics and collected through
// a metric producer (~10 ns a measurement; the SDK's histogram ~150 ns). With the
// gateway's tracer, instrumentation can start a span of a kind without options
// (StartOfKind, StartSpanOfKind), a producer span with its traceparent in the same
// allocation (StartProducerSpan, TraceContextOf), carry a span in a context type of its
// own instead of a new one (IsSpanKey), share an attribute list between spans
// (AttributeList) or hand a span the list made for it (SetOwnedAttributes), built in a
// buffer the span gives back once exported (AttributeBuffer); a span's times take one
// clock reading each, and a span takes 176 bytes. At sampling ratio 1, telemetry costs a send ~1.1-1.3 µs of CPU, coalesced or not
// (BENCHMARKS.md, Telemetry).
//
// # Semantic conventions
//
// Attribute and span names follow the OpenTelemetry messaging conventions for RocketMQ.
// OTEL_SEMCONV_STABILITY_OPT_IN chooses which: by default the v1.24 names
// (messaging.operation, messaging.rocketmq.client_group, messaging.rocketmq.message.tag,
// span names "<topic> publish"); "messaging" the current ones (messaging.operation.type
// and .name, messaging.consumer.group.name, rocketmq.message.tag, span names
// "send <topic>"); "messaging/dup" both sets of attributes (with the old span names), as
// the conventions describe for a migration. Metric names are always the current ones
// (messaging.client.sent.messages, messaging.client.operation.duration,
// messaging.client.consumed.messages, messaging.process.duration) plus mqgate.* metrics,
// and their attributes the current names: v1.24 defined no stable metric names to keep.
package telemetry
