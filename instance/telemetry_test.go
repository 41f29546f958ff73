package instance

import (
	"context"
	"fmt"
	"testing"

	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Every address and code pair gets its own client span attributes from the caches, a
// transport failure apart from a SUCCESS answer to the same request (the code pair an
// integer key of both codes).
func TestClientSpanAttributesByCodes(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	tel := newRemotingTelemetry(nil, tp.Instruments())
	defer tel.close()
	ctx, parent := tp.Instruments().Tracer("test").Start(context.Background(), "send")
	defer parent.End()
	cases := []struct {
		addr string
		req  remoting.RequestCode
		resp remoting.ResponseCode
		err  error
	}{
		{"127.0.0.1:10911", remoting.SendMessageV2, remoting.Success, nil},
		{"127.0.0.1:10911", remoting.SendMessageV2, 0, fmt.Errorf("connection reset")},
		{"127.0.0.1:10911", remoting.SendMessageV2, remoting.SystemBusy, nil},
		{"127.0.0.1:10911", remoting.PullMessage, remoting.Success, nil},
		{"10.0.0.2:10921", remoting.SendMessageV2, remoting.Success, nil},
		{"10.0.0.2:10921", remoting.SendMessageV2, -1, nil}, // an odd broker's code
	}
	for round := range 2 { // the second from the caches
		for _, c := range cases {
			req := &remoting.Command{Code: int32(c.req)}
			var resp *remoting.Command
			if c.err == nil {
				resp = &remoting.Command{Code: int32(c.resp)}
			}
			span, start := tel.callStart(ctx, req)
			tel.callEnd(span, start, c.addr, req, resp, c.err)
			got := map[attribute.Key]string{}
			ended := rec.Ended()
			for _, a := range ended[len(ended)-1].Attributes() {
				got[a.Key] = a.Value.String()
			}
			want := map[attribute.Key]string{telemetry.KeyMessagingSystem: "rocketmq", telemetry.KeyServerAddress: c.addr[:len(c.addr)-6],
				telemetry.KeyServerPort: c.addr[len(c.addr)-5:], telemetry.KeyRequestCode: c.req.String()}
			if c.err != nil {
				want[telemetry.KeyErrorType] = "transport"
			} else {
				want[telemetry.KeyResponseCode] = c.resp.String()
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("round %d, %s %v %v %v:\n got %v\nwant %v", round, c.addr, c.req, c.resp, c.err, got, want)
			}
		}
	}
}
