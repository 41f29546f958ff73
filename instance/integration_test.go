package instance

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Against a real Apache RocketMQ (4.9.x or 5.x): ROCKETMQ_NAMESRV=127.0.0.1:9876. Every call
// the producer and consumer will make, in both header serializations, plus the broker
// relaying admin requests back to this client's processor.
func TestAgainstARealBroker(t *testing.T) {
	namesrv := os.Getenv("ROCKETMQ_NAMESRV")
	if namesrv == "" {
		t.Skip("ROCKETMQ_NAMESRV not set: no RocketMQ to test against")
	}
	for _, ser := range []string{"ROCKETMQ", "JSON"} {
		t.Run(ser, func(t *testing.T) { realBrokerScenario(t, namesrv, ser, false) })
	}
}

// realBrokerScenario runs the scenario; dev skips (with a log) what the dev broker answers
// REQUEST_CODE_NOT_SUPPORTED to, as it does for requests it does not implement yet.
func realBrokerScenario(t *testing.T, namesrv, ser string, dev bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := ser + strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, pg, cg := "mqgate_it_"+suffix, "mqgate_it_pg_"+suffix, "mqgate_it_cg_"+suffix
	inst, err := New(Config{NameServers: []string{namesrv}, InstanceName: "it-" + suffix, Serialize: ser, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	prod, cons := newFakeProducer(pg, topic), newFakeConsumer(cg, topic)
	cons.set(func(c *fakeConsumer) {
		c.running = &remoting.ConsumerRunningInfo{Properties: map[string]string{"consumeThreadMin": "20"}, Subscriptions: c.data.Subscriptions}
		c.direct = &remoting.ConsumeMessageDirectlyResult{AutoCommit: true, ConsumeResult: remoting.CRSuccess}
	})
	if err := inst.RegisterProducer(prod); err != nil {
		t.Fatal(err)
	}
	if err := inst.RegisterConsumer(cons); err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, inst)

	// The cluster, and a topic of our own on every master.
	cluster, err := inst.GetClusterInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bd := range cluster.Brokers {
		ct := &remoting.CreateTopicRequest{Topic: topic, DefaultTopic: "TBW102", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6, TopicFilterType: "SINGLE_TAG"}
		if err := inst.CreateTopic(ctx, bd.Addrs[0], ct); err != nil {
			t.Fatalf("CreateTopic on %s: %v", bd.BrokerName, err)
		}
	}
	waitFor(t, "the new topic's route", func() bool { _, err := inst.UpdateTopicRoute(ctx, topic); return err == nil })
	if info := prod.info(topic); !info.OK() {
		t.Fatalf("the producer got no publish info: %+v", info)
	}
	if got := cons.subscribeInfo(topic); len(got) == 0 {
		t.Fatal("the consumer got no subscribe info")
	}
	if err := inst.SendHeartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	q := inst.PublishInfo(topic).Queues[0]
	addr := inst.FindBrokerAddrInPublish(q.BrokerName)
	if v := inst.BrokerVersion(q.BrokerName, addr); v <= 0 {
		t.Errorf("broker version %d after a heartbeat", v)
	}

	// Sends: sync, async, oneway, batch.
	header := func(id string) *remoting.SendRequest {
		var p message.Properties
		p.Set(message.PropertyUniqKey, id)
		p.Set(message.PropertyTags, "TagA")
		p.Set(message.PropertyWaitStoreMsgOK, "true")
		return &remoting.SendRequest{ProducerGroup: pg, Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
			QueueID: q.QueueID, BornTimestamp: time.Now().UnixMilli(), Properties: p.Encode()}
	}
	r, err := inst.SendMessage(ctx, addr, q.BrokerName, header("MQGATE-IT-1"), []byte("hello 1"), "MQGATE-IT-1")
	if err != nil || r.Status != SendOK || r.Queue != q || r.MsgID != "MQGATE-IT-1" || len(r.OffsetMsgID) != 32 {
		t.Fatalf("SendMessage = %+v, %v", r, err)
	}
	done := make(chan error, 1)
	if err := inst.SendMessageAsync(ctx, addr, q.BrokerName, header("MQGATE-IT-2"), []byte("hello 2"), "MQGATE-IT-2",
		func(r SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("async send: %v", err)
	}
	if err := inst.SendMessageOneway(ctx, addr, header("MQGATE-IT-3"), []byte("hello 3")); err != nil {
		t.Fatal(err)
	}
	batch := []message.Message{{Topic: topic, Body: []byte("b1")}, {Topic: topic, Body: []byte("b2")}}
	for k := range batch {
		batch[k].SetUniqKey("MQGATE-IT-B" + strconv.Itoa(k))
		batch[k].SetWaitStoreMsgOK(true)
	}
	body, err := message.AppendBatch(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	bh := header("")
	bh.Properties, bh.Batch = "", true
	br, err := inst.SendMessage(ctx, addr, q.BrokerName, bh, body, "MQGATE-IT-B0,MQGATE-IT-B1")
	if err != nil || br.Status != SendOK {
		t.Fatalf("batch send = %+v, %v", br, err)
	}

	// Offsets and pulls.
	waitFor(t, "the oneway message stored", func() bool {
		max, err := inst.GetMaxOffset(ctx, addr, topic, q.QueueID)
		return err == nil && max >= r.QueueOffset+5
	})
	if min, err := inst.GetMinOffset(ctx, addr, topic, q.QueueID); err != nil || min != 0 {
		t.Errorf("GetMinOffset = %d, %v", min, err)
	}
	if off, err := inst.SearchOffset(ctx, addr, topic, q.QueueID, time.Now().Add(-time.Hour).UnixMilli()); err != nil || off != 0 {
		t.Errorf("SearchOffset an hour ago = %d, %v", off, err)
	}
	pull := &remoting.PullRequest{ConsumerGroup: cg, Topic: topic, QueueID: q.QueueID, QueueOffset: r.QueueOffset, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSubscription, Subscription: "*", ExpressionType: "TAG"}
	pr, err := inst.PullMessage(ctx, addr, pull)
	if err != nil || pr.Status != PullFound {
		t.Fatalf("PullMessage = %+v, %v", pr, err)
	}
	msgs, err := message.DecodeStored(pr.Body)
	if err != nil || len(msgs) < 5 || string(msgs[0].Body) != "hello 1" || msgs[0].UniqKey() != "MQGATE-IT-1" {
		t.Fatalf("pulled %d messages, %v", len(msgs), err)
	}
	pull.QueueOffset = pr.MaxOffset // not suspended: a 4.9.4 broker checks held pulls every 5 s
	if pr, err := inst.PullMessage(ctx, addr, pull); err != nil || pr.Status != PullNoNewMsg {
		t.Errorf("pull at the max offset = %+v, %v", pr, err)
	}
	pull.QueueOffset = pr.MaxOffset + 100
	if pr, err := inst.PullMessage(ctx, addr, pull); err != nil || pr.Status != PullOffsetIllegal {
		t.Errorf("pull beyond the max offset = %+v, %v", pr, err)
	}
	asyncPull := make(chan PullResult, 1)
	pull.QueueOffset, pull.SysFlag = r.QueueOffset, remoting.PullFlagSubscription
	if err := inst.PullMessageAsync(ctx, addr, pull, func(pr PullResult, err error) {
		if err != nil {
			t.Error(err)
		}
		asyncPull <- pr
	}); err != nil {
		t.Fatal(err)
	}
	if pr := <-asyncPull; pr.Status != PullFound {
		t.Errorf("async pull %+v", pr)
	}

	qo := &remoting.QueryConsumerOffsetRequest{ConsumerGroup: cg, Topic: topic, QueueID: q.QueueID}
	// A new group: QUERY_NOT_FOUND, or offset 0 when the queue starts at 0 in memory
	// (ConsumerManageProcessor.queryConsumerOffset).
	if off, err := inst.QueryConsumerOffset(ctx, addr, qo); !errors.Is(err, ErrOffsetNotFound) && (err != nil || off != 0) {
		t.Errorf("offset of a new group = %d, %v, want ErrOffsetNotFound or 0", off, err)
	}
	uo := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: cg, Topic: topic, QueueID: q.QueueID, CommitOffset: 2}
	if err := inst.UpdateConsumerOffset(ctx, addr, uo); err != nil {
		t.Fatal(err)
	}
	if off, err := inst.QueryConsumerOffset(ctx, addr, qo); err != nil || off != 2 {
		t.Errorf("offset after update = %d, %v", off, err)
	}
	uo.CommitOffset = 3
	if err := inst.UpdateConsumerOffsetOneway(ctx, addr, uo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the oneway offset update", func() bool { off, _ := inst.QueryConsumerOffset(ctx, addr, qo); return off == 3 })

	// The group as the broker sees it.
	ids, err := inst.GetConsumerIDList(ctx, addr, cg)
	if err != nil || !slices.Contains(ids, inst.ClientID()) {
		t.Errorf("GetConsumerIDList = %v, %v", ids, err)
	}
	if ids, err := inst.FindConsumerIDList(ctx, topic, cg); err != nil || !slices.Contains(ids, inst.ClientID()) {
		t.Errorf("FindConsumerIDList = %v, %v", ids, err)
	}
	cc, err := inst.GetConsumerConnectionList(ctx, addr, cg)
	if err != nil || len(cc.Connections) != 1 || cc.Connections[0].Language != "GO" || cc.Connections[0].Version != remoting.Version494 {
		t.Errorf("GetConsumerConnectionList = %+v, %v", cc, err)
	}
	lock := &remoting.LockBatchRequestBody{ClientID: inst.ClientID(), ConsumerGroup: cg, MQSet: []MessageQueue{q}}
	if locked, err := inst.LockBatchMQ(ctx, addr, lock); err != nil || !slices.Equal(locked, []MessageQueue{q}) {
		t.Errorf("LockBatchMQ = %v, %v", locked, err)
	}
	if err := inst.UnlockBatchMQ(ctx, addr, lock, false); err != nil {
		t.Error(err)
	}

	// The broker relays admin requests to this client: the processor answers them.
	ri, err := inst.GetConsumerRunningInfo(ctx, addr, cg, inst.ClientID(), true)
	if err != nil || ri.Properties["consumeThreadMin"] != "20" || ri.Properties[remoting.PropClientVersion] != "V4_9_4" || ri.Jstack == "" {
		t.Errorf("GetConsumerRunningInfo through the broker = %+v, %v", ri, err)
	}
	direct, err := inst.ConsumeMessageDirectly(ctx, addr, cg, inst.ClientID(), r.OffsetMsgID)
	if err != nil || direct.ConsumeResult != remoting.CRSuccess {
		t.Errorf("ConsumeMessageDirectly through the broker = %+v, %v", direct, err)
	} else if msg := <-cons.directs; string(msg.Body) != "hello 1" {
		t.Errorf("the consumer got %q", msg.Body)
	}
	_, commitLogOffset, err := message.ParseOffsetMsgID(r.OffsetMsgID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := inst.ViewMessage(ctx, addr, commitLogOffset); err != nil || string(m.Body) != "hello 1" {
		t.Errorf("ViewMessage = %+v, %v", m, err)
	}
	back := &remoting.ConsumerSendMsgBackRequest{Offset: commitLogOffset, Group: cg, DelayLevel: 1, OriginMsgID: "MQGATE-IT-1",
		OriginTopic: topic, MaxReconsumeTimes: remoting.Some[int32](16)}
	if err := inst.ConsumerSendMessageBack(ctx, addr, back); dev && errors.Is(err, ErrRequestNotSupported) {
		t.Logf("the dev broker does not implement CONSUMER_SEND_MSG_BACK yet: %v", err)
	} else if err != nil {
		t.Errorf("ConsumerSendMessageBack: %v", err)
	}

	// Unregistering a group removes it from the broker.
	if err := inst.UnregisterConsumer(ctx, cg); err != nil {
		t.Fatal(err)
	}
	if ids, err := inst.GetConsumerIDList(ctx, addr, cg); err == nil && slices.Contains(ids, inst.ClientID()) {
		t.Errorf("still a consumer after UnregisterConsumer: %v", ids)
	}
	if _, err := inst.GetRouteInfo(ctx, "mqgate_no_such_topic"); !errors.Is(err, ErrTopicNotExist) {
		t.Errorf("route of an unknown topic = %v", err)
	}
}
