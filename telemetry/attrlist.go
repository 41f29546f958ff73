package telemetry

import (
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Two ways to give a span of the gateway's tracer its attributes without the copy and
// the search for keys given twice that SetAttributes makes: an AttributeList many spans
// share (a client span's attributes repeat from call to call), and a list made for one
// span (SetOwnedAttributes). Other spans get SetAttributes, with the same result.

// AttributeList is a list of span attributes that many spans share and nobody changes,
// checked once. Build it with NewAttributeList and set it with SetAttributeList.
type AttributeList struct {
	kv        []attribute.KeyValue
	shareable bool // plain and each key once
	longest   int
}

// NewAttributeList returns the list of kv, which it keeps: the caller must not change kv
// afterwards.
func NewAttributeList(kv ...attribute.KeyValue) *AttributeList {
	ok, longest := plain(kv)
	return &AttributeList{kv: kv, shareable: ok && !hasDuplicateKey(kv), longest: longest}
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
	switch {
	case sp.ended.Load():
	case len(sp.attrs) == 0 && len(l.kv) > 0 && l.shareable && sp.within(len(l.kv), l.longest):
		sp.attrs, sp.shared = l.kv[:len(l.kv):len(l.kv)], true
	default:
		sp.setAttributes(l.kv)
	}
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
	if !sp.ended.Load() {
		sp.setOwned(kv)
	}
}

// setOwned is SetOwnedAttributes for a recording span, called with s.mu held or before
// anyone else has s.
func (s *span) setOwned(kv []attribute.KeyValue) {
	if len(s.attrs) == 0 && len(kv) > 0 {
		if ok, longest := plain(kv); ok && s.within(len(kv), longest) {
			s.attrs, s.shared = kv, false
			return
		}
	}
	s.setAttributes(kv)
}

// plain tells whether kv's attributes are all valid (a key: an empty value is valid) and of
// the types a span keeps as they are, and returns the longest string value, in bytes:
// anyLength for a list with a string slice, whose elements it does not measure (the SDK
// copies a slice whenever a length limit is set, so only a span without one can keep it).
func plain(kv []attribute.KeyValue) (ok bool, longest int) {
	for i := range kv {
		// Through pointers: the methods on values would copy each 64-byte attribute.
		v := &kv[i].Value
		switch v.Type() {
		case attribute.STRING:
			longest = max(longest, len(v.AsString()))
		case attribute.STRINGSLICE:
			longest = anyLength
		case attribute.BYTESLICE, attribute.SLICE, attribute.MAP:
			return false, 0
		}
		if len(kv[i].Key) == 0 {
			return false, 0
		}
	}
	return true, longest
}

// anyLength is plain's longest for a list with a string slice: over every length limit.
const anyLength = math.MaxInt

// within tells whether the span's limits leave n attributes whole, the longest string
// value longest bytes (as many characters at most).
func (s *span) within(n, longest int) bool {
	l := &s.tracer.p.limits
	return (l.AttributeCountLimit < 0 || n <= l.AttributeCountLimit) &&
		(l.AttributeValueLengthLimit < 0 || longest <= l.AttributeValueLengthLimit)
}
