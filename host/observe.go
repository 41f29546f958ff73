package host

import (
	"context"
	"time"

	"github.com/mqgate/mqgate/internal/cowmap"

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
// plugin's name, the version that served the call, the slot and the outcome. RPC hooks
// and allocation strategies are called without a context: they get metrics only, no root
// span per request.
//
// The outcome is "ok", "error" (the call failed and the slot's policy, fail, returned the
// error) or "failed" (the call failed and the policy skipped the plugin or fell back): the
// adapter reports it for the call itself (a report), so calls running concurrently are
// each told apart. Without an Observer the adapters report to no one.

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
	series   cowmap.Map[seriesKey, *telemetry.HistogramSeries]
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

// observed is one call under way.
type observed struct {
	o      *Observer
	p      *Plugin
	slot   string
	start  time.Time
	span   trace.Span
	report report
}

// begin starts observing a call. The observed is the caller's variable: the adapter is
// handed its report's address, which does not escape, so observing allocates nothing.
func (o *Observer) begin(ctx context.Context, p *Plugin, slot, entry string) observed {
	c := observed{o: o, p: p, slot: slot, start: time.Now()}
	if o.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		c.span = telemetry.StartSpan(ctx, o.tracer, "plugin "+p.name, trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(telemetry.KeyPluginName.String(p.name), telemetry.KeyPluginSlot.String(slot),
				attribute.String("mqgate.plugin.entry", entry)))
	}
	return c
}

// end records the call as its report and err (what the adapter returned) tell.
func (c *observed) end(err error) {
	outcome := OutcomeOK
	switch {
	case err != nil:
		outcome = OutcomeError
	case c.report.failure != nil:
		outcome = OutcomeFailed
	}
	if c.span != nil {
		c.span.SetAttributes(telemetry.KeyPluginVersion.Int(c.report.version), telemetry.KeyPluginOutcome.String(outcome))
		if outcome != OutcomeOK {
			msg := outcome
			switch {
			case err != nil:
				msg = err.Error()
			case c.report.failure != nil:
				msg = c.report.failure.Error()
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
		return s
	}
	return o.series.LoadOrMake(k, func() *telemetry.HistogramSeries {
		return o.duration.Series(attribute.NewSet(telemetry.KeyPluginName.String(k.plugin),
			telemetry.KeyPluginSlot.String(k.slot), telemetry.KeyPluginOutcome.String(k.outcome)))
	})
}

// SendHook returns h (p's send adapter) observed; h itself when o is nil.
func (o *Observer) SendHook(h *SendHook) instance.SendHook {
	if o == nil {
		return h
	}
	return &observedSend{o: o, h: h}
}

type observedSend struct {
	o *Observer
	h *SendHook
}

func (s *observedSend) Name() string { return s.h.p.name }

func (s *observedSend) BeforeSend(ctx context.Context, events []instance.SendEvent) error {
	c := s.o.begin(ctx, s.h.p, "send", "before_send")
	err := s.h.beforeSend(ctx, events, &c.report)
	c.end(err)
	return err
}

func (s *observedSend) AfterSend(ctx context.Context, events []instance.SendEvent) {
	c := s.o.begin(ctx, s.h.p, "send", "after_send")
	s.h.afterSend(events, &c.report)
	c.end(nil)
}

// ConsumeHook returns h (p's consume adapter) observed; h itself when o is nil.
func (o *Observer) ConsumeHook(h *ConsumeHook) instance.ConsumeHook {
	if o == nil {
		return h
	}
	return &observedConsume{o: o, h: h}
}

type observedConsume struct {
	o *Observer
	h *ConsumeHook
}

func (s *observedConsume) Name() string { return s.h.p.name }

func (s *observedConsume) BeforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) error {
	c := s.o.begin(ctx, s.h.p, "consume", "before_consume")
	err := s.h.beforeConsume(ctx, cc, msgs, verdicts, &c.report)
	c.end(err)
	return err
}

func (s *observedConsume) AfterConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	c := s.o.begin(ctx, s.h.p, "consume", "after_consume")
	s.h.afterConsume(cc, msgs, success, &c.report)
	c.end(nil)
}

// RPCHook returns h (p's RPC adapter) observed (metrics only); h itself when o is nil.
func (o *Observer) RPCHook(h *RPCHook) instance.RPCHook {
	if o == nil {
		return h
	}
	return &observedRPC{o: o, h: h}
}

type observedRPC struct {
	o *Observer
	h *RPCHook
}

func (s *observedRPC) Name() string { return s.h.p.name }

func (s *observedRPC) BeforeRequest(addr string, req *remoting.Command) error {
	c := s.o.begin(context.Background(), s.h.p, "rpc", "before_request")
	err := s.h.beforeRequest(addr, req, &c.report)
	c.end(err)
	return err
}

func (s *observedRPC) AfterResponse(addr string, req, resp *remoting.Command) error {
	c := s.o.begin(context.Background(), s.h.p, "rpc", "after_response")
	err := s.h.afterResponse(addr, req, resp, &c.report)
	c.end(err)
	return err
}

// AllocateStrategy returns s (p's strategy adapter) observed (metrics only); s itself
// when o is nil.
func (o *Observer) AllocateStrategy(s *AllocateStrategy) instance.AllocateStrategy {
	if o == nil {
		return s
	}
	return &observedAllocate{o: o, s: s}
}

type observedAllocate struct {
	o *Observer
	s *AllocateStrategy
}

func (s *observedAllocate) Name() string { return s.s.Name() }

func (s *observedAllocate) Allocate(group, self string, clients []string, queues []instance.MessageQueue) ([]int, error) {
	c := s.o.begin(context.Background(), s.s.p, "allocate", "allocate")
	idx, err := s.s.allocate(group, self, clients, queues, &c.report)
	c.end(err)
	return idx, err
}
