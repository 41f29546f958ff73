package host

import (
	"context"
	"sync"
	"testing"

	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestObserverRecordsPluginCalls: an observed send hook gets a span per call inside a
// traced send, named after the plugin, with its version, slot and outcome, and the
// duration and failure metrics by outcome; the outcome tells a call that went well from
// one the policy skipped and one whose error the policy returned.
func TestObserverRecordsPluginCalls(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true,
		SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	obs := NewObserver(tp.Instruments())
	if NewObserver(nil) != nil {
		t.Fatal("an observer without instruments")
	}

	r, _ := newRuntime(t)
	tests := []struct {
		name    string
		policy  Policy
		body    string
		outcome string
		wantErr bool
	}{
		{"a call that goes well", Skip, "ok", OutcomeOK, false},
		{"a failure the policy skips", Skip, "error", OutcomeFailed, false},
		{"a failure the policy returns", Fail, "error", OutcomeError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			p, h := behaviors(t, r, PluginConfig{Name: "obs-" + tt.policy.String(), Policy: tt.policy})
			hook := obs.SendHook(h)
			ctx, parent := tp.Instruments().Tracer("test").Start(context.Background(), "send")
			err := hook.BeforeSend(ctx, sendEvents("TagA", tt.body))
			parent.End()
			if (err != nil) != tt.wantErr {
				t.Fatalf("BeforeSend = %v", err)
			}
			var span sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == "plugin "+p.Name() {
					span = s
				}
			}
			if span == nil {
				t.Fatal("no plugin span")
			}
			if span.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Error("the plugin span is not the send's child")
			}
			got := map[string]string{}
			for _, kv := range span.Attributes() {
				got[string(kv.Key)] = kv.Value.String()
			}
			if got["mqgate.plugin.name"] != p.Name() || got["mqgate.plugin.slot"] != "send" ||
				got["mqgate.plugin.version"] != "1" || got["mqgate.plugin.outcome"] != tt.outcome {
				t.Errorf("span attributes %v, want outcome %s", got, tt.outcome)
			}
		})
	}

	outcomes, failures := pluginCallMetrics(t, tp)
	if outcomes[OutcomeOK] != 1 || outcomes[OutcomeFailed] != 1 || outcomes[OutcomeError] != 1 || failures != 2 {
		t.Errorf("durations by outcome %v, failures %d", outcomes, failures)
	}
}

// TestObserverTellsConcurrentCallsApart: calls of one plugin running at once, half of
// them failing (skipped by the policy), are each recorded with their own outcome.
func TestObserverTellsConcurrentCallsApart(t *testing.T) {
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	obs := NewObserver(tp.Instruments())
	r, _ := newRuntime(t)
	_, h := behaviors(t, r, PluginConfig{Name: "obs-concurrent", Policy: Skip, QuarantineAfter: -1,
		Instances: 4, MaxInstances: 4})
	hook := obs.SendHook(h)
	const calls = 2000
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, body := range []string{"ok", "error"} { // side by side, on two cores
		wg.Go(func() {
			<-start
			for range calls {
				if err := hook.BeforeSend(context.Background(), sendEvents("TagA", body)); err != nil {
					t.Error(err) // the policy skips: no error
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	outcomes, _ := pluginCallMetrics(t, tp)
	if outcomes[OutcomeOK] != calls || outcomes[OutcomeFailed] != calls || len(outcomes) != 2 {
		t.Fatalf("outcomes %v, want %d ok and %d failed", outcomes, calls, calls)
	}
}

// pluginCallMetrics returns the plugin calls recorded, by outcome
// (mqgate.plugin.call.duration's counts), and the failures counted.
func pluginCallMetrics(t *testing.T, tp *telemetry.Provider) (map[string]uint64, int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tp.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]uint64{}
	var failures int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "mqgate.plugin.call.duration":
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					v, _ := dp.Attributes.Value("mqgate.plugin.outcome")
					outcomes[v.AsString()] += dp.Count
				}
			case "mqgate.plugin.call.failures":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					failures += dp.Value
				}
			}
		}
	}
	return outcomes, failures
}
