package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopePrefix is the start of every instrumentation scope name here: a package's scope
// is its import path.
const ScopePrefix = "github.com/mqgate/mqgate/"

// Instruments is what an instrumented package takes in its Config; nil means telemetry
// off. A nil provider turns that signal off.
type Instruments struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Conventions    Conventions

	hists *histograms // the duration histograms; nil when metrics are off
}

// Tracer returns the tracer of scope (a package path under ScopePrefix), nil when traces
// are off.
func (in *Instruments) Tracer(scope string) trace.Tracer {
	if in == nil || in.TracerProvider == nil {
		return nil
	}
	return in.TracerProvider.Tracer(ScopePrefix + scope)
}

// Meter returns the meter of scope, nil when metrics are off.
func (in *Instruments) Meter(scope string) metric.Meter {
	if in == nil || in.MeterProvider == nil {
		return nil
	}
	return in.MeterProvider.Meter(ScopePrefix + scope)
}

// DurationHistogram returns the duration histogram name of scope, nil when metrics are
// off (or the Instruments were not made by Setup).
func (in *Instruments) DurationHistogram(scope, name, description string) *Histogram {
	if in == nil || in.hists == nil {
		return nil
	}
	return in.hists.histogram(ScopePrefix+scope, name, description)
}

// Counter returns the counter name of scope, nil when metrics are off (or the
// Instruments were not made by Setup).
func (in *Instruments) Counter(scope, name, description, unit string) *Counter {
	if in == nil || in.hists == nil {
		return nil
	}
	return in.hists.counter(ScopePrefix+scope, name, description, unit)
}

// Conv returns the conventions in force (Old when unset).
func (in *Instruments) Conv() Conventions {
	if in == nil || in.Conventions == 0 {
		return Old
	}
	return in.Conventions
}

// Provider is the process's telemetry: made by Setup, stopped by Shutdown.
type Provider struct {
	cfg     Config
	tp      *tracerProvider          // nil when traces are off
	mp      *sdkmetric.MeterProvider // nil when metrics are off
	sampler *ratioSampler            // in the tracer provider's sampler, whatever its kind
	prom    *sdkmetric.ManualReader
	res     *resource.Resource
	ins     *Instruments
}

// Setup applies the environment to cfg (Config.ApplyEnv) and builds the providers and
// exporters it describes. Exporters connect lazily: an unreachable collector is not an
// error here (the SDK logs failed exports). With telemetry off, it returns a Provider
// whose Instruments is nil and whose MetricsHandler is nil.
func Setup(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.ApplyEnv(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg}
	if !cfg.Enabled {
		return p, nil
	}
	res, err := cfg.resource(ctx)
	if err != nil {
		return nil, err
	}
	p.res = res
	p.ins = &Instruments{Conventions: cfg.Conventions}
	if *cfg.Traces {
		var sampler sdktrace.Sampler
		sampler, p.sampler = newSampler(*cfg.SampleRatio, cfg.sampling)
		var sps []sdktrace.SpanProcessor
		if cfg.exportTraces {
			exp, err := cfg.traceExporter(ctx)
			if err != nil {
				return nil, err
			}
			sps = append(sps, NewSpanBatcher(exp))
		}
		p.tp = newTracerProvider(res, sampler, append(sps, cfg.SpanProcessors...))
		p.ins.TracerProvider = p.tp
	}
	if *cfg.Metrics {
		p.ins.hists = &histograms{}
		p.prom = sdkmetric.NewManualReader(sdkmetric.WithProducer(p.ins.hists))
		opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(p.prom)}
		if cfg.exportMetrics {
			exp, err := cfg.metricExporter(ctx)
			if err != nil {
				if p.tp != nil {
					_ = p.tp.Shutdown(ctx)
				}
				return nil, err
			}
			// The exporter's temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)
			// applies to the Histograms too.
			var hists sdkmetric.Producer = p.ins.hists
			if exp.Temporality(sdkmetric.InstrumentKindHistogram) == metricdata.DeltaTemporality {
				hists = p.ins.hists.delta()
			}
			opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp,
				sdkmetric.WithInterval(cfg.MetricInterval), sdkmetric.WithProducer(hists))))
		}
		p.mp = sdkmetric.NewMeterProvider(append(opts, durationViews()...)...)
		p.ins.MeterProvider = p.mp
	}
	return p, nil
}

// durationViews give histograms in seconds made through the SDK the bounds of the
// Histograms (durationBounds).
func durationViews() []sdkmetric.Option {
	bounds := durationBounds[:]
	return []sdkmetric.Option{sdkmetric.WithView(sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: bounds}},
	))}
}

// Config returns the configuration as applied (environment and defaults resolved).
func (p *Provider) Config() Config { return p.cfg }

// Instruments returns what instrumented packages take; nil when telemetry is off.
func (p *Provider) Instruments() *Instruments { return p.ins }

// SampleRatio returns the trace sampling ratio in force.
func (p *Provider) SampleRatio() float64 {
	if p.sampler == nil {
		return 0
	}
	return p.sampler.get()
}

// Sampler describes the trace sampler in force as the SDK's samplers describe themselves
// ("ParentBased{root:TraceIDRatioBased{0.1},...}", "AlwaysOffSampler"), for the start-up
// log; "" when traces are off.
func (p *Provider) Sampler() string {
	if p.tp == nil {
		return ""
	}
	return p.tp.sampler.Description()
}

// SetSampleRatio changes the share of new traces sampled, at once; spans already started
// keep their decision, and the sampler whether it follows the parent (a traceidratio or
// always_* one named by OTEL_TRACES_SAMPLER does not). It fails for a ratio outside 0..1
// or when traces are off.
func (p *Provider) SetSampleRatio(r float64) error {
	if !(r >= 0 && r <= 1) {
		return fmt.Errorf("telemetry: sample ratio %v: want 0 to 1", r)
	}
	if p.sampler == nil {
		return errors.New("telemetry: traces are off")
	}
	p.sampler.set(r)
	return nil
}

// SetSampling applies the sampler cfg describes, as Setup would make it: cfg's
// SampleRatio, following the parent, or, with none, the sampler OTEL_TRACES_SAMPLER names
// (Config.ApplyEnv), at once; spans already started keep their decision. A configuration
// reload calls it, so that the file's sample_ratio added or removed gives what a restart
// would. It fails as SetSampleRatio does.
func (p *Provider) SetSampling(cfg Config) error {
	if err := cfg.ApplyEnv(); err != nil {
		return err
	}
	if err := p.SetSampleRatio(*cfg.SampleRatio); err != nil {
		return err
	}
	p.sampler.setKind(cfg.sampling)
	return nil
}

// Collect collects every metric, as the /metrics handler and the exporters see them; it
// fails when metrics are off.
func (p *Provider) Collect(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if p.prom == nil {
		return errors.New("telemetry: metrics are off")
	}
	return p.prom.Collect(ctx, rm)
}

// MetricsHandler serves the metrics in the Prometheus text exposition format; nil when
// metrics are off.
func (p *Provider) MetricsHandler() http.Handler {
	if p.prom == nil {
		return nil
	}
	return &promHandler{reader: p.prom, res: p.res}
}

// Shutdown flushes what is buffered to the exporters and stops the providers, while ctx
// allows. An export already under way to a collector that does not answer ends at the
// exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT, default 10 s), which may be after
// Shutdown returned. Calls after the first do nothing.
func (p *Provider) Shutdown(ctx context.Context) error {
	var errs []error
	if p.tp != nil {
		if err := p.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("traces: %w", err))
		}
		p.tp = nil
	}
	if p.mp != nil {
		if err := p.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		}
		p.mp = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// resource is the SDK's default resource (telemetry.sdk.*), then OTEL_RESOURCE_ATTRIBUTES
// and OTEL_SERVICE_NAME, then the file's attributes and the service name ApplyEnv chose.
func (c *Config) resource(ctx context.Context) (*resource.Resource, error) {
	kv := []attribute.KeyValue{attribute.String("service.name", c.ServiceName)}
	for _, k := range slices.Sorted(maps.Keys(c.ResourceAttributes)) {
		kv = append(kv, attribute.String(k, c.ResourceAttributes[k]))
	}
	env, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && env == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	mine := resource.NewSchemaless(kv...)
	merged, err := resource.Merge(env, mine)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return merged, nil
}

func (c *Config) url() bool { return strings.Contains(c.Endpoint, "://") }

func (c *Config) traceExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	var exp sdktrace.SpanExporter
	var err error
	if c.Protocol == "http" {
		var o []otlptracehttp.Option
		switch {
		case c.url():
			o = append(o, otlptracehttp.WithEndpointURL(c.withPath("/v1/traces")))
		case c.Endpoint != "":
			o = append(o, otlptracehttp.WithEndpoint(c.Endpoint))
		}
		if c.Insecure != nil && *c.Insecure {
			o = append(o, otlptracehttp.WithInsecure())
		}
		if len(c.Headers) > 0 {
			o = append(o, otlptracehttp.WithHeaders(c.Headers))
		}
		exp, err = otlptracehttp.New(ctx, o...)
	} else {
		var o []otlptracegrpc.Option
		switch {
		case c.url():
			o = append(o, otlptracegrpc.WithEndpointURL(c.Endpoint))
		case c.Endpoint != "":
			o = append(o, otlptracegrpc.WithEndpoint(c.Endpoint))
		}
		if c.Insecure != nil && *c.Insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		if len(c.Headers) > 0 {
			o = append(o, otlptracegrpc.WithHeaders(c.Headers))
		}
		exp, err = otlptracegrpc.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP trace exporter (%s): %w", c.Protocol, err)
	}
	return exp, nil
}

func (c *Config) metricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	var exp sdkmetric.Exporter
	var err error
	if c.Protocol == "http" {
		var o []otlpmetrichttp.Option
		switch {
		case c.url():
			o = append(o, otlpmetrichttp.WithEndpointURL(c.withPath("/v1/metrics")))
		case c.Endpoint != "":
			o = append(o, otlpmetrichttp.WithEndpoint(c.Endpoint))
		}
		if c.Insecure != nil && *c.Insecure {
			o = append(o, otlpmetrichttp.WithInsecure())
		}
		if len(c.Headers) > 0 {
			o = append(o, otlpmetrichttp.WithHeaders(c.Headers))
		}
		exp, err = otlpmetrichttp.New(ctx, o...)
	} else {
		var o []otlpmetricgrpc.Option
		switch {
		case c.url():
			o = append(o, otlpmetricgrpc.WithEndpointURL(c.Endpoint))
		case c.Endpoint != "":
			o = append(o, otlpmetricgrpc.WithEndpoint(c.Endpoint))
		}
		if c.Insecure != nil && *c.Insecure {
			o = append(o, otlpmetricgrpc.WithInsecure())
		}
		if len(c.Headers) > 0 {
			o = append(o, otlpmetricgrpc.WithHeaders(c.Headers))
		}
		exp, err = otlpmetricgrpc.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP metric exporter (%s): %w", c.Protocol, err)
	}
	return exp, nil
}

// withPath gives an endpoint URL without a path the signal's default path, as
// OTEL_EXPORTER_OTLP_ENDPOINT is read for HTTP.
func (c *Config) withPath(path string) string {
	u := strings.TrimRight(c.Endpoint, "/")
	if i := strings.Index(u, "://"); i >= 0 && strings.Contains(u[i+3:], "/") {
		return c.Endpoint
	}
	return u + path
}
