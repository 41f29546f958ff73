package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rmqconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	rmq "github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/gateway"
)

// The gateway's consume benchmarks (issue 6): a fresh group consumes b.N 1 KiB messages
// of a topic filled beforehand, from its first offset, through an in-process gateway
// delivering to the application by webhook (an in-process HTTP server answering 204) or
// to long-poll receives (8 in-process HTTP clients receiving up to 32 and acking them),
// beside rocketmq-client-go's push consumer with a handler that acknowledges at once. The
// application's side (the webhook server, the receive clients) runs in the benchmark's
// process, so its CPU counts in client-cpu-ns/msg for the gateway and not for the peer.
// Dev cluster as in consumer_test.go: a child process.

const gatewayReceivers = 8

var gwConsImpls = []string{"gateway-webhook", "gateway-webhook-batch32", "gateway-receive", "rocketmq-client-go"}

// startConsumeGateway runs a gateway on ns consuming cc.
func startConsumeGateway(b *testing.B, ns string, cc gateway.ConsumerConfig) *gateway.Gateway {
	off := ""
	g, err := gateway.New(gateway.Config{
		HTTP:      gateway.HTTPConfig{Listen: "127.0.0.1:0"},
		Client:    gateway.ClientConfig{NameServers: []string{ns}, InstanceName: fmt.Sprintf("gwbench%d", consSeq.Add(1))},
		Admin:     gateway.AdminConfig{Listen: &off},
		Consumers: []gateway.ConsumerConfig{cc},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return g
}

func stopGateway(g *gateway.Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = g.Shutdown(ctx)
}

// BenchmarkGatewayConsumePrefilled: msgs/s from the consumer's start to its b.N-th
// message, and the process's CPU per message.
func BenchmarkGatewayConsumePrefilled(b *testing.B) {
	for _, tg := range devTargets(b) {
		for _, impl := range gwConsImpls {
			b.Run("target="+tg.name+"/impl="+impl, func(b *testing.B) {
				topic := "GBenchPrefilled"
				devFill(b, tg.ns, topic, b.N)
				var consumed atomic.Int64
				done := make(chan struct{})
				count := func(n int) {
					if c := consumed.Add(int64(n)); c >= int64(b.N) && c-int64(n) < int64(b.N) {
						close(done)
					}
				}
				group := consGroup("gwpre", impl[:min(len(impl), 12)])
				cc := gateway.ConsumerConfig{Group: group, Subscriptions: []gateway.SubscriptionConfig{{Topic: topic}},
					ConsumeFrom: "first"}
				var hook *httptest.Server
				switch impl {
				case "gateway-webhook", "gateway-webhook-batch32":
					hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						n := 1
						if r.Header.Get("X-Mqgate-Count") != "1" {
							var batch struct{ Messages []json.RawMessage }
							_ = json.NewDecoder(r.Body).Decode(&batch)
							n = len(batch.Messages)
						} else {
							_, _ = io.Copy(io.Discard, r.Body)
						}
						count(n)
						w.WriteHeader(http.StatusNoContent)
					}))
					defer hook.Close()
					cc.Delivery, cc.WebhookURL = gateway.DeliveryWebhook, hook.URL
					if impl == "gateway-webhook-batch32" {
						cc.WebhookBatch = 32
					}
				}
				cpu0 := cpuClock()
				b.ResetTimer()
				var stop func()
				switch impl {
				case "rocketmq-client-go":
					c := startPeerConsumer(b, tg.ns, group, topic, rmqconsumer.ConsumeFromFirstOffset,
						func(*rmq.MessageExt) { count(1) })
					stop = func() { _ = c.Shutdown() }
				case "gateway-receive":
					g := startConsumeGateway(b, tg.ns, cc)
					ctx, cancel := context.WithCancel(context.Background())
					var wg sync.WaitGroup
					for range gatewayReceivers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							receiveLoop(ctx, "http://"+g.Addr()+"/v1/consumers/"+group, count)
						}()
					}
					stop = func() { cancel(); wg.Wait(); stopGateway(g) }
				default:
					g := startConsumeGateway(b, tg.ns, cc)
					stop = func() { stopGateway(g) }
				}
				select {
				case <-done:
				case <-time.After(5 * time.Minute):
					b.Fatalf("consumed %d of %d messages in 5 minutes", consumed.Load(), b.N)
				}
				b.StopTimer()
				cpu := cpuClock() - cpu0
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "client-cpu-ns/msg")
				stop()
			})
		}
	}
}

var receiveClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// receiveLoop receives and acks until ctx ends.
func receiveLoop(ctx context.Context, base string, count func(int)) {
	recvBody := []byte(`{"max": 32, "wait_ms": 1000}`)
	for ctx.Err() == nil {
		var ans struct {
			Messages []struct {
				ReceiptHandle string `json:"receipt_handle"`
			} `json:"messages"`
		}
		if !postBench(ctx, base+"/receive", recvBody, &ans) || len(ans.Messages) == 0 {
			continue
		}
		handles := make([]string, len(ans.Messages))
		for i, m := range ans.Messages {
			handles[i] = m.ReceiptHandle
		}
		ack, _ := json.Marshal(map[string][]string{"receipt_handles": handles})
		if postBench(ctx, base+"/ack", ack, nil) {
			count(len(handles))
		}
	}
}

func postBench(ctx context.Context, url string, body []byte, out any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	resp, err := receiveClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return true
	}
	return json.NewDecoder(resp.Body).Decode(out) == nil
}
