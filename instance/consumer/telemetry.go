package consumer

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/mqgate/mqgate/internal/cowmap"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry of the deliveries (Config.Telemetry): a consumer span per delivered message,
// from the moment the Handler gets it to the delivery's completion, with the messaging
// attributes of the conventions chosen and the reconsume count. The producer's W3C trace
// context, read from the message's properties (telemetry.PropertyTraceParent), is both the
// span's parent — a produce and its deliveries are one trace — and a link, as the
// conventions ask of process spans; a message without it gets a root span. A delivery of
// one message passes its span's context to the Handler. Metrics:
// messaging.client.consumed.messages and messaging.process.duration by topic, group and
// outcome; mqgate.consumer.lag and mqgate.consumer.inflight per queue, observed at
// collection. The consumed counter and the duration histogram are the provider's
// (telemetry.Counter, telemetry.Histogram): their series go when the consumer shuts down
// (close), so that a gateway whose groups come and go does not export every group it ever
// had, and a consumer of the group started again counts in new series, never below what
// was reported. Off (nil), a delivery tests one pointer.

const scopeConsumer = "instance/consumer"

type consumerTelemetry struct {
	conv     telemetry.Conventions
	tracer   trace.Tracer // nil: no spans
	metrics  bool
	consumed *telemetry.Counter
	duration *telemetry.Histogram
	reg      metric.Registration
	opts     cowmap.Map[outcomeKey, *outcomeOpts]

	// mu orders close against the making of an outcome: one made before close is in opts
	// when close forgets their series, one made after makes none.
	mu     sync.Mutex
	closed bool
}

type outcomeKey struct {
	topic string
	ok    bool
}

// outcomeOpts are an outcome's series; nil once the consumer has shut down.
type outcomeOpts struct {
	consumed *telemetry.CounterSeries
	duration *telemetry.HistogramSeries
}

// deliveryTelemetry is a delivery's spans, one per message, in order.
type deliveryTelemetry struct {
	spans []trace.Span
	start time.Time
}

func newConsumerTelemetry(c *PushConsumer, in *telemetry.Instruments) *consumerTelemetry {
	tracer, meter := in.Tracer(scopeConsumer), in.Meter(scopeConsumer)
	if tracer == nil && meter == nil {
		return nil
	}
	t := &consumerTelemetry{conv: in.Conv(), tracer: tracer}
	if meter == nil {
		return t
	}
	t.metrics = true
	t.consumed = in.Counter(scopeConsumer, "messaging.client.consumed.messages",
		"Number of messages that were delivered to the application.", "{message}")
	t.duration = in.DurationHistogram(scopeConsumer, "messaging.process.duration", "Duration of processing operation.")
	lag, _ := meter.Int64ObservableGauge("mqgate.consumer.lag", metric.WithUnit("{message}"),
		metric.WithDescription("Messages of a queue not yet consumed by the group: the queue's max offset minus the committed offset."))
	inflight, _ := meter.Int64ObservableGauge("mqgate.consumer.inflight", metric.WithUnit("{message}"),
		metric.WithDescription("Messages of a queue delivered to the application and not yet completed."))
	t.reg, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if c.state.Load() != stateRunning {
			return nil
		}
		st := c.Status()
		for _, q := range st.Queues {
			attrs := metric.WithAttributes(telemetry.SystemRocketMQ, telemetry.KeyConsumerGroupName.String(st.Group),
				telemetry.KeyDestinationName.String(q.Queue.Topic), telemetry.KeyBrokerName.String(q.Queue.BrokerName),
				telemetry.KeyQueueID.String(strconv.Itoa(int(q.Queue.QueueID))))
			if q.Lag >= 0 {
				o.ObserveInt64(lag, q.Lag, attrs)
			}
			o.ObserveInt64(inflight, q.InFlight, attrs)
		}
		return nil
	}, lag, inflight)
	return t
}

// close unregisters the gauges and forgets the series of the consumer's outcomes: a
// removed group's series leave the exports.
func (t *consumerTelemetry) close() {
	if t == nil || !t.metrics {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
	t.opts.Range(func(_ outcomeKey, o *outcomeOpts) bool {
		t.consumed.Forget(o.consumed)
		t.duration.Forget(o.duration)
		return true
	})
}

// start starts the spans of d's messages, as the delivery is made.
func (t *consumerTelemetry) start(c *PushConsumer, d *Delivery) {
	dt := &deliveryTelemetry{start: time.Now()}
	d.tel = dt
	if t.tracer == nil || len(d.msgs) == 0 {
		return
	}
	dt.spans = make([]trace.Span, len(d.msgs))
	for i, m := range d.msgs {
		ctx := context.Background()
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
		if sc := telemetry.Extract(&m.Properties); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		_, span := t.tracer.Start(ctx, t.conv.SpanName(telemetry.Process, m.Topic), opts...)
		dt.spans[i] = span
		if span.IsRecording() {
			span.SetAttributes(t.attributes(c, m)...)
		}
	}
}

// context is the Handler's context: with the span of a delivery of one message.
func (dt *deliveryTelemetry) context(ctx context.Context) context.Context {
	if len(dt.spans) == 1 {
		return trace.ContextWithSpan(ctx, dt.spans[0])
	}
	return ctx
}

func (t *consumerTelemetry) attributes(c *PushConsumer, m *message.Ext) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 16)
	kv = append(kv, telemetry.SystemRocketMQ, telemetry.KeyDestinationName.String(m.Topic),
		telemetry.KeyMessageID.String(m.MsgID()), telemetry.KeyReconsumeTimes.Int(int(m.ReconsumeTimes)),
		telemetry.KeyBrokerName.String(m.BrokerName), telemetry.KeyQueueID.String(strconv.Itoa(int(m.QueueID))))
	kv = t.conv.Operation(kv, telemetry.Process)
	kv = t.conv.ConsumerGroup(kv, c.cfg.Group)
	kv = t.conv.ConsumptionModel(kv, string(c.cfg.Model))
	kv = t.conv.Tag(kv, m.Tags())
	kv = t.conv.Keys(kv, m.Keys())
	return kv
}

// end ends d's spans and records its metrics: the first consumed messages succeeded, the
// others failed (reconsumed later).
func (t *consumerTelemetry) end(d *Delivery, r Result) {
	dt := d.tel
	n := r.consumed(len(d.msgs))
	took := time.Since(dt.start).Seconds()
	for i, m := range d.msgs {
		ok := i < n
		if i < len(dt.spans) {
			span := dt.spans[i]
			if !ok {
				span.SetStatus(codes.Error, "consume failed: reconsumed later")
				span.SetAttributes(telemetry.KeyErrorType.String("reconsume_later"))
			}
			span.End()
		}
		if t.metrics {
			o := t.outcome(m.Topic, d.c.cfg.Group, ok)
			o.consumed.Add(1)
			o.duration.Record(took)
		}
	}
}

func (t *consumerTelemetry) outcome(topic, group string, ok bool) *outcomeOpts {
	k := outcomeKey{topic: topic, ok: ok}
	if o, found := t.opts.Load(k); found {
		return o
	}
	// Made and stored under mu, so that close sees it, or it sees close.
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opts.LoadOrMake(k, func() *outcomeOpts {
		kv := []attribute.KeyValue{telemetry.SystemRocketMQ, telemetry.KeyDestinationName.String(topic),
			telemetry.KeyConsumerGroupName.String(group), telemetry.KeyOperationName.String("process")}
		if !ok {
			kv = append(kv, telemetry.KeyErrorType.String("reconsume_later"))
		}
		o := &outcomeOpts{}
		if !t.closed { // a delivery completing after Shutdown makes no series that would stay
			set := attribute.NewSet(kv...)
			o.consumed, o.duration = t.consumed.Series(set), t.duration.Series(set)
		}
		return o
	})
}
