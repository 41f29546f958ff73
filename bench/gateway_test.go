package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqgate/mqgate/gateway"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/message"
)

// The gateway benchmarks (issue 5): the same 1 KiB messages from 64 concurrent senders,
// through the HTTP API of an in-process gateway (its HTTP clients included) and through
// producer.Send in-process, to the producer benchmarks' dev cluster in a child process
// (its CPU is not counted; see producer_test.go). The gateway's configuration is the
// default one: coalescing on. Each run sends to a fresh topic, auto-created with 4 queues.
const gatewaySenders = 64

var gatewayBody = bytes.Repeat([]byte("m"), 1024)

// BenchmarkHTTPProduce: 64 keep-alive HTTP clients POST /v1/topics/{topic}/messages.
// cpu-ns/op is the CPU of the clients and the gateway together, per message.
func BenchmarkHTTPProduce(b *testing.B) {
	body, _ := json.Marshal(map[string]string{"body": string(gatewayBody)})
	benchmarkHTTP(b, "/messages", body, 1)
}

// BenchmarkHTTPProduceBatch: the same, 32 messages per request to the batch endpoint;
// the figures are per message.
func BenchmarkHTTPProduceBatch(b *testing.B) {
	const perRequest = 32
	msgs := make([]map[string]string, perRequest)
	for i := range msgs {
		msgs[i] = map[string]string{"body": string(gatewayBody)}
	}
	body, _ := json.Marshal(map[string]any{"messages": msgs})
	benchmarkHTTP(b, "/messages/batch", body, perRequest)
}

func benchmarkHTTP(b *testing.B, path string, body []byte, perRequest int) {
	ns := prodDevClusterAddr(b)
	g, err := gateway.New(gateway.Config{
		HTTP:     gateway.HTTPConfig{Listen: "127.0.0.1:0"},
		Client:   gateway.ClientConfig{NameServers: []string{ns}},
		Producer: gateway.ProducerConfig{Group: "bench_http"},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer g.Shutdown(ctx)

	tr := &http.Transport{MaxIdleConnsPerHost: gatewaySenders, MaxConnsPerHost: gatewaySenders}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "http://" + g.Addr() + "/v1/topics/" + prodTopic("HTTP", "gateway") + path
	send := func(context.Context) error { return post(c, url, body) }
	runSenders(b, perRequest, send)
}

// BenchmarkDirectSend: the same messages through producer.Send in-process, with the
// producer configured as the gateway configures it. cpu-ns/op is the producer's CPU per
// message; the difference to BenchmarkHTTPProduce is the HTTP path's overhead.
func BenchmarkDirectSend(b *testing.B) {
	ns := prodDevClusterAddr(b)
	quiet := slog.New(slog.DiscardHandler)
	inst, err := instance.New(instance.Config{NameServers: []string{ns}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := inst.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer inst.Shutdown(ctx)
	p, err := producer.New(inst, producer.Config{Group: "bench_direct", Coalesce: producer.CoalesceConfig{Enabled: true}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(ctx)
	topic := prodTopic("Direct", "mqgate")
	send := func(ctx context.Context) error {
		// A message per send, as the gateway makes one per request.
		m := &message.Message{Topic: topic, Body: gatewayBody}
		_, err := p.Send(ctx, m)
		return err
	}
	runSenders(b, 1, send)
}

// runSenders runs sends of perSend messages each, b.N messages in all, spread over
// gatewaySenders goroutines, and reports msgs/s and this process's CPU per message.
func runSenders(b *testing.B, perSend int, send func(context.Context) error) {
	ctx := context.Background()
	if err := send(ctx); err != nil { // route the topic outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuClock()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range gatewaySenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(int64(perSend))-int64(perSend) < int64(b.N) {
				if err := send(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuClock()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
