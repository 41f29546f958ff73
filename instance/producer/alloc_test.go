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
)

// The producer's instrumentation allocates, per traced send, the span, its attribute
// list, the context carrying it and the traceparent string, and nothing per send with
// metrics only; a change that lets a closure or the message list escape shows here.
func TestSendInstrumentationAllocations(t *testing.T) {
	off := false
	for _, c := range []struct {
		name   string
		traces *bool
		want   float64
	}{{"traced", nil, 4}, {"metrics only", &off, 0}} {
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
		send := func(context.Context, *message.Message) (instance.SendResult, error) {
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
