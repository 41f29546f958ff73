package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// collectMetric collects g's metrics and returns the one named name.
func collectMetric(t *testing.T, g *Gateway, name string) (metricdata.Metrics, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := g.Telemetry().Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// tracedGateway starts a dev cluster and a gateway whose spans go to a recorder, with the
// conventions conv; its metrics are read through g.Telemetry().Collect.
func tracedGateway(t *testing.T, conv telemetry.Conventions) (*Gateway, *devcluster.Cluster, *tracetest.SpanRecorder) {
	t.Helper()
	dc := startDevCluster(t, devcluster.Config{QueuesPerTopic: 1})
	rec := tracetest.NewSpanRecorder()
	cfg := testConfig(dc.NameServerAddr())
	cfg.Telemetry = telemetry.Config{Enabled: true, Conventions: conv,
		SpanProcessors: []sdktrace.SpanProcessor{rec}}
	listen := "127.0.0.1:0"
	cfg.Admin = AdminConfig{Listen: &listen, Tokens: []AdminToken{
		{Name: "prom", Token: "metrics-token-0123456789", Scopes: []string{ScopeMetricsRead}},
		{Name: "ops", Token: "status-token-0123456789", Scopes: []string{ScopeStatusRead}},
	}}
	cfg.Plugins = PluginsConfig{Dir: t.TempDir()} // the admin API's plugin store
	return startGateway(t, cfg), dc, rec
}

// consumeOne starts a consumer of topic on its own instance with the gateway's
// instruments and returns the first delivery's context and message id.
func consumeOne(t *testing.T, g *Gateway, dc *devcluster.Cluster, topic string) (context.Context, string) {
	t.Helper()
	inst, err := instance.New(instance.Config{NameServers: []string{dc.NameServerAddr()}, ClientIP: "127.0.0.1",
		InstanceName: "telemetry-consumer", Logger: discard, PollNameServerInterval: time.Second, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(ctxFor(t, 10*time.Second)) })
	type got struct {
		ctx context.Context
		id  string
	}
	ch := make(chan got, 16)
	c, err := consumer.New(inst, consumer.Config{Group: "telemetry_group", ConsumeFromWhere: remoting.ConsumeFromFirstOffset,
		Telemetry: g.Telemetry().Instruments(), Logger: discard,
		Handler: consumer.HandlerFunc(func(ctx context.Context, d *consumer.Delivery) {
			for _, m := range d.Messages() {
				ch <- got{ctx, m.MsgID()}
			}
			_ = d.Ack()
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, "*"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(ctxFor(t, 10*time.Second)) })
	select {
	case r := <-ch:
		return r.ctx, r.id
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery within 20s")
	}
	return nil, ""
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// waitSpan waits for an ended span matching ok.
func waitSpan(t *testing.T, rec *tracetest.SpanRecorder, what string, ok func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range rec.Ended() {
			if ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range rec.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("no %s span among %v", what, names)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// TestTraceFromHTTPProduceToDelivery follows one message: the HTTP request's server span
// (continuing the caller's traceparent), the producer span under it, the remoting call
// under that, and the consumer's process span, parented by and linked to the producer
// span through the message's traceparent property.
func TestTraceFromHTTPProduceToDelivery(t *testing.T) {
	g, dc, rec := tracedGateway(t, telemetry.Old)
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", "http://"+g.Addr()+"/v1/topics/TraceTopic/messages",
		strings.NewReader(`{"body":"hello","tags":"TagA","keys":["k1","k2"]}`))
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := readReply(t, resp)
	if r.status != http.StatusOK {
		t.Fatalf("produce: %d %s", r.status, r.raw)
	}
	msgID := r.str("message_id")

	server := waitSpan(t, rec, "server", func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindServer })
	producer := waitSpan(t, rec, "producer", func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindProducer })
	call := waitSpan(t, rec, "remoting client", func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == producer.SpanContext().SpanID() &&
			strings.HasPrefix(s.Name(), "SEND_")
	})
	hctx, gotID := consumeOne(t, g, dc, "TraceTopic")
	if gotID != msgID {
		t.Fatalf("consumed %s, produced %s", gotID, msgID)
	}
	process := waitSpan(t, rec, "consumer", func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindConsumer })

	if server.Name() != "POST /v1/topics/{topic}/messages" {
		t.Errorf("server span name %q", server.Name())
	}
	if server.SpanContext().TraceID().String() != callerTrace || server.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span does not continue the caller's traceparent: %v parent %v", server.SpanContext().TraceID(), server.Parent().SpanID())
	}
	for _, s := range []sdktrace.ReadOnlySpan{producer, call, process} {
		if s.SpanContext().TraceID().String() != callerTrace {
			t.Errorf("span %q is in trace %s, not the caller's", s.Name(), s.SpanContext().TraceID())
		}
	}
	if producer.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Error("producer span is not the server span's child")
	}
	if process.Parent().SpanID() != producer.SpanContext().SpanID() || !process.Parent().IsRemote() {
		t.Error("consumer span's parent is not the producer span (from the message)")
	}
	if l := process.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("consumer span links %v, want the producer span", l)
	}
	if trace.SpanContextFromContext(hctx).SpanID() != process.SpanContext().SpanID() {
		t.Error("the Handler's context does not hold the consumer span")
	}

	if producer.Name() != "TraceTopic publish" || process.Name() != "TraceTopic process" {
		t.Errorf("span names %q, %q", producer.Name(), process.Name())
	}
	pa := attrs(producer)
	for k, v := range map[string]string{
		"messaging.system": "rocketmq", "messaging.destination.name": "TraceTopic", "messaging.operation": "publish",
		"messaging.message.id": msgID, "messaging.rocketmq.message.tag": "TagA", "messaging.rocketmq.message.keys": `["k1","k2"]`,
		"messaging.rocketmq.message.type": "normal", "messaging.rocketmq.client_group": DefaultProducerGroup,
	} {
		if pa[k] != v {
			t.Errorf("producer span %s = %q, want %q", k, pa[k], v)
		}
	}
	ca := attrs(process)
	for k, v := range map[string]string{
		"messaging.system": "rocketmq", "messaging.destination.name": "TraceTopic", "messaging.operation": "process",
		"messaging.message.id": msgID, "messaging.rocketmq.client_group": "telemetry_group",
		"messaging.rocketmq.consumption_model": "clustering", "mqgate.message.reconsume_times": "0",
	} {
		if ca[k] != v {
			t.Errorf("consumer span %s = %q, want %q", k, ca[k], v)
		}
	}
	if a := attrs(call); a["server.address"] != "127.0.0.1" || !strings.HasPrefix(a["mqgate.remoting.response_code"], "SUCCESS") {
		t.Errorf("remoting span attributes %v", a)
	}
}

// TestTraceConventionsOptIn checks the names OTEL_SEMCONV_STABILITY_OPT_IN selects.
func TestTraceConventionsOptIn(t *testing.T) {
	tests := []struct {
		conv             telemetry.Conventions
		name             string
		present, missing []string
	}{
		{telemetry.Current, "send ConvTopic",
			[]string{"messaging.operation.type", "messaging.operation.name", "rocketmq.message.tag", "rocketmq.message.type"},
			[]string{"messaging.operation", "messaging.rocketmq.message.tag"}},
		{telemetry.Dup, "ConvTopic publish",
			[]string{"messaging.operation", "messaging.operation.type", "messaging.rocketmq.message.tag", "rocketmq.message.tag"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.conv.String(), func(t *testing.T) {
			g, _, rec := tracedGateway(t, tt.conv)
			if r := post(t, g, "/v1/topics/ConvTopic/messages", map[string]any{"body": "x", "tags": "T"}); r.status != http.StatusOK {
				t.Fatalf("produce: %d %s", r.status, r.raw)
			}
			p := waitSpan(t, rec, "producer", func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindProducer })
			if p.Name() != tt.name {
				t.Errorf("span name %q, want %q", p.Name(), tt.name)
			}
			a := attrs(p)
			for _, k := range tt.present {
				if _, ok := a[k]; !ok {
					t.Errorf("missing %s", k)
				}
			}
			for _, k := range tt.missing {
				if _, ok := a[k]; ok {
					t.Errorf("unexpected %s", k)
				}
			}
			if v, ok := a["messaging.operation.type"]; ok && v != "send" {
				t.Errorf("messaging.operation.type %q", v)
			}
		})
	}
}

// TestTelemetryMetrics checks the metrics of a produce and a delivery, and GET /metrics
// on the admin listener with its scope.
func TestTelemetryMetrics(t *testing.T) {
	g, dc, _ := tracedGateway(t, telemetry.Old)
	for range 3 {
		if r := post(t, g, "/v1/topics/MetricTopic/messages", map[string]any{"body": "x"}); r.status != http.StatusOK {
			t.Fatalf("produce: %d %s", r.status, r.raw)
		}
	}
	consumeOne(t, g, dc, "MetricTopic")

	find := func(name string) (metricdata.Metrics, bool) { return collectMetric(t, g, name) }
	sent, ok := find("messaging.client.sent.messages")
	if !ok {
		t.Fatal("no messaging.client.sent.messages")
	}
	var n int64
	for _, dp := range sent.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := dp.Attributes.Value(attribute.Key("messaging.destination.name")); v.AsString() == "MetricTopic" {
			n += dp.Value
		}
	}
	if n != 3 {
		t.Errorf("sent messages to MetricTopic: %d, want 3", n)
	}
	if d, ok := find("messaging.client.operation.duration"); !ok || d.Unit != "s" {
		t.Errorf("operation duration %v (unit %q)", ok, d.Unit)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := find("messaging.client.consumed.messages"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no messaging.client.consumed.messages")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	for _, name := range []string{"messaging.process.duration", "mqgate.remoting.call.duration", "mqgate.remoting.connections", "mqgate.consumer.lag"} {
		if _, ok := find(name); !ok {
			t.Errorf("no %s", name)
		}
	}

	scrape := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+g.AdminAddr()+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", code)
	}
	if code, _ := scrape("status-token-0123456789"); code != http.StatusForbidden {
		t.Errorf("/metrics with a token lacking metrics:read: %d", code)
	}
	code, body := scrape("metrics-token-0123456789")
	if code != http.StatusOK || !strings.Contains(body, `messaging_client_sent_messages_total{messaging_destination_name="MetricTopic",messaging_operation_name="send",messaging_system="rocketmq"} 3`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
}

// A plugin's state is a gauge an alert can read: mqgate.plugin.quarantined goes from 0 to
// 1 once failures quarantine the plugin (here the first, quarantine_after = 1) and back to
// 0 once it is resumed, and mqgate.plugin.instances counts its live instances.
func TestPluginGauges(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{QueuesPerTopic: 1})
	file := filepath.Join(t.TempDir(), "behaviors.wasm")
	if err := os.WriteFile(file, plugintest.Build(t, "host/testdata/hostile/behaviors"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dc.NameServerAddr())
	cfg.Telemetry = telemetry.Config{Enabled: true}
	cfg.Plugins = PluginsConfig{Dir: t.TempDir()}
	cfg.Plugin = []PluginConfig{{Name: "flaky", File: file, Slot: "send", Policy: "skip", QuarantineAfter: 1}}
	g := startGateway(t, cfg)
	gauge := func(name string) int64 {
		t.Helper()
		if m, ok := collectMetric(t, g, name); ok {
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				plugin, _ := dp.Attributes.Value(telemetry.KeyPluginName)
				slot, _ := dp.Attributes.Value(telemetry.KeyPluginSlot)
				if plugin.AsString() == "flaky" && slot.AsString() == "send" {
					return dp.Value
				}
			}
		}
		t.Fatalf("no %s of the plugin", name)
		return 0
	}
	if q, n := gauge("mqgate.plugin.quarantined"), gauge("mqgate.plugin.instances"); q != 0 || n < 1 {
		t.Fatalf("before a failure: quarantined %d, instances %d", q, n)
	}
	// The behaviors plugin answers an error for this body; under skip the message goes.
	if r := post(t, g, "/v1/topics/GaugeTopic/messages", map[string]any{"body": "error"}); r.status != http.StatusOK {
		t.Fatalf("produce: %d %s", r.status, r.raw)
	}
	if q := gauge("mqgate.plugin.quarantined"); q != 1 {
		t.Fatalf("after the failure: quarantined %d, want 1", q)
	}
	if _, err := g.plugins.resume("flaky"); err != nil {
		t.Fatal(err)
	}
	if q := gauge("mqgate.plugin.quarantined"); q != 0 {
		t.Fatalf("resumed: quarantined %d, want 0", q)
	}
}

// TestTraceLogHandler checks that lines logged inside a span carry its ids, others none.
func TestTraceLogHandler(t *testing.T) {
	tests := []struct {
		format string
		want   func(traceID, spanID string) []string
	}{
		{"json", func(tr, sp string) []string { return []string{`"trace_id":"` + tr + `"`, `"span_id":"` + sp + `"`} }},
		{"text", func(tr, sp string) []string { return []string{"trace_id=" + tr, "span_id=" + sp} }},
	}
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(LogConfig{Format: tt.format, Level: "debug"}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			log = log.With("component", "test")
			ctx, span := p.Instruments().Tracer("test").Start(context.Background(), "op")
			log.InfoContext(ctx, "inside")
			span.End()
			log.Info("outside")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("lines: %q", lines)
			}
			for _, w := range tt.want(span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()) {
				if !strings.Contains(lines[0], w) {
					t.Errorf("line %q lacks %q", lines[0], w)
				}
			}
			if strings.Contains(lines[1], "trace_id") {
				t.Errorf("line outside a span has a trace id: %q", lines[1])
			}
		})
	}
	if _, err := NewLogger(LogConfig{Format: "xml"}, io.Discard); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := NewLogger(LogConfig{Level: "loud"}, io.Discard); err == nil {
		t.Error("level loud accepted")
	}
	var _ slog.Handler = TraceLogHandler(slog.DiscardHandler)
}

// TestTelemetryConfigFromFile reads [telemetry] and [log] as gateway.toml writes them.
func TestTelemetryConfigFromFile(t *testing.T) {
	tests := []struct {
		name, file, wantErr string
		check               func(t *testing.T, c Config)
	}{
		{"every key", `
[telemetry]
enabled = true
traces = true
metrics = false
endpoint = "http://collector:4318"
protocol = "http"
insecure = true
sample_ratio = 0.25
service_name = "gw"
metric_interval = "10s"
headers = { "x-tenant" = "payments" }
resource_attributes = { "deployment.environment" = "prod" }
[log]
format = "json"
level = "debug"
`, "", func(t *testing.T, c Config) {
			tc := c.Telemetry
			if !tc.Enabled || *tc.Metrics || tc.Protocol != "http" || *tc.SampleRatio != 0.25 || tc.ServiceName != "gw" ||
				tc.MetricInterval != 10*time.Second || tc.Headers["x-tenant"] != "payments" ||
				tc.ResourceAttributes["deployment.environment"] != "prod" || c.Log.Format != "json" || c.Log.Level != "debug" {
				t.Errorf("decoded %+v %+v", tc, c.Log)
			}
		}},
		{"unknown key", "[telemetry]\nendpont = \"x:1\"\n", `unknown key "endpont"`, nil},
		{"bad protocol", "[telemetry]\nprotocol = \"thrift\"\n", "[telemetry]", nil},
		{"ratio out of range", "[telemetry]\nsample_ratio = 2.0\n", "sample_ratio", nil},
		{"bad log format", "[log]\nformat = \"xml\"\n", "[log] format", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("gateway.toml", []byte(tt.file), func(string) (string, bool) { return "", false })
			if err == nil {
				c.Client.NameServers = []string{"127.0.0.1:9876"}
				c.Logger = discard
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestTelemetryShutdownWithCollectorDown: with OTLP export to a collector that is not
// there, sends still succeed, Shutdown returns within its bound and every goroutine the
// exporters started is gone.
func TestTelemetryShutdownWithCollectorDown(t *testing.T) {
	t.Cleanup(leaktest.Check(t)) // after the dev cluster's cleanup: it starts workers of its own
	defer func(d time.Duration) { telemetryFlushTimeout = d }(telemetryFlushTimeout)
	telemetryFlushTimeout = 500 * time.Millisecond
	// An export under way ends at the exporter's own timeout, which Shutdown cannot cut
	// short: keep it short here.
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "300")
	dc := startDevCluster(t, devcluster.Config{QueuesPerTopic: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there any more
	for _, proto := range []string{"grpc", "http"} {
		cfg := testConfig(dc.NameServerAddr())
		insecure := true
		cfg.Telemetry = telemetry.Config{Enabled: true, Endpoint: down, Protocol: proto, Insecure: &insecure, MetricInterval: 50 * time.Millisecond}
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if r := post(t, g, "/v1/topics/DownTopic/messages", map[string]any{"body": "x"}); r.status != http.StatusOK {
			t.Fatalf("%s: produce with the collector down: %d %s", proto, r.status, r.raw)
		}
		start := time.Now()
		err = g.Shutdown(ctxFor(t, 30*time.Second))
		if took := time.Since(start); took > telemetryFlushTimeout+5*time.Second {
			t.Errorf("%s: shutdown took %v", proto, took)
		}
		t.Logf("%s: shutdown in %v: %v", proto, time.Since(start).Round(time.Millisecond), err)
	}
}

// TestTraceMessageTypes: the producer span says what kind of message went.
func TestTraceMessageTypes(t *testing.T) {
	g, _, rec := tracedGateway(t, telemetry.Old)
	tests := []struct {
		name string
		body map[string]any
		want map[string]string
	}{
		{"fifo", map[string]any{"body": "f", "sharding_key": "order-7"},
			map[string]string{"messaging.rocketmq.message.type": "fifo", "messaging.rocketmq.message.group": "order-7"}},
		{"delay", map[string]any{"body": "d", "delay_level": 2},
			map[string]string{"messaging.rocketmq.message.type": "delay", "messaging.rocketmq.message.delay_time_level": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			if r := post(t, g, "/v1/topics/TypeTopic/messages", tt.body); r.status != http.StatusOK {
				t.Fatalf("produce: %d %s", r.status, r.raw)
			}
			p := waitSpan(t, rec, "producer", func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindProducer })
			a := attrs(p)
			for k, v := range tt.want {
				if a[k] != v {
					t.Errorf("%s = %q, want %q", k, a[k], v)
				}
			}
		})
	}
}
