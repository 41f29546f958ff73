package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	rmqconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	rmq "github.com/apache/rocketmq-client-go/v2/primitive"
	rmqproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The dev cluster benchmarks (issue 4): how fast the devcluster serves rocketmq-client-go
// v2.1.2, next to the real Apache RocketMQ 4.9.4 at ROCKETMQ_NAMESRV when set, so that it is
// known not to be the bottleneck of the client benchmarks run against it. The devcluster
// runs as the client benchmarks run it, in a child process with the default configuration
// (memory store), so that its CPU is not the driver's. 1 KiB messages; a topic per
// benchmark with 4 queues, auto-created through TBW102 and kept across runs (the real
// broker does not collect topics); a fresh consumer group per measurement.

// devSenders is the number of concurrent senders of BenchmarkDevclusterSend.
const devSenders = 64

var devBody = func() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

func init() {
	// The child process: a dev cluster serving until stdin closes.
	if os.Getenv("MQGATE_BENCH_DEVCLUSTER") == "1" {
		serveDevCluster()
		os.Exit(0)
	}
	rlog.SetLogLevel("fatal")
}

func serveDevCluster() {
	// cloudwego/netpoll logs a client's reset connection on standard error, which the
	// benchmark output would interleave.
	np.SetLoggerOutput(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := devcluster.Start(ctx, devcluster.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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

var devOnce struct {
	sync.Once
	ns    string
	pid   int
	err   error
	stdin io.WriteCloser // held open: the child serves until it closes, with this binary
}

// devClusterAddr starts the child dev cluster once per benchmark binary and returns its
// NameServer address.
func devClusterAddr(tb testing.TB) string {
	devOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MQGATE_BENCH_DEVCLUSTER=1")
		cmd.Stderr = os.Stderr
		if devOnce.stdin, devOnce.err = cmd.StdinPipe(); devOnce.err != nil {
			return
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			devOnce.err = err
			return
		}
		if devOnce.err = cmd.Start(); devOnce.err != nil {
			return
		}
		devOnce.pid = cmd.Process.Pid
		line, err := bufio.NewReader(stdout).ReadString('\n')
		ns, ok := strings.CutPrefix(strings.TrimSpace(line), "namesrv ")
		if err != nil || !ok {
			devOnce.err = fmt.Errorf("dev cluster said %q: %v", line, err)
			return
		}
		devOnce.ns = ns
	})
	if devOnce.err != nil {
		tb.Fatal(devOnce.err)
	}
	return devOnce.ns
}

// devTarget is a broker to measure; pid is the server process when it is known.
type devTarget struct {
	name, ns string
	pid      int
}

// devTargets are the brokers to measure: the devcluster, and the real one at
// ROCKETMQ_NAMESRV when set (ROCKETMQ_BROKER_PID names its broker's process).
func devTargets(b *testing.B) []devTarget {
	ts := []devTarget{{"devcluster", devClusterAddr(b), devOnce.pid}}
	if ns := os.Getenv("ROCKETMQ_NAMESRV"); ns != "" {
		pid, _ := strconv.Atoi(os.Getenv("ROCKETMQ_BROKER_PID")) // its CPU is reported when given
		ts = append(ts, devTarget{name: "rocketmq-4.9.4", ns: ns, pid: pid})
	}
	return ts
}

// processCPU is a process's user+system time from /proc (Linux), 0 when unknown.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses: utime and stime are the
	// 12th and 13th, in clock ticks (100 per second).
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, _ := strconv.ParseInt(f, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// reportCPU reports the driver's CPU per message and, when known, the server's.
func reportCPU(b *testing.B, tg devTarget, cpu0, server0 time.Duration) {
	b.ReportMetric(float64((cpuClock()-cpu0).Nanoseconds())/float64(b.N), "driver-cpu-ns/msg")
	if tg.pid != 0 {
		b.ReportMetric(float64((processCPU(tg.pid)-server0).Nanoseconds())/float64(b.N), "server-cpu-ns/msg")
	}
}

var devSeq atomic.Int64

func newDevProducer(b *testing.B, ns string) rocketmq.Producer {
	p, err := rocketmq.NewProducer(
		rmqproducer.WithNsResolver(rmq.NewPassthroughResolver([]string{ns})),
		rmqproducer.WithGroupName(fmt.Sprintf("bench_dev_pg_%d_%d", os.Getpid(), devSeq.Add(1))),
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

// BenchmarkDevclusterSend: SendSync of 1 KiB messages from 64 concurrent senders through
// one producer; msgs/s and the p99 latency of a send.
func BenchmarkDevclusterSend(b *testing.B) {
	for _, tg := range devTargets(b) {
		b.Run("target="+tg.name, func(b *testing.B) {
			p := newDevProducer(b, tg.ns)
			defer p.Shutdown()
			topic := "DevBenchSend"
			ctx := context.Background()
			for range 3 { // create the topic, route it and connect outside the timing
				if _, err := p.SendSync(ctx, rmq.NewMessage(topic, devBody)); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, b.N)
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			cpu0, server0 := cpuClock(), processCPU(tg.pid)
			b.ResetTimer()
			for range devSenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						t0 := time.Now()
						if _, err := p.SendSync(ctx, rmq.NewMessage(topic, devBody).WithTag("TagA")); err != nil && failed.Add(1) == 1 {
							b.Error(err)
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			reportCPU(b, tg, cpu0, server0)
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
		})
	}
}

// BenchmarkDevclusterPull: a push consumer of a fresh group consumes b.N messages of a
// topic filled beforehand, from its first offset; msgs/s from the consumer's start to its
// b.N-th message.
func BenchmarkDevclusterPull(b *testing.B) {
	for _, tg := range devTargets(b) {
		b.Run("target="+tg.name, func(b *testing.B) {
			topic := "DevBenchPull"
			devFill(b, tg.ns, topic, b.N)
			var consumed atomic.Int64
			done := make(chan struct{})
			c, err := rocketmq.NewPushConsumer(
				rmqconsumer.WithNsResolver(rmq.NewPassthroughResolver([]string{tg.ns})),
				rmqconsumer.WithGroupName(fmt.Sprintf("bench_dev_cg_%d_%d", os.Getpid(), devSeq.Add(1))),
				rmqconsumer.WithConsumeFromWhere(rmqconsumer.ConsumeFromFirstOffset),
			)
			if err != nil {
				b.Fatal(err)
			}
			err = c.Subscribe(topic, rmqconsumer.MessageSelector{}, func(_ context.Context, msgs ...*rmq.MessageExt) (rmqconsumer.ConsumeResult, error) {
				if consumed.Add(int64(len(msgs))) >= int64(b.N) && consumed.Load()-int64(len(msgs)) < int64(b.N) {
					close(done)
				}
				return rmqconsumer.ConsumeSuccess, nil
			})
			if err != nil {
				b.Fatal(err)
			}
			cpu0, server0 := cpuClock(), processCPU(tg.pid)
			b.ResetTimer()
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("consumed %d of %d messages in 5 minutes", consumed.Load(), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			reportCPU(b, tg, cpu0, server0)
			_ = c.Shutdown()
		})
	}
}

// devFill tops topic up to at least n messages, in batches of 32 from 8 senders.
func devFill(b *testing.B, ns, topic string, n int) {
	p := newDevProducer(b, ns)
	defer p.Shutdown()
	ctx := context.Background()
	if _, err := p.SendSync(ctx, rmq.NewMessage(topic, devBody)); err != nil { // creates the topic
		b.Fatal(err)
	}
	have := devTopicSize(b, ns, topic)
	var left atomic.Int64
	left.Store(int64(n) - have)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-32) > -32 {
				batch := make([]*rmq.Message, 32)
				for i := range batch {
					batch[i] = rmq.NewMessage(topic, devBody).WithTag("TagA")
				}
				if _, err := p.SendSync(ctx, batch...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// devTopicSize is the number of messages in topic's queues: the sum of their max offsets.
func devTopicSize(b *testing.B, ns, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close(ctx)
	// The topic was just created by a send: its registration with the NameServer may
	// still be on its way.
	var route remoting.TopicRouteData
	for {
		resp, err := cl.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteInfoByTopic, &remoting.RouteInfoRequest{Topic: topic}))
		if err == nil && resp.Code == int32(remoting.Success) {
			if err := route.Decode(resp.Body); err != nil {
				b.Fatal(err)
			}
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("no route of %s: %v", topic, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	var n int64
	for _, bd := range route.Brokers {
		for _, qd := range route.Queues {
			if qd.BrokerName != bd.BrokerName {
				continue
			}
			for q := range qd.ReadQueueNums {
				resp, err := cl.Invoke(ctx, bd.MasterAddr(), remoting.NewRequest(remoting.GetMaxOffset,
					&remoting.MaxOffsetRequest{Topic: topic, QueueID: q}))
				if err != nil {
					b.Fatal(err)
				}
				var h remoting.MaxOffsetResponse
				if err := h.DecodeFields(resp.Ext); err != nil {
					b.Fatal(err)
				}
				n += h.Offset
			}
		}
	}
	return n
}
