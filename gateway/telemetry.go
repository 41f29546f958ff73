package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry in the gateway: [telemetry] (telemetry.Config) set up by Start before the
// client instance, shut down last; a server span per request of the application API,
// named after the route pattern, continuing a caller's W3C traceparent header; and
// GET /metrics on the admin listener, the Prometheus text exposition, behind the
// metrics:read scope (a Prometheus scrape config gives the token as its
// authorization credentials).

// ScopeMetricsRead lets a token read GET /metrics on the admin listener.
const ScopeMetricsRead = "metrics:read"

const scopeGateway = "gateway"

// telemetryState is what Start set up; read by the handlers without a lock.
type telemetryState struct {
	provider *telemetry.Provider
	tracer   trace.Tracer // nil: traces off
}

// startTelemetry sets up the providers of [telemetry]; the instruments are nil when it
// is off.
func (g *Gateway) startTelemetry(ctx context.Context) (*telemetry.Instruments, error) {
	p, err := telemetry.Setup(ctx, g.cfg.Telemetry)
	if err != nil {
		return nil, fmt.Errorf("gateway: telemetry: %w", err)
	}
	ins := p.Instruments()
	g.tel.Store(&telemetryState{provider: p, tracer: ins.Tracer(scopeGateway)})
	if ins != nil {
		c := p.Config()
		g.log.Info("gateway: telemetry on", "traces", *c.Traces, "metrics", *c.Metrics, "endpoint", c.Endpoint,
			"protocol", c.Protocol, "sampler", p.Sampler(), "conventions", c.Conventions.String())
	}
	return ins, nil
}

// registerPluginGauges registers mqgate.plugin.quarantined and mqgate.plugin.instances,
// read from the plugins in effect at each collection: the failures counter says that calls
// failed, not that a plugin still runs its policy in their place, which is what an alert
// wants to know. The meter provider's shutdown ends the callback.
func (g *Gateway) registerPluginGauges(ins *telemetry.Instruments) {
	meter := ins.Meter(scopeGateway)
	if meter == nil {
		return
	}
	quarantined, _ := meter.Int64ObservableGauge("mqgate.plugin.quarantined", metric.WithUnit("{plugin}"),
		metric.WithDescription("1 while a plugin is quarantined: its calls go straight to its policy until a swap, rollback or resume."))
	instances, _ := meter.Int64ObservableGauge("mqgate.plugin.instances", metric.WithUnit("{instance}"),
		metric.WithDescription("Live instances of a plugin's active version."))
	_, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		set := g.plugins.src.set.Load()
		if set == nil {
			return nil
		}
		for _, e := range set.all {
			st := e.plugin.Status()
			attrs := metric.WithAttributes(telemetry.KeyPluginName.String(e.name), telemetry.KeyPluginSlot.String(e.slot.String()))
			q := int64(0)
			if st.Quarantined {
				q = 1
			}
			o.ObserveInt64(quarantined, q, attrs)
			o.ObserveInt64(instances, int64(st.Instances), attrs)
		}
		return nil
	}, quarantined, instances)
}

// telemetryFlushTimeout bounds the last export at shutdown: a collector that is down
// must not hold the gateway's exit for the exporter's own timeout.
var telemetryFlushTimeout = 5 * time.Second

// stopTelemetry flushes and stops the providers.
func (g *Gateway) stopTelemetry(ctx context.Context) error {
	st := g.tel.Load()
	if st == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, telemetryFlushTimeout)
	defer cancel()
	if err := st.provider.Shutdown(ctx); err != nil {
		return err
	}
	return nil
}

// setSampling applies the trace sampler of cfg, a reloaded configuration's
// (telemetry.Provider.SetSampling).
func (g *Gateway) setSampling(cfg telemetry.Config) error {
	st := g.tel.Load()
	if st == nil {
		return fmt.Errorf("gateway: telemetry is not set up")
	}
	return st.provider.SetSampling(cfg)
}

// Telemetry returns the telemetry provider once Start has set it up, else nil.
func (g *Gateway) Telemetry() *telemetry.Provider {
	if st := g.tel.Load(); st != nil {
		return st.provider
	}
	return nil
}

// serveMetrics answers GET /metrics on the admin listener.
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var h http.Handler
	if st := g.tel.Load(); st != nil {
		h = st.provider.MetricsHandler()
	}
	if h == nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "metrics are off: [telemetry] enabled = false, or metrics = false", Code: "metrics_off"})
		return
	}
	h.ServeHTTP(w, r)
}

// tracedHandler wraps the application API with a server span per request, when traces
// are on; otherwise it costs one atomic load.
type tracedHandler struct {
	next http.Handler
	tel  *atomic.Pointer[telemetryState]
}

var httpPropagator propagation.TraceContext

func (h tracedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := h.tel.Load()
	if st == nil || st.tracer == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := httpPropagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := st.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if !span.IsRecording() {
		h.next.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(ctx)
	h.next.ServeHTTP(sw, r)
	// The mux sets the matched pattern on the request it routed ("POST /v1/topics/{topic}/messages").
	if r.Pattern != "" {
		span.SetName(r.Pattern)
	}
	kv := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
		attribute.Int("http.response.status_code", sw.status),
	}
	if _, route, ok := cutMethod(r.Pattern); ok {
		kv = append(kv, attribute.String("http.route", route))
	}
	span.SetAttributes(kv...)
	if sw.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(sw.status))
	}
}

// cutMethod splits "POST /path" into its method and path.
func cutMethod(pattern string) (method, route string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, pattern != ""
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
