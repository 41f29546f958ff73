//go:build !race

package instance

// Allocation counts are meaningless under the race detector, which makes sync.Pool drop
// items at random.

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// SendMessage allocates nothing beyond what the transport allocates for the exchange:
// compare it with a bare netpoll Invoke of a prebuilt request.
func TestSendMessageAllocatesNoMoreThanTheTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := sendHeader("T")
	body := []byte("hello")
	if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
		t.Fatal(err)
	}
	cl, _ := i.transport()
	raw := &remoting.Command{Code: int32(remoting.SendMessageV2), Language: remoting.LanguageGo, Version: 401,
		Serialize: remoting.RocketMQ, Header: h.V2(), Body: body}
	bare := testing.AllocsPerRun(300, func() {
		if _, err := cl.Invoke(ctx, broker.Addr(), raw); err != nil {
			t.Fatal(err)
		}
	})
	ours := testing.AllocsPerRun(300, func() {
		if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per send: transport %.1f, SendMessage %.1f", bare, ours)
	if ours > bare+0.5 {
		t.Errorf("SendMessage allocates %.1f per call, the transport alone %.1f", ours, bare)
	}
}

// A traced call's client span costs one allocation, the span: its attributes are shared
// from span to span (telemetry.AttributeList), its context not made.
func TestClientSpanAllocatesOnlyItself(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, Metrics: new(bool),
		SpanProcessors: []sdktrace.SpanProcessor{telemetry.NewSpanBatcher(tracetest.NewNoopExporter())}})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	cfg := testConfig(clock.NewFake(epoch), "127.0.0.1:1")
	cfg.Telemetry = tp.Instruments()
	i := startInstance(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	traced, parent := tp.Instruments().Tracer("test").Start(ctx, "send")
	defer parent.End()
	h, body := sendHeader("T"), []byte("hello")
	send := func(ctx context.Context) func() {
		return func() {
			if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(traced)()
	plain, spans := mallocsPerRun(1000, send(ctx)), mallocsPerRun(1000, send(traced))
	t.Logf("allocations per send: untraced %.1f, traced %.1f", plain, spans)
	if spans > plain+1.2 {
		t.Errorf("a traced send allocates %.1f, an untraced one %.1f: more than its span", spans, plain)
	}
}

// mallocsPerRun is testing.AllocsPerRun without its rounding down.
func mallocsPerRun(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}
