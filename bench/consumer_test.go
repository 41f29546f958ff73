package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	rmqconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	rmq "github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The push consumer benchmarks (issue 6): mqgate's instance/consumer and rocketmq-client-go
// v2.1.2's push consumer side by side, on the dev cluster of devTargets (a child process,
// so that its CPU is not the client's) and on the real RocketMQ 4.9.4 at ROCKETMQ_NAMESRV
// when set. Both consumers run with their defaults (20 consume goroutines, batches of one
// message, pulls of 32) and a handler that acknowledges at once.

var consSeq atomic.Int64

func consGroup(kind, impl string) string {
	return fmt.Sprintf("bench_%s_%s_%d_%d", kind, impl, os.Getpid(), consSeq.Add(1))
}

// mqgateInstance starts an mqgate client instance on ns.
func mqgateInstance(b *testing.B, ns string) *instance.Instance {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, err := instance.New(instance.Config{NameServers: []string{ns}, Logger: quiet,
		InstanceName: fmt.Sprintf("bench%d", consSeq.Add(1))})
	if err != nil {
		b.Fatal(err)
	}
	if err := inst.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return inst
}

func closeInstance(inst *instance.Instance) {
	// Long polls in flight hold the transport's drain up to the broker's suspension.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = inst.Shutdown(ctx)
}

// startMQGateConsumer starts a consumer of group on topic whose handler calls onMsg.
func startMQGateConsumer(b *testing.B, inst *instance.Instance, group, topic string, from remoting.ConsumeFromWhere,
	onMsg func(*message.Ext)) *consumer.PushConsumer {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := consumer.New(inst, consumer.Config{Group: group, ConsumeFromWhere: from, Logger: quiet,
		Handler: consumer.ConsumeFunc(func(_ context.Context, msgs []*message.Ext) consumer.Result {
			for _, m := range msgs {
				onMsg(m)
			}
			return consumer.ConsumeSuccess()
		})})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Subscribe(topic, "*"); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// startPeerConsumer starts a rocketmq-client-go push consumer of group on topic.
func startPeerConsumer(b *testing.B, ns, group, topic string, from rmqconsumer.ConsumeFromWhere,
	onMsg func(*rmq.MessageExt)) rocketmq.PushConsumer {
	c, err := rocketmq.NewPushConsumer(
		rmqconsumer.WithNsResolver(rmq.NewPassthroughResolver([]string{ns})),
		rmqconsumer.WithGroupName(group),
		rmqconsumer.WithInstance(group),
		rmqconsumer.WithConsumeFromWhere(from),
	)
	if err != nil {
		b.Fatal(err)
	}
	err = c.Subscribe(topic, rmqconsumer.MessageSelector{}, func(_ context.Context, msgs ...*rmq.MessageExt) (rmqconsumer.ConsumeResult, error) {
		for _, m := range msgs {
			onMsg(m)
		}
		return rmqconsumer.ConsumeSuccess, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	return c
}

var consImpls = []string{"mqgate", "rocketmq-client-go"}

// BenchmarkConsumePrefilled: a push consumer of a fresh group consumes b.N 1 KiB messages
// of a topic filled beforehand, from its first offset; msgs/s from the consumer's start to
// its b.N-th message, and the client's CPU per message (getrusage).
func BenchmarkConsumePrefilled(b *testing.B) {
	for _, tg := range devTargets(b) {
		for _, impl := range consImpls {
			b.Run("target="+tg.name+"/impl="+impl, func(b *testing.B) {
				topic := "CBenchPrefilled"
				devFill(b, tg.ns, topic, b.N)
				var consumed atomic.Int64
				done := make(chan struct{})
				count := func(int) {
					if consumed.Add(1) == int64(b.N) {
						close(done)
					}
				}
				var inst *instance.Instance
				if impl == "mqgate" {
					inst = mqgateInstance(b, tg.ns)
					defer closeInstance(inst)
				}
				cpu0 := cpuClock()
				b.ResetTimer()
				var stop func()
				if impl == "mqgate" {
					c := startMQGateConsumer(b, inst, consGroup("pre", impl), topic, remoting.ConsumeFromFirstOffset,
						func(*message.Ext) { count(1) })
					stop = func() { _ = c.Shutdown(context.Background()) }
				} else {
					c := startPeerConsumer(b, tg.ns, consGroup("pre", "peer"), topic, rmqconsumer.ConsumeFromFirstOffset,
						func(*rmq.MessageExt) { count(1) })
					stop = func() { _ = c.Shutdown() }
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

// consRate is the send rate of BenchmarkConsumeLatency.
const consRate = 2000

// BenchmarkConsumeLatency: 1 KiB messages sent at consRate msg/s (by an mqgate instance, the
// same for both consumers) to a topic a push consumer consumes; the latency from the send
// (a nanosecond timestamp in a property) to the handler, p50 and p99.
func BenchmarkConsumeLatency(b *testing.B) {
	for _, tg := range devTargets(b) {
		for _, impl := range consImpls {
			b.Run("target="+tg.name+"/impl="+impl, func(b *testing.B) {
				topic := "CBenchLatency"
				run := strconv.FormatInt(time.Now().UnixNano(), 36)
				sender := mqgateInstance(b, tg.ns)
				defer closeInstance(sender)
				send := newLatencySender(b, sender, topic, run)

				var mu sync.Mutex
				lat := make([]time.Duration, 0, b.N)
				var probes atomic.Int64
				seen := func(props func(string) string) {
					now := time.Now()
					if props("bench_run") != run {
						return // an earlier run's message
					}
					if props("bench_probe") != "" {
						probes.Add(1)
						return
					}
					sent, err := strconv.ParseInt(props("bench_sent"), 10, 64)
					if err != nil {
						return
					}
					mu.Lock()
					lat = append(lat, now.Sub(time.Unix(0, sent)))
					mu.Unlock()
				}
				var stop func()
				if impl == "mqgate" {
					inst := mqgateInstance(b, tg.ns)
					defer closeInstance(inst)
					c := startMQGateConsumer(b, inst, consGroup("lat", impl), topic, remoting.ConsumeFromLastOffset,
						func(m *message.Ext) { seen(m.Properties.Get) })
					stop = func() { _ = c.Shutdown(context.Background()) }
				} else {
					c := startPeerConsumer(b, tg.ns, consGroup("lat", "peer"), topic, rmqconsumer.ConsumeFromLastOffset,
						func(m *rmq.MessageExt) { seen(m.GetProperty) })
					stop = func() { _ = c.Shutdown() }
				}
				defer stop()
				// Until the consumer holds every queue: a probe to each, until all arrived.
				deadline := time.Now().Add(2 * time.Minute)
				for probes.Load() < int64(send.queues()) {
					if time.Now().After(deadline) {
						b.Fatalf("the consumer got %d probes of %d", probes.Load(), send.queues())
					}
					probes.Store(0)
					send.probe()
					time.Sleep(500 * time.Millisecond) // pacing of the probes
				}
				b.ResetTimer()
				start := time.Now()
				interval := time.Second / consRate
				for i := range b.N {
					if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d) // the fixed rate
					}
					send.one(i)
				}
				for deadline := time.Now().Add(time.Minute); ; {
					mu.Lock()
					n := len(lat)
					mu.Unlock()
					if n >= b.N {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("consumed %d of %d messages", n, b.N)
					}
					time.Sleep(time.Millisecond) // poll interval
				}
				b.StopTimer()
				mu.Lock()
				defer mu.Unlock()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// latencySender sends the latency benchmark's messages to each queue in turn.
type latencySender struct {
	b     *testing.B
	inst  *instance.Instance
	topic string
	run   string
	qs    []instance.MessageQueue
	body  []byte
}

func newLatencySender(b *testing.B, inst *instance.Instance, topic, run string) *latencySender {
	s := &latencySender{b: b, inst: inst, topic: topic, run: run, body: devBody}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := inst.UpdateTopicRoute(ctx, topic)
		if err == nil {
			break
		}
		// A topic new to the cluster: created from TBW102 by its first message.
		if _, err := inst.UpdateTopicRouteFromDefault(ctx, topic, "", 4); err != nil {
			b.Fatal(err)
		}
		s.qs = inst.PublishInfo(topic).Queues
		s.send(s.qs[0], map[string]string{"bench_run": "create"})
		time.Sleep(200 * time.Millisecond) // the broker registers the topic
	}
	s.qs = inst.PublishInfo(topic).Queues
	return s
}

func (s *latencySender) queues() int { return len(s.qs) }

func (s *latencySender) probe() {
	for _, q := range s.qs {
		s.send(q, map[string]string{"bench_run": s.run, "bench_probe": "1"})
	}
}

func (s *latencySender) one(i int) {
	s.send(s.qs[i%len(s.qs)], map[string]string{"bench_run": s.run,
		"bench_sent": strconv.FormatInt(time.Now().UnixNano(), 10)})
}

func (s *latencySender) send(q instance.MessageQueue, props map[string]string) {
	var p message.Properties
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range props {
			if !yield(k) {
				return
			}
		}
	}) {
		p.Set(k, props[k])
	}
	id := fmt.Sprintf("%032X", consSeq.Add(1))
	p.Set(message.PropertyUniqKey, id)
	h := &remoting.SendRequest{ProducerGroup: "bench_lat_pg", Topic: s.topic, DefaultTopic: message.AutoCreateTopicKey,
		DefaultTopicQueueNums: 4, QueueID: q.QueueID, BornTimestamp: time.Now().UnixMilli(), Properties: p.Encode()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.inst.SendMessage(ctx, s.inst.FindBrokerAddrInPublish(q.BrokerName), q.BrokerName, h, s.body, id); err != nil {
		s.b.Fatal(err)
	}
}
