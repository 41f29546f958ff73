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

// SetOwnedAttributes sets kv on s as s.SetAttributes(kv...) does, for a caller that made
// kv for this span, holds each key in it once and neither changes nor reuses kv
// afterwards (instrumentation setting the attributes its conventions name, each once). A
// recording span of the gateway's tracer with no attributes yet keeps kv itself, neither
// copying it nor looking for a key given twice, when the limits leave it whole.
func SetOwnedAttributes(s trace.Span, kv []attribute.KeyValue) {
	sp, ok := s.(*span)
	if !ok {
		s.SetAttributes(kv...)
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.ended.Load() {
		return
	}
	if len(sp.attrs) == 0 && len(kv) > 0 && sp.fits(kv) {
		sp.attrs, sp.shared = kv, false
		return
	}
	sp.setAttributes(kv)
}

// fits tells whether the limits leave kv whole: every attribute valid and under the
// length limit, no more than the count limit.
func (s *span) fits(kv []attribute.KeyValue) bool {
	limits := &s.tracer.p.limits
	if limits.AttributeCountLimit >= 0 && len(kv) > limits.AttributeCountLimit {
		return false
	}
	for i := range kv {
		a := &kv[i]
		switch {
		case !a.Valid() || a.Value.Type() == attribute.STRINGSLICE:
			return false
		case limits.AttributeValueLengthLimit >= 0 && a.Value.Type() == attribute.STRING &&
			len(a.Value.AsString()) > limits.AttributeValueLengthLimit:
			return false
		}
	}
	return true
}
