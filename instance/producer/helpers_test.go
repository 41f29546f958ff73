package producer

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
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

// leakCheck records the goroutine count and returns a check that it comes back to it.
func leakCheck(t testing.TB) func() {
	t.Helper()
	np.Initialize()
	runtime.GC()
	base := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf)
			}
			time.Sleep(time.Millisecond)
		}
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

// fakeServer is a NameServer or broker double on netpoll.Server.
type fakeServer struct {
	t    testing.TB
	srv  *netpoll.Server
	addr string

	once  sync.Once
	mu    sync.Mutex
	reqs  map[remoting.RequestCode][]*remoting.Command
	conns []*netpoll.Conn
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, reqs: make(map[remoting.RequestCode][]*remoting.Command)}
	// On package net, as the instance's tests do (see instance/helpers_test.go).
	srv, err := netpoll.NewServer(netpoll.ServerConfig{Addr: "127.0.0.1:0", NetConn: true, Logger: discard,
		OnConnect: func(c *netpoll.Conn) {
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, addr.String()
	t.Cleanup(f.close)
	return f
}

func (f *fakeServer) close() {
	f.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.srv.Shutdown(ctx)
	})
}

// on answers code with h, recording each request.
func (f *fakeServer) on(code remoting.RequestCode, h func(req *remoting.Command) *remoting.Command) {
	f.srv.Handle(code, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		f.mu.Lock()
		f.reqs[code] = append(f.reqs[code], req)
		f.mu.Unlock()
		return h(req)
	})
}

// conn returns the server side of the latest connection.
func (f *fakeServer) conn() *netpoll.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.conns) == 0 {
		f.t.Fatal("no connection")
	}
	return f.conns[len(f.conns)-1]
}

func (f *fakeServer) count(code remoting.RequestCode) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs[code])
}

func (f *fakeServer) requests(code remoting.RequestCode) []*remoting.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs[code])
}

// fakeNameServer answers GET_ROUTEINFO_BY_TOPIC from a table of routes.
type fakeNameServer struct {
	*fakeServer
	rmu    sync.Mutex
	routes map[string]*remoting.TopicRouteData
}

func newFakeNameServer(t testing.TB) *fakeNameServer {
	n := &fakeNameServer{fakeServer: newFakeServer(t), routes: make(map[string]*remoting.TopicRouteData)}
	n.on(remoting.GetRouteInfoByTopic, func(req *remoting.Command) *remoting.Command {
		topic := req.Ext.Get("topic")
		n.rmu.Lock()
		route := n.routes[topic]
		n.rmu.Unlock()
		if route == nil {
			return remoting.NewResponse(req, remoting.TopicNotExist, "No topic route info in name server for the topic: "+topic)
		}
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = route.EncodeStandard()
		return resp
	})
	return n
}

func (n *fakeNameServer) setRoute(topic string, route *remoting.TopicRouteData) {
	n.rmu.Lock()
	defer n.rmu.Unlock()
	n.routes[topic] = route
}

// route returns a route with one master per broker name, each with queues queues.
func route(queues int32, brokers ...[2]string) *remoting.TopicRouteData {
	r := &remoting.TopicRouteData{FilterServers: map[string][]string{}}
	for _, b := range brokers {
		r.Brokers = append(r.Brokers, remoting.BrokerData{BrokerName: b[0], Cluster: "DefaultCluster", Addrs: map[int64]string{0: b[1]}})
		r.Queues = append(r.Queues, remoting.QueueData{BrokerName: b[0], Perm: 6, ReadQueueNums: queues, WriteQueueNums: queues})
	}
	return r
}

// fakeBroker answers sends with answer (SUCCESS with offsets when nil), heartbeats and
// UNREGISTER_CLIENT.
type fakeBroker struct {
	*fakeServer
	name string

	amu    sync.Mutex
	answer func(req *remoting.Command) *remoting.Command
	offset int64
}

func newFakeBroker(t testing.TB, name string) *fakeBroker {
	b := &fakeBroker{fakeServer: newFakeServer(t), name: name}
	ok := func(req *remoting.Command) *remoting.Command { return remoting.NewResponse(req, remoting.Success, "") }
	b.on(remoting.Heartbeat, ok)
	b.on(remoting.UnregisterClient, ok)
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
	b.on(remoting.SendMessageV2, send)
	b.on(remoting.SendBatchMessage, send)
	b.on(remoting.EndTransaction, func(*remoting.Command) *remoting.Command { return nil })
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
		ids[i] = message.OffsetMsgID(netipAddrPort(b.addr), (first+int64(i))*100)
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
	return b.count(remoting.SendMessageV2) + b.count(remoting.SendBatchMessage)
}

// fakeCluster is a fake NameServer and brokers routing topic (and TBW102) to them all.
func fakeCluster(t testing.TB, topic string, queues int32, names ...string) (*fakeNameServer, []*fakeBroker) {
	ns := newFakeNameServer(t)
	var brokers []*fakeBroker
	var pairs [][2]string
	for _, n := range names {
		b := newFakeBroker(t, n)
		brokers = append(brokers, b)
		pairs = append(pairs, [2]string{n, b.addr})
	}
	ns.setRoute(topic, route(queues, pairs...))
	ns.setRoute(message.AutoCreateTopicKey, route(8, pairs...))
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
