package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// attrBufLen is the room of a pooled attribute list: a producer span's attributes under
// every convention, duplicated ones included, fit.
const attrBufLen = 24

// attrBufs holds attribute lists of exported spans for the next spans to fill. A traced
// send otherwise allocates its span's list, ~600 bytes, for the collector to reclaim
// after the export: the largest share of the bytes tracing adds to a send.
var attrBufs = sync.Pool{New: func() any { return new([attrBufLen]attribute.KeyValue) }}

// AttributeBuffer returns an empty attribute list with room for n, for a span's
// StartOfKind or SetOwnedAttributes: a pooled one when n fits. A span of the gateway's
// tracer gives its list back once exported, when nothing can see it any more: the span's
// only processor is a SpanBatcher whose exporter keeps nothing of a span past its
// ExportSpans (OTLP's turn spans into protobuf messages first).
func AttributeBuffer(n int) []attribute.KeyValue {
	if n > attrBufLen {
		return make([]attribute.KeyValue, 0, n)
	}
	return attrBufs.Get().(*[attrBufLen]attribute.KeyValue)[:0]
}

// recycleAttributes gives s's attribute list back to the pool: called once s is exported,
// by its sole processor, when the exporter has let go of it. A list of s's own with a
// pooled list's room is taken, whether it came from the pool or not; a shared one
// (an AttributeList's) never.
func (s *span) recycleAttributes() {
	if s.shared || cap(s.attrs) != attrBufLen {
		return
	}
	clear(s.attrs) // pin no string of this span's; past len it is clear already (dedupe's)
	buf := (*[attrBufLen]attribute.KeyValue)(s.attrs[:attrBufLen])
	s.attrs = nil
	attrBufs.Put(buf)
}

// releasesSpans tells whether exp lets go of the spans it is given once ExportSpans
// returns: OTLP's exporters (which copy spans into protobuf messages before sending
// them) and the SDK's exporter that drops them. Others (an in-memory exporter keeps the
// spans' attribute lists) are assumed to keep them.
func releasesSpans(exp sdktrace.SpanExporter) bool {
	switch exp.(type) {
	case *otlptrace.Exporter, *tracetest.NoopExporter:
		return true
	}
	return false
}
