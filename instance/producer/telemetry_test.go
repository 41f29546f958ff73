package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestMessageTypeAndErrorType(t *testing.T) {
	delay := newMessage("T", "b")
	delay.SetDelayLevel(3)
	tran := newMessage("T", "b")
	tran.Properties.Set(message.PropertyTransactionPrepared, "true")
	types := []struct {
		name string
		msg  *message.Message
		fifo *fifoSend
		want string
	}{
		{"plain message", newMessage("T", "b"), nil, telemetry.TypeNormal},
		{"sent to a chosen queue", newMessage("T", "b"), &fifoSend{"order-1"}, telemetry.TypeFIFO},
		{"with a delay level", delay, nil, telemetry.TypeDelay},
		{"half message of a transaction", tran, &fifoSend{}, telemetry.TypeTransaction},
	}
	for _, tt := range types {
		t.Run(tt.name, func(t *testing.T) {
			if got := messageType(tt.msg, tt.fifo); got != tt.want {
				t.Errorf("type %q, want %q", got, tt.want)
			}
		})
	}
	errs := []struct {
		err  error
		want string
	}{
		{&instance.RejectedError{Hook: "h", Reason: "r"}, "rejected"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{&instance.BrokerError{Code: remoting.SystemBusy}, "SYSTEM_BUSY"},
		{&noQueueError{topic: "T"}, "no_route"},
		{&noQueueError{topic: "T", routed: true}, "no_writable_queue"},
		{errors.New("odd"), "_OTHER"},
	}
	for _, tt := range errs {
		if got := errorType(tt.err); got != tt.want {
			t.Errorf("errorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A producer span holds each attribute key once, under every convention and for every
// kind of message and batch: the span keeps the producer's list as it is
// (telemetry.SetOwnedAttributes), trusting it to name no key twice.
func TestProducerSpanKeysAreUnique(t *testing.T) {
	for _, conv := range []telemetry.Conventions{telemetry.Old, telemetry.Current, telemetry.Dup} {
		rec := tracetest.NewSpanRecorder()
		p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, Conventions: conv,
			SpanProcessors: []sdktrace.SpanProcessor{rec}})
		if err != nil {
			t.Fatal(err)
		}
		tel := newProducerTelemetry(p.Instruments(), "pg", "ns1")
		send := func(context.Context, trace.Span, *message.Message) (instance.SendResult, error) {
			return instance.SendResult{}, nil
		}
		delay := newMessage("T", "b")
		delay.SetDelayLevel(2)
		tran := newMessage("T", "b")
		tran.Properties.Set(message.PropertyTransactionPrepared, "true")
		keyed := newMessage("T", "b")
		keyed.SetTags("TagA")
		keyed.SetKeys("k1 k2")
		for _, m := range []*message.Message{newMessage("T", "b"), keyed, delay, tran} {
			if _, err := tel.observeSend(context.Background(), nil, m, nil, send); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tel.observeSend(context.Background(), nil, newMessage("T", "b"), &fifoSend{"order-1"}, send); err != nil {
			t.Fatal(err)
		}
		_, span, start := tel.start(context.Background(), nil, tel.topic("T"), []*message.Message{newMessage("T", "1"), newMessage("T", "2")}, nil)
		tel.end(span, start, tel.topic("T"), 2, errors.New("batch failed"))
		if got := len(rec.Ended()); got != 6 {
			t.Fatalf("%v: %d spans, want 6", conv, got)
		}
		for _, s := range rec.Ended() {
			seen := map[attribute.Key]bool{}
			for _, a := range s.Attributes() {
				if seen[a.Key] {
					t.Errorf("%v: %s has %s twice: %v", conv, s.Name(), a.Key, s.Attributes())
				}
				seen[a.Key] = true
			}
		}
		_ = p.Shutdown(context.Background())
	}
}

// TestProducerSpanAttributesFitOneList: a producer span's attributes fit the list they
// are built in, whatever the convention and the kind of message: a list of the span
// buffer pool's (telemetry.AttributeBuffer), never grown into a new one (an allocation
// and a copy more on every span, and a list the pool does not take back).
func TestProducerSpanAttributesFitOneList(t *testing.T) {
	for _, conv := range []telemetry.Conventions{telemetry.Old, telemetry.Current, telemetry.Dup} {
		for _, ns := range []string{"", "ns1"} {
			p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, Conventions: conv})
			if err != nil {
				t.Fatal(err)
			}
			tel := newProducerTelemetry(p.Instruments(), "pg", ns)
			tagged := newMessage("T", "b")
			tagged.SetTags("TagA")
			keyed := newMessage("T", "b")
			keyed.SetTags("TagA")
			keyed.SetKeys("k1 k2")
			onlyKeys := newMessage("T", "b")
			onlyKeys.SetKeys("k1")
			delay := newMessage("T", "b")
			delay.SetDelayLevel(3)
			tran := newMessage("T", "b")
			tran.Properties.Set(message.PropertyTransactionPrepared, "true")
			for _, c := range []struct {
				name string
				msgs []*message.Message
				fifo *fifoSend
			}{
				{"plain", []*message.Message{newMessage("T", "b")}, nil},
				{"tagged", []*message.Message{tagged}, nil},
				{"tag and keys", []*message.Message{keyed}, nil},
				{"keys", []*message.Message{onlyKeys}, nil},
				{"delay", []*message.Message{delay}, nil},
				{"transaction", []*message.Message{tran}, nil},
				{"fifo", []*message.Message{newMessage("T", "b")}, &fifoSend{"order-1"}},
				{"fifo without a group", []*message.Message{newMessage("T", "b")}, &fifoSend{""}},
				{"batch", []*message.Message{newMessage("T", "1"), newMessage("T", "2")}, nil},
			} {
				kv := tel.attributes(nil, tel.topic("T"), c.msgs, c.fifo)
				if want := cap(telemetry.AttributeBuffer(0)); cap(kv) != want {
					t.Errorf("%v, namespace %q, %s: %d attributes in a list of %d, want a pooled list of %d",
						conv, ns, c.name, len(kv), cap(kv), want)
				}
			}
			_ = p.Shutdown(context.Background())
		}
	}
}

// BenchmarkTelemetryOverhead measures what the instrumentation adds to one send, the send
// itself being a no-op: the producer span with its attributes and trace-context
// injection, and the two metrics (metrics-only: traces off). Spans go through the
// gateway's span processor (telemetry.SpanBatcher) to an exporter that drops them.
func BenchmarkTelemetryOverhead(b *testing.B) {
	off := false
	for _, m := range []struct {
		name   string
		ratio  float64
		traces *bool
	}{{"ratio=1", 1, nil}, {"ratio=0.01", 0.01, nil}, {"metrics-only", 0, &off}} {
		b.Run(m.name, func(b *testing.B) {
			p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, SampleRatio: &m.ratio, Traces: m.traces,
				SpanProcessors: []sdktrace.SpanProcessor{telemetry.NewSpanBatcher(tracetest.NewNoopExporter())}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			tel := newProducerTelemetry(p.Instruments(), "bench_pg", "")
			msg := newMessage("BenchTopic", "body")
			msg.SetTags("TagA")
			msg.SetUniqKey("AC110001000018B4AAC2001000000000")
			send := func(context.Context, trace.Span, *message.Message) (instance.SendResult, error) {
				return instance.SendResult{}, nil
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				msg.Properties.Delete(telemetry.PropertyTraceParent)
				if _, err := tel.observeSend(ctx, nil, msg, nil, send); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCoalescedBatchIsTraced: the broker call of a coalesced batch is traced, as a child
// of one of its messages' producer spans (a client span per remoting call).
func TestCoalescedBatchIsTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	ns, brokers := fakeCluster(t, "TracedBatch", 1, "a")
	cfg := instanceConfig(ns.Addr())
	cfg.Telemetry = tp.Instruments()
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{Telemetry: tp.Instruments(),
		Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour, MaxMessages: 4}})
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			if _, err := p.Send(bg(t), newMessage("TracedBatch", fmt.Sprint(k))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := brokers[0].Count(remoting.SendBatchMessage); n != 1 {
		t.Fatalf("%d batches, want the 4 messages in one", n)
	}
	producers := map[trace.SpanID]bool{}
	var client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindProducer:
			producers[s.SpanContext().SpanID()] = true
		case s.Name() == remoting.SendBatchMessage.String():
			client = s
		}
	}
	if len(producers) != 4 || client == nil {
		t.Fatalf("%d producer spans and client span %v, want 4 and the batch's", len(producers), client)
	}
	if client.SpanKind() != trace.SpanKindClient || !producers[client.Parent().SpanID()] {
		t.Fatalf("the batch's client span (%v, parent %v) is not a child of a producer span", client.SpanKind(), client.Parent().SpanID())
	}
}

// spanSeer is a send hook that records the span in the context it is given.
type spanSeer struct{ seen trace.SpanContext }

func (h *spanSeer) BeforeSend(ctx context.Context, _ []instance.SendEvent) error {
	h.seen = trace.SpanContextFromContext(ctx)
	return nil
}

func (*spanSeer) AfterSend(context.Context, []instance.SendEvent) {}

// TestSendAloneIsTraced: a send made alone, by Send and by SendOrderly, is one trace: its
// producer span, which its message's traceparent names, the client span of its broker
// call as its child, and its hooks called inside it.
func TestSendAloneIsTraced(t *testing.T) {
	for _, c := range []struct {
		name string
		send func(*Producer, *message.Message) error
	}{
		{"Send", func(p *Producer, m *message.Message) error { _, err := p.Send(bg(t), m); return err }},
		{"SendOrderly", func(p *Producer, m *message.Message) error { _, err := p.SendOrderly(bg(t), m, "k"); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, SpanProcessors: []sdktrace.SpanProcessor{rec}})
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Shutdown(context.Background())
			ns, _ := fakeCluster(t, "TracedAlone", 1, "a")
			cfg := instanceConfig(ns.Addr())
			cfg.Telemetry = tp.Instruments()
			inst := startInstance(t, cfg)
			hook := &spanSeer{}
			p := startProducer(t, inst, Config{Telemetry: tp.Instruments(), Hooks: []instance.SendHook{hook}})
			msg := newMessage("TracedAlone", "b")
			if err := c.send(p, msg); err != nil {
				t.Fatal(err)
			}
			var producer, client sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				switch s.SpanKind() {
				case trace.SpanKindProducer:
					producer = s
				case trace.SpanKindClient:
					if s.Name() == remoting.SendMessageV2.String() {
						client = s
					}
				}
			}
			if producer == nil || client == nil {
				t.Fatalf("producer span %v, client span %v: want both", producer, client)
			}
			id := producer.SpanContext().SpanID()
			if client.Parent().SpanID() != id || client.SpanContext().TraceID() != producer.SpanContext().TraceID() {
				t.Errorf("the client span's parent is %v, want the producer span %v", client.Parent().SpanID(), id)
			}
			if hook.seen.SpanID() != id {
				t.Errorf("the hook ran in span %v, want the producer span %v", hook.seen.SpanID(), id)
			}
			if got := telemetry.Extract(&msg.Properties); got.SpanID() != id {
				t.Errorf("the message's traceparent names span %v, want the producer span %v", got.SpanID(), id)
			}
		})
	}
}
