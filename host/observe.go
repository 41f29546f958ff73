package host

import (
	"context"
	"sync"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry of plugin calls. An Observer wraps a plugin's slot adapter (SendHook,
// RPCHook, ConsumeHook, AllocateStrategy) so that each call records
// mqgate.plugin.call.duration by plugin, slot and outcome, counts
// mqgate.plugin.call.failures, and — for the slots whose calls carry a context (send and
// consume hooks), inside a recording span — gets a span named "plugin <name>" with the
// plugin's name, version, slot and outcome. RPC hooks and allocation strategies are
// called without a context: they get metrics only, no root span per request.
//
// The outcome is "ok", "error" (the call failed and the slot's policy, fail, returned the
// error) or "failed" (the call failed and the policy skipped the plugin or fell back).
// "failed" is read from the plugin's failure count moving during the call: with calls of
// one failing plugin running concurrently, a neighbouring call may be marked too. The
// adapters themselves are untouched: without an Observer nothing here runs.

// Outcomes of a plugin call.
const (
	OutcomeOK     = "ok"
	OutcomeError  = "error"
	OutcomeFailed = "failed"
)

const scopeHost = "host"

// Observer records plugin calls; nil records nothing.
type Observer struct {
	tracer   trace.Tracer
	duration *telemetry.Histogram
	series   sync.Map // seriesKey -> *telemetry.HistogramSeries
	failures metric.Int64Counter
}

type seriesKey struct{ plugin, slot, outcome string }

// NewObserver returns the observer of in; nil when in is nil or both signals are off.
func NewObserver(in *telemetry.Instruments) *Observer {
	tracer, meter := in.Tracer(scopeHost), in.Meter(scopeHost)
	if tracer == nil && meter == nil {
		return nil
	}
	o := &Observer{tracer: tracer}
	if meter != nil {
		o.duration = in.DurationHistogram(scopeHost, "mqgate.plugin.call.duration",
			"Duration of plugin calls, by plugin, slot and outcome.")
		o.failures, _ = meter.Int64Counter("mqgate.plugin.call.failures", metric.WithUnit("{call}"),
			metric.WithDescription("Plugin calls that failed (trap, deadline, memory, bad answer, quarantine)."))
	}
	return o
}

// failureMark is the plugin's failure count, quarantine skips included.
func (p *Plugin) failureMark() uint64 {
	n := p.skipped.Load()
	if v := p.active.Load(); v != nil {
		n += v.failures.Load()
	}
	return n
}

func (p *Plugin) activeVersion() int {
	if v := p.active.Load(); v != nil {
		return v.seq
	}
	return 0
}

// observed is one call under way.
type observed struct {
	o     *Observer
	p     *Plugin
	slot  string
	mark  uint64
	start time.Time
	span  trace.Span
}

func (o *Observer) begin(ctx context.Context, p *Plugin, slot, entry string) observed {
	c := observed{o: o, p: p, slot: slot, mark: p.failureMark(), start: time.Now()}
	if o.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		_, c.span = o.tracer.Start(ctx, "plugin "+p.name, trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(telemetry.KeyPluginName.String(p.name), telemetry.KeyPluginVersion.Int(p.activeVersion()),
				telemetry.KeyPluginSlot.String(slot), attribute.String("mqgate.plugin.entry", entry)))
	}
	return c
}

func (c observed) end(err error) {
	outcome := OutcomeOK
	switch {
	case err != nil:
		outcome = OutcomeError
	case c.p.failureMark() != c.mark:
		outcome = OutcomeFailed
	}
	if c.span != nil {
		c.span.SetAttributes(telemetry.KeyPluginOutcome.String(outcome))
		if outcome != OutcomeOK {
			msg := outcome
			if err != nil {
				msg = err.Error()
			}
			c.span.SetStatus(codes.Error, msg)
		}
		c.span.End()
	}
	if c.o.failures == nil {
		return
	}
	c.o.seriesOf(seriesKey{c.p.name, c.slot, outcome}).Record(time.Since(c.start).Seconds())
	if outcome != OutcomeOK {
		c.o.failures.Add(context.Background(), 1, metric.WithAttributes(telemetry.KeyPluginName.String(c.p.name),
			telemetry.KeyPluginSlot.String(c.slot)))
	}
}

// seriesOf returns the duration series of a plugin, slot and outcome.
func (o *Observer) seriesOf(k seriesKey) *telemetry.HistogramSeries {
	if s, ok := o.series.Load(k); ok {
		return s.(*telemetry.HistogramSeries)
	}
	s := o.duration.Series(attribute.NewSet(telemetry.KeyPluginName.String(k.plugin),
		telemetry.KeyPluginSlot.String(k.slot), telemetry.KeyPluginOutcome.String(k.outcome)))
	o.series.Store(k, s)
	return s
}

// SendHook returns h (p's send adapter) observed; h itself when o is nil.
func (o *Observer) SendHook(p *Plugin, h instance.SendHook) instance.SendHook {
	if o == nil {
		return h
	}
	return &observedSend{o: o, p: p, h: h}
}

type observedSend struct {
	o *Observer
	p *Plugin
	h instance.SendHook
}

func (s *observedSend) Name() string { return s.p.name }

func (s *observedSend) BeforeSend(ctx context.Context, events []instance.SendEvent) error {
	c := s.o.begin(ctx, s.p, "send", "before_send")
	err := s.h.BeforeSend(ctx, events)
	c.end(err)
	return err
}

func (s *observedSend) AfterSend(ctx context.Context, events []instance.SendEvent) {
	c := s.o.begin(ctx, s.p, "send", "after_send")
	s.h.AfterSend(ctx, events)
	c.end(nil)
}

// ConsumeHook returns h (p's consume adapter) observed; h itself when o is nil.
func (o *Observer) ConsumeHook(p *Plugin, h instance.ConsumeHook) instance.ConsumeHook {
	if o == nil {
		return h
	}
	return &observedConsume{o: o, p: p, h: h}
}

type observedConsume struct {
	o *Observer
	p *Plugin
	h instance.ConsumeHook
}

func (s *observedConsume) Name() string { return s.p.name }

func (s *observedConsume) BeforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) error {
	c := s.o.begin(ctx, s.p, "consume", "before_consume")
	err := s.h.BeforeConsume(ctx, cc, msgs, verdicts)
	c.end(err)
	return err
}

func (s *observedConsume) AfterConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	c := s.o.begin(ctx, s.p, "consume", "after_consume")
	s.h.AfterConsume(ctx, cc, msgs, success)
	c.end(nil)
}

// RPCHook returns h (p's RPC adapter) observed (metrics only); h itself when o is nil.
func (o *Observer) RPCHook(p *Plugin, h instance.RPCHook) instance.RPCHook {
	if o == nil {
		return h
	}
	return &observedRPC{o: o, p: p, h: h}
}

type observedRPC struct {
	o *Observer
	p *Plugin
	h instance.RPCHook
}

func (s *observedRPC) Name() string { return s.p.name }

func (s *observedRPC) BeforeRequest(addr string, req *remoting.Command) error {
	c := s.o.begin(context.Background(), s.p, "rpc", "before_request")
	err := s.h.BeforeRequest(addr, req)
	c.end(err)
	return err
}

func (s *observedRPC) AfterResponse(addr string, req, resp *remoting.Command) error {
	c := s.o.begin(context.Background(), s.p, "rpc", "after_response")
	err := s.h.AfterResponse(addr, req, resp)
	c.end(err)
	return err
}

// AllocateStrategy returns s (p's strategy adapter) observed (metrics only); s itself
// when o is nil.
func (o *Observer) AllocateStrategy(p *Plugin, s instance.AllocateStrategy) instance.AllocateStrategy {
	if o == nil {
		return s
	}
	return &observedAllocate{o: o, p: p, s: s}
}

type observedAllocate struct {
	o *Observer
	p *Plugin
	s instance.AllocateStrategy
}

func (s *observedAllocate) Name() string { return s.s.Name() }

func (s *observedAllocate) Allocate(group, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	c := s.o.begin(context.Background(), s.p, "allocate", "allocate")
	idx, err := s.s.Allocate(group, self, clients, queues)
	c.end(err)
	return idx, err
}
