package telemetry

import (
	"encoding/binary"
	"math"
	"strconv"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ratioSampler is the SDK's TraceIDRatioBased with a ratio that changes at once
// (SetSampleRatio, on a configuration reload): the decision is a pure function of the
// trace id, so every process sampling at the same ratio agrees on a trace.
type ratioSampler struct {
	bound atomic.Uint64 // trace ids whose upper 63 bits of the lower half are below it are sampled
	ratio atomic.Uint64 // math.Float64bits of the ratio, for Description
}

func newRatioSampler(r float64) *ratioSampler {
	s := &ratioSampler{}
	s.set(r)
	return s
}

func (s *ratioSampler) set(r float64) {
	r = min(max(r, 0), 1)
	s.ratio.Store(math.Float64bits(r))
	if r >= 1 {
		s.bound.Store(math.MaxUint64)
		return
	}
	s.bound.Store(uint64(r * (1 << 63)))
}

func (s *ratioSampler) get() float64 { return math.Float64frombits(s.ratio.Load()) }

func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	x := binary.BigEndian.Uint64(p.TraceID[8:16]) >> 1
	if b := s.bound.Load(); b == math.MaxUint64 || x < b {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: ts}
}

func (s *ratioSampler) Description() string {
	return "TraceIDRatioBased{" + strconv.FormatFloat(s.get(), 'g', -1, 64) + "}"
}
