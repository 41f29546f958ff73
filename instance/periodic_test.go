package instance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The periodic tasks run at Java's intervals on the injected clock: routes every 30 s,
// heartbeats every 30 s (and once at start, after the first routes), offsets every 5 s.
func TestPeriodicTasksRunAtTheirIntervals(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", broker.Addr()}))
	ns.SetRoute("U", remotingtest.Route(4, [2]string{"b", broker.Addr()}))
	fc := clock.NewFake(epoch)
	i, err := New(testConfig(fc, ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeConsumer("cg", "T")
	if err := i.RegisterConsumer(c); err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterProducer(newFakeProducer("pg", "U", "T")); err != nil {
		t.Fatal(err)
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, i)

	routes := func() int { return ns.Count(remoting.GetRouteInfoByTopic) }
	beats := func() int { return broker.Count(remoting.Heartbeat) }
	waitFor(t, "the first route refresh of both topics", func() bool { return routes() == 2 })
	waitFor(t, "the first heartbeat", func() bool { return beats() == 1 })
	const b0 = 1
	if c.persists.Load() != 0 {
		t.Fatal("offsets persisted before 5s")
	}

	for step := 1; step <= 6; step++ {
		fc.Advance(5 * time.Second)
		waitFor(t, "offsets persisted", func() bool { return int(c.persists.Load()) == step })
		if step < 6 && (routes() != 2 || beats() != b0) {
			t.Fatalf("at %ds: %d route requests, %d heartbeats", 5*step, routes(), beats())
		}
	}
	waitFor(t, "the 30s route refresh", func() bool { return routes() == 4 })
	waitFor(t, "the 30s heartbeat", func() bool { return beats() == b0+1 })

	fc.Advance(30 * time.Second)
	waitFor(t, "the 60s route refresh", func() bool { return routes() == 6 })
	waitFor(t, "the 60s heartbeat", func() bool { return beats() == b0+2 })

	hb := broker.Last(remoting.Heartbeat)
	var data remoting.HeartbeatData
	if err := data.Decode(hb.Body); err != nil {
		t.Fatal(err)
	}
	if data.ClientID != i.ClientID() || len(data.Consumers) != 1 || data.Consumers[0].GroupName != "cg" ||
		len(data.Producers) != 1 || data.Producers[0].GroupName != "pg" {
		t.Errorf("heartbeat %+v", data)
	}
	if hb.Language != remoting.LanguageGo || hb.Version != remoting.Version494 || hb.Serialize != remoting.RocketMQ {
		t.Errorf("heartbeat sent as %s %d %s", hb.Language, hb.Version, hb.Serialize)
	}
}

func TestRegisteringAGroupSendsAHeartbeatAtOnce(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", broker.Addr()}))
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if n := broker.Count(remoting.Heartbeat); n != 0 {
		t.Fatalf("%d heartbeats with no group", n)
	}
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	// The route's new broker had a round of its own, which may have come after the
	// registration: what counts is a heartbeat naming the group.
	waitFor(t, "a heartbeat", func() bool { return lastHeartbeat(t, broker).Producers != nil })
	if err := i.RegisterProducer(newFakeProducer("pg")); err == nil {
		t.Error("a second producer of the same group was accepted")
	}
	if err := i.RegisterConsumer(newFakeConsumer("cg", "T")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second heartbeat", func() bool { return lastHeartbeat(t, broker).Consumers != nil })
	if err := i.RegisterConsumer(newFakeConsumer("cg")); err == nil {
		t.Error("a second consumer of the same group was accepted")
	}
	if err := i.RegisterConsumer(newFakeConsumer("bad group!")); err == nil {
		t.Error("an invalid group name was accepted")
	}
}

// lastHeartbeat is the last heartbeat broker got; zero when none.
func lastHeartbeat(t *testing.T, broker *remotingtest.Server) remoting.HeartbeatData {
	t.Helper()
	var data remoting.HeartbeatData
	if hbs := broker.Requests(remoting.Heartbeat); len(hbs) > 0 {
		if err := data.Decode(hbs[len(hbs)-1].Body); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// A route naming a broker address the table did not have (a broker added to the cluster,
// or one restarted at another address, which knows no client) has a heartbeat sent at
// once, not at the next tick up to 30 s later: until it has one, that broker leaves this
// client's consumers out of the lists their peers rebalance with, and cannot ask its
// producers to check a transaction (Java 5's heartbeat when a broker connection opens).
func TestANewlyRoutedBrokerGetsAHeartbeatAtOnce(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b1, b2 := remotingtest.NewBroker(t), remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", b1.Addr()}))
	fc := clock.NewFake(epoch)
	i, err := New(testConfig(fc, ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, i)
	waitFor(t, "the first heartbeat", func() bool { return b1.Count(remoting.Heartbeat) == 1 })

	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", b1.Addr()}, [2]string{"b2", b2.Addr()}))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a heartbeat to the new broker, the clock standing still", func() bool { return b2.Count(remoting.Heartbeat) > 0 })
}

// Heartbeats go to masters only while no consumer is registered (Java's
// sendHeartbeatToAllBroker); each broker's answer version is recorded.
func TestHeartbeatsGoToSlavesOnlyWithConsumers(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	master, slave := remotingtest.NewBroker(t), remotingtest.NewServer(t)
	slave.Handle(remoting.Heartbeat, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Version = 399
		return resp
	})
	slave.Answer(remoting.UnregisterClient, remoting.Success, "")
	r := remotingtest.Route(4, [2]string{"b", master.Addr()})
	r.Brokers[0].Addrs[1] = slave.Addr()
	ns.SetRoute("T", r)
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(bg(t)); err != nil {
		t.Fatal(err)
	}
	if master.Count(remoting.Heartbeat) == 0 || slave.Count(remoting.Heartbeat) != 0 {
		t.Fatalf("producer only: master got %d heartbeats, slave %d", master.Count(remoting.Heartbeat), slave.Count(remoting.Heartbeat))
	}
	if err := i.RegisterConsumer(newFakeConsumer("cg", "T")); err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(bg(t)); err != nil {
		t.Fatal(err)
	}
	if slave.Count(remoting.Heartbeat) == 0 {
		t.Fatal("with a consumer: the slave got no heartbeat")
	}
	if v := i.BrokerVersion("b", slave.Addr()); v != 399 {
		t.Errorf("slave version %d, want 399", v)
	}
	if v := i.BrokerVersion("b", master.Addr()); v != remoting.Version494 {
		t.Errorf("master version %d, want the request's", v)
	}
	res, ok := i.FindBrokerAddrInSubscribe("b", 1, false)
	if !ok || res.Addr != slave.Addr() || !res.Slave || res.Version != 399 {
		t.Errorf("FindBrokerAddrInSubscribe(b, 1) = %+v, %v", res, ok)
	}
	res, ok = i.FindBrokerAddrInSubscribe("b", 2, true)
	if ok {
		t.Errorf("only broker 2, unknown: got %+v", res)
	}
	res, ok = i.FindBrokerAddrInSubscribe("b", 5, false)
	if !ok || res.Addr != master.Addr() || res.Slave {
		t.Errorf("unknown broker 5, any: %+v, %v", res, ok)
	}
}

// At each heartbeat tick, brokers no cached route names any more are forgotten (Java's
// cleanOfflineBroker).
func TestOfflineBrokersAreCleanedAtTheHeartbeatTick(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b1, b2 := remotingtest.NewBroker(t), remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", b1.Addr()}, [2]string{"b2", b2.Addr()}))
	fc := clock.NewFake(epoch)
	i := startInstance(t, testConfig(fc, ns.Addr()))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if len(i.BrokerAddrs()) != 2 {
		t.Fatalf("broker table %v", i.BrokerAddrs())
	}
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b1", b1.Addr()}))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if len(i.BrokerAddrs()) != 2 {
		t.Fatal("cleaned before the tick")
	}
	fc.Advance(30 * time.Second)
	waitFor(t, "b2 cleaned", func() bool { return len(i.BrokerAddrs()) == 1 })
	if i.FindBrokerAddrInPublish("b2") != "" || i.FindBrokerAddrInPublish("b1") != b1.Addr() {
		t.Errorf("broker table %v", i.BrokerAddrs())
	}
}

// A clean-up running while a changed route is applied keeps the route's new brokers: the
// route is applied once, so a broker removed then would be missing until it changes again.
func TestOfflineBrokerCleanUpKeepsTheBrokersOfARouteBeingApplied(t *testing.T) {
	i, err := New(testConfig(clock.NewFake(epoch), "127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the heartbeat tick's clean-up, continually
		defer wg.Done()
		for !stop.Load() {
			i.cleanOfflineBrokers()
		}
	}()
	lost := 0
	const n = 2000
	for k := range n {
		topic, name := fmt.Sprintf("T%d", k), fmt.Sprintf("broker-%d", k)
		route := &remoting.TopicRouteData{
			Brokers: []remoting.BrokerData{{BrokerName: name, Cluster: "c", Addrs: map[int64]string{0: fmt.Sprintf("10.1.%d.%d:10911", k/250, k%250)}}},
			Queues:  []remoting.QueueData{{BrokerName: name, Perm: 6, ReadQueueNums: 4, WriteQueueNums: 4}},
		}
		i.applyRoute(topic, route, routeOrigin{})
		if i.FindBrokerAddrInPublish(name) == "" {
			lost++
		}
	}
	stop.Store(true)
	wg.Wait()
	if lost > 0 {
		t.Errorf("%d of %d brokers of newly applied routes were removed as offline", lost, n)
	}
}

// A topic routed through TBW102 (not created yet) keeps following TBW102 at each refresh,
// until the NameServer knows the topic itself.
func TestRefreshFollowsTheDefaultTopicUntilTheTopicExists(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	ns.SetRoute("TBW102", remotingtest.Route(8, [2]string{"b1", "127.0.0.1:1"}))
	fc := clock.NewFake(epoch)
	i := startInstance(t, testConfig(fc, ns.Addr()))
	p := newFakeProducer("pg", "New")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRouteFromDefault(bg(t), "New", "TBW102", 4); err != nil {
		t.Fatal(err)
	}

	ns.SetRoute("TBW102", remotingtest.Route(8, [2]string{"b1", "127.0.0.1:1"}, [2]string{"b2", "127.0.0.1:2"}))
	fc.Advance(30 * time.Second)
	waitFor(t, "New to follow TBW102's new broker", func() bool { return len(i.PublishInfo("New").Queues) == 8 })
	if got := p.info("New"); len(got.Queues) != 8 || got.Queues[4].BrokerName != "b2" {
		t.Errorf("producer has %v", got.Queues)
	}

	ns.SetRoute("New", remotingtest.Route(2, [2]string{"b1", "127.0.0.1:1"}))
	fc.Advance(30 * time.Second)
	waitFor(t, "New's own route", func() bool { return len(i.PublishInfo("New").Queues) == 2 })
	lookups := func(topic string) int {
		n := 0
		for _, r := range ns.Requests(remoting.GetRouteInfoByTopic) {
			if r.Ext.Get("topic") == topic {
				n++
			}
		}
		return n
	}
	before, own := lookups("TBW102"), lookups("New")
	fc.Advance(30 * time.Second)
	// At least one more: a tick kept while the refresh ran (its first round, started with
	// the instance, may run late on a busy machine) can look New up again just before this
	// tick's round, both between two looks of waitFor.
	waitFor(t, "another refresh", func() bool { return lookups("New") > own })
	if lookups("TBW102") != before {
		t.Error("TBW102 still looked up once the topic exists")
	}
}

// A broker that moves to another address under its name (a pod restarted with a new IP)
// leaves nothing behind at the next clean-up: its old address's version is forgotten and
// its connection closed, as for a broker gone from the routes. Each move left one of
// each before, for ever.
func TestBrokerMovedToAnotherAddressLeavesNothingBehind(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	old, cur := remotingtest.NewBroker(t), remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", old.Addr()}))
	fc := clock.NewFake(epoch)
	i := startInstance(t, testConfig(fc, ns.Addr()))
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(bg(t)); err != nil {
		t.Fatal(err)
	}
	if i.BrokerVersion("b", old.Addr()) == 0 {
		t.Fatal("no version recorded for the old address")
	}
	conns := i.client.Load().Stats().Conns

	// broker b moves to another address; the old one is in no route any more
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", cur.Addr()}))
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	// The heartbeat tick: cleanOfflineBrokers, then a heartbeat. The NameServer poll's
	// tick, at the same time, heartbeats too, maybe before the clean-up; and the first
	// heartbeat round of the instance's start, under way on its own goroutine, may record
	// the old address's version after the clean-up, which the next one then drops. So
	// the checks wait, over two ticks at most, rather than look once.
	fc.Advance(30 * time.Second)
	waitFor(t, "heartbeat to the new address", func() bool { return cur.Count(remoting.Heartbeat) > 0 })
	waitFor(t, "version of the new address", func() bool { return i.BrokerVersion("b", cur.Addr()) != 0 })

	entries := func() int {
		i.brokers.vmu.Lock()
		defer i.brokers.vmu.Unlock()
		return len(i.brokers.versions["b"])
	}
	forgotten := func() bool { return i.BrokerVersion("b", old.Addr()) == 0 && entries() == 1 }
	for deadline := time.Now().Add(2 * time.Second); !forgotten() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if !forgotten() {
		fc.Advance(30 * time.Second) // the next clean-up
	}
	waitFor(t, "the dropped address's version forgotten", forgotten)
	// before the move: the NameServer and old; after it: the NameServer and cur
	waitFor(t, "the connection to the dropped address closed", func() bool {
		return i.client.Load().Stats().Conns <= conns
	})
}

// A producer group unregistered while a heartbeat round that carries it is under way is
// unregistered once the round is done, as Java's unregisterClientWithLock does (and the
// consumer groups here): a broker that applied that heartbeat after the UNREGISTER_CLIENT
// (a 4.9.4 broker handles both on a pool of threads) would list this client in the group
// again, and send it the group's transaction checks, until it expired it two minutes later.
func TestUnregisteringAProducerWaitsForTheHeartbeatUnderWay(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewServer(t)
	var mu sync.Mutex
	producers := map[string]bool{} // the broker's producer table, for this client
	held, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	broker.HandleConn(remoting.Heartbeat, func(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
		var hb remoting.HeartbeatData
		if err := hb.Decode(req.Body); err != nil {
			t.Error(err)
		}
		go func() { // a heartbeat thread of the broker, slow to get to this one
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
			mu.Lock()
			for _, p := range hb.Producers {
				producers[p.GroupName] = true
			}
			mu.Unlock()
			_ = c.Respond(req, remoting.NewResponse(req, remoting.Success, ""))
		}()
		return nil
	})
	unregistered := make(chan struct{}, 1)
	broker.Handle(remoting.UnregisterClient, func(req *remoting.Command) *remoting.Command {
		mu.Lock()
		delete(producers, req.Ext.Get("producerGroup"))
		mu.Unlock()
		select {
		case unregistered <- struct{}{}:
		default:
		}
		return remoting.NewResponse(req, remoting.Success, "")
	})
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", broker.Addr()}))
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	<-held // a heartbeat carrying pg is under way
	done := make(chan error, 1)
	go func() { done <- i.UnregisterProducer(bg(t), "pg") }()
	select { // the heartbeat is released once UNREGISTER_CLIENT came, or after a while without
	case <-unregistered:
	case <-time.After(200 * time.Millisecond):
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(bg(t)); err != nil { // after the round under way, if any
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if producers["pg"] {
		t.Error("the broker lists the client in producer group pg after UnregisterProducer")
	}
}
