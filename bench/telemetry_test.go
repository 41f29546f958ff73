package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkSendTelemetry: the send path of BenchmarkSendSync (1 KiB, 64 concurrent
// senders; alone, and coalesced as the gateway sends) with telemetry off, with metrics
// only, and with traces and metrics on at sampling ratios 1 and 0.01. Spans go through
// the gateway's span processor (telemetry.SpanBatcher) to an exporter that drops them, so
// that the cost measured is the instrumentation's and the SDK's, not a collector's.
// cpu-ns/msg is the process's CPU (the dev cluster runs in a child process): the overhead
// is the difference between the rows.
func BenchmarkSendTelemetry(b *testing.B) {
	ratio := func(r float64) *float64 { return &r }
	off := false
	modes := []struct {
		name string
		cfg  *telemetry.Config
	}{
		{"off", nil},
		{"metrics-only", &telemetry.Config{Enabled: true, Traces: &off}},
		{"ratio=1", &telemetry.Config{Enabled: true, SampleRatio: ratio(1)}},
		{"ratio=0.01", &telemetry.Config{Enabled: true, SampleRatio: ratio(0.01)}},
	}
	for _, tg := range prodTargets(b) {
		for _, coalesce := range []bool{false, true} {
			impl := map[bool]string{false: "mqgate", true: "mqgate-coalesce"}[coalesce]
			for _, m := range modes {
				b.Run("target="+tg.name+"/impl="+impl+"/telemetry="+m.name, func(b *testing.B) {
					var ins *telemetry.Instruments
					if m.cfg != nil {
						cfg := *m.cfg
						cfg.SpanProcessors = []sdktrace.SpanProcessor{telemetry.NewSpanBatcher(tracetest.NewNoopExporter())}
						p, err := telemetry.Setup(context.Background(), cfg)
						if err != nil {
							b.Fatal(err)
						}
						defer p.Shutdown(context.Background())
						ins = p.Instruments()
					}
					c := newProdMQGateTelemetry(b, tg.ns, coalesce, ins)
					defer c.close()
					topic := prodTopic("Sync", "telemetry_"+impl)
					prodRunSenders(b, prodSenders, 1, func(ctx context.Context) error {
						_, err := c.p.Send(ctx, prodMessage(topic))
						return err
					})
				})
			}
		}
	}
}

func newProdMQGateTelemetry(b *testing.B, ns string, coalesce bool, ins *telemetry.Instruments) *prodMQGate {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, err := instance.New(instance.Config{NameServers: []string{ns}, Logger: quiet, Telemetry: ins})
	if err != nil {
		b.Fatal(err)
	}
	if err := inst.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	p, err := producer.New(inst, producer.Config{Group: fmt.Sprintf("bench_pg_%d", prodSeq.Add(1)), Logger: quiet, Telemetry: ins,
		Coalesce: producer.CoalesceConfig{Enabled: coalesce}})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &prodMQGate{inst, p}
}
