package broker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// consumerList asks for a group's client ids.
func (tb *testBroker) consumerList(group string) (*remoting.Command, []string) {
	tb.t.Helper()
	resp := tb.invoke(request(remoting.GetConsumerListByGroup, &remoting.ConsumerListRequest{ConsumerGroup: group}))
	var body remoting.ConsumerListBody
	if resp.Code == 0 {
		if err := body.Decode(resp.Body); err != nil {
			tb.t.Fatal(err)
		}
	}
	return resp, body.ConsumerIDs
}

func TestHeartbeatRegistersConsumersAndTheirRetryTopic(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("C", 4)
	resp, _ := tb.consumerList("c_cg")
	if resp.Code != int32(remoting.SystemError) || resp.Remark != "no consumer for this group, c_cg" || !resp.KeepEmptyExt {
		t.Errorf("list of an unknown group: %d %q (recording 244)", resp.Code, resp.Remark)
	}
	a, b := newClient(t), newClient(t)
	heartbeat(t, a, tb.addr, "client-a", pushConsumer(t, "c_cg", "C", "*"))
	heartbeat(t, b, tb.addr, "client-b", pushConsumer(t, "c_cg", "C", "*"))
	if _, ids := tb.consumerList("c_cg"); !slices.Equal(ids, []string{"client-a", "client-b"}) {
		t.Errorf("consumer list %v", ids)
	}
	// createTopicInSendMessageBackMethod: one queue, read and write.
	if tc := tb.b.topics.get("%RETRY%c_cg"); tc == nil || tc.ReadQueueNums != 1 || tc.WriteQueueNums != 1 || tc.Perm != permRW {
		t.Errorf("retry topic %+v", tc)
	}
	// GET_CONSUMER_CONNECTION_LIST
	conn := tb.invoke(request(remoting.GetConsumerConnectionList, &remoting.ConsumerConnectionListRequest{ConsumerGroup: "c_cg"}))
	var cc remoting.ConsumerConnection
	if err := cc.Decode(conn.Body); err != nil || len(cc.Connections) != 2 || cc.ConsumeType != remoting.ConsumePassively ||
		cc.Subscriptions["C"].SubString != "*" || cc.Connections[0].ClientID != "client-a" || cc.Connections[0].Language != "JAVA" {
		t.Errorf("connection list: %v %+v", err, cc)
	}
	none := tb.invoke(request(remoting.GetConsumerConnectionList, &remoting.ConsumerConnectionListRequest{ConsumerGroup: "nobody"}))
	if none.Code != int32(remoting.ConsumerNotOnline) || none.Remark != "the consumer group[nobody] not online" {
		t.Errorf("connection list of nobody: %d %q", none.Code, none.Remark)
	}
}

func TestConsumersAreNotifiedWhenTheirGroupChanges(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("C", 4)
	tb.createTopic("D", 4)
	a, b := newClient(t), newClient(t)
	na, nb := watchNotifications(a), watchNotifications(b)

	// A new client: its group changed, everyone in it is told (itself included).
	heartbeat(t, a, tb.addr, "client-a", pushConsumer(t, "n_cg", "C", "*"))
	if g := na.next(t, 5*time.Second); g != "n_cg" {
		t.Fatalf("notified %q", g)
	}
	// A heartbeat that changes nothing notifies nobody.
	heartbeat(t, a, tb.addr, "client-a", pushConsumer(t, "n_cg", "C", "*"))
	// A second consumer joins: the first learns of it.
	heartbeat(t, b, tb.addr, "client-b", pushConsumer(t, "n_cg", "C", "*"))
	na.next(t, 5*time.Second)
	nb.next(t, 5*time.Second)
	na.none(t)
	// A new topic in a subscription is a change too.
	sub := pushConsumer(t, "n_cg", "C", "*")
	d := pushConsumer(t, "n_cg", "D", "*")
	sub.Subscriptions = append(sub.Subscriptions, d.Subscriptions...)
	heartbeat(t, b, tb.addr, "client-b", sub)
	na.next(t, 5*time.Second)
	nb.next(t, 5*time.Second)

	// UNREGISTER_CLIENT: the others are told.
	resp := invokeWith(t, b, tb.addr, request(remoting.UnregisterClient,
		&remoting.UnregisterClientRequest{ClientID: "client-b", ConsumerGroup: "n_cg"}))
	if resp.Code != 0 || !resp.KeepEmptyExt {
		t.Fatalf("unregister: %d %q", resp.Code, resp.Remark)
	}
	na.next(t, 5*time.Second)
	if _, ids := tb.consumerList("n_cg"); !slices.Equal(ids, []string{"client-a"}) {
		t.Errorf("after unregister: %v", ids)
	}

	// A client whose connection closes leaves; the others are told.
	heartbeat(t, b, tb.addr, "client-b", pushConsumer(t, "n_cg", "C", "*"))
	na.next(t, 5*time.Second)
	nb.next(t, 5*time.Second)
	b.CloseConn(tb.addr)
	na.next(t, 5*time.Second)
	waitFor(t, "client-b gone", 5*time.Second, func() bool {
		_, ids := tb.consumerList("n_cg")
		return slices.Equal(ids, []string{"client-a"})
	})
	na.none(t)
}

func TestSilentClientsExpireAfterTheChannelExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tb := startBroker(t, func(c *Config) { c.Clock = clock })
	tb.createTopic("C", 1)
	a, b := newClient(t), newClient(t)
	heartbeat(t, a, tb.addr, "client-a", pushConsumer(t, "x_cg", "C", "*"))
	advance(100 * time.Second)
	heartbeat(t, b, tb.addr, "client-b", pushConsumer(t, "x_cg", "C", "*"))
	advance(30 * time.Second) // a is 130 s silent, b 30 s
	ca, err := a.Conn(context.Background(), tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	tb.b.scanExpiredClients()
	if _, ids := tb.consumerList("x_cg"); !slices.Equal(ids, []string{"client-b"}) {
		t.Errorf("after the scan: %v", ids)
	}
	select {
	case <-ca.Done(): // Java closes the expired channel
	case <-time.After(5 * time.Second):
		t.Error("the expired client's connection is still open")
	}
}

func TestOrderlyQueueLocksExpireAndBelongToOneClient(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tb := startBroker(t, func(c *Config) { c.Clock = clock })
	mq := func(q int32) remoting.MessageQueue {
		return remoting.MessageQueue{Topic: "O", BrokerName: "broker-a", QueueID: q}
	}
	lock := func(client string, qs ...int32) []int32 {
		t.Helper()
		body := remoting.LockBatchRequestBody{ClientID: client, ConsumerGroup: "o_cg"}
		for _, q := range qs {
			body.MQSet = append(body.MQSet, mq(q))
		}
		req := &remoting.Command{Code: int32(remoting.LockBatchMQ), Version: remoting.Version494, Body: body.Encode()}
		resp := tb.invoke(req)
		var out remoting.LockBatchResponseBody
		if err := out.Decode(resp.Body); err != nil || resp.Code != 0 {
			t.Fatalf("lock: %d %v", resp.Code, err)
		}
		var got []int32
		for _, m := range out.LockOKMQSet {
			got = append(got, m.QueueID)
		}
		slices.Sort(got) // Java answers in its HashSet's order
		return got
	}
	unlock := func(client string, qs ...int32) {
		t.Helper()
		body := remoting.LockBatchRequestBody{ClientID: client, ConsumerGroup: "o_cg"}
		for _, q := range qs {
			body.MQSet = append(body.MQSet, mq(q))
		}
		if resp := tb.invoke(&remoting.Command{Code: int32(remoting.UnlockBatchMQ), Body: body.Encode()}); resp.Code != 0 {
			t.Fatalf("unlock: %d", resp.Code)
		}
	}
	for _, step := range []struct {
		name string
		do   func() []int32
		want []int32
	}{
		{"free queues are locked", func() []int32 { return lock("a", 0, 1) }, []int32{0, 1}},
		{"a queue locked by another client is refused", func() []int32 { return lock("b", 1, 2) }, []int32{2}},
		{"the holder renews its locks", func() []int32 { advance(40 * time.Second); return lock("a", 0, 1) }, []int32{0, 1}},
		{"a lock renewed within the expiry holds", func() []int32 { advance(40 * time.Second); return lock("b", 0, 1) }, nil},
		{"an expired lock goes to whoever asks", func() []int32 { advance(61 * time.Second); return lock("b", 0) }, []int32{0}},
		{"unlocking another's queue does nothing", func() []int32 { unlock("a", 0); return lock("a", 0) }, nil},
		{"an unlocked queue is free", func() []int32 { unlock("b", 0); return lock("a", 0) }, []int32{0}},
	} {
		if got := step.do(); !slices.Equal(got, step.want) {
			t.Errorf("%s: locked %v, want %v", step.name, got, step.want)
		}
	}
}

func TestConsumerRunningInfoIsForwardedAndTheAnswerRelayed(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("C", 1)
	consumer := newClient(t)
	consumer.Handle(remoting.GetConsumerRunningInfo, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		// The Java client answers without setting a code; the remark stays the default.
		resp := &remoting.Command{Code: 0, Remark: "not set any response code", Body: []byte(`{"jstack":"` + req.Ext.Get("clientId") + `"}`)}
		return resp
	})
	heartbeat(t, consumer, tb.addr, "client-r", pushConsumer(t, "r_cg", "C", "*"))
	got := tb.invoke(request(remoting.GetConsumerRunningInfo, &remoting.ConsumerRunningInfoRequest{ConsumerGroup: "r_cg", ClientID: "client-r"}))
	if got.Code != 0 || got.Remark != "not set any response code" || string(got.Body) != `{"jstack":"client-r"}` {
		t.Errorf("relayed answer: %d %q %s", got.Code, got.Remark, got.Body)
	}
	missing := tb.invoke(request(remoting.GetConsumerRunningInfo, &remoting.ConsumerRunningInfoRequest{ConsumerGroup: "r_cg", ClientID: "nobody"}))
	if missing.Code != int32(remoting.SystemError) || missing.Remark != "The Consumer <r_cg> <nobody> not online" {
		t.Errorf("unknown client: %d %q", missing.Code, missing.Remark)
	}
}

func TestResetOffsetIsSentToEveryClientOfTheGroup(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("C", 2)
	for i := 0; i < 3; i++ {
		tb.send("C", 0, "m", "")
	}
	consumer := newClient(t)
	got := make(chan remoting.ResetOffsetBody, 1)
	consumer.Handle(remoting.ResetConsumerClientOffset, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		var body remoting.ResetOffsetBody
		if err := body.Decode(req.Body); err != nil {
			t.Error(err)
		}
		got <- body
		return nil
	})
	heartbeat(t, consumer, tb.addr, "client-z", pushConsumer(t, "z_cg", "C", "*"))
	reset := request(remoting.InvokeBrokerToResetOffset, &remoting.ResetOffsetRequest{Topic: "C", Group: "z_cg", Timestamp: -1, IsForce: true})
	if resp := tb.invoke(reset); resp.Code != int32(remoting.SystemError) || resp.Remark != "THe consumer group <z_cg> not exist" {
		t.Fatalf("reset of a group without offsets: %d %q", resp.Code, resp.Remark)
	}
	for q := range int32(2) {
		tb.b.offsets.commit("z_cg", "C", q, 0)
	}
	if resp := tb.invoke(reset); resp.Code != 0 {
		t.Fatalf("reset: %d %q", resp.Code, resp.Remark)
	}
	select {
	case body := <-got:
		q0 := remoting.MessageQueue{Topic: "C", BrokerName: "broker-a", QueueID: 0}
		if body.OffsetTable[q0] != 3 || len(body.OffsetTable) != 2 {
			t.Errorf("reset offsets %v", body.OffsetTable)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not told to reset")
	}
}

func TestHeartbeatsWithNullsFailWhereJavasDo(t *testing.T) {
	// ClientManageProcessor.heartBeat dereferences what fastjson leaves null: a set sent
	// as null, a null element, a group, topic or client id left out. What it registered
	// before the NullPointerException stays. Remarks as the reference 4.9.4 broker's (on
	// a JVM that has not yet elided the messages of hot NPEs).
	npe := func(s string) string { return "java.lang.NullPointerException: " + s }
	for _, tc := range []struct {
		name, body, remark string
		consumersOf        string // a group whose client list must hold "c1" afterwards
		producersOf        string // a producer group that must be registered afterwards
	}{
		{"consumer set null", `{"clientID":"c1","consumerDataSet":null,"producerDataSet":[]}`,
			npe(`Cannot invoke "java.util.Set.iterator()" because the return value of "org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getConsumerDataSet()" is null, ` +
				"org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:85)"), "", ""},
		{"consumer null", `{"clientID":"c1","consumerDataSet":[null]}`,
			npe(`Cannot invoke "org.apache.rocketmq.common.protocol.heartbeat.ConsumerData.getGroupName()" because "data" is null, ` +
				"org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:88)"), "", ""},
		{"consumer without a group", `{"clientID":"c1","consumerDataSet":[{"subscriptionDataSet":[]}]}`, npeNullKeyGet, "", ""},
		{"subscription set null", `{"clientID":"c1","consumerDataSet":[{"groupName":"g1","subscriptionDataSet":null}]}`,
			npe(`Cannot invoke "java.util.Set.iterator()" because "subList" is null, ` +
				"org.apache.rocketmq.broker.client.ConsumerGroupInfo.updateSubscription(ConsumerGroupInfo.java:152)"), "g1", ""},
		{"subscription without a topic", `{"clientID":"c1","consumerDataSet":[{"groupName":"g2","subscriptionDataSet":[{"subString":"*"}]}]}`,
			npeNullKeyGet, "g2", ""},
		{"producer set null", `{"clientID":"c1","consumerDataSet":[{"groupName":"g3"}],"producerDataSet":null}`,
			npe(`Cannot invoke "java.util.Set.iterator()" because the return value of "org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getProducerDataSet()" is null, ` +
				"org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:121)"), "g3", ""},
		{"producer without a group", `{"clientID":"c1","producerDataSet":[{"groupName":"p1"},{}]}`, npeNullKeyGet, "", "p1"},
		{"producer of a client without an id", `{"producerDataSet":[{"groupName":"p2"}]}`, npeNullKeyPut, "", "p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, nil)
			resp := tb.invoke(&remoting.Command{Code: int32(remoting.Heartbeat), Version: remoting.Version494, Body: []byte(tc.body)})
			if resp.Code != int32(remoting.SystemError) || resp.Remark != tc.remark {
				t.Errorf("heartbeat: %d %q, want SYSTEM_ERROR %q", resp.Code, resp.Remark, tc.remark)
			}
			if tc.consumersOf != "" {
				if ids := tb.b.consumers.clientIDs(tc.consumersOf); len(ids) != 1 || ids[0] != "c1" {
					t.Errorf("clients of %s: %v, want [c1]", tc.consumersOf, ids)
				}
			}
			if tc.producersOf != "" {
				if _, ok := tb.b.producers.connections(tc.producersOf); !ok {
					t.Errorf("producer group %s not registered", tc.producersOf)
				}
			}
		})
	}
}
