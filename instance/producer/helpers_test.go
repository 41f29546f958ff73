package producer

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

var discard = slog.New(slog.DiscardHandler)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startDevCluster(t testing.TB, cfg devcluster.Config) *devcluster.Cluster {
	t.Helper()
	cfg.Logger = discard
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// instanceConfig is an instance configuration for tests: fixed client id, no logging.
func instanceConfig(nameServers ...string) instance.Config {
	return instance.Config{NameServers: nameServers, ClientIP: "10.0.0.1", InstanceName: "ptest",
		Logger: discard, RequestTimeout: 3 * time.Second}
}

// startInstance makes and starts an instance, shut down at the end of the test.
func startInstance(t testing.TB, cfg instance.Config) *instance.Instance {
	t.Helper()
	i, err := instance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = i.Shutdown(ctx)
	})
	return i
}

// startProducer makes and starts a producer (default group "pg"), shut down at the end.
func startProducer(t testing.TB, inst *instance.Instance, cfg Config) *Producer {
	t.Helper()
	if cfg.Group == "" {
		cfg.Group = "pg"
	}
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	p, err := New(inst, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func newMessage(topic, body string) *message.Message {
	m := &message.Message{Topic: topic, Body: []byte(body)}
	return m
}

// pullAll pulls every message of a queue from the broker at addr, from offset 0.
func pullAll(t testing.TB, inst *instance.Instance, addr, topic string, queue int32) []message.Ext {
	t.Helper()
	var out []message.Ext
	for off := int64(0); ; {
		h := &remoting.PullRequest{ConsumerGroup: "ptest-cg", Topic: topic, QueueID: queue, QueueOffset: off,
			MaxMsgNums: 32, SysFlag: remoting.PullFlagSubscription, Subscription: "*"}
		r, err := inst.PullMessage(bg(t), addr, h)
		if err != nil {
			t.Fatalf("pull %s/%d@%d: %v", topic, queue, off, err)
		}
		if r.Status != instance.PullFound {
			return out
		}
		var d message.Decoder
		msgs, err := d.DecodeStored(nil, r.Body)
		if err != nil {
			t.Fatalf("decode pull body: %v", err)
		}
		for i := range msgs {
			out = append(out, msgs[i].Clone())
		}
		off = r.NextBeginOffset
	}
}

// pullTopic pulls every queue of topic from the broker at addr.
func pullTopic(t testing.TB, inst *instance.Instance, addr, topic string, queues int32) []message.Ext {
	t.Helper()
	var out []message.Ext
	for q := range queues {
		out = append(out, pullAll(t, inst, addr, topic, q)...)
	}
	return out
}

// fakeBroker answers sends with answer (SUCCESS with offsets when nil), heartbeats and
// UNREGISTER_CLIENT.
type fakeBroker struct {
	*remotingtest.Server
	name string

	amu    sync.Mutex
	answer func(req *remoting.Command) *remoting.Command
	offset int64
}

func newFakeBroker(t testing.TB, name string) *fakeBroker {
	b := &fakeBroker{Server: remotingtest.NewServer(t), name: name}
	ok := func(req *remoting.Command) *remoting.Command { return remoting.NewResponse(req, remoting.Success, "") }
	b.Handle(remoting.Heartbeat, ok)
	b.Handle(remoting.UnregisterClient, ok)
	send := func(req *remoting.Command) *remoting.Command {
		b.amu.Lock()
		a := b.answer
		b.amu.Unlock()
		if a != nil {
			if resp := a(req); resp != nil {
				return resp
			}
		}
		return b.stored(req)
	}
	b.Handle(remoting.SendMessageV2, send)
	b.Handle(remoting.SendBatchMessage, send)
	b.Handle(remoting.EndTransaction, func(*remoting.Command) *remoting.Command { return nil })
	return b
}

// stored answers a send as a broker that stored it: offsets counted per broker.
func (b *fakeBroker) stored(req *remoting.Command) *remoting.Command {
	var h remoting.SendRequestV2
	_ = h.DecodeFields(req.Ext)
	n := int64(1)
	if h.Batch {
		msgs, _ := message.DecodeBatch(req.Body)
		n = int64(len(msgs))
	}
	b.amu.Lock()
	first := b.offset
	b.offset += n
	b.amu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = message.OffsetMsgID(netipAddrPort(b.Addr()), (first+int64(i))*100)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Header = &remoting.SendResponse{MsgID: strings.Join(ids, ","), QueueID: h.QueueID, QueueOffset: first}
	return resp
}

func (b *fakeBroker) setAnswer(a func(req *remoting.Command) *remoting.Command) {
	b.amu.Lock()
	b.answer = a
	b.amu.Unlock()
}

func (b *fakeBroker) sends() int {
	return b.Count(remoting.SendMessageV2) + b.Count(remoting.SendBatchMessage)
}

// fakeCluster is a fake NameServer and brokers routing topic (and TBW102) to them all.
func fakeCluster(t testing.TB, topic string, queues int32, names ...string) (*remotingtest.NameServer, []*fakeBroker) {
	ns := remotingtest.NewNameServer(t)
	var brokers []*fakeBroker
	var pairs [][2]string
	for _, n := range names {
		b := newFakeBroker(t, n)
		brokers = append(brokers, b)
		pairs = append(pairs, [2]string{n, b.Addr()})
	}
	ns.SetRoute(topic, remotingtest.Route(queues, pairs...))
	ns.SetRoute(message.AutoCreateTopicKey, remotingtest.Route(8, pairs...))
	return ns, brokers
}

func fakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

// realBroker returns the NameServer of a real RocketMQ when ROCKETMQ_NAMESRV is set.
func realBroker(t testing.TB) string {
	ns := os.Getenv("ROCKETMQ_NAMESRV")
	if ns == "" {
		t.Skip("ROCKETMQ_NAMESRV not set: no real RocketMQ to test against")
	}
	return ns
}

func netipAddrPort(addr string) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(addr)
	return ap
}

// heldQueue is a coalescing producer whose one queue a first send holds: the broker does
// not answer it until release, so the sends made meanwhile wait in the queue's line and
// go together as the next batch.
type heldQueue struct {
	t         testing.TB
	b         *fakeBroker
	p         *Producer
	qb        *queueBatcher
	release   func()
	firstDone chan error
}

// holdQueue starts a coalescing producer with cfg on a fake cluster of one queue of topic,
// and has its first send hold the queue.
func holdQueue(t testing.TB, topic string, cfg Config) *heldQueue {
	t.Helper()
	ns, brokers := fakeCluster(t, topic, 1, "a")
	released := make(chan struct{})
	h := &heldQueue{t: t, b: brokers[0], firstDone: make(chan error, 1)}
	h.release = sync.OnceFunc(func() { close(released) })
	t.Cleanup(h.release) // a test that failed early must not leave the broker waiting
	var first sync.Once
	h.b.setAnswer(func(*remoting.Command) *remoting.Command {
		first.Do(func() { <-released })
		return nil
	})
	inst := startInstance(t, instanceConfig(ns.Addr()))
	cfg.Coalesce.Enabled = true
	h.p = startProducer(t, inst, cfg)
	go func() {
		_, err := h.p.Send(bg(t), newMessage(topic, "first"))
		h.firstDone <- err
	}()
	waitFor(t, "the first send in flight", func() bool { return h.b.sends() == 1 })
	h.qb = h.p.entry(topic).batcher(instance.MessageQueue{Topic: topic, BrokerName: "a"})
	return h
}

// waitInLine waits until n callers wait in the queue's line.
func (h *heldQueue) waitInLine(n int) {
	h.t.Helper()
	waitFor(h.t, strconv.Itoa(n)+" callers in line", func() bool {
		h.qb.mu.Lock()
		defer h.qb.mu.Unlock()
		return h.qb.n == n
	})
}

// releaseFirst answers the first send and checks that it succeeded; the line goes next.
func (h *heldQueue) releaseFirst() {
	h.t.Helper()
	h.release()
	if err := <-h.firstDone; err != nil {
		h.t.Fatal(err)
	}
}
