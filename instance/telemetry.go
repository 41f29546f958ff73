package instance

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/internal/cowmap"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry of the remoting calls (Config.Telemetry): a client span per call made inside
// a traced operation (a send, say; the periodic tasks' calls — heartbeats, route
// refreshes, long-polling pulls — start no trace of their own), named after the request
// code, with the broker or NameServer address and the response code; the
// mqgate.remoting.call.duration histogram of every call by request and response code; and
// the mqgate.remoting.connections gauge. Off (nil), invoke tests one pointer.
//
// A client span starts with its call and gets its attributes when the call ends, in one
// SetAttributes: starting it at the end with the attributes and WithTimestamp options
// would cost the options' allocations and a copy of the attributes per call.

const scopeInstance = "instance"

type remotingTelemetry struct {
	tracer   trace.Tracer         // nil: no spans
	duration *telemetry.Histogram // nil: no metrics
	reg      metric.Registration
	// series caches the duration series of each request/response code pair, so that
	// recording a call looks up one map once the pair was seen.
	series byCodes[*telemetry.HistogramSeries]
	// servers caches, by address, the attributes of the client spans of each code pair:
	// spans share them (telemetry.AttributeList) rather than copying them.
	servers cowmap.Map[string, *serverSpans]
}

// serverSpans are the client span attributes of calls to one address.
type serverSpans struct {
	host  string
	port  int
	lists byCodes[*telemetry.AttributeList]
}

type codePair struct {
	req  remoting.RequestCode
	resp remoting.ResponseCode
	err  bool
}

// appendAttributes appends p's attributes: the request code, then the response code or,
// for a transport failure, the error type.
func (p codePair) appendAttributes(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv, telemetry.KeyRequestCode.String(p.req.String()))
	if p.err {
		return append(kv, telemetry.KeyErrorType.String("transport"))
	}
	return append(kv, telemetry.KeyResponseCode.String(p.resp.String()))
}

// byCodes holds a value per code pair, looked up by an integer (the cheapest key): an
// answered call's by request and response code, a failed call's by request code.
type byCodes[V any] struct {
	answered cowmap.Map[uint64, V]
	failed   cowmap.Map[remoting.RequestCode, V]
}

// get returns p's value, made by make the first time.
func (c *byCodes[V]) get(p codePair, make func() V) V {
	if p.err {
		if v, ok := c.failed.Load(p.req); ok {
			return v
		}
		return c.failed.LoadOrMake(p.req, make)
	}
	k := uint64(uint32(p.req))<<32 | uint64(uint32(p.resp))
	if v, ok := c.answered.Load(k); ok {
		return v
	}
	return c.answered.LoadOrMake(k, make)
}

// newRemotingTelemetry returns nil when in is nil or turns both signals off.
func newRemotingTelemetry(i *Instance, in *telemetry.Instruments) *remotingTelemetry {
	tracer, meter := in.Tracer(scopeInstance), in.Meter(scopeInstance)
	if tracer == nil && meter == nil {
		return nil
	}
	t := &remotingTelemetry{tracer: tracer}
	if meter != nil {
		t.duration = in.DurationHistogram(scopeInstance, "mqgate.remoting.call.duration",
			"Duration of remoting calls to brokers and NameServers, by request and response code.")
		conns, _ := meter.Int64ObservableGauge("mqgate.remoting.connections", metric.WithUnit("{connection}"),
			metric.WithDescription("Open remoting connections of the client instance."))
		t.reg, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			if cl := i.client.Load(); cl != nil && i.State() == Running {
				o.ObserveInt64(conns, int64(cl.Stats().Conns), metric.WithAttributes(telemetry.KeyClientID.String(i.clientID)))
			}
			return nil
		}, conns)
	}
	return t
}

// close unregisters the connection gauge.
func (t *remotingTelemetry) close() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// callStart returns when a call starts and, inside a recording span, the call's client
// span, started now and named after the request code. Its attributes are set by callEnd in
// one call, the response being known then.
func (t *remotingTelemetry) callStart(ctx context.Context, req *remoting.Command) (trace.Span, time.Time) {
	if t.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return nil, time.Now()
	}
	// A leaf span, started without a context for it; its start time is the call's: one
	// clock reading for both.
	span := telemetry.StartSpanOfKind(ctx, t.tracer, req.RequestCode().String(), trace.SpanKindClient, nil)
	return span, telemetry.SpanStartTime(span)
}

// callEnd records a call's duration and, when traced, ends its span with the call's
// attributes and status. resp is nil when err is not.
func (t *remotingTelemetry) callEnd(span trace.Span, start time.Time, addr string,
	req, resp *remoting.Command, err error) {
	pair := codePair{req: req.RequestCode(), err: err != nil}
	if resp != nil {
		pair.resp = resp.ResponseCode()
	}
	if span != nil {
		telemetry.SetAttributeList(span, t.spanAttributes(addr, pair))
		switch {
		case err != nil:
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		case pair.resp != remoting.Success:
			span.SetStatus(codes.Error, pair.resp.String())
		}
		span.End()
	}
	if t.duration != nil {
		var took time.Duration
		if span != nil {
			took = telemetry.SpanEndTime(span).Sub(start)
		} else {
			took = time.Since(start)
		}
		t.seriesOf(pair).Record(took.Seconds())
	}
}

// spanAttributes returns the attributes of a client span of a call to addr (host:port)
// with the codes of p: system, server address and port, request code, then the response
// code or, for a transport failure, the error type.
func (t *remotingTelemetry) spanAttributes(addr string, p codePair) *telemetry.AttributeList {
	srv, ok := t.servers.Load(addr)
	if !ok {
		srv = t.servers.LoadOrMake(addr, func() *serverSpans {
			host, port, _ := net.SplitHostPort(addr)
			n, _ := strconv.Atoi(port)
			return &serverSpans{host: host, port: n}
		})
	}
	return srv.lists.get(p, func() *telemetry.AttributeList {
		return telemetry.NewAttributeList(p.appendAttributes([]attribute.KeyValue{telemetry.SystemRocketMQ,
			telemetry.KeyServerAddress.String(srv.host), telemetry.KeyServerPort.Int(srv.port)})...)
	})
}

func (t *remotingTelemetry) seriesOf(p codePair) *telemetry.HistogramSeries {
	return t.series.get(p, func() *telemetry.HistogramSeries {
		return t.duration.Series(attribute.NewSet(p.appendAttributes([]attribute.KeyValue{telemetry.SystemRocketMQ})...))
	})
}

// invokeObserved is invoke's transport call and after hooks with telemetry on.
func (i *Instance) invokeObserved(ctx context.Context, cl *netpoll.Client, addr string, req *remoting.Command) (*remoting.Command, error) {
	span, start := i.tel.callStart(ctx, req)
	resp, err := cl.Invoke(ctx, addr, req)
	i.tel.callEnd(span, start, addr, req, resp, err)
	if err != nil {
		return nil, callError(req.RequestCode(), addr, err)
	}
	if err := i.afterHooks(addr, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// asyncCall starts an asynchronous call's telemetry and returns what ends it.
func (t *remotingTelemetry) asyncCall(ctx context.Context, addr string, req *remoting.Command) func(*remoting.Command, error) {
	span, start := t.callStart(ctx, req) // asynchronous requests are not recycled: req outlives the call
	return func(resp *remoting.Command, err error) { t.callEnd(span, start, addr, req, resp, err) }
}
