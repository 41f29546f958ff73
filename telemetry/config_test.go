package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func envOf(m map[string]string) environment {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestApplyEnvPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"defaults with nothing set", Config{Enabled: true}, nil, func(t *testing.T, c Config) {
			if c.Protocol != "grpc" || *c.SampleRatio != 1 || c.ServiceName != "mqgate" || !*c.Traces || !*c.Metrics ||
				c.MetricInterval != time.Minute || c.Conventions != Old {
				t.Errorf("defaults: %+v", c)
			}
			if c.exportTraces || c.exportMetrics {
				t.Error("no endpoint anywhere, yet OTLP export is on")
			}
		}},
		{"the environment fills what the file left out", Config{Enabled: true}, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "gw-1",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_METRIC_EXPORT_INTERVAL": "5000",
			"OTEL_SEMCONV_STABILITY_OPT_IN": "http,messaging",
		}, func(t *testing.T, c Config) {
			if c.Protocol != "http" || c.ServiceName != "gw-1" || *c.SampleRatio != 0.25 ||
				c.MetricInterval != 5*time.Second || c.Conventions != Current || !c.exportTraces || !c.exportMetrics {
				t.Errorf("from the environment: %+v", c)
			}
		}},
		{"the file wins over the environment", Config{Enabled: true, Protocol: "grpc", ServiceName: "file",
			SampleRatio: ptr(0.5), MetricInterval: time.Second}, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "env",
			"OTEL_TRACES_SAMPLER": "always_off", "OTEL_METRIC_EXPORT_INTERVAL": "5000",
		}, func(t *testing.T, c Config) {
			if c.Protocol != "grpc" || c.ServiceName != "file" || *c.SampleRatio != 0.5 || c.MetricInterval != time.Second {
				t.Errorf("file settings lost: %+v", c)
			}
		}},
		{"service.name in OTEL_RESOURCE_ATTRIBUTES names the service when OTEL_SERVICE_NAME does not", Config{Enabled: true},
			map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, service.name = orders%2Dgw"},
			func(t *testing.T, c Config) {
				if c.ServiceName != "orders-gw" {
					t.Errorf("service name %q, want orders-gw", c.ServiceName)
				}
			}},
		{"OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES, the file over both", Config{Enabled: true},
			map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs", "OTEL_SERVICE_NAME": "env"},
			func(t *testing.T, c Config) {
				if c.ServiceName != "env" {
					t.Errorf("service name %q, want env", c.ServiceName)
				}
				f := Config{Enabled: true, ServiceName: "file"}
				if err := f.applyEnv(envOf(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs", "OTEL_SERVICE_NAME": "env"})); err != nil || f.ServiceName != "file" {
					t.Errorf("with the file's service_name: %q, %v, want file", f.ServiceName, err)
				}
			}},
		{"OTEL_SDK_DISABLED turns it off", Config{Enabled: true}, map[string]string{"OTEL_SDK_DISABLED": "true"},
			func(t *testing.T, c Config) {
				if c.Enabled {
					t.Error("still enabled")
				}
			}},
		{"exporter none stops that signal's export only", Config{Enabled: true, Endpoint: "127.0.0.1:4317"},
			map[string]string{"OTEL_TRACES_EXPORTER": "none"}, func(t *testing.T, c Config) {
				if c.exportTraces || !c.exportMetrics {
					t.Errorf("exportTraces %v exportMetrics %v", c.exportTraces, c.exportMetrics)
				}
			}},
		{"dup wins over messaging", Config{}, map[string]string{"OTEL_SEMCONV_STABILITY_OPT_IN": "messaging, messaging/dup"},
			func(t *testing.T, c Config) {
				if c.Conventions != Dup {
					t.Errorf("conventions %v", c.Conventions)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			if err := c.applyEnv(envOf(tt.env)); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestApplyEnvRefuses(t *testing.T) {
	tests := []struct {
		name, want string
		cfg        Config
		env        map[string]string
	}{
		{"unknown protocol", "protocol \"thrift\"", Config{Protocol: "thrift"}, nil},
		{"ratio above one", "sample_ratio 1.5", Config{SampleRatio: ptr(1.5)}, nil},
		{"bad sampler argument", "OTEL_TRACES_SAMPLER_ARG", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}},
		{"unsupported sampler", "jaeger_remote", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}},
		{"endpoint URL without host", "endpoint", Config{Endpoint: "http://"}, nil},
		{"header name with a colon", "header name", Config{Headers: map[string]string{"a:b": "c"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.applyEnv(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestConventionNames(t *testing.T) {
	tests := []struct {
		conv     Conventions
		spanName string
		keys     []string
		absent   []string
	}{
		{Old, "orders publish", []string{"messaging.operation", "messaging.rocketmq.client_group", "messaging.rocketmq.message.tag", "messaging.rocketmq.message.type"},
			[]string{"messaging.operation.type", "rocketmq.message.tag"}},
		{Current, "send orders", []string{"messaging.operation.type", "messaging.operation.name", "mqgate.producer.group", "rocketmq.message.tag", "rocketmq.message.type"},
			[]string{"messaging.operation", "messaging.rocketmq.message.tag"}},
		{Dup, "orders publish", []string{"messaging.operation", "messaging.operation.type", "messaging.rocketmq.message.tag", "rocketmq.message.tag"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.conv.String(), func(t *testing.T) {
			if got := tt.conv.SpanName(Publish, "orders"); got != tt.spanName {
				t.Errorf("span name %q, want %q", got, tt.spanName)
			}
			kv := tt.conv.Operation(nil, Publish)
			kv = tt.conv.ProducerGroup(kv, "pg")
			kv = tt.conv.Tag(kv, "TagA")
			kv = tt.conv.MessageType(kv, TypeNormal)
			have := map[string]string{}
			for _, a := range kv {
				have[string(a.Key)] = a.Value.String()
			}
			for _, k := range tt.keys {
				if _, ok := have[k]; !ok {
					t.Errorf("missing %s in %v", k, have)
				}
			}
			for _, k := range tt.absent {
				if _, ok := have[k]; ok {
					t.Errorf("%s present in %v", k, have)
				}
			}
			if v, ok := have["messaging.operation.type"]; ok && v != "send" {
				t.Errorf("messaging.operation.type = %q, want send", v)
			}
		})
	}
}

func TestResourceCarriesServiceNameFromResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=orders-gw,deployment.environment=prod")
	t.Setenv("OTEL_SERVICE_NAME", "")
	c := Config{Enabled: true}
	if err := c.ApplyEnv(); err != nil {
		t.Fatal(err)
	}
	res, err := c.resource(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := res.Set().Value("service.name"); v.AsString() != "orders-gw" {
		t.Fatalf("service.name %q, want orders-gw from OTEL_RESOURCE_ATTRIBUTES", v.AsString())
	}
}
