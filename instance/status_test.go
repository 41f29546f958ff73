package instance

import (
	"slices"
	"testing"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/remoting"
)

// A snapshot lists what the instance learnt: brokers with the version of their heartbeat
// answers, routes, groups; the running info is the one a broker gets.
func TestSnapshotAndRunningInfo(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b := remotingtest.NewBroker(t)
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"broker-a", b.Addr()}))
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	if err := i.RegisterProducer(newFakeProducer("pg", "T")); err != nil {
		t.Fatal(err)
	}
	cons := newFakeConsumer("cg", "T")
	cons.set(func(c *fakeConsumer) {
		c.running = &remoting.ConsumerRunningInfo{Properties: map[string]string{"consumeThreadMin": "20"}}
	})
	if err := i.RegisterConsumer(cons); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(bg(t), "T"); err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(bg(t)); err != nil {
		t.Fatal(err)
	}

	s := i.Snapshot()
	if s.ClientID != "10.0.0.1@test" || s.State != Running || !slices.Equal(s.NameServers, []string{ns.Addr()}) {
		t.Errorf("identity: %+v", s)
	}
	if len(s.Brokers) != 1 || s.Brokers[0] != (BrokerInfo{Name: "broker-a", ID: 0, Addr: b.Addr(), Version: remoting.Version494}) {
		t.Errorf("brokers %+v", s.Brokers)
	}
	if len(s.Routes) != 1 || s.Routes[0].Topic != "T" || s.Routes[0].PublishQueues != 4 || s.Routes[0].SubscribeQueues != 4 {
		t.Errorf("routes %+v", s.Routes)
	}
	if !slices.Equal(s.ProducerGroups, []string{"pg"}) || !slices.Equal(s.ConsumerGroups, []string{"cg"}) {
		t.Errorf("groups %v %v", s.ProducerGroups, s.ConsumerGroups)
	}

	info := i.ConsumerRunningInfo("cg")
	if info == nil {
		t.Fatal("no running info")
	}
	for k, want := range map[string]string{"consumeThreadMin": "20", remoting.PropNameServerAddr: ns.Addr() + ";",
		remoting.PropConsumeType: string(remoting.ConsumePassively), remoting.PropClientVersion: "V4_9_4"} {
		if got := info.Properties[k]; got != want {
			t.Errorf("property %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := cons.RunningInfo().Properties[remoting.PropNameServerAddr]; ok {
		t.Error("the consumer's own running info was modified")
	}
	if i.ConsumerRunningInfo("nobody") != nil {
		t.Error("running info of an unregistered group")
	}
}
