package instance

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

func mq(topic, broker string, id int32) MessageQueue {
	return MessageQueue{Topic: topic, BrokerName: broker, QueueID: id}
}

func TestPublishInfoFromRoute(t *testing.T) {
	masterOnly := func(name, addr string) remoting.BrokerData {
		return remoting.BrokerData{BrokerName: name, Addrs: map[int64]string{0: addr}}
	}
	tests := []struct {
		name  string
		route remoting.TopicRouteData
		want  []MessageQueue
		order bool
	}{
		{"brokers sorted by name, queues in id order",
			remoting.TopicRouteData{
				Brokers: []remoting.BrokerData{masterOnly("b", "2"), masterOnly("a", "1")},
				Queues:  []remoting.QueueData{{BrokerName: "b", Perm: 6, WriteQueueNums: 2}, {BrokerName: "a", Perm: 6, WriteQueueNums: 1}},
			},
			[]MessageQueue{mq("T", "a", 0), mq("T", "b", 0), mq("T", "b", 1)}, false},
		{"write queues count, not read queues",
			remoting.TopicRouteData{
				Brokers: []remoting.BrokerData{masterOnly("a", "1")},
				Queues:  []remoting.QueueData{{BrokerName: "a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 2}},
			},
			[]MessageQueue{mq("T", "a", 0), mq("T", "a", 1)}, false},
		{"a broker without write permission is skipped",
			remoting.TopicRouteData{
				Brokers: []remoting.BrokerData{masterOnly("a", "1"), masterOnly("b", "2")},
				Queues:  []remoting.QueueData{{BrokerName: "a", Perm: 4, WriteQueueNums: 2}, {BrokerName: "b", Perm: 2, WriteQueueNums: 1}},
			},
			[]MessageQueue{mq("T", "b", 0)}, false},
		{"a broker without master is skipped",
			remoting.TopicRouteData{
				Brokers: []remoting.BrokerData{{BrokerName: "a", Addrs: map[int64]string{1: "slave"}}},
				Queues:  []remoting.QueueData{{BrokerName: "a", Perm: 6, WriteQueueNums: 2}},
			},
			nil, false},
		{"a queue data without broker data is skipped",
			remoting.TopicRouteData{Queues: []remoting.QueueData{{BrokerName: "a", Perm: 6, WriteQueueNums: 2}}},
			nil, false},
		{"orderTopicConf lists the queues, malformed entries skipped",
			remoting.TopicRouteData{OrderTopicConf: "b:2;junk;a:1;c:x",
				Brokers: []remoting.BrokerData{masterOnly("a", "1")},
				Queues:  []remoting.QueueData{{BrokerName: "a", Perm: 6, WriteQueueNums: 8}}},
			[]MessageQueue{mq("T", "b", 0), mq("T", "b", 1), mq("T", "a", 0)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := PublishInfoFromRoute("T", &tt.route)
			if !slices.Equal(info.Queues, tt.want) || info.OrderTopic != tt.order || info.Topic != "T" {
				t.Errorf("got %v (order %v), want %v (order %v)", info.Queues, info.OrderTopic, tt.want, tt.order)
			}
			if info.OK() != (len(tt.want) > 0) {
				t.Errorf("OK = %v", info.OK())
			}
		})
	}
}

func TestSubscribeInfoFromRouteHasReadableQueuesSorted(t *testing.T) {
	r := &remoting.TopicRouteData{Queues: []remoting.QueueData{
		{BrokerName: "b", Perm: 4, ReadQueueNums: 2, WriteQueueNums: 1},
		{BrokerName: "a", Perm: 6, ReadQueueNums: 1, WriteQueueNums: 4},
		{BrokerName: "c", Perm: 2, ReadQueueNums: 4, WriteQueueNums: 4},
	}}
	want := []MessageQueue{mq("T", "a", 0), mq("T", "b", 0), mq("T", "b", 1)}
	if got := SubscribeInfoFromRoute("T", r); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRouteEqualIgnoresOrder(t *testing.T) {
	a := remotingtest.Route(4, [2]string{"a", "1"}, [2]string{"b", "2"})
	b := remotingtest.Route(4, [2]string{"b", "2"}, [2]string{"a", "1"})
	if !routeEqual(a, b) {
		t.Error("routes differing in order only compare unequal")
	}
	c := remotingtest.Route(4, [2]string{"a", "1"}, [2]string{"b", "3"})
	if routeEqual(a, c) {
		t.Error("a moved broker compares equal")
	}
	d := remotingtest.Route(8, [2]string{"a", "1"}, [2]string{"b", "2"})
	if routeEqual(a, d) {
		t.Error("a queue count change compares equal")
	}
	e := remotingtest.Route(4, [2]string{"a", "1"}, [2]string{"b", "2"})
	e.FilterServers = map[string][]string{"1": {"f"}}
	if routeEqual(a, e) {
		t.Error("a filter server change compares equal")
	}
}

func TestUpdateTopicRouteTellsProducersAndConsumersOnChangeOnly(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	p, c := newFakeProducer("pg"), newFakeConsumer("cg")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterConsumer(c); err != nil {
		t.Fatal(err)
	}
	ns.SetRoute("T", remotingtest.Route(2, [2]string{"b1", "127.0.0.1:1"}))

	changed, err := i.UpdateTopicRoute(bg(t), "T")
	if err != nil || !changed {
		t.Fatalf("first update = %v, %v", changed, err)
	}
	want := []MessageQueue{mq("T", "b1", 0), mq("T", "b1", 1)}
	if info := p.info("T"); info == nil || !slices.Equal(info.Queues, want) || info != i.PublishInfo("T") {
		t.Errorf("producer got %+v", info)
	}
	if got := c.subscribeInfo("T"); !slices.Equal(got, want) {
		t.Errorf("consumer got %v", got)
	}
	if got := i.FindBrokerAddrInPublish("b1"); got != "127.0.0.1:1" {
		t.Errorf("broker table has %q for b1", got)
	}
	if i.TopicRoute("T") == nil || !slices.Equal(i.RouteTopics(), []string{"T"}) {
		t.Errorf("route cache: %v", i.RouteTopics())
	}

	changed, err = i.UpdateTopicRoute(bg(t), "T")
	if err != nil || changed {
		t.Fatalf("unchanged update = %v, %v", changed, err)
	}
	if n := p.updateCount(); n != 1 {
		t.Errorf("producer told %d times, want once", n)
	}

	ns.SetRoute("T", remotingtest.Route(2, [2]string{"b1", "127.0.0.1:1"}, [2]string{"b2", "127.0.0.1:2"}))
	if changed, err := i.UpdateTopicRoute(bg(t), "T"); err != nil || !changed {
		t.Fatalf("changed update = %v, %v", changed, err)
	}
	if info := p.info("T"); len(info.Queues) != 4 {
		t.Errorf("producer got %v after the change", info.Queues)
	}
}

func TestUpdateTopicRouteKeepsTheCacheOnErrors(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	ns.SetRoute("T", remotingtest.Route(2, [2]string{"b1", "127.0.0.1:1"}))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	ns.SetRoute("T", nil)
	_, err := i.UpdateTopicRoute(bg(t), "T")
	var be *BrokerError
	if !errors.Is(err, ErrTopicNotExist) || !errors.As(err, &be) || be.Addr != ns.Addr() || be.Request != remoting.GetRouteInfoByTopic {
		t.Fatalf("update of a vanished topic = %v, want TOPIC_NOT_EXIST from %s", err, ns.Addr())
	}
	if !i.PublishInfo("T").OK() {
		t.Error("the cached route was dropped on an error")
	}
}

// A topic the brokers do not know yet takes TBW102's route with the producer's queue
// count (Java's isDefault path).
func TestUpdateTopicRouteFromDefault(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	p := newFakeProducer("pg")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	def := remotingtest.Route(8, [2]string{"b1", "127.0.0.1:1"}, [2]string{"b2", "127.0.0.1:2"})
	def.Queues[1].ReadQueueNums = 2
	ns.SetRoute("TBW102", def)

	if _, err := i.UpdateTopicRoute(bg(t), "New"); !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("plain update of a new topic = %v", err)
	}
	changed, err := i.UpdateTopicRouteFromDefault(bg(t), "New", "", 4)
	if err != nil || !changed {
		t.Fatalf("update from default = %v, %v", changed, err)
	}
	want := []MessageQueue{mq("New", "b1", 0), mq("New", "b1", 1), mq("New", "b1", 2), mq("New", "b1", 3),
		mq("New", "b2", 0), mq("New", "b2", 1)}
	if got := p.info("New"); got == nil || !slices.Equal(got.Queues, want) {
		t.Errorf("publish info %v, want min(4, read queues) per broker: %v", got, want)
	}
	for _, qd := range i.TopicRoute("New").Queues {
		if qd.ReadQueueNums != qd.WriteQueueNums {
			t.Errorf("queue data %+v: read and write counts differ", qd)
		}
	}
	if i.TopicRoute("TBW102") != nil {
		t.Error("TBW102's own route was cached under its name")
	}
	if _, err := i.UpdateTopicRouteFromDefault(bg(t), "New", "", 0); err == nil {
		t.Error("a zero queue count was accepted")
	}
}

func TestConcurrentUpdatesOfOneTopicShareOneRequest(t *testing.T) {
	ns, release := heldRouteServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "the request", func() bool { return ns.Count(remoting.GetRouteInfoByTopic) > 0 })
	release()
	wg.Wait()
	if n := ns.Count(remoting.GetRouteInfoByTopic); n != 1 {
		t.Errorf("%d route requests for 8 concurrent updates, want 1", n)
	}
}

// heldRouteServer is a NameServer that answers GET_ROUTEINFO_BY_TOPIC (with a route of
// broker b) only once released, which the test's end does at the latest.
func heldRouteServer(t *testing.T) (ns *remotingtest.Server, releaseAll func()) {
	ns = remotingtest.NewServer(t)
	release := make(chan struct{})
	var once sync.Once
	releaseAll = func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)
	ns.HandleConn(remoting.GetRouteInfoByTopic, func(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
		go func() {
			<-release
			resp := remoting.NewResponse(req, remoting.Success, "")
			resp.Body = remotingtest.Route(1, [2]string{"b", "127.0.0.1:1"}).EncodeStandard()
			_ = c.Respond(req, resp)
		}()
		return nil
	})
	return ns, releaseAll
}

// Concurrent updates of a topic's route share one request, which is none of theirs: the
// caller that started it giving up (its HTTP client gone) fails no other.
func TestSharedRouteUpdateOutlivesTheCallerWhoStartedIt(t *testing.T) {
	ns, release := heldRouteServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() { _, err := i.UpdateTopicRoute(first, "T"); firstDone <- err }()
	waitFor(t, "the first caller's request", func() bool { return ns.Count(remoting.GetRouteInfoByTopic) == 1 })
	otherDone := make(chan error, 1)
	go func() { _, err := i.UpdateTopicRoute(bg(t), "T"); otherDone <- err }()
	time.Sleep(50 * time.Millisecond) // the other joins the request under way
	cancelFirst()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up: %v, want context.Canceled", err)
	}
	release()
	if err := <-otherDone; err != nil {
		t.Fatalf("a caller with a live context: %v", err)
	}
	if i.PublishInfo("T") == nil {
		t.Fatal("the route was not stored")
	}
}

// A caller's deadline shorter than the request timeout says nothing of the NameServer,
// which stays in use; a NameServer silent for a whole request timeout is dropped.
func TestOnlyANameServerSilentForTheRequestTimeoutIsDropped(t *testing.T) {
	ns, _ := heldRouteServer(t)
	cfg := testConfig(clock.NewFake(epoch), ns.Addr())
	cfg.RequestTimeout = 300 * time.Millisecond
	i := startInstance(t, cfg)
	chosen := func() string { i.ns.mu.Lock(); defer i.ns.mu.Unlock(); return i.ns.chosen }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := i.GetRouteInfo(ctx, "T"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a 50 ms caller: %v, want a timeout", err)
	}
	if chosen() != ns.Addr() {
		t.Fatalf("the NameServer was dropped after a caller's 50 ms deadline (request timeout 300 ms)")
	}
	if _, err := i.GetRouteInfo(context.Background(), "T"); !errors.Is(err, ErrTimeout) { // bounded by the request timeout
		t.Fatalf("a NameServer silent for the request timeout: %v, want a timeout", err)
	}
	if chosen() == ns.Addr() {
		t.Fatal("a NameServer silent for the whole request timeout is still the chosen one")
	}
}
