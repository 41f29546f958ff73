//go:build !race

package producer

// Allocation counts differ under the race detector.

import (
	"context"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The producer's instrumentation allocates, per traced send, the span (its traceparent
// in the same allocation, the send's own context carrying it) and its attribute list,
// and nothing per send with metrics only; a change that lets a closure or the message
// list escape shows here.
func TestSendInstrumentationAllocations(t *testing.T) {
	off := false
	for _, c := range []struct {
		name   string
		traces *bool
		want   float64
	}{{"traced", nil, 2}, {"metrics only", &off, 0}} {
		p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, Traces: c.traces,
			SpanProcessors: []sdktrace.SpanProcessor{telemetry.NewSpanBatcher(tracetest.NewNoopExporter())}})
		if err != nil {
			t.Fatal(err)
		}
		tel := newProducerTelemetry(p.Instruments(), "pg", "")
		msg := newMessage("T", "body")
		msg.SetTags("TagA")
		msg.SetUniqKey("AC110001000018B4AAC2001000000000")
		msg.Properties.Set(telemetry.PropertyTraceParent, "")
		send := func(context.Context, trace.Span, *message.Message) (instance.SendResult, error) {
			return instance.SendResult{}, nil
		}
		n := testing.AllocsPerRun(200, func() {
			if _, err := tel.observeSend(context.Background(), nil, msg, nil, send); err != nil {
				t.Fatal(err)
			}
		})
		if n > c.want {
			t.Errorf("%s: %v allocations a send, want %v", c.name, n, c.want)
		}
		_ = p.Shutdown(context.Background())
	}
}

// prepare makes room in a message's properties for what a send adds at once: UNIQ_KEY
// and, with send hooks, a header a hook adds, so that an enricher's header costs no
// second growth of the list (with tracing, the span's start makes that room, and for the
// traceparent too).
func TestPrepareGrowsPropertiesOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		hooks []instance.SendHook
		want  float64 // allocations the header adds
	}{{"with a send hook", []instance.SendHook{nopHook{}}, 0}, {"without", nil, 1}} {
		p := &Producer{hooks: c.hooks, cfg: Config{MaxMessageSize: 4 << 20},
			ids: message.NewUniqIDGenerator(message.UniqIDConfig{})}
		p.topics.init()
		send := func(header bool) float64 {
			return testing.AllocsPerRun(100, func() {
				msg := newMessage("T", "body")
				msg.SetTags("TagA")
				c := sendCall{msg: msg}
				_ = p.prepare(&c)
				if header {
					msg.Properties.Set("x-gateway", "eu-1") // what the hook adds
				}
			})
		}
		if n := send(true) - send(false); n != c.want {
			t.Errorf("%s: the header added %v allocations, want %v", c.name, n, c.want)
		}
	}
}

type nopHook struct{}

func (nopHook) BeforeSend(context.Context, []instance.SendEvent) error { return nil }
func (nopHook) AfterSend(context.Context, []instance.SendEvent)        {}
