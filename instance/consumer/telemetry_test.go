package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestDeliverySpans: each delivered message gets a consumer span; one carrying a
// traceparent property is that context's child and links to it, one without is a root;
// a failed delivery's span is an error, and the message consumed again is a new span
// with its reconsume count, in the same trace. The metrics count both outcomes.
func TestDeliverySpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true,
		SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())

	dc := startCluster(t, devcluster.Config{})
	inst := startInstance(t, dc.NameServerAddr(), "telemetry")
	const topic = "TelemetryTopic"
	createTopic(t, inst, dc.BrokerAddr(), topic, 1)
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	send(t, inst, topic,
		testMsg{body: "traced", tags: "TagA", keys: "k1 k2", props: map[string]string{telemetry.PropertyTraceParent: parent}},
		testMsg{body: "untraced"},
		testMsg{body: "fail", props: map[string]string{telemetry.PropertyTraceParent: parent}})

	done := make(chan struct{})
	c := newConsumer(t, inst, Config{Group: "telemetry_cg", ConsumeFromWhere: remoting.ConsumeFromFirstOffset,
		Telemetry: tp.Instruments(), ConsumeBatchMaxSize: 1,
		Handler: ConsumeFunc(func(_ context.Context, msgs []*message.Ext) Result {
			m := msgs[0]
			if string(m.Body) == "fail" {
				if m.ReconsumeTimes == 0 {
					return ReconsumeLater(1)
				}
				close(done)
			}
			return ConsumeSuccess()
		})}, map[string]string{topic: "*"})
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the failed message was not consumed again")
	}

	byBody := map[string][]sdktrace.ReadOnlySpan{}
	waitFor(t, 10*time.Second, "four consumer spans", func() bool {
		clear(byBody)
		n := 0
		for _, s := range rec.Ended() {
			if s.SpanKind() != trace.SpanKindConsumer {
				continue
			}
			a := map[string]string{}
			for _, kv := range s.Attributes() {
				a[string(kv.Key)] = kv.Value.String()
			}
			byBody[a["messaging.message.id"]] = append(byBody[a["messaging.message.id"]], s)
			n++
		}
		return n >= 4
	})
	var traced, untraced, failed, again sdktrace.ReadOnlySpan
	for _, spans := range byBody {
		for _, s := range spans {
			attr := func(k string) string {
				for _, kv := range s.Attributes() {
					if string(kv.Key) == k {
						return kv.Value.String()
					}
				}
				return ""
			}
			switch {
			case attr("messaging.rocketmq.message.tag") == "TagA":
				traced = s
			case !s.Parent().IsValid():
				untraced = s
			case attr("mqgate.message.reconsume_times") == "1":
				again = s
			default:
				failed = s
			}
		}
	}
	if traced == nil || untraced == nil || failed == nil || again == nil {
		t.Fatalf("spans by message: %v", byBody)
	}
	for _, s := range []sdktrace.ReadOnlySpan{traced, failed, again} {
		if s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" ||
			!s.Parent().IsRemote() {
			t.Errorf("span %v: parent %v, want the message's traceparent", s.Name(), s.Parent())
		}
		if l := s.Links(); len(l) != 1 || l[0].SpanContext.SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("span links %v", l)
		}
	}
	if len(untraced.Links()) != 0 || untraced.Name() != topic+" process" {
		t.Errorf("the span of a message without trace context: %q links %v", untraced.Name(), untraced.Links())
	}
	if failed.Status().Code != codes.Error || again.Status().Code == codes.Error || traced.Status().Code == codes.Error {
		t.Errorf("statuses: failed %v, again %v, traced %v", failed.Status(), again.Status(), traced.Status())
	}
	a := map[string]string{}
	for _, kv := range traced.Attributes() {
		a[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{"messaging.system": "rocketmq", "messaging.operation": "process",
		"messaging.destination.name": topic, "messaging.rocketmq.client_group": "telemetry_cg",
		"messaging.rocketmq.consumption_model": "clustering", "messaging.rocketmq.message.keys": `["k1","k2"]`,
		"mqgate.message.reconsume_times": "0"} {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := tp.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int64{}
	lag := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "messaging.client.consumed.messages":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					v, _ := dp.Attributes.Value("error.type")
					outcomes[v.AsString()] += dp.Value
				}
			case "mqgate.consumer.lag":
				lag = len(m.Data.(metricdata.Gauge[int64]).DataPoints) > 0
			}
		}
	}
	if outcomes[""] != 3 || outcomes["reconsume_later"] != 1 || !lag {
		t.Errorf("consumed by outcome %v, lag observed %v", outcomes, lag)
	}
	if n := groupSeries(rm, "telemetry_cg"); n["messaging.process.duration"] != 2 {
		t.Errorf("series of the group by metric: %v, want 2 process durations", n)
	}

	// A consumer shut down (a group removed from a gateway) leaves the exports: a gateway
	// whose groups come and go must not export every group it ever had.
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tp.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := groupSeries(rm, "telemetry_cg"); len(n) != 0 {
		t.Errorf("series of the group shut down, by metric: %v", n)
	}
}

// groupSeries counts the data points of each metric in rm whose consumer group is group.
func groupSeries(rm metricdata.ResourceMetrics, group string) map[string]int {
	n := map[string]int{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
			for _, s := range sets {
				if v, ok := s.Value(telemetry.KeyConsumerGroupName); ok && v.AsString() == group {
					n[m.Name]++
				}
			}
		}
	}
	return n
}
