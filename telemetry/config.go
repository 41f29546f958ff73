package telemetry

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Defaults.
const (
	DefaultServiceName    = "mqgate"
	DefaultSampleRatio    = 1.0
	DefaultMetricInterval = time.Minute // OTEL_METRIC_EXPORT_INTERVAL's default
	DefaultExportTimeout  = 10 * time.Second
)

// Config is the [telemetry] table. Its zero value is "off". Where a field is left unset,
// the OTEL_* environment variable the OpenTelemetry SDK reads for it applies, then the
// default: the file wins over the environment (see ApplyEnv).
type Config struct {
	// Enabled turns telemetry on. OTEL_SDK_DISABLED=true turns it off whatever the file says.
	Enabled bool `toml:"enabled"`
	// Traces and Metrics turn each signal on (default both). OTEL_TRACES_EXPORTER=none or
	// OTEL_METRICS_EXPORTER=none stop the OTLP export of that signal; /metrics still serves.
	Traces  *bool `toml:"traces"`
	Metrics *bool `toml:"metrics"`
	// Endpoint is the OTLP collector: "host:port", or a URL ("http://host:4318"; for the
	// HTTP protocol a URL's path is the full path, default /v1/traces and /v1/metrics).
	// Unset, OTEL_EXPORTER_OTLP_ENDPOINT (and the per-signal variables) apply; when none is
	// set nothing is exported over OTLP: spans still carry ids to logs and messages, and
	// metrics are served on /metrics.
	Endpoint string `toml:"endpoint"`
	// Protocol is "grpc" (default) or "http" (http/protobuf); OTEL_EXPORTER_OTLP_PROTOCOL.
	Protocol string `toml:"protocol"`
	// Headers are sent with every export (a tenant, say). When set they replace
	// OTEL_EXPORTER_OTLP_HEADERS, which the exporters read themselves otherwise (the place
	// for secrets).
	Headers map[string]string `toml:"headers"`
	// Insecure, true, sends without TLS; unset or false leaves it to
	// OTEL_EXPORTER_OTLP_INSECURE. An http:// endpoint URL is always without TLS.
	Insecure *bool `toml:"insecure"`
	// SampleRatio is the share of traces started here that are recorded, 0 to 1 (default
	// 1); a span whose parent (a caller's traceparent, a message's) was sampled is
	// recorded whatever the ratio, one whose parent was not is not. Unset, the sampler
	// OTEL_TRACES_SAMPLER names applies, as the SDK's: the parentbased_ forms
	// (parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG, parentbased_always_on, the
	// default, parentbased_always_off) follow the parent likewise; traceidratio,
	// always_on and always_off decide every span by its trace id alone, under a sampled
	// parent too (always_off records nothing).
	SampleRatio *float64 `toml:"sample_ratio"`
	// ServiceName is service.name; OTEL_SERVICE_NAME, then service.name in
	// OTEL_RESOURCE_ATTRIBUTES; default "mqgate".
	ServiceName string `toml:"service_name"`
	// ResourceAttributes are added to the resource, over OTEL_RESOURCE_ATTRIBUTES.
	ResourceAttributes map[string]string `toml:"resource_attributes"`
	// MetricInterval is how often metrics are pushed over OTLP;
	// OTEL_METRIC_EXPORT_INTERVAL (milliseconds); default 1m.
	MetricInterval time.Duration `toml:"metric_interval"`
	// Conventions chooses the semantic convention names; from
	// OTEL_SEMCONV_STABILITY_OPT_IN (ParseStabilityOptIn). Not a file setting.
	Conventions Conventions `toml:"-"`

	// SpanProcessors are added to the tracer provider, beside the exporter configured: an
	// in-memory exporter in tests, say. Not a file setting. (Metrics are read in tests
	// through Provider.Collect.)
	SpanProcessors []sdktrace.SpanProcessor `toml:"-"`

	// Resolved by ApplyEnv: whether to export each signal over OTLP, and the kind of
	// sampler OTEL_TRACES_SAMPLER names when SampleRatio was left unset (the zero value,
	// parent-based, when the file sets it).
	exportTraces, exportMetrics bool
	sampling                    samplerKind
}

// SettingError is a setting of the file's [telemetry] table that does not validate (its
// value may have come from the environment when the file left it out). Key is the
// setting's name in the table, "sample_ratio", by which the gateway names the file's line.
type SettingError struct {
	Key string
	Err error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func badSetting(key, format string, args ...any) error {
	return &SettingError{Key: key, Err: fmt.Errorf(format, args...)}
}

// environment is how ApplyEnv reads variables: os.LookupEnv, or a map in tests.
type environment func(string) (string, bool)

// ApplyEnv fills the fields left unset from the OTEL_* environment variables and then the
// defaults, and validates the result. Precedence: the file, then the environment, then
// the defaults. Setup calls it.
func (c *Config) ApplyEnv() error { return c.applyEnv(os.LookupEnv) }

func (c *Config) applyEnv(env environment) error {
	get := func(k string) string { v, _ := env(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		c.Enabled = false
	}
	on := true
	if c.Traces == nil {
		c.Traces = &on
	}
	if c.Metrics == nil {
		c.Metrics = &on
	}
	if c.Protocol == "" {
		c.Protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch c.Protocol {
	case "", "grpc":
		c.Protocol = "grpc"
	case "http", "http/protobuf":
		c.Protocol = "http"
	default:
		return badSetting("protocol", "telemetry: protocol %q: want grpc or http", c.Protocol)
	}
	if c.Endpoint != "" && strings.Contains(c.Endpoint, "://") {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return badSetting("endpoint", "telemetry: endpoint %q: want host:port or an http(s) URL", c.Endpoint)
		}
	}
	endpointFor := func(signal string) bool {
		return c.Endpoint != "" || get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
			get("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
	}
	c.exportTraces = *c.Traces && endpointFor("TRACES") && get("OTEL_TRACES_EXPORTER") != "none"
	c.exportMetrics = *c.Metrics && endpointFor("METRICS") && get("OTEL_METRICS_EXPORTER") != "none"
	if c.SampleRatio == nil {
		r, kind, err := samplerFromEnv(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))
		if err != nil {
			return err
		}
		c.SampleRatio, c.sampling = &r, kind
	}
	if r := *c.SampleRatio; !(r >= 0 && r <= 1) {
		return badSetting("sample_ratio", "telemetry: sample_ratio %v: want 0 to 1", r)
	}
	if c.ServiceName == "" {
		c.ServiceName = get("OTEL_SERVICE_NAME")
	}
	if c.ServiceName == "" {
		// The OTel spec's order: OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES'
		// service.name; resource() would otherwise put the default over the latter.
		c.ServiceName = serviceNameIn(get("OTEL_RESOURCE_ATTRIBUTES"))
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.MetricInterval == 0 {
		if v := get("OTEL_METRIC_EXPORT_INTERVAL"); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				return fmt.Errorf("telemetry: OTEL_METRIC_EXPORT_INTERVAL %q: want milliseconds", v)
			}
			c.MetricInterval = time.Duration(ms) * time.Millisecond
		}
	}
	if c.MetricInterval == 0 {
		c.MetricInterval = DefaultMetricInterval
	}
	if c.MetricInterval < 0 {
		return badSetting("metric_interval", "telemetry: metric_interval %v is negative", c.MetricInterval)
	}
	if c.Conventions == 0 {
		c.Conventions = ParseStabilityOptIn(get("OTEL_SEMCONV_STABILITY_OPT_IN"))
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return badSetting("headers", "telemetry: header name %q is not a valid HTTP header name", k)
		}
	}
	return nil
}

// serviceNameIn returns service.name in an OTEL_RESOURCE_ATTRIBUTES value, decoded as
// the SDK decodes it (the last one when repeated), or "".
func serviceNameIn(attrs string) string {
	name := ""
	for p := range strings.SplitSeq(attrs, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) != "service.name" {
			continue
		}
		v = strings.TrimSpace(v)
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		name = v
	}
	return name
}

// SamplingChange tells whether a reload from old to cur changes how traces are sampled
// (Provider.SetSampling), and how: "0.1 -> 0.5" for a new ratio, the samplers'
// descriptions when whether the sampler follows the parent changes too. Both are as
// ApplyEnv leaves them.
func SamplingChange(old, cur Config) (changed bool, what string) {
	or, nr := ratioOr1(old.SampleRatio), ratioOr1(cur.SampleRatio)
	if old.sampling.ignoresParent == cur.sampling.ignoresParent {
		return or != nr, fmt.Sprintf("%v -> %v", or, nr)
	}
	o, _ := newSampler(or, old.sampling)
	n, _ := newSampler(nr, cur.sampling)
	return true, o.Description() + " -> " + n.Description()
}

// WithSamplingOf returns c with the sampler of o: what is in effect after a reload that
// applied o's (Provider.SetSampling).
func (c Config) WithSamplingOf(o Config) Config {
	c.SampleRatio, c.sampling = o.SampleRatio, o.sampling
	return c
}

func ratioOr1(r *float64) float64 {
	if r == nil {
		return DefaultSampleRatio
	}
	return *r
}

// samplerFromEnv maps OTEL_TRACES_SAMPLER and its argument to a ratio and a kind, as the
// SDK reads them: always_on and always_off are ratios 1 and 0, traceidratio's argument
// is its ratio (default 1), and only the parentbased_ forms follow the parent. Unset is
// the SDK's default, parentbased_always_on.
func samplerFromEnv(name, arg string) (float64, samplerKind, error) {
	// Read as the SDK reads it: ALWAYS_OFF is always_off.
	switch name := strings.ToLower(strings.TrimSpace(name)); name {
	case "", "parentbased_always_on":
		return DefaultSampleRatio, samplerKind{always: true}, nil
	case "parentbased_always_off":
		return 0, samplerKind{always: true}, nil
	case "always_on":
		return 1, samplerKind{ignoresParent: true, always: true}, nil
	case "always_off":
		return 0, samplerKind{ignoresParent: true, always: true}, nil
	case "traceidratio", "parentbased_traceidratio":
		kind := samplerKind{ignoresParent: name == "traceidratio"}
		if arg == "" {
			return DefaultSampleRatio, kind, nil
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || r < 0 || r > 1 {
			return 0, kind, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		return r, kind, nil
	}
	return 0, samplerKind{}, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER %q is not supported here "+
		"(always_on, always_off, traceidratio and their parentbased_ forms are)", name)
}
