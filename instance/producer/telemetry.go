package producer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/internal/cowmap"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry of the sends (Config.Telemetry): a producer span per send (per batch for
// SendBatch) with the messaging attributes of the conventions chosen, whose W3C trace
// context is written into each message's properties (telemetry.PropertyTraceParent) before
// the message is encoded; and the messaging.client.sent.messages counter and
// messaging.client.operation.duration histogram by topic and error type. The counter is
// an observable one over atomic counts: an SDK counter's Add costs ~190 ns a send, an
// atomic add a few; the histogram is a telemetry.Histogram for the same reason. The remoting
// call under a send is a child span (instance/telemetry.go). Off (nil), each send tests
// one pointer.

const scopeProducer = "instance/producer"

type producerTelemetry struct {
	conv     telemetry.Conventions
	group    string
	ns       string
	tracer   trace.Tracer // nil: no spans
	metrics  bool
	duration *telemetry.Histogram
	// reg is the sent-messages callback. It stays registered after the producer's
	// Shutdown, so that the provider's final flush (the gateway shuts it down last) still
	// exports the last counts.
	reg    metric.Registration
	topics cowmap.Map[string, *topicTelemetry]
	failed sync.Map // failedKey -> *sentCount
}

// sentCount is a count of messages sent with one attribute set, and their durations.
type sentCount struct {
	n        atomic.Int64
	set      attribute.Set
	duration *telemetry.HistogramSeries
}

type failedKey struct{ topic, errorType string }

// topicTelemetry is what a topic's sends reuse: the span name, the span attributes every
// send to the topic has (a slice passed on without a copy: a variadic call through an
// interface would allocate one per call), and the metrics of successful sends.
type topicTelemetry struct {
	topic    string
	spanName string
	attrs    []attribute.KeyValue // system, destination, operation, group, namespace
	sent     sentCount            // successful sends
}

func newProducerTelemetry(in *telemetry.Instruments, group, ns string) *producerTelemetry {
	tracer, meter := in.Tracer(scopeProducer), in.Meter(scopeProducer)
	if tracer == nil && meter == nil {
		return nil
	}
	t := &producerTelemetry{conv: in.Conv(), group: group, ns: ns, tracer: tracer}
	if meter != nil {
		t.metrics = true
		sent, _ := meter.Int64ObservableCounter("messaging.client.sent.messages", metric.WithUnit("{message}"),
			metric.WithDescription("Number of messages producers attempted to send to the broker."))
		t.duration = in.DurationHistogram(scopeProducer, "messaging.client.operation.duration",
			"Duration of messaging operation initiated by a producer or consumer client.")
		t.reg, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			observe := func(c *sentCount) {
				if n := c.n.Load(); n > 0 {
					o.ObserveInt64(sent, n, metric.WithAttributeSet(c.set))
				}
			}
			t.topics.Range(func(_ string, o *topicTelemetry) bool { observe(&o.sent); return true })
			t.failed.Range(func(_, v any) bool { observe(v.(*sentCount)); return true })
			return nil
		}, sent)
	}
	return t
}

// fifoSend marks a send to a chosen queue (SendOrderly, SendWithSelector): a FIFO
// message, whose group is the sharding key when there is one.
type fifoSend struct{ group string }

// messageType is rocketmq.message.type of msg; fifo for sends to a chosen queue.
func messageType(msg *message.Message, fifo *fifoSend) string {
	switch {
	case msg.TransactionPrepared():
		return telemetry.TypeTransaction
	case fifo != nil:
		return telemetry.TypeFIFO
	case msg.DelayLevel() > 0:
		return telemetry.TypeDelay
	}
	return telemetry.TypeNormal
}

// start starts the producer span of a send of msgs to topic o and writes its context into
// each message's properties (one traceparent string for all); it returns ctx with the
// span, and when the send started (the span's start time: one clock reading for both).
func (t *producerTelemetry) start(ctx context.Context, p *Producer, o *topicTelemetry, msgs []*message.Message, fifo *fifoSend) (context.Context, trace.Span, time.Time) {
	span, start := t.startSpan(ctx, p, o, msgs, fifo)
	if span != nil {
		ctx = trace.ContextWithSpan(ctx, span)
	}
	return ctx, span, start
}

// startSpan is start for a send whose context carries the span itself (deadlineCtx).
// A single message's id is given to it here, rather than by prepare, so that the span has
// it from the start. Its attributes are built only for a span that records, and given to
// it as it starts (telemetry.StartOfKind).
func (t *producerTelemetry) startSpan(ctx context.Context, p *Producer, o *topicTelemetry, msgs []*message.Message, fifo *fifoSend) (trace.Span, time.Time) {
	if t.tracer == nil {
		return nil, time.Now()
	}
	for _, m := range msgs {
		m.Properties.Grow(1 + p.addedProperties()) // the traceparent too: one growth
	}
	span := telemetry.StartProducerSpan(ctx, t.tracer, o.spanName,
		func() []attribute.KeyValue { return t.attributes(p, o, msgs, fifo) })
	tc := telemetry.TraceContextOf(span)
	for _, m := range msgs {
		tc.Inject(&m.Properties)
	}
	return span, telemetry.SpanStartTime(span)
}

// attributes returns a recording producer span's attributes: the topic's, copied from o,
// then the message's or the batch's, each key once, in a list made at its exact size.
func (t *producerTelemetry) attributes(p *Producer, o *topicTelemetry, msgs []*message.Message, fifo *fifoSend) []attribute.KeyValue {
	if len(msgs) != 1 {
		return append(append(telemetry.AttributeBuffer(len(o.attrs)+1), o.attrs...),
			telemetry.KeyBatchMessageCount.Int(len(msgs)))
	}
	m := msgs[0]
	id := m.UniqKey()
	if id == "" && p != nil {
		id = p.ids.Next()
		m.Properties.Set(message.PropertyUniqKey, id)
	}
	tag, keys, typ := m.Tags(), m.Keys(), messageType(m, fifo)
	// Room for the id and at most four values the conventions name (the tag, the keys,
	// the type, a delay level or a message group): a pooled list holds them all.
	kv := telemetry.AttributeBuffer(len(o.attrs) + 1 + 4*t.conv.Width())
	kv = append(kv, o.attrs...)
	kv = append(kv, telemetry.KeyMessageID.String(id))
	kv = t.conv.Tag(kv, tag)
	kv = t.conv.Keys(kv, keys)
	kv = t.conv.MessageType(kv, typ)
	switch typ {
	case telemetry.TypeDelay:
		kv = t.conv.DelayLevel(kv, m.DelayLevel())
	case telemetry.TypeFIFO:
		kv = t.conv.MessageGroup(kv, fifo.group)
	}
	return kv
}

// end ends the span and records the metrics of a send of n messages to topic o.
func (t *producerTelemetry) end(span trace.Span, start time.Time, o *topicTelemetry, n int, err error) {
	recording := span != nil && span.IsRecording()
	if recording {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(telemetry.KeyErrorType.String(errorType(err)))
		}
		span.End()
	}
	if !t.metrics {
		return
	}
	var took float64
	if recording {
		took = telemetry.SpanEndTime(span).Sub(start).Seconds()
	} else {
		took = time.Since(start).Seconds()
	}
	if err == nil {
		o.sent.n.Add(int64(n))
		o.sent.duration.Record(took)
		return
	}
	k := failedKey{o.topic, errorType(err)}
	c, ok := t.failed.Load(k)
	if !ok {
		set := attribute.NewSet(telemetry.SystemRocketMQ, telemetry.KeyDestinationName.String(o.topic),
			telemetry.KeyOperationName.String("send"), telemetry.KeyErrorType.String(k.errorType))
		c, _ = t.failed.LoadOrStore(k, &sentCount{set: set, duration: t.duration.Series(set)})
	}
	c.(*sentCount).n.Add(int64(n))
	c.(*sentCount).duration.Record(took)
}

func (t *producerTelemetry) topic(topic string) *topicTelemetry {
	if o, ok := t.topics.Load(topic); ok {
		return o
	}
	return t.topics.LoadOrMake(topic, func() *topicTelemetry {
		set := attribute.NewSet(telemetry.SystemRocketMQ, telemetry.KeyDestinationName.String(topic),
			telemetry.KeyOperationName.String("send"))
		attrs := []attribute.KeyValue{telemetry.SystemRocketMQ, telemetry.KeyDestinationName.String(topic)}
		attrs = t.conv.Operation(attrs, telemetry.Publish)
		attrs = t.conv.ProducerGroup(attrs, t.group)
		attrs = t.conv.Namespace(attrs, t.ns)
		return &topicTelemetry{topic: topic, spanName: t.conv.SpanName(telemetry.Publish, topic), attrs: slices.Clip(attrs),
			sent: sentCount{set: set, duration: t.duration.Series(set)}}
	})
}

// errorType is error.type of a failed send: a few classes a dashboard can group by.
func errorType(err error) string {
	var be *instance.BrokerError
	var rej *instance.RejectedError
	var he *HookError
	switch {
	case errors.As(err, &rej):
		return "rejected"
	case errors.As(err, &he):
		return "hook"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, instance.ErrTimeout):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &be):
		return be.Code.String()
	case errors.Is(err, instance.ErrNoRoute):
		return "no_route"
	case errors.Is(err, ErrNoWritableQueue):
		return "no_writable_queue"
	}
	return "_OTHER"
}

// observeSend runs send (Send or a send to a chosen queue) inside a producer span, which
// it gives send to carry in the send's context (deadlineCtx).
func (t *producerTelemetry) observeSend(ctx context.Context, p *Producer, msg *message.Message, fifo *fifoSend,
	send func(context.Context, trace.Span, *message.Message) (instance.SendResult, error)) (instance.SendResult, error) {
	o := t.topic(msg.Topic)
	one := [1]*message.Message{msg}
	span, start := t.startSpan(ctx, p, o, one[:], fifo)
	res, err := send(ctx, span, msg)
	t.end(span, start, o, 1, err)
	return res, err
}

// observeAsync runs an asynchronous send inside a producer span that ends when cb runs,
// or at once when the send fails before it is under way.
func (t *producerTelemetry) observeAsync(ctx context.Context, p *Producer, msg *message.Message, cb func(instance.SendResult, error),
	send func(context.Context, *message.Message, func(instance.SendResult, error)) error) error {
	o := t.topic(msg.Topic)
	one := [1]*message.Message{msg}
	ctx, span, start := t.start(ctx, p, o, one[:], nil)
	err := send(ctx, msg, func(res instance.SendResult, err error) {
		t.end(span, start, o, 1, err)
		cb(res, err)
	})
	if err != nil {
		t.end(span, start, o, 1, err)
	}
	return err
}

// observeBatch runs SendBatch inside one producer span whose context every message carries.
func (t *producerTelemetry) observeBatch(ctx context.Context, msgs []*message.Message,
	send func(context.Context, []*message.Message) ([]instance.SendResult, error)) ([]instance.SendResult, error) {
	topic := ""
	if len(msgs) > 0 {
		topic = msgs[0].Topic
	}
	o := t.topic(topic)
	ctx, span, start := t.start(ctx, nil, o, msgs, nil) // a batch's messages get their ids in prepareBatch
	res, err := send(ctx, msgs)
	t.end(span, start, o, len(msgs), err)
	return res, err
}
