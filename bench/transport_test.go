package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/mqgateshim"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The request both clients send: a small send-like request, JSON header (what
// rocketmq-client-go writes), 128-byte body.
var echoExt = [][2]string{{"a", "bench-group"}, {"b", "BenchTopic"}, {"c", "TBW102"}, {"d", "4"},
	{"e", "1"}, {"f", "0"}, {"g", "1700000000000"}, {"h", "0"}, {"i", "UNIQ_KEY\x017F0000010001\x02WAIT\x01true"}}

var echoBody = make([]byte, 128)

// BenchmarkRoundTrip sends requests over one connection to the same echo server (a child
// process) from 1 and 64 concurrent callers. cpu-ns/op is the client process's CPU per
// request; every caller builds its request anew, as a producer would.
func BenchmarkRoundTrip(b *testing.B) {
	addr := startEchoServer(b)
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d/impl=mqgate", callers), func(b *testing.B) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close(context.Background())
			call := func(ctx context.Context) error {
				req := &remoting.Command{Code: echoCode, Language: remoting.LanguageGo, Version: 317, Body: echoBody}
				for _, f := range echoExt {
					req.Ext = append(req.Ext, remoting.Field{Key: f[0], Value: f[1]})
				}
				resp, err := cl.Invoke(ctx, addr, req)
				if err == nil && len(resp.Body) != len(echoBody) {
					err = fmt.Errorf("echo body of %d bytes", len(resp.Body))
				}
				return err
			}
			runCallers(b, callers, call)
		})
		b.Run(fmt.Sprintf("callers=%d/impl=rocketmq-client-go", callers), func(b *testing.B) {
			mqgateshim.UseJSON()
			cl := mqgateshim.NewClient()
			defer cl.Shutdown()
			call := func(ctx context.Context) error {
				ext := make(map[string]string, len(echoExt))
				for _, f := range echoExt {
					ext[f[0]] = f[1]
				}
				resp, err := cl.InvokeSync(ctx, addr, mqgateshim.NewCommand(echoCode, ext, echoBody))
				if err == nil && len(resp.Body) != len(echoBody) {
					err = fmt.Errorf("echo body of %d bytes", len(resp.Body))
				}
				return err
			}
			runCallers(b, callers, call)
		})
	}
}

// runCallers runs b.N calls spread over callers goroutines and reports client CPU per call.
func runCallers(b *testing.B, callers int, call func(context.Context) error) {
	ctx := context.Background()
	if err := call(ctx); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuClock()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := call(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuClock()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
