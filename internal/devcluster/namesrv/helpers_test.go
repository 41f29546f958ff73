package namesrv

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeClock is a Clock that moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct {
	clock *fakeClock
	c     chan time.Time
	d     time.Duration
	next  time.Time
	dead  bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{clock: c, c: make(chan time.Time, 1), d: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t
}

// Advance moves the clock and fires each ticker that came due once, however many of its
// periods passed: one scan per Advance keeps the tests' counting simple.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		due := false
		for !t.dead && !t.next.After(c.now) {
			due = true
			t.next = t.next.Add(t.d)
		}
		if due {
			select {
			case t.c <- c.now:
			default:
			}
		}
	}
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.dead = true
}

// start starts a Server with cfg on a free port and shuts it down with the test.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// newClient returns a netpoll client closed with the test.
func newClient(t *testing.T) *netpoll.Client {
	t.Helper()
	cl := newClientNoCleanup(t)
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

func newClientNoCleanup(t *testing.T) *netpoll.Client {
	t.Helper()
	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// call sends req as a Java 4.9.4 client would and returns the response.
func call(t *testing.T, cl *netpoll.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	if req.Version == 0 {
		req.Version = remoting.Version494
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestCode(req.Code), err)
	}
	return resp
}

// topicConfig is a topic as a broker registers it.
func topicConfig(name string, queues int32, perm int32) remoting.TopicConfig {
	return remoting.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: perm, TopicFilterType: "SINGLE_TAG"}
}

// broker describes a REGISTER_BROKER request.
type broker struct {
	cluster, name, addr, ha string
	id                      int64
	version                 int64 // data version counter
	topics                  []remoting.TopicConfig
	compressed              bool
}

func (b broker) register() *remoting.Command {
	body := remoting.RegisterBrokerBody{FilterServers: []string{}, TopicConfig: remoting.TopicConfigWrapper{
		DataVersion: remoting.DataVersion{Counter: b.version, Timestamp: 1_700_000_000_000},
		Topics:      map[string]remoting.TopicConfig{},
	}}
	for _, tc := range b.topics {
		body.TopicConfig.Topics[tc.TopicName] = tc
	}
	data := body.Encode(b.compressed)
	cluster := b.cluster
	if cluster == "" {
		cluster = "DefaultCluster"
	}
	return &remoting.Command{Code: int32(remoting.RegisterBroker), Version: remoting.Version494,
		Header: &remoting.RegisterBrokerRequest{BrokerName: b.name, BrokerAddr: b.addr, ClusterName: cluster,
			HAServerAddr: b.ha, BrokerID: b.id, Compressed: b.compressed, BodyCRC32: remoting.BodyCRC32(data)},
		Body: data}
}

func (b broker) unregister() *remoting.Command {
	cluster := b.cluster
	if cluster == "" {
		cluster = "DefaultCluster"
	}
	return &remoting.Command{Code: int32(remoting.UnregisterBroker), Version: remoting.Version494,
		Header: &remoting.UnregisterBrokerRequest{BrokerName: b.name, BrokerAddr: b.addr, ClusterName: cluster, BrokerID: b.id}}
}

func routeReq(topic string) *remoting.Command {
	return &remoting.Command{Code: int32(remoting.GetRouteInfoByTopic), Version: remoting.Version494,
		Ext: remoting.ExtFields{{Key: "topic", Value: topic}}}
}

// routeOf asks for topic's route and decodes it; nil when the topic has none.
func routeOf(t *testing.T, cl *netpoll.Client, addr, topic string) *remoting.TopicRouteData {
	t.Helper()
	resp := call(t, cl, addr, routeReq(topic))
	if resp.Code == int32(remoting.TopicNotExist) {
		return nil
	}
	if resp.Code != int32(remoting.Success) {
		t.Fatalf("route of %s: %s %q", topic, remoting.ResponseCode(resp.Code), resp.Remark)
	}
	var r remoting.TopicRouteData
	if err := r.Decode(resp.Body); err != nil {
		t.Fatal(err)
	}
	return &r
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

// rawConn is a plain TCP connection for replaying recorded frames byte for byte, opaque
// included, with nothing of mqgate's transport in between.
type rawConn struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(frame []byte) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write(frame); err != nil {
		r.t.Fatal(err)
	}
}

// receive reads one whole frame.
func (r *rawConn) receive() []byte {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var prefix [4]byte
	if _, err := io.ReadFull(r.c, prefix[:]); err != nil {
		r.t.Fatal(err)
	}
	n := binary.BigEndian.Uint32(prefix[:])
	frame := make([]byte, 4+n)
	copy(frame, prefix[:])
	if _, err := io.ReadFull(r.c, frame[4:]); err != nil {
		r.t.Fatal(err)
	}
	return frame
}
