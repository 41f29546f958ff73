package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerProvider is the gateway's trace.TracerProvider. It makes the spans the SDK's
// TracerProvider makes (same sampling, ids, limits, OTEL_SPAN_* variables, span
// processors and exporters; TestTracerMatchesSDK compares them) for about half the CPU
// (BenchmarkSpan): a span is its own read-only view for the processors, where the SDK's
// copies it at End into a snapshot and de-duplicates its attributes through a map,
// normalises each attribute on the way in and draws ids under a lock. At sampling ratio 1
// the SDK's spans alone cost ~1.4 µs a send (BENCHMARKS.md, Telemetry).
//
// Differences a processor could see: Attributes, Events and Links of a span not yet ended
// return copies; SLICE and MAP attribute values (which the instrumentation here does not
// use) are kept as given, not normalised; an ended span whose events (or links) were all
// dropped by the limits reports how many, where the SDK's snapshot says 0; there is no
// runtime/trace task per span.
type tracerProvider struct {
	embedded.TracerProvider

	sampler  sdktrace.Sampler
	resource *resource.Resource
	limits   sdktrace.SpanLimits

	// processors is nil once shut down: spans are then made but go nowhere.
	processors atomic.Pointer[[]sdktrace.SpanProcessor]
	// recycles: the only processor is a SpanBatcher whose exporter keeps nothing of a
	// span, so an exported span's attribute list can be used again (AttributeBuffer).
	recycles bool

	mu      sync.Mutex
	tracers map[instrumentation.Scope]*tracer
}

var _ trace.TracerProvider = (*tracerProvider)(nil)

func newTracerProvider(res *resource.Resource, sampler sdktrace.Sampler, processors []sdktrace.SpanProcessor) *tracerProvider {
	p := &tracerProvider{sampler: sampler, resource: res, limits: sdktrace.NewSpanLimits(),
		tracers: make(map[instrumentation.Scope]*tracer)}
	sps := slices.Clone(processors)
	p.processors.Store(&sps)
	if len(sps) == 1 {
		b, ok := sps[0].(*SpanBatcher)
		p.recycles = ok && b.releases
	}
	return p
}

// Tracer returns the tracer of an instrumentation scope; after Shutdown, a no-op one.
func (p *tracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	c := trace.NewTracerConfig(opts...)
	s := instrumentation.Scope{Name: name, Version: c.InstrumentationVersion(), SchemaURL: c.SchemaURL(),
		Attributes: c.InstrumentationAttributes()}
	if p.processors.Load() == nil {
		return noop.NewTracerProvider().Tracer(name, opts...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tracers[s]
	if !ok {
		t = &tracer{p: p, scope: s}
		p.tracers[s] = t
	}
	return t
}

// ForceFlush flushes every span processor.
func (p *tracerProvider) ForceFlush(ctx context.Context) error {
	var err error
	if sps := p.processors.Load(); sps != nil {
		for _, sp := range *sps {
			if e := sp.ForceFlush(ctx); e != nil && err == nil {
				err = e
			}
		}
	}
	return err
}

// Shutdown shuts every span processor down, once; spans ended afterwards are dropped.
func (p *tracerProvider) Shutdown(ctx context.Context) error {
	sps := p.processors.Swap(nil)
	if sps == nil {
		return nil // shut down already
	}
	var err error
	for _, sp := range *sps {
		if e := sp.Shutdown(ctx); e != nil && err == nil {
			err = e
		}
	}
	return err
}

type tracer struct {
	embedded.Tracer
	p     *tracerProvider
	scope instrumentation.Scope
}

// Start starts a span as the SDK's tracer does: the parent from ctx unless
// trace.WithNewRoot, a new span id (and trace id for a root), the sampler's decision,
// and a recording span only for a decision to record.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	s := t.start(ctx, name, opts)
	return trace.ContextWithSpan(ctx, s), s
}

// StartSpan starts a span as tr.Start does, for a caller with no use for the context
// holding it (a leaf span: no child will be started under it): with the gateway's tracer
// it spares that context's allocation.
func StartSpan(ctx context.Context, tr trace.Tracer, name string, opts ...trace.SpanStartOption) trace.Span {
	if t, ok := tr.(*tracer); ok && ctx != nil {
		return t.start(ctx, name, opts)
	}
	_, s := tr.Start(ctx, name, opts...)
	return s
}

// StartOfKind is tr.Start(ctx, name, trace.WithSpanKind(kind)) and StartSpanOfKind its
// form without the context: with the gateway's tracer they skip building a
// trace.SpanConfig out of options, ~60 ns of a span's cost here.
//
// attrs, when not nil, builds the attributes of a span that records, once, before the
// span is handed to the span processors; the span keeps the list it returns on
// SetOwnedAttributes' terms (made for this span, each key once). With the gateway's
// tracer the span takes them without the lock a later SetAttributes takes (a locked
// instruction right after the span's and the list's stores waits for all of them, ~45 ns
// here), and a span sampled out builds none.
func StartOfKind(ctx context.Context, tr trace.Tracer, name string, kind trace.SpanKind,
	attrs func() []attribute.KeyValue) (context.Context, trace.Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	s := StartSpanOfKind(ctx, tr, name, kind, attrs)
	return trace.ContextWithSpan(ctx, s), s
}

// StartSpanOfKind is StartOfKind for a caller with no use for a context holding the span:
// a leaf span, or one whose caller carries it in a context of its own (see IsSpanKey).
func StartSpanOfKind(ctx context.Context, tr trace.Tracer, name string, kind trace.SpanKind,
	attrs func() []attribute.KeyValue) trace.Span {
	if t, ok := tr.(*tracer); ok && ctx != nil {
		return t.startWith(ctx, name, spanStart{kind: kind}, attrs)
	}
	_, s := tr.Start(ctx, name, trace.WithSpanKind(kind))
	if attrs != nil && s.IsRecording() {
		SetOwnedAttributes(s, attrs())
	}
	return s
}

// StartProducerSpan is StartSpanOfKind for a producer span whose W3C trace context
// the caller writes into messages (TraceContextOf): with the gateway's tracer, a
// recording span is allocated with its traceparent formatted beside it, one allocation
// for both.
func StartProducerSpan(ctx context.Context, tr trace.Tracer, name string, attrs func() []attribute.KeyValue) trace.Span {
	if t, ok := tr.(*tracer); ok && ctx != nil {
		return t.startWith(ctx, name, spanStart{kind: trace.SpanKindProducer, withParentText: true}, attrs)
	}
	return StartSpanOfKind(ctx, tr, name, trace.SpanKindProducer, attrs)
}

// IsSpanKey tells whether key is the one trace.SpanFromContext looks a context's span up
// by, so that a context type of the caller's (one it allocates anyway) can answer it with
// a span it holds, sparing trace.ContextWithSpan's allocation: its Value returns the span
// for that key. The key is otel's own, unexported; spanKey learns it from
// trace.SpanFromContext at init (TestSpanKeyIsOtels).
func IsSpanKey(key any) bool { return key == spanKey }

var spanKey = func() any {
	var p keyProbe
	trace.SpanFromContext(&p)
	return p.key
}()

// keyProbe is a context that records the key it is asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	p.key = key
	return nil
}

// spanStart is what a span is started with: a trace.SpanConfig's contents.
type spanStart struct {
	kind    trace.SpanKind
	newRoot bool
	// withParentText allocates a recording span as a spanWithText.
	withParentText bool
	at             time.Time
	links          []trace.Link
	attrs          []attribute.KeyValue
}

// start is Start without the context returned.
func (t *tracer) start(ctx context.Context, name string, opts []trace.SpanStartOption) trace.Span {
	cfg := trace.NewSpanStartConfig(opts...)
	return t.startWith(ctx, name, spanStart{kind: cfg.SpanKind(), newRoot: cfg.NewRoot(), at: cfg.Timestamp(),
		links: cfg.Links(), attrs: cfg.Attributes()}, nil)
}

// startWith starts a span; owned, when given, makes the attributes the span keeps
// (StartOfKind). It is a parameter of its own, not a field of cfg, whose contents
// reach the sampler: there it would escape, and so would what it holds.
func (t *tracer) startWith(ctx context.Context, name string, cfg spanStart, owned func() []attribute.KeyValue) trace.Span {
	parentSpan := trace.SpanFromContext(ctx)
	if ps, ok := parentSpan.(*span); ok {
		ps.addChild()
	}
	sampleCtx := ctx
	var psc trace.SpanContext
	if cfg.newRoot {
		sampleCtx = trace.ContextWithSpanContext(ctx, psc)
	} else {
		psc = parentSpan.SpanContext()
	}
	tid := psc.TraceID()
	if !tid.IsValid() {
		tid = newTraceID()
	}
	var sr sdktrace.SamplingResult
	switch smp := t.p.sampler.(type) { // the provider's own samplers decide without SamplingParameters
	case parentBased:
		sr = sdktrace.SamplingResult{Decision: smp.decide(psc, tid), Tracestate: psc.TraceState()}
	default:
		sr = smp.ShouldSample(sdktrace.SamplingParameters{ParentContext: sampleCtx, TraceID: tid,
			Name: name, Kind: cfg.kind, Attributes: cfg.attrs, Links: cfg.links})
	}
	flags := psc.TraceFlags() &^ trace.FlagsSampled
	if sr.Decision == sdktrace.RecordAndSample {
		flags |= trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: newSpanID(), TraceFlags: flags,
		TraceState: sr.Tracestate})
	if sr.Decision == sdktrace.Drop {
		return nonRecordingSpan{sc: sc, p: t.p}
	}
	var s *span
	if cfg.withParentText {
		st := &spanWithText{}
		putTraceParent(&st.traceParent, tid, sc.SpanID(), flags)
		s = &st.span
		s.hasText = true
	} else {
		s = &span{}
	}
	s.tracer, s.name, s.traceID, s.spanID, s.flags = t, name, tid, sc.SpanID(), flags
	s.kind, s.start = uint8(trace.ValidateSpanKind(cfg.kind)), cfg.at
	if sr.Tracestate.Len() > 0 {
		state := sr.Tracestate
		s.state = &state
	}
	s.setParent(psc, sr.Tracestate)
	if s.start.IsZero() {
		s.start = spanNow()
	}
	for _, l := range cfg.links {
		s.addLink(l)
	}
	s.setAttributes(sr.Attributes)
	s.setAttributes(cfg.attrs)
	if owned != nil {
		s.setOwned(owned()) // no one else has s yet: no lock
	}
	if sps := t.p.processors.Load(); sps != nil {
		for _, sp := range *sps {
			sp.OnStart(ctx, s)
		}
	}
	return s
}

// setParent keeps psc, the parent, in the narrow fields when it is none, or in s's trace
// with state, s's trace state; another parent is kept whole.
func (s *span) setParent(psc trace.SpanContext, state trace.TraceState) {
	switch {
	case !psc.TraceID().IsValid() && !psc.SpanID().IsValid() && psc.TraceFlags() == 0 &&
		psc.TraceState().Len() == 0 && !psc.IsRemote(): // none
	case psc.IsValid() && psc.TraceID() == s.traceID && sameTraceState(psc.TraceState(), state):
		s.parentID, s.parentFlags, s.parentRemote = psc.SpanID(), psc.TraceFlags(), psc.IsRemote()
	default:
		odd := psc // not &psc: that would put psc on the heap on every path
		s.oddParent = &odd
	}
}

// sameTraceState tells whether a and b hold the same entries; mostly both are empty.
func sameTraceState(a, b trace.TraceState) bool {
	return a.Len() == b.Len() && (a.Len() == 0 || a.String() == b.String())
}

// Ids are drawn from math/rand/v2's per-thread generator, with no lock (the SDK's
// default generator locks one source); zero ids are invalid and drawn again.
func newTraceID() (id trace.TraceID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() (id trace.SpanID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// nonRecordingSpan is a span sampled out: it carries its context and records nothing.
type nonRecordingSpan struct {
	embedded.Span
	sc trace.SpanContext
	p  *tracerProvider
}

func (s nonRecordingSpan) SpanContext() trace.SpanContext        { return s.sc }
func (nonRecordingSpan) IsRecording() bool                       { return false }
func (nonRecordingSpan) SetStatus(codes.Code, string)            {}
func (nonRecordingSpan) SetAttributes(...attribute.KeyValue)     {}
func (nonRecordingSpan) End(...trace.SpanEndOption)              {}
func (nonRecordingSpan) RecordError(error, ...trace.EventOption) {}
func (nonRecordingSpan) AddEvent(string, ...trace.EventOption)   {}
func (nonRecordingSpan) AddLink(trace.Link)                      {}
func (nonRecordingSpan) SetName(string)                          {}
func (s nonRecordingSpan) TracerProvider() trace.TracerProvider  { return s.p }

// span is a recording span and, for the span processors, its own sdktrace.ReadWriteSpan:
// it changes only until End, so an ended span is the read-only view the SDK would copy.
// It is allocated per send (two for a send alone: its producer span and its request's
// client span), so its fields are narrow: 176 bytes, a size class below the 256 its
// plain form (a trace.SpanContext, two embedded interfaces, an end time.Time) took.
type span struct {
	// markers is nil: it lends span the unexported marker methods of trace.Span and
	// sdktrace.ReadOnlySpan, never called, for 8 bytes rather than two interfaces' 32.
	*markers

	tracer *tracer
	// The span's own context, never remote, its trace state kept aside (mostly none).
	traceID trace.TraceID
	spanID  trace.SpanID
	state   *trace.TraceState
	start   time.Time
	// The parent, when it is none or in this span's trace with its trace state (the
	// sampler kept it, as the parent-based one does): its id, flags and whether it is
	// remote. Another parent is oddParent.
	parentID     trace.SpanID
	flags        trace.TraceFlags
	parentFlags  trace.TraceFlags
	parentRemote bool
	kind         uint8 // a trace.SpanKind
	dirty        bool  // attrs may hold a key twice
	shared       bool  // attrs is an AttributeList's: copied before a change
	hasText      bool  // the span is a spanWithText's
	// ended is set, under mu, when End has set everything: a reader that sees it reads
	// the rest without the lock, nothing changing any more.
	ended     atomic.Bool
	children  int32
	oddParent *trace.SpanContext
	mu        sync.Mutex
	name      string
	// took is the end's distance from start; an end given to End (trace.WithTimestamp)
	// is more.end.
	took         time.Duration
	attrs        []attribute.KeyValue
	droppedAttrs int32
	more         *spanMore // nil until an event, a link, a status or an end time given
}

// spanWithText is a span allocated with its traceparent (StartProducerSpan), which
// messages carry: written before the span is handed to anyone, never changed after.
type spanWithText struct {
	span
	traceParent [traceParentLen]byte
}

// parentText returns the span's traceparent, "" for a span allocated without it.
func (s *span) parentText() string {
	if !s.hasText {
		return ""
	}
	// s is the first field of a spanWithText: a pointer to it is one to the whole.
	st := (*spanWithText)(unsafe.Pointer(s))
	return unsafe.String(&st.traceParent[0], traceParentLen)
}

// markers embeds the interfaces whose unexported methods a span must have: ReadOnlySpan
// for its marker method only, as the SDK's tracetest.SpanStub does; every exported
// method is span's own (TestTracerMatchesSDK's view calls each).
type markers struct {
	embedded.Span
	sdktrace.ReadOnlySpan
}

// spanMore is what most spans never get: events, links, a status, an end time given.
type spanMore struct {
	end                         time.Time // given to End; zero otherwise
	events                      []sdktrace.Event
	links                       []sdktrace.Link
	status                      sdktrace.Status
	droppedEvents, droppedLinks int32
}

var noMore spanMore

// extra returns s.more, made on first use; called with s.mu held.
func (s *span) extra() *spanMore {
	if s.more == nil {
		s.more = new(spanMore)
	}
	return s.more
}

// view returns s.more, or an empty one; called with s.mu held or after End.
func (s *span) view() *spanMore {
	if s.more == nil {
		return &noMore
	}
	return s.more
}

var _ sdktrace.ReadWriteSpan = (*span)(nil)

func (s *span) SpanContext() trace.SpanContext {
	c := trace.SpanContextConfig{TraceID: s.traceID, SpanID: s.spanID, TraceFlags: s.flags}
	if s.state != nil {
		c.TraceState = *s.state
	}
	return trace.NewSpanContext(c)
}

// traceState is the span's trace state.
func (s *span) traceState() trace.TraceState {
	if s.state == nil {
		return trace.TraceState{}
	}
	return *s.state
}

func (s *span) IsRecording() bool { return !s.ended.Load() }

func (s *span) TracerProvider() trace.TracerProvider { return s.tracer.p }

func (s *span) SetName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended.Load() {
		s.name = name
	}
}

// SetStatus sets the status as the SDK does: Ok is final, and only Error keeps a
// description.
func (s *span) SetStatus(code codes.Code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() || s.view().status.Code > code || code == codes.Unset {
		return // Unset changes nothing: an Unset span stays so, another is above it
	}
	st := sdktrace.Status{Code: code}
	if code == codes.Error {
		st.Description = description
	}
	s.extra().status = st
}

func (s *span) SetAttributes(kv ...attribute.KeyValue) {
	if len(kv) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended.Load() {
		s.setAttributes(kv)
	}
}

// setAttributes adds kv under the attribute count limit: appended, duplicates resolved at
// End (the last value of a key wins), unless the limit could be reached, when existing
// keys are updated in place and new ones past the limit dropped.
func (s *span) setAttributes(kv []attribute.KeyValue) {
	if len(kv) == 0 {
		return
	}
	limit, lengthLimit := s.tracer.p.limits.AttributeCountLimit, s.tracer.p.limits.AttributeValueLengthLimit
	if limit == 0 {
		s.droppedAttrs += int32(len(kv))
		return
	}
	if s.shared {
		s.attrs, s.shared = append(make([]attribute.KeyValue, 0, len(s.attrs)+len(kv)), s.attrs...), false
	}
	overLimit := limit > 0 && len(s.attrs)+len(kv) > limit
	if overLimit {
		s.dedupe()
	} else if s.attrs == nil {
		s.attrs = make([]attribute.KeyValue, 0, len(kv))
	}
	for i := range kv {
		a := &kv[i]
		if !a.Valid() {
			s.droppedAttrs++
			continue
		}
		if lengthLimit >= 0 {
			a = truncate(a, lengthLimit)
		}
		if !overLimit {
			s.attrs = append(s.attrs, *a)
			s.dirty = true
			continue
		}
		if j := indexOfKey(s.attrs, a.Key); j >= 0 {
			s.attrs[j] = *a
		} else if len(s.attrs) < limit {
			s.attrs = append(s.attrs, *a)
		} else {
			s.droppedAttrs++
		}
	}
}

// truncate applies the attribute value length limit to strings and byte slices, as the
// SDK does; it returns a itself when nothing is cut. (The SDK also truncates within, and
// deduplicates the keys of, the SLICE and MAP values of attribute v1.47; the gateway's
// instrumentation sets none, and a span of this tracer keeps them as given.)
func truncate(a *attribute.KeyValue, limit int) *attribute.KeyValue {
	switch a.Value.Type() {
	case attribute.STRING:
		if v := a.Value.AsString(); len(v) > limit {
			t := a.Key.String(truncateUTF8(v, limit))
			return &t
		}
	case attribute.BYTESLICE: // cut at limit bytes, not characters
		if v := a.Value.AsString(); len(v) > limit {
			t := a.Key.ByteSlice([]byte(v[:limit]))
			return &t
		}
	case attribute.STRINGSLICE:
		v := a.Value.AsStringSlice() // a copy
		for i := range v {
			v[i] = truncateUTF8(v[i], limit)
		}
		t := a.Key.StringSlice(v)
		return &t
	}
	return a
}

// truncateUTF8 cuts v to at most limit characters (runes, as the SDK counts them).
func truncateUTF8(v string, limit int) string {
	n := 0
	for i := range v {
		if n == limit {
			return v[:i]
		}
		n++
	}
	return v
}

func indexOfKey(kv []attribute.KeyValue, k attribute.Key) int {
	for i := range kv {
		if kv[i].Key == k {
			return i
		}
	}
	return -1
}

// dedupe keeps the last value of every key, in the order of first appearance as the SDK
// does. Spans here have a dozen attributes or so: a scan tells, without a map, that no key
// is there twice, the common answer; the map is for a span that has one.
func (s *span) dedupe() {
	if !s.dirty {
		return
	}
	s.dirty = false
	if hasDuplicateKey(s.attrs) {
		s.attrs = dedupeWithMap(s.attrs)
	}
}

// hasDuplicateKey tells whether a key is there twice (or, over 32 keys, may be).
func hasDuplicateKey(kv []attribute.KeyValue) bool {
	if len(kv) > 32 {
		return true // let the map decide
	}
	for i := 1; i < len(kv); i++ {
		if indexOfKey(kv[:i], kv[i].Key) >= 0 {
			return true
		}
	}
	return false
}

func dedupeWithMap(kv []attribute.KeyValue) []attribute.KeyValue {
	seen := make(map[attribute.Key]int, len(kv))
	unique := kv[:0]
	for _, a := range kv {
		if i, ok := seen[a.Key]; ok {
			unique[i] = a
			continue
		}
		seen[a.Key] = len(unique)
		unique = append(unique, a)
	}
	clear(kv[len(unique):])
	return unique
}

// limitList cuts an event's or link's attributes to limit (as the SDK, keeping a key
// given twice twice); it returns how many were dropped.
func limitList(kv []attribute.KeyValue, limit int) ([]attribute.KeyValue, int) {
	switch {
	case limit == 0:
		return nil, len(kv)
	case limit > 0 && len(kv) > limit:
		return kv[:limit], len(kv) - limit
	}
	return kv, 0
}

func (s *span) AddEvent(name string, opts ...trace.EventOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended.Load() {
		s.addEvent(name, opts...)
	}
}

func (s *span) addEvent(name string, opts ...trace.EventOption) {
	c := trace.NewEventConfig(opts...)
	e := sdktrace.Event{Name: name, Time: c.Timestamp()}
	e.Attributes, e.DroppedAttributeCount = limitList(c.Attributes(), s.tracer.p.limits.AttributePerEventCountLimit)
	m := s.extra()
	m.events, m.droppedEvents = appendEvicting(m.events, e, s.tracer.p.limits.EventCountLimit, m.droppedEvents)
}

// appendEvicting appends v, the oldest element making room when limit is reached (the
// SDK's evicted queue); a negative limit is none.
func appendEvicting[T any](list []T, v T, limit int, dropped int32) ([]T, int32) {
	switch {
	case limit == 0:
		return list, dropped + 1
	case limit > 0 && len(list) >= limit:
		copy(list, list[1:])
		list[len(list)-1] = v
		return list, dropped + 1
	}
	return append(list, v), dropped
}

// RecordError adds an exception event, as the SDK does: exception.type is the error's
// package path and type name, exception.message its text.
func (s *span) RecordError(err error, opts ...trace.EventOption) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return
	}
	opts = append(opts, trace.WithAttributes(attribute.String("exception.type", typeName(err)),
		attribute.String("exception.message", err.Error())))
	if c := trace.NewEventConfig(opts...); c.StackTrace() {
		opts = append(opts, trace.WithAttributes(attribute.String("exception.stacktrace", stackTrace())))
	}
	s.addEvent("exception", opts...)
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

func stackTrace() string {
	b := make([]byte, 2048)
	return string(b[:runtime.Stack(b, false)])
}

func (s *span) AddLink(l trace.Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended.Load() {
		s.addLink(l)
	}
}

func (s *span) addLink(l trace.Link) {
	if !l.SpanContext.IsValid() && len(l.Attributes) == 0 && l.SpanContext.TraceState().Len() == 0 {
		return
	}
	link := sdktrace.Link{SpanContext: l.SpanContext}
	link.Attributes, link.DroppedAttributeCount = limitList(l.Attributes, s.tracer.p.limits.AttributePerLinkCountLimit)
	m := s.extra()
	m.links, m.droppedLinks = appendEvicting(m.links, link, s.tracer.p.limits.LinkCountLimit, m.droppedLinks)
}

func (s *span) addChild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended.Load() {
		s.children++
	}
}

// End ends the span and hands it to the span processors. As the SDK's, called deferred
// while a panic unwinds it records the panic as an exception event and lets it go on.
func (s *span) End(opts ...trace.SpanEndOption) {
	now := s.endNow()
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return
	}
	cfg := trace.NewSpanEndConfig(opts...)
	if recovered := recover(); recovered != nil {
		defer panic(recovered)
		eo := []trace.EventOption{trace.WithAttributes(attribute.String("exception.type", typeName(recovered)),
			attribute.String("exception.message", fmt.Sprint(recovered)))}
		if cfg.StackTrace() {
			eo = append(eo, trace.WithAttributes(attribute.String("exception.stacktrace", stackTrace())))
		}
		s.addEvent("exception", eo...)
	}
	if at := cfg.Timestamp(); !at.IsZero() {
		s.extra().end = at
	} else {
		s.took = now.Sub(s.start)
	}
	s.dedupe()
	s.ended.Store(true)
	s.mu.Unlock()
	if sps := s.tracer.p.processors.Load(); sps != nil {
		for _, sp := range *sps {
			sp.OnEnd(s)
		}
	}
}

// endNow reads the end time as the SDK does: a start with a monotonic reading (spanNow's,
// time.Now's) plus the monotonic time since, one clock reading, so that the wall clock
// stepping back while the span runs (NTP, a VM resumed) does not end it before it
// started; the current time for a start without one (trace.WithTimestamp of a time
// decoded or built from a date).
func (s *span) endNow() time.Time {
	if s.start != s.start.Round(0) { // Round(0) strips the monotonic reading
		return s.start.Add(time.Since(s.start))
	}
	return spanNow()
}

// The read-only view. Lists of a span still recording are copies: it may change them.

func (s *span) Name() string {
	if s.ended.Load() {
		return s.name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

func (s *span) Parent() trace.SpanContext {
	switch {
	case s.oddParent != nil:
		return *s.oddParent
	case !s.parentID.IsValid():
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.traceID, SpanID: s.parentID,
		TraceFlags: s.parentFlags, TraceState: s.traceState(), Remote: s.parentRemote})
}

func (s *span) SpanKind() trace.SpanKind { return trace.SpanKind(s.kind) }
func (s *span) StartTime() time.Time     { return s.start }

// EndTime is zero until the span has ended.
func (s *span) EndTime() time.Time {
	if s.ended.Load() {
		return s.endTime()
	}
	return time.Time{}
}

// endTime is the end of an ended span: its start plus the monotonic time it took (the
// reading endNow made), or the time given to End.
func (s *span) endTime() time.Time {
	if s.more != nil && !s.more.end.IsZero() {
		return s.more.end
	}
	return s.start.Add(s.took)
}

func (s *span) Attributes() []attribute.KeyValue {
	if s.ended.Load() {
		return s.attrs
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dedupe()
	return slices.Clone(s.attrs)
}

func (s *span) Links() []sdktrace.Link {
	if s.ended.Load() {
		return s.view().links
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.view().links)
}

func (s *span) Events() []sdktrace.Event {
	if s.ended.Load() {
		return s.view().events
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.view().events)
}

func (s *span) Status() sdktrace.Status {
	if s.ended.Load() {
		return s.view().status
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view().status
}

func (s *span) InstrumentationScope() instrumentation.Scope { return s.tracer.scope }
func (s *span) Resource() *resource.Resource                { return s.tracer.p.resource }

// dropped returns the counts of what the limits dropped: attributes, events, links.
func (s *span) dropped() (attrs, events, links int32) {
	if !s.ended.Load() {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	m := s.view()
	return s.droppedAttrs, m.droppedEvents, m.droppedLinks
}

func (s *span) DroppedAttributes() int { n, _, _ := s.dropped(); return int(n) }
func (s *span) DroppedEvents() int     { _, n, _ := s.dropped(); return int(n) }
func (s *span) DroppedLinks() int      { _, _, n := s.dropped(); return int(n) }

// ChildSpanCount counts the spans started under this one while it was recording.
func (s *span) ChildSpanCount() int {
	if s.ended.Load() {
		return int(s.children)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.children)
}

// SpanStartTime returns when span started, reading the clock only for a span that does
// not tell (one sampled out): instrumentation that also measures a duration shares the
// span's clock readings rather than taking its own.
func SpanStartTime(s trace.Span) time.Time {
	if sp, ok := s.(*span); ok { // a concrete type's assertion is a comparison
		return sp.start
	}
	if ro, ok := s.(interface{ StartTime() time.Time }); ok {
		if t := ro.StartTime(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}

// SpanEndTime returns when the ended span ended, or now for a span that does not tell.
func SpanEndTime(s trace.Span) time.Time {
	if sp, ok := s.(*span); ok && sp.ended.Load() {
		return sp.endTime()
	}
	if ro, ok := s.(interface{ EndTime() time.Time }); ok {
		if t := ro.EndTime(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}
