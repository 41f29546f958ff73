package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// AttributeList is a list of span attributes that many spans share and nobody changes,
// checked once: a span of the gateway's tracer refers to it rather than copying it (a
// client span's attributes repeat from call to call). Build it with NewAttributeList and
// set it with SetAttributeList.
type AttributeList struct {
	kv []attribute.KeyValue
	// shareable: every attribute valid, each key once, no string slice (the SDK would
	// copy one whatever its length); longest is the longest string value, in bytes.
	shareable bool
	longest   int
}

// NewAttributeList returns the list of kv, which it keeps: the caller must not change kv
// afterwards.
func NewAttributeList(kv ...attribute.KeyValue) *AttributeList {
	l := &AttributeList{kv: kv, shareable: !hasDuplicateKey(kv)}
	for _, a := range kv {
		switch {
		case !a.Valid() || a.Value.Type() == attribute.STRINGSLICE:
			l.shareable = false
		case a.Value.Type() == attribute.STRING:
			l.longest = max(l.longest, len(a.Value.AsString()))
		}
	}
	return l
}

// SetAttributeList sets l's attributes on s, with the result of s.SetAttributes(l...).
// A recording span of the gateway's tracer with no attributes yet takes l itself when
// the limits leave it whole, and copies it only if more attributes are set.
func SetAttributeList(s trace.Span, l *AttributeList) {
	sp, ok := s.(*span)
	if !ok {
		s.SetAttributes(l.kv...)
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.ended.Load() {
		return
	}
	limits := &sp.tracer.p.limits
	if len(sp.attrs) == 0 && l.shareable && len(l.kv) > 0 &&
		(limits.AttributeCountLimit < 0 || len(l.kv) <= limits.AttributeCountLimit) &&
		(limits.AttributeValueLengthLimit < 0 || l.longest <= limits.AttributeValueLengthLimit) {
		sp.attrs, sp.shared = l.kv[:len(l.kv):len(l.kv)], true
		return
	}
	sp.setAttributes(l.kv)
}
