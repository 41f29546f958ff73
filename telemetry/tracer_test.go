package telemetry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var (
	remoteSampled = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5},
		TraceFlags: trace.FlagsSampled, Remote: true})
	remoteUnsampled = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{6, 7}, SpanID: trace.SpanID{8},
		Remote: true})
	fixedStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	fixedEnd   = fixedStart.Add(1500 * time.Millisecond)
)

// recordOnly records without sampling and adds an attribute and a tracestate entry, to
// show a sampler's whole answer is applied.
type recordOnly struct{}

func (recordOnly) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts, _ := trace.SpanContextFromContext(p.ParentContext).TraceState().Insert("mqgate", "r")
	return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly, Tracestate: ts,
		Attributes: []attribute.KeyValue{attribute.String("sampler", p.Name)}}
}

func (recordOnly) Description() string { return "recordOnly" }

// traceScript uses every part of the tracing API a span offers, including what must be
// ignored (changes after End, an empty link, a nil error, a status after Ok).
func traceScript(tr trace.Tracer) {
	bg := context.Background()
	ctx, root := tr.Start(bg, "root", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("a", "1"), attribute.String("a", "2"), attribute.Int("n", 7)))
	root.SetAttributes(attribute.String("long", "abcdefgh"), attribute.StringSlice("list", []string{"abcdefg", "x"}),
		attribute.KeyValue{}, attribute.Bool("b", true), attribute.String("a", "3"), attribute.Float64("f", 1.5),
		attribute.Int64Slice("ints", []int64{1, 2}))

	_, child := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(
		trace.Link{SpanContext: remoteSampled, Attributes: []attribute.KeyValue{attribute.String("l", "1"),
			attribute.String("l", "2"), attribute.String("m", "3")}},
		trace.Link{}))
	child.AddEvent("e1", trace.WithAttributes(attribute.Int("i", 1), attribute.Int("i", 2), attribute.Int("j", 3)))
	child.AddEvent("e2")
	child.AddEvent("e3", trace.WithTimestamp(fixedStart))
	child.RecordError(errors.New("boom"))
	child.RecordError(fmt.Errorf("wrapped: %w", context.Canceled), trace.WithStackTrace(true))
	child.RecordError(nil)
	child.SetStatus(codes.Error, "bad")
	child.SetStatus(codes.Unset, "ignored")
	child.AddLink(trace.Link{SpanContext: remoteUnsampled})
	child.AddLink(trace.Link{})
	child.SetName("child renamed")
	child.End(trace.WithTimestamp(fixedEnd))
	child.SetAttributes(attribute.String("late", "x"))
	child.AddEvent("late")
	child.SetName("late")
	child.End()

	_, other := tr.Start(ctx, "new root", trace.WithNewRoot(), trace.WithTimestamp(fixedStart))
	other.SetStatus(codes.Ok, "description dropped")
	other.SetStatus(codes.Error, "too late")
	other.End()

	_, kid := tr.Start(trace.ContextWithRemoteSpanContext(bg, remoteSampled), "remote child", trace.WithSpanKind(trace.SpanKindConsumer))
	kid.End()
	_, kid2 := tr.Start(trace.ContextWithRemoteSpanContext(bg, remoteUnsampled), "unsampled remote child")
	kid2.End()
	ts, _ := trace.TraceState{}.Insert("vendor", "v")
	_, kid3 := tr.Start(trace.ContextWithRemoteSpanContext(bg, remoteSampled.WithTraceState(ts)), "remote child with a trace state")
	kid3.End()
	_, kid4 := tr.Start(trace.ContextWithSpanContext(bg, trace.SpanContext{}.WithTraceState(ts)), "child of an invalid context with a trace state")
	kid4.End()
	_, kid5 := tr.Start(trace.ContextWithSpanContext(bg, trace.SpanContext{}.WithRemote(true)), "child of an invalid remote context")
	kid5.End()

	func() {
		defer func() { _ = recover() }()
		_, s := tr.Start(ctx, "panicking")
		defer s.End()
		panic("oops")
	}()

	_, with := StartOfKind(ctx, tr, "of a kind, with attributes", trace.SpanKindProducer, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("w1", "x"), attribute.String("w2", "abcdefgh"), attribute.Int("w3", 3)}
	})
	with.SetAttributes(attribute.String("w4", "later"))
	with.End()
	kctx, ofKind := StartOfKind(ctx, tr, "of a kind", trace.SpanKindProducer, nil)
	StartSpanOfKind(kctx, tr, "leaf of a kind", trace.SpanKindClient, nil).End()
	StartSpanOfKind(kctx, tr, "leaf of no valid kind", trace.SpanKind(42), nil).End()
	ofKind.End()

	// Attribute lists: shared as they are, copied before a change, taken apart when the
	// limits or their contents ask for it.
	plain := NewAttributeList(attribute.String("s", "ab"), attribute.Int("p", 1))
	lists := []*AttributeList{plain,
		NewAttributeList(attribute.String("w1", "x"), attribute.String("w2", "x"), attribute.String("w3", "x"), attribute.String("w4", "x")),
		NewAttributeList(attribute.String("long", "abcdefgh")),
		NewAttributeList(attribute.String("d", "1"), attribute.KeyValue{}, attribute.String("d", "2"), attribute.StringSlice("sl", []string{"abcdefg"})),
		NewAttributeList(attribute.String("k", "ab"), attribute.StringSlice("sl", []string{"abcdefg", "x"})), // kept unless a length limit
		NewAttributeList(attribute.String("e", "ab"), attribute.KeyValue{Key: "empty"}),                      // an empty value is valid
		NewAttributeList(),
	}
	for i, l := range lists {
		_, s := tr.Start(ctx, "list "+strconv.Itoa(i))
		SetAttributeList(s, l)
		s.End()
		SetAttributeList(s, l) // ended: nothing
	}
	_, more := tr.Start(ctx, "list and more")
	SetAttributeList(more, plain)
	more.SetAttributes(attribute.String("s", "changed"), attribute.String("q", "added"))
	SetAttributeList(more, plain) // again, onto attributes: plain's values back
	more.End()
	_, again := tr.Start(ctx, "list after another span changed its own")
	SetAttributeList(again, plain)
	again.End()

	// Owned attributes, each key once: kept as they are, or set as SetAttributes sets them
	// when the limits or their contents ask for it.
	for i, kv := range [][]attribute.KeyValue{
		{attribute.String("o1", "ab"), attribute.Int("o2", 2)},
		{attribute.String("o1", "x"), attribute.String("o2", "x"), attribute.String("o3", "x"), attribute.String("o4", "x")},
		{attribute.String("o1", "abcdefgh")},
		{attribute.String("o1", "a"), {}, attribute.StringSlice("o2", []string{"abcdefg"})},
		{attribute.String("o1", "a"), attribute.StringSlice("o2", []string{"abcdefg", "x"})}, // kept unless a length limit
		{attribute.String("o1", "a"), {Key: "o2"}, attribute.ByteSlice("o3", []byte("abcdefg"))},
		nil,
	} {
		_, s := tr.Start(ctx, "owned "+strconv.Itoa(i))
		SetOwnedAttributes(s, kv)
		s.End()
		SetOwnedAttributes(s, []attribute.KeyValue{attribute.String("late", "x")})
	}
	_, owned := tr.Start(ctx, "owned onto attributes")
	owned.SetAttributes(attribute.String("o1", "first"))
	SetOwnedAttributes(owned, []attribute.KeyValue{attribute.String("o1", "second"), attribute.Bool("o2", true)})
	owned.SetAttributes(attribute.String("o3", "after"))
	owned.End()
	root.End()
}

// spanView is what an exporter sees of a span, ids and clock readings aside.
type spanView struct {
	Name, Parent, TraceState              string
	Kind                                  trace.SpanKind
	Sampled, SameTraceAsParent            bool
	ParentFlags                           trace.TraceFlags
	ParentState                           string
	ParentRemote, ParentZero              bool
	Attrs                                 []string
	Events                                []string
	Links                                 []string
	Status                                sdktrace.Status
	DroppedAttrs, DroppedEvents, Dropped  int
	Children                              int
	Scope                                 instrumentation.Scope
	Resource                              *resource.Resource
	Start, End                            time.Time // only the fixed ones
	EndNotBeforeStart, InSpanContextValid bool
}

func kvs(kv []attribute.KeyValue) []string {
	out := make([]string, 0, len(kv))
	for _, a := range kv {
		v := a.Value.String()
		if a.Key == "exception.stacktrace" {
			v = fmt.Sprint(len(v) > 0)
		}
		out = append(out, fmt.Sprintf("%s:%s=%s", a.Key, a.Value.Type(), v))
	}
	return out
}

// view calls every method of sdktrace.ReadOnlySpan.
func view(s sdktrace.ReadOnlySpan, names map[trace.SpanID]string) spanView {
	v := spanView{Name: s.Name(), Kind: s.SpanKind(), Sampled: s.SpanContext().IsSampled(),
		TraceState: s.SpanContext().TraceState().String(), Attrs: kvs(s.Attributes()), Status: s.Status(),
		DroppedAttrs: s.DroppedAttributes(), DroppedEvents: s.DroppedEvents(), Dropped: s.DroppedLinks(),
		Children: s.ChildSpanCount(), Scope: s.InstrumentationScope(), Resource: s.Resource(),
		EndNotBeforeStart: !s.EndTime().Before(s.StartTime()), InSpanContextValid: s.SpanContext().IsValid()}
	switch p := s.Parent(); {
	case !p.IsValid():
	case p.IsRemote():
		v.Parent = "remote " + p.SpanID().String()
	default:
		v.Parent = names[p.SpanID()]
	}
	p := s.Parent()
	v.SameTraceAsParent = p.TraceID() == s.SpanContext().TraceID()
	v.ParentFlags, v.ParentState, v.ParentRemote = p.TraceFlags(), p.TraceState().String(), p.IsRemote()
	v.ParentZero = p.Equal(trace.SpanContext{})
	for _, e := range s.Events() {
		at := ""
		if e.Time.Equal(fixedStart) {
			at = " at the fixed time"
		}
		v.Events = append(v.Events, fmt.Sprintf("%s%s %v dropped %d", e.Name, at, kvs(e.Attributes), e.DroppedAttributeCount))
	}
	for _, l := range s.Links() {
		v.Links = append(v.Links, fmt.Sprintf("%s %v dropped %d", l.SpanContext.SpanID(), kvs(l.Attributes), l.DroppedAttributeCount))
	}
	if s.StartTime().Equal(fixedStart) {
		v.Start = fixedStart
	}
	if s.EndTime().Equal(fixedEnd) {
		v.End = fixedEnd
	}
	return v
}

func views(spans []sdktrace.ReadOnlySpan) []spanView {
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	out := make([]spanView, 0, len(spans))
	for _, s := range spans {
		out = append(out, view(s, names))
	}
	return out
}

// idRatio is the provider's sampler for OTEL_TRACES_SAMPLER=traceidratio at ratio r.
func idRatio(r float64) sdktrace.Sampler {
	s, _ := newSampler(r, samplerKind{ignoresParent: true})
	return s
}

// TestTracerMatchesSDK runs the same script on the SDK's TracerProvider and on ours, with
// the same sampler, limits and resource, and requires the same spans.
func TestTracerMatchesSDK(t *testing.T) {
	res := resource.NewSchemaless(attribute.String("service.name", "mqgate-test"))
	small := sdktrace.SpanLimits{AttributeValueLengthLimit: 4, AttributeCountLimit: 3, EventCountLimit: 2,
		LinkCountLimit: 1, AttributePerEventCountLimit: 1, AttributePerLinkCountLimit: 1, AttributeValueDepthLimit: -1}
	none := sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 0, EventCountLimit: 0,
		LinkCountLimit: 0, AttributePerEventCountLimit: 0, AttributePerLinkCountLimit: 0, AttributeValueDepthLimit: -1}
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler
		ours    sdktrace.Sampler // the sampler given to ours when not the same
		limits  sdktrace.SpanLimits
	}{
		{"ratio 1", sdktrace.ParentBased(newRatioSampler(1)), nil, sdktrace.NewSpanLimits()},
		{"ratio 0", sdktrace.ParentBased(newRatioSampler(0)), nil, sdktrace.NewSpanLimits()},
		{"parent-based fast path, ratio 1", sdktrace.ParentBased(newRatioSampler(1)), parentBased{newRatioSampler(1)}, sdktrace.NewSpanLimits()},
		{"parent-based fast path, ratio 0", sdktrace.ParentBased(newRatioSampler(0)), parentBased{newRatioSampler(0)}, sdktrace.NewSpanLimits()},
		{"trace-id ratio fast path, ratio 1", sdktrace.TraceIDRatioBased(1), idRatio(1), sdktrace.NewSpanLimits()},
		{"trace-id ratio fast path, ratio 0", sdktrace.TraceIDRatioBased(0), idRatio(0), sdktrace.NewSpanLimits()},
		{"record only", recordOnly{}, nil, sdktrace.NewSpanLimits()},
		{"small limits", sdktrace.AlwaysSample(), nil, small},
		{"no room", sdktrace.AlwaysSample(), nil, none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdkRec, ourRec := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
			sdk := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSampler(tc.sampler),
				sdktrace.WithRawSpanLimits(tc.limits), sdktrace.WithSpanProcessor(sdkRec))
			sampler := tc.sampler
			if tc.ours != nil {
				sampler = tc.ours
			}
			ours := newTracerProvider(res, sampler, []sdktrace.SpanProcessor{ourRec})
			ours.limits = tc.limits
			opt := trace.WithInstrumentationVersion("v1.2.3")
			traceScript(sdk.Tracer("scope", opt))
			traceScript(ours.Tracer("scope", opt))
			want, got := views(sdkRec.Ended()), views(ourRec.Ended())
			if len(want) != len(got) {
				t.Fatalf("%d spans ended, the SDK's %d", len(got), len(want))
			}
			for i := range want {
				// The SDK's snapshot reports no dropped events (links) when none is left.
				if len(want[i].Events) == 0 && want[i].DroppedEvents == 0 {
					want[i].DroppedEvents = got[i].DroppedEvents
				}
				if len(want[i].Links) == 0 && want[i].Dropped == 0 {
					want[i].Dropped = got[i].Dropped
				}
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("span %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if tc.name == "no room" && (got[0].DroppedEvents != 5 || got[0].Dropped != 2) {
				t.Errorf("no room: %s dropped %d events and %d links, want 5 and 2", got[0].Name, got[0].DroppedEvents, got[0].Dropped)
			}
			if len(sdkRec.Started()) != len(ourRec.Started()) {
				t.Errorf("%d spans started, the SDK's %d", len(ourRec.Started()), len(sdkRec.Started()))
			}
		})
	}
}

// TestParentBasedMatchesSDK: the fast parent-based sampler decides as the SDK's
// ParentBased over the same ratio sampler, for roots and every kind of parent, on random
// trace ids, and describes itself the same.
func TestParentBasedMatchesSDK(t *testing.T) {
	root := newRatioSampler(0.5)
	ours, sdk := parentBased{root}, sdktrace.ParentBased(root)
	if ours.Description() != sdk.Description() {
		t.Errorf("description %q, the SDK's %q", ours.Description(), sdk.Description())
	}
	ts, _ := trace.TraceState{}.Insert("k", "v")
	for _, parent := range []trace.SpanContext{{}, remoteSampled.WithTraceState(ts), remoteUnsampled,
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled}),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})} {
		ctx := trace.ContextWithSpanContext(context.Background(), parent)
		for range 500 {
			p := sdktrace.SamplingParameters{ParentContext: ctx, TraceID: newTraceID()}
			want := sdk.ShouldSample(p)
			if got := ours.ShouldSample(p); got.Decision != want.Decision || got.Tracestate.String() != want.Tracestate.String() {
				t.Fatalf("parent %v: %+v, the SDK's %+v", parent, got, want)
			}
			if got := ours.decide(parent, p.TraceID); got != want.Decision {
				t.Fatalf("parent %v: decide %v, the SDK's %v", parent, got, want.Decision)
			}
		}
	}
}

// TestRatioMatchesSDK: the ratio sampler, which the tracer asks for a decision without
// SamplingParameters when it is the provider's sampler (traceidratio, always_*), decides
// and describes itself as the SDK's TraceIDRatioBased, whatever the parent.
func TestRatioMatchesSDK(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.5, 1} {
		ours, sdk := newRatioSampler(r), sdktrace.TraceIDRatioBased(r)
		if ours.Description() != sdk.Description() {
			t.Errorf("description %q, the SDK's %q", ours.Description(), sdk.Description())
		}
		for _, parent := range []trace.SpanContext{{}, remoteSampled, remoteUnsampled} {
			ctx := trace.ContextWithSpanContext(context.Background(), parent)
			for range 500 {
				p := sdktrace.SamplingParameters{ParentContext: ctx, TraceID: newTraceID()}
				if got, want := ours.decide(p.TraceID), sdk.ShouldSample(p).Decision; got != want {
					t.Fatalf("ratio %v, parent %v, trace %v: %v, the SDK's %v", r, parent, p.TraceID, got, want)
				}
			}
		}
	}
}

// TestTracerProviderShutdown: the processors are shut down once, spans ended afterwards
// go nowhere, and tracers asked for afterwards record nothing.
func TestTracerProviderShutdown(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	p := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), []sdktrace.SpanProcessor{rec})
	tr := p.Tracer("x")
	_, before := tr.Start(context.Background(), "ended before")
	before.End()
	_, open := tr.Start(context.Background(), "ended after")
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	open.End()
	if n := len(rec.Ended()); n != 1 {
		t.Fatalf("%d spans reached the processor, want the one ended before Shutdown", n)
	}
	if _, s := p.Tracer("y").Start(context.Background(), "z"); s.IsRecording() {
		t.Fatal("a tracer from a shut-down provider records")
	}
}

// TestSpanUsedConcurrently changes a span from many goroutines while it ends and its
// read-only view is read (go test -race): every change made before End is kept.
func TestSpanUsedConcurrently(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	p := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), []sdktrace.SpanProcessor{rec})
	ctx, s := p.Tracer("x").Start(context.Background(), "shared")
	ro := s.(sdktrace.ReadOnlySpan)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				s.SetAttributes(attribute.Int(fmt.Sprintf("g%d", g), i))
				s.AddEvent("e")
				_, c := p.Tracer("x").Start(ctx, "child")
				c.End()
				_ = ro.Attributes()
				_ = ro.Events()
				_ = ro.ChildSpanCount()
			}
		})
	}
	wg.Wait()
	s.End()
	got := map[attribute.Key]int64{}
	for _, a := range ro.Attributes() {
		got[a.Key] = a.Value.AsInt64()
	}
	for g := range 8 {
		if v := got[attribute.Key(fmt.Sprintf("g%d", g))]; v != 49 {
			t.Errorf("g%d = %d, want the last value set, 49", g, v)
		}
	}
	if ro.ChildSpanCount() != 400 || len(ro.Events()) != 128 || ro.DroppedEvents() != 400-128 {
		t.Errorf("children %d, events %d (dropped %d): want 400, 128 (272)", ro.ChildSpanCount(), len(ro.Events()), ro.DroppedEvents())
	}
}

// TestStartSpanIsStart: StartSpan makes the span Start makes, with the gateway's tracer
// (without the context) and with another.
func TestStartSpanIsStart(t *testing.T) {
	for _, tp := range []trace.TracerProvider{
		newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), nil),
		sdktrace.NewTracerProvider(),
	} {
		tr := tp.Tracer("x")
		ctx, parent := tr.Start(context.Background(), "parent")
		s := StartSpan(ctx, tr, "leaf", trace.WithSpanKind(trace.SpanKindClient))
		ro, ok := s.(sdktrace.ReadOnlySpan)
		if !ok || !s.IsRecording() || ro.Name() != "leaf" || ro.SpanKind() != trace.SpanKindClient ||
			ro.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%T: StartSpan gave %+v", tp, s)
		}
		s.End()
		parent.End()
	}
}

// StartOfKind builds the attributes of a span that records, once, and never those of
// one sampled out; the span processors see them from OnStart on.
func TestStartOfKindBuildsOnlyWhenRecording(t *testing.T) {
	for _, c := range []struct {
		sampler sdktrace.Sampler
		calls   int
	}{{sdktrace.AlwaysSample(), 1}, {sdktrace.NeverSample(), 0}} {
		seen := &attrsAtStart{}
		tr := newTracerProvider(resource.Empty(), c.sampler, []sdktrace.SpanProcessor{seen}).Tracer("x")
		calls := 0
		_, s := StartOfKind(context.Background(), tr, "s", trace.SpanKindProducer, func() []attribute.KeyValue {
			calls++
			return []attribute.KeyValue{attribute.Bool("a", true)}
		})
		s.End()
		if calls != c.calls || (c.calls == 1 && (len(seen.n) != 1 || seen.n[0] != 1)) {
			t.Fatalf("%s: attributes built %d times (want %d); OnStart saw %v attributes", c.sampler.Description(), calls, c.calls, seen.n)
		}
	}
}

// attrsAtStart records how many attributes each span has when it starts.
type attrsAtStart struct{ n []int }

func (p *attrsAtStart) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	p.n = append(p.n, len(s.Attributes()))
}
func (*attrsAtStart) OnEnd(sdktrace.ReadOnlySpan)      {}
func (*attrsAtStart) Shutdown(context.Context) error   { return nil }
func (*attrsAtStart) ForceFlush(context.Context) error { return nil }

func TestSpanTimesShareTheClockReadings(t *testing.T) {
	p := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), nil)
	_, s := p.Tracer("x").Start(context.Background(), "timed", trace.WithTimestamp(fixedStart))
	if got := SpanStartTime(s); !got.Equal(fixedStart) {
		t.Fatalf("SpanStartTime %v, want the span's %v", got, fixedStart)
	}
	if got := SpanEndTime(s); got.Before(fixedEnd) {
		t.Fatalf("SpanEndTime of a span still recording %v, want the clock's", got)
	}
	s.End(trace.WithTimestamp(fixedEnd))
	if got := SpanEndTime(s); !got.Equal(fixedEnd) {
		t.Fatalf("SpanEndTime %v, want the span's %v", got, fixedEnd)
	}
	// The SDK's spans tell too.
	_, sdkSpan := sdktrace.NewTracerProvider().Tracer("x").Start(context.Background(), "sdk", trace.WithTimestamp(fixedStart))
	sdkSpan.End(trace.WithTimestamp(fixedEnd))
	if !SpanStartTime(sdkSpan).Equal(fixedStart) || !SpanEndTime(sdkSpan).Equal(fixedEnd) {
		t.Fatalf("the SDK's span: %v to %v", SpanStartTime(sdkSpan), SpanEndTime(sdkSpan))
	}
	// A span that does not tell (sampled out): the clock.
	_, out := newTracerProvider(resource.Empty(), sdktrace.NeverSample(), nil).Tracer("x").Start(context.Background(), "out")
	before := time.Now()
	if got := SpanStartTime(out); got.Before(before) {
		t.Fatalf("SpanStartTime of a sampled-out span %v, before now %v", got, before)
	}
}

// spanCarrier holds a span the way a caller's own context does with IsSpanKey.
type spanCarrier struct {
	context.Context
	span trace.Span
}

func (c spanCarrier) Value(key any) any {
	if IsSpanKey(key) {
		return c.span
	}
	return c.Context.Value(key)
}

// IsSpanKey names the key otel's own context functions use: a context answering it is
// one trace.SpanFromContext and a child span's start find the span in, and the key is
// the one trace.ContextWithSpan stores a span under.
func TestSpanKeyIsOtels(t *testing.T) {
	p := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), nil)
	parent := StartSpanOfKind(context.Background(), p.Tracer("x"), "parent", trace.SpanKindProducer, nil)
	ctx := spanCarrier{context.Background(), parent}
	if got := trace.SpanFromContext(ctx); got != parent {
		t.Fatalf("SpanFromContext = %v, want the carried span", got)
	}
	_, child := p.Tracer("x").Start(ctx, "child")
	if child.(*span).Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatal("a span started in the carrying context is not the carried span's child")
	}
	if v := trace.ContextWithSpan(context.Background(), parent).Value(spanKey); v != parent {
		t.Fatalf("ContextWithSpan does not store the span under the learnt key: %v", v)
	}
	if IsSpanKey(nil) || IsSpanKey(struct{}{}) {
		t.Fatal("IsSpanKey answers another key")
	}
}

// A span is allocated per send, two for a send alone (its producer span and its
// request's client span): its fields keep it in the 176-byte size class, where a
// trace.SpanContext, two embedded interfaces and an end time.Time took it to 256.
func TestSpanStaysInItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(span{}); n > 176 {
		t.Fatalf("a span takes %d bytes, over the 176-byte size class", n)
	}
}

func BenchmarkSpan(b *testing.B) {
	attrs := []attribute.KeyValue{SystemRocketMQ, KeyDestinationName.String("BenchTopic"), KeyOperationName.String("send"),
		KeyMessageID.String("AC110001000018B4AAC2001000000000"), attribute.String("messaging.rocketmq.message.tag", "TagA"),
		attribute.String("messaging.rocketmq.message.type", "normal"), attribute.String("messaging.rocketmq.client_group", "pg")}
	for _, impl := range []string{"sdk", "mqgate"} {
		b.Run(impl, func(b *testing.B) {
			sps := []sdktrace.SpanProcessor{NewSpanBatcher(tracetest.NewNoopExporter())}
			var tp interface {
				trace.TracerProvider
				Shutdown(context.Context) error
			}
			if impl == "sdk" {
				tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sps[0]))
			} else {
				tp = newTracerProvider(resource.Empty(), sdktrace.ParentBased(sdktrace.AlwaysSample()), sps)
			}
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			opt := trace.WithSpanKind(trace.SpanKindProducer)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, s := tr.Start(ctx, "BenchTopic publish", opt)
				s.SetAttributes(attrs...)
				s.End()
			}
		})
	}
}
