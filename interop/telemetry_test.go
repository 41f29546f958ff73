package interop

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/mqgate/mqgate/gateway"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestMetricsExpositionParsesWithPrometheus scrapes the gateway's GET /metrics after a few
// sends and reads it with Prometheus's own text-format parser: every family parses, has
// the type the OTel instrument implies and the name the OTel-to-Prometheus rules give
// (unit suffix, _total on counters), and the counts are the sends made.
func TestMetricsExpositionParsesWithPrometheus(t *testing.T) {
	c := startCluster(t)
	listen := "127.0.0.1:0"
	const token = "scrape-token-0123456789"
	g := runGateway(t, c, gateway.Config{
		Producer:  gateway.ProducerConfig{Group: name(t, "metrics_pg")},
		Admin:     gateway.AdminConfig{Listen: &listen, Tokens: []gateway.AdminToken{{Name: "prom", Token: token, Scopes: []string{gateway.ScopeMetricsRead}}}},
		Plugins:   gateway.PluginsConfig{Dir: t.TempDir()}, // the admin API's plugin store
		Telemetry: telemetry.Config{Enabled: true, ResourceAttributes: map[string]string{"deployment.environment": "interop"}},
	})
	topic := name(t, "MetricsTopic")
	for range 2 {
		var res gatewayResult
		postJSON(t, "http://"+g.Addr()+"/v1/topics/"+topic+"/messages", gatewayMessage{Body: text("m")}, &res)
	}

	req, _ := http.NewRequest("GET", "http://"+g.AdminAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	if ct := expfmt.ResponseFormat(resp.Header); ct.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("content type %q is not the text format", resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the exposition: %v\n%s", err, body)
	}
	want := map[string]dto.MetricType{
		"messaging_client_sent_messages_total":        dto.MetricType_COUNTER,
		"messaging_client_operation_duration_seconds": dto.MetricType_HISTOGRAM,
		"mqgate_remoting_call_duration_seconds":       dto.MetricType_HISTOGRAM,
		"mqgate_remoting_connections":                 dto.MetricType_GAUGE,
		"target_info":                                 dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no family %s in\n%s", name, body)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	var sent float64
	for _, m := range fams["messaging_client_sent_messages_total"].GetMetric() {
		if label(m, "messaging_destination_name") == topic && label(m, "error_type") == "" {
			sent += m.GetCounter().GetValue()
		}
	}
	if sent != 2 {
		t.Errorf("messaging_client_sent_messages_total for %s: %v, want 2", topic, sent)
	}
	for _, m := range fams["messaging_client_operation_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		prev := uint64(0)
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < prev {
				t.Errorf("buckets not cumulative: %v", h)
			}
			prev = b.GetCumulativeCount()
		}
		if h.GetSampleCount() < prev || h.GetSampleSum() <= 0 {
			t.Errorf("histogram count %d sum %v, buckets up to %d", h.GetSampleCount(), h.GetSampleSum(), prev)
		}
	}
	if ti := fams["target_info"]; ti != nil && label(ti.GetMetric()[0], "deployment_environment") != "interop" {
		t.Errorf("target_info lacks the resource attribute: %v", ti)
	}
}

// TestTraceCrossesTheBroker: a message produced over the gateway's HTTP API carries the
// producer span's context through the broker (real when ROCKETMQ_NAMESRV is set) to
// mqgate's consumer, whose span is its child; a message produced by rocketmq-client-go,
// which writes no traceparent, gets a root consumer span.
func TestTraceCrossesTheBroker(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 2)
	rec := tracetest.NewSpanRecorder()
	ins := &telemetry.Instruments{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))}
	g, err := gateway.New(gateway.Config{
		HTTP:      gateway.HTTPConfig{Listen: "127.0.0.1:0"},
		Client:    gateway.ClientConfig{NameServers: []string{c.namesrv}},
		Producer:  gateway.ProducerConfig{Group: group + "_gw"},
		Telemetry: telemetry.Config{Enabled: true, SpanProcessors: []sdktrace.SpanProcessor{rec}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	var res gatewayResult
	postJSON(t, "http://"+g.Addr()+"/v1/topics/"+topic+"/messages", gatewayMessage{Body: text("traced")}, &res)
	p := newProducer(t, c, group+"_peer")
	if _, err := p.SendSync(ctxFor(t, 10*time.Second), primitive.NewMessage(topic, []byte("peer"))); err != nil {
		t.Fatal(err)
	}

	i, err := instance.New(instance.Config{NameServers: []string{c.namesrv}, InstanceName: group, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = i.Shutdown(ctx)
	})
	pc, err := consumer.New(i, consumer.Config{Group: group, ConsumeFromWhere: remoting.ConsumeFromFirstOffset, Telemetry: ins,
		Handler: consumer.ConsumeFunc(func(context.Context, []*message.Ext) consumer.Result { return consumer.ConsumeSuccess() })})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, "*"); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Shutdown(ctxFor(t, 10*time.Second)) })

	var producerSpan, traced, peer sdktrace.ReadOnlySpan
	deadline := time.Now().Add(30 * time.Second)
	for (traced == nil || peer == nil) && time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			switch s.SpanKind() {
			case trace.SpanKindProducer:
				producerSpan = s
			case trace.SpanKindConsumer:
				if s.Parent().IsValid() {
					traced = s
				} else {
					peer = s
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if producerSpan == nil || traced == nil || peer == nil {
		t.Fatalf("spans: producer %v, consumer with parent %v, root consumer %v", producerSpan != nil, traced != nil, peer != nil)
	}
	if traced.Parent().SpanID() != producerSpan.SpanContext().SpanID() || traced.SpanContext().TraceID() != producerSpan.SpanContext().TraceID() {
		t.Errorf("consumer span parent %v, want the producer span %v", traced.Parent(), producerSpan.SpanContext())
	}
	if len(peer.Links()) != 0 {
		t.Errorf("the root span of a message without trace context has links %v", peer.Links())
	}
}
