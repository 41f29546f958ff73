package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rmq "github.com/apache/rocketmq-client-go/v2/primitive"
	rmqproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
)

// The producer benchmarks (issue 5) send through mqgate's producer and rocketmq-client-go
// v2.1.2's to the same broker in one run: a dev cluster in a child process (so that its
// CPU is not counted as the client's), and the real RocketMQ 4.9.4 at ROCKETMQ_NAMESRV
// when set. Each benchmark and implementation sends to a topic of its own, auto-created
// with 4 queues through TBW102 by its first message. Metrics per message: msgs/s, p99 latency of a
// send, client CPU (getrusage), allocations.

// prodSenders is the number of concurrent senders of the sync benchmarks.
const prodSenders = 64

// prodAsyncWindow bounds the async sends in flight.
const prodAsyncWindow = 256

var prodBody = func() []byte {
	b := make([]byte, 1024)
	_, _ = rand.Read(b)
	return b
}()

func init() {
	// The child process: a dev cluster serving until stdin closes.
	if os.Getenv("MQGATE_BENCH_PRODUCER_DEVCLUSTER") == "1" {
		prodDevCluster()
		os.Exit(0)
	}
	rlog.SetLogLevel("fatal")
}

func prodDevCluster() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	// In memory: with a data directory the dev store fsyncs every put (SYNC_FLUSH), where
	// the real broker here flushes asynchronously.
	c, err := devcluster.Start(ctx, devcluster.Config{Logger: quiet})
	cancel()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("namesrv", c.NameServerAddr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

var prodDevOnce struct {
	sync.Once
	ns    string
	err   error
	stdin io.WriteCloser // held open: the child serves until it closes, with this binary
}

// prodDevClusterAddr starts the child dev cluster once per benchmark binary and returns its
// NameServer address; it runs until the binary exits (its stdin closes then).
func prodDevClusterAddr(tb testing.TB) string {
	prodDevOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MQGATE_BENCH_PRODUCER_DEVCLUSTER=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			prodDevOnce.err = err
			return
		}
		prodDevOnce.stdin = stdin
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			prodDevOnce.err = err
			return
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			prodDevOnce.err = err
			return
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			prodDevOnce.err = fmt.Errorf("dev cluster: %w", err)
			return
		}
		ns, ok := strings.CutPrefix(strings.TrimSpace(line), "namesrv ")
		if !ok {
			prodDevOnce.err = fmt.Errorf("dev cluster said %q", line)
			return
		}
		prodDevOnce.ns = ns
	})
	if prodDevOnce.err != nil {
		tb.Fatal(prodDevOnce.err)
	}
	return prodDevOnce.ns
}

// prodTargets are the brokers to measure against.
func prodTargets(b *testing.B) []struct{ name, ns string } {
	ts := []struct{ name, ns string }{{"devcluster", prodDevClusterAddr(b)}}
	if ns := os.Getenv("ROCKETMQ_NAMESRV"); ns != "" {
		ts = append(ts, struct{ name, ns string }{"rocketmq-4.9.4", ns})
	}
	return ts
}

var prodSeq atomic.Int64

// prodTopic is the topic of a benchmark and implementation: the same in every run, so
// that the real broker does not collect topics (its first run creates it).
func prodTopic(kind, impl string) string {
	return "PBench" + kind + "_" + strings.ReplaceAll(impl, "-", "_")
}

// prodMQGate is an instance and a started producer.
type prodMQGate struct {
	inst *instance.Instance
	p    *producer.Producer
}

func newProdMQGate(b *testing.B, ns string, coalesce bool) *prodMQGate {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, err := instance.New(instance.Config{NameServers: []string{ns}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := inst.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	p, err := producer.New(inst, producer.Config{Group: fmt.Sprintf("bench_pg_%d", prodSeq.Add(1)), Logger: quiet,
		Coalesce: producer.CoalesceConfig{Enabled: coalesce}})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &prodMQGate{inst, p}
}

func (c *prodMQGate) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.p.Shutdown(ctx)
	_ = c.inst.Shutdown(ctx)
}

func prodMessage(topic string) *message.Message {
	m := &message.Message{Topic: topic, Body: prodBody}
	m.SetTags("TagA")
	return m
}

func newProdPeer(b *testing.B, ns string) prodPeer {
	p, err := rmqproducer.NewDefaultProducer(
		rmqproducer.WithNsResolver(rmq.NewPassthroughResolver([]string{ns})),
		rmqproducer.WithGroupName(fmt.Sprintf("bench_peer_pg_%d", prodSeq.Add(1))),
		rmqproducer.WithRetry(2),
	)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	return p
}

// prodPeer is the part of the peer's producer the benchmarks use.
type prodPeer interface {
	SendSync(ctx context.Context, msgs ...*rmq.Message) (*rmq.SendResult, error)
	SendAsync(ctx context.Context, f func(context.Context, *rmq.SendResult, error), msgs ...*rmq.Message) error
	Shutdown() error
}

func prodPeerMessage(topic string) *rmq.Message {
	return rmq.NewMessage(topic, prodBody).WithTag("TagA")
}

// prodSendFunc sends msgs messages (1, or a batch) and reports an error.
type prodSendFunc func(ctx context.Context) error

// prodRunSenders runs b.N sends of perSend messages each over senders goroutines, after a
// warm-up that creates the topic, and reports msgs/s, p99 latency, CPU per message.
func prodRunSenders(b *testing.B, senders, perSend int, send prodSendFunc) {
	ctx := context.Background()
	for range 3 { // create the topic and open the connections outside the timing
		if err := send(ctx); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	cpu0 := cpuClock()
	b.ResetTimer()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := send(ctx); err != nil {
					if failed.Add(1) == 1 {
						b.Error(err)
					}
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	prodReport(b, lat, perSend, cpuClock()-cpu0)
}

// prodRunAsync keeps prodAsyncWindow sends in flight until b.N have completed.
func prodRunAsync(b *testing.B, send func(ctx context.Context, done func(error)) error) {
	ctx := context.Background()
	for range 3 {
		errc := make(chan error, 1)
		if err := send(ctx, func(err error) { errc <- err }); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	sem := make(chan struct{}, prodAsyncWindow)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ReportAllocs()
	cpu0 := cpuClock()
	b.ResetTimer()
	for i := range b.N {
		sem <- struct{}{}
		wg.Add(1)
		t0 := time.Now()
		err := send(ctx, func(err error) {
			if err != nil && failed.Add(1) == 1 {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
			<-sem
			wg.Done()
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	prodReport(b, lat, 1, cpuClock()-cpu0)
}

func prodReport(b *testing.B, lat []time.Duration, perSend int, cpu time.Duration) {
	msgs := float64(b.N * perSend)
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/msg")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}

// BenchmarkSendSync: 1 KiB messages, 64 concurrent senders, each waiting for its result.
// impl=mqgate-coalesce lets concurrent sends to one queue share a batch (the gateway's
// setting).
func BenchmarkSendSync(b *testing.B) {
	for _, tg := range prodTargets(b) {
		b.Run("target="+tg.name+"/impl=mqgate", func(b *testing.B) {
			c := newProdMQGate(b, tg.ns, false)
			defer c.close()
			topic := prodTopic("Sync", "mqgate")
			prodRunSenders(b, prodSenders, 1, func(ctx context.Context) error {
				_, err := c.p.Send(ctx, prodMessage(topic))
				return err
			})
		})
		b.Run("target="+tg.name+"/impl=mqgate-coalesce", func(b *testing.B) {
			c := newProdMQGate(b, tg.ns, true)
			defer c.close()
			topic := prodTopic("Sync", "coalesce")
			prodRunSenders(b, prodSenders, 1, func(ctx context.Context) error {
				_, err := c.p.Send(ctx, prodMessage(topic))
				return err
			})
		})
		b.Run("target="+tg.name+"/impl=rocketmq-client-go", func(b *testing.B) {
			p := newProdPeer(b, tg.ns)
			defer p.Shutdown()
			topic := prodTopic("Sync", "peer")
			prodRunSenders(b, prodSenders, 1, func(ctx context.Context) error {
				_, err := p.SendSync(ctx, prodPeerMessage(topic))
				return err
			})
		})
	}
}

// BenchmarkSendAsync: 1 KiB messages sent asynchronously, prodAsyncWindow in flight.
func BenchmarkSendAsync(b *testing.B) {
	for _, tg := range prodTargets(b) {
		for _, coalesce := range []bool{false, true} {
			impl := "mqgate"
			if coalesce {
				impl = "mqgate-coalesce"
			}
			b.Run("target="+tg.name+"/impl="+impl, func(b *testing.B) {
				c := newProdMQGate(b, tg.ns, coalesce)
				defer c.close()
				topic := prodTopic("Async", impl)
				prodRunAsync(b, func(ctx context.Context, done func(error)) error {
					return c.p.SendAsync(ctx, prodMessage(topic), func(_ instance.SendResult, err error) { done(err) })
				})
			})
		}
		b.Run("target="+tg.name+"/impl=rocketmq-client-go", func(b *testing.B) {
			p := newProdPeer(b, tg.ns)
			defer p.Shutdown()
			topic := prodTopic("Async", "peer")
			prodRunAsync(b, func(ctx context.Context, done func(error)) error {
				return p.SendAsync(ctx, func(_ context.Context, _ *rmq.SendResult, err error) { done(err) }, prodPeerMessage(topic))
			})
		})
	}
}

// prodBatchSize is the batch of BenchmarkSendBatch.
const prodBatchSize = 32

// BenchmarkSendBatch: batches of 32 x 1 KiB from 64 concurrent senders; the metrics are
// per message (ns/op and allocs/op are per batch).
func BenchmarkSendBatch(b *testing.B) {
	for _, tg := range prodTargets(b) {
		b.Run("target="+tg.name+"/impl=mqgate", func(b *testing.B) {
			c := newProdMQGate(b, tg.ns, false)
			defer c.close()
			topic := prodTopic("Batch", "mqgate")
			prodRunSenders(b, prodSenders, prodBatchSize, func(ctx context.Context) error {
				msgs := make([]*message.Message, prodBatchSize)
				for i := range msgs {
					msgs[i] = prodMessage(topic)
				}
				_, err := c.p.SendBatch(ctx, msgs)
				return err
			})
		})
		b.Run("target="+tg.name+"/impl=rocketmq-client-go", func(b *testing.B) {
			p := newProdPeer(b, tg.ns)
			defer p.Shutdown()
			topic := prodTopic("Batch", "peer")
			prodRunSenders(b, prodSenders, prodBatchSize, func(ctx context.Context) error {
				msgs := make([]*rmq.Message, prodBatchSize)
				for i := range msgs {
					msgs[i] = prodPeerMessage(topic)
				}
				_, err := p.SendSync(ctx, msgs...)
				return err
			})
		})
	}
}
