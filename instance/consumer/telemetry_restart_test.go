package consumer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/telemetry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// otlpMetrics is an OTLP/HTTP receiver of metrics: the consumed counts it got, by export.
type otlpMetrics struct {
	mu      sync.Mutex
	exports []*colmetricpb.ExportMetricsServiceRequest
}

func (o *otlpMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &colmetricpb.ExportMetricsServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.exports = append(o.exports, req)
	o.mu.Unlock()
	b, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// consumed returns the points of messaging.client.consumed.messages of group in each
// export, in order.
func (o *otlpMetrics) consumed(group string) [][]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out [][]int64
	for _, req := range o.exports {
		var pts []int64
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != "messaging.client.consumed.messages" {
						continue
					}
					for _, dp := range m.GetSum().GetDataPoints() {
						for _, kv := range dp.GetAttributes() {
							if kv.GetKey() == string(telemetry.KeyConsumerGroupName) && kv.GetValue().GetStringValue() == group {
								pts = append(pts, dp.GetAsInt())
							}
						}
					}
				}
			}
		}
		out = append(out, pts)
	}
	return out
}

// A group's consumer restarted between two exports (a reload changing its settings, a
// group removed and added again) goes on counting: with delta temporality the second
// export holds what both consumers consumed since the first, never a negative count.
func TestConsumedCountAcrossARestartOfTheGroup(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
	col := &otlpMetrics{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, Endpoint: srv.URL,
		Protocol: "http", MetricInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	export := func() {
		t.Helper()
		if err := tp.Instruments().MeterProvider.(*sdkmetric.MeterProvider).ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const group = "restarted_g"
	consume := func(u *unitConsumer, pq *processQueue, offsets ...int64) {
		t.Helper()
		u.deliver(pq, msgsAt(1, offsets...))
		last := offsets[len(offsets)-1]
		deadline := time.Now().Add(timeoutUnit)
		for u.committed(pq.mq) != last+1 {
			if time.Now().After(deadline) {
				t.Fatalf("offset %d not committed", last+1)
			}
			time.Sleep(time.Millisecond)
		}
	}

	first := newUnitConsumer(t, Config{Group: group, Telemetry: tp.Instruments()})
	pq := first.addQueue(instanceMQ("T", 0), 0)
	consume(first, pq, 0, 1, 2)
	export()
	consume(first, pq, 3, 4)
	first.stop()
	first.tel.close() // as Shutdown does
	second := newUnitConsumer(t, Config{Group: group, Telemetry: tp.Instruments()})
	consume(second, second.addQueue(instanceMQ("T", 0), 5), 5)
	export()

	exports := col.consumed(group)
	var total int64
	for _, pts := range exports {
		for _, n := range pts {
			if n < 0 {
				t.Errorf("a negative count of consumed messages: exports %v", exports)
			}
			total += n
		}
	}
	if total != 6 {
		t.Errorf("%d messages consumed over the exports %v, want 6", total, exports)
	}
}
