package instance

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func pullOffsets(next, min, max, suggest int64) []remoting.Field {
	f := func(k string, v int64) remoting.Field { return remoting.Field{Key: k, Value: strconv.FormatInt(v, 10)} }
	return []remoting.Field{f("suggestWhichBrokerId", suggest), f("nextBeginOffset", next), f("minOffset", min), f("maxOffset", max)}
}

func TestPullMessageMapsResponsesAsJava(t *testing.T) {
	broker := remotingtest.NewServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	h := &remoting.PullRequest{ConsumerGroup: "cg", Topic: "T", QueueID: 0, QueueOffset: 5, MaxMsgNums: 32}
	tests := []struct {
		name   string
		code   remoting.ResponseCode
		body   string
		want   PullStatus
		bodyOK bool
	}{
		{"SUCCESS is FOUND with the body", remoting.Success, "messages", PullFound, true},
		{"PULL_NOT_FOUND is NO_NEW_MSG", remoting.PullNotFound, "", PullNoNewMsg, false},
		{"PULL_RETRY_IMMEDIATELY is NO_MATCHED_MSG", remoting.PullRetryImmediately, "", PullNoMatchedMsg, false},
		{"PULL_OFFSET_MOVED is OFFSET_ILLEGAL", remoting.PullOffsetMoved, "", PullOffsetIllegal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker.Handle(remoting.PullMessage, func(req *remoting.Command) *remoting.Command {
				resp := remoting.NewResponse(req, tt.code, "")
				resp.Ext = pullOffsets(9, 1, 10, 1)
				if tt.body != "" {
					resp.Body = []byte(tt.body)
				}
				return resp
			})
			want := PullResult{Status: tt.want, NextBeginOffset: 9, MinOffset: 1, MaxOffset: 10, SuggestWhichBrokerID: 1}
			if tt.bodyOK {
				want.Body = []byte(tt.body)
			}
			check := func(r PullResult, err error) {
				t.Helper()
				if err != nil || r.Status != want.Status || r.NextBeginOffset != 9 || r.MinOffset != 1 || r.MaxOffset != 10 ||
					r.SuggestWhichBrokerID != 1 || string(r.Body) != string(want.Body) {
					t.Errorf("got %+v, %v\nwant %+v", r, err, want)
				}
			}
			check(i.PullMessage(bg(t), broker.Addr(), h))
			done := make(chan struct{})
			if err := i.PullMessageAsync(bg(t), broker.Addr(), h, func(r PullResult, err error) {
				check(r, err)
				close(done)
			}); err != nil {
				t.Fatal(err)
			}
			<-done
		})
	}
	broker.Answer(remoting.PullMessage, remoting.SubscriptionNotLatest, "the consumer's subscription not latest")
	if _, err := i.PullMessage(bg(t), broker.Addr(), h); !errors.Is(err, ErrSubscriptionNotLatest) {
		t.Errorf("SUBSCRIPTION_NOT_LATEST = %v", err)
	}
	req := broker.Last(remoting.PullMessage)
	if req.Ext.Get("consumerGroup") != "cg" || req.Ext.Get("queueOffset") != "5" {
		t.Errorf("pull sent %v", req.Ext)
	}
}

func TestOffsetCalls(t *testing.T) {
	broker := remotingtest.NewServer(t)
	offset := func(v string) []remoting.Field { return []remoting.Field{{Key: "offset", Value: v}} }
	broker.Answer(remoting.GetMaxOffset, remoting.Success, "", offset("100")...)
	broker.Answer(remoting.GetMinOffset, remoting.Success, "", offset("3")...)
	broker.Answer(remoting.SearchOffsetByTimestamp, remoting.Success, "", offset("50")...)
	broker.Answer(remoting.UpdateConsumerOffset, remoting.Success, "")
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	ctx := bg(t)

	if v, err := i.GetMaxOffset(ctx, broker.Addr(), "T", 2); err != nil || v != 100 {
		t.Errorf("GetMaxOffset = %d, %v", v, err)
	}
	if r := broker.Last(remoting.GetMaxOffset); r.Ext.Get("topic") != "T" || r.Ext.Get("queueId") != "2" {
		t.Errorf("GET_MAX_OFFSET sent %v", r.Ext)
	}
	if v, err := i.GetMinOffset(ctx, broker.Addr(), "T", 2); err != nil || v != 3 {
		t.Errorf("GetMinOffset = %d, %v", v, err)
	}
	if v, err := i.SearchOffset(ctx, broker.Addr(), "T", 2, 1700000000000); err != nil || v != 50 {
		t.Errorf("SearchOffset = %d, %v", v, err)
	}
	if r := broker.Last(remoting.SearchOffsetByTimestamp); r.Ext.Get("timestamp") != "1700000000000" {
		t.Errorf("SEARCH_OFFSET_BY_TIMESTAMP sent %v", r.Ext)
	}

	q := &remoting.QueryConsumerOffsetRequest{ConsumerGroup: "cg", Topic: "T", QueueID: 2}
	broker.Answer(remoting.QueryConsumerOffset, remoting.QueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
	if _, err := i.QueryConsumerOffset(ctx, broker.Addr(), q); !errors.Is(err, ErrOffsetNotFound) {
		t.Errorf("offset of a new group = %v, want ErrOffsetNotFound", err)
	}
	broker.Answer(remoting.QueryConsumerOffset, remoting.Success, "", offset("7")...)
	if v, err := i.QueryConsumerOffset(ctx, broker.Addr(), q); err != nil || v != 7 {
		t.Errorf("QueryConsumerOffset = %d, %v", v, err)
	}
	broker.Answer(remoting.QueryConsumerOffset, remoting.Success, "")
	if _, err := i.QueryConsumerOffset(ctx, broker.Addr(), q); !errors.Is(err, remoting.ErrBadHeader) {
		t.Errorf("an answer without offset = %v, want ErrBadHeader", err)
	}

	u := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "cg", Topic: "T", QueueID: 2, CommitOffset: 8}
	if err := i.UpdateConsumerOffset(ctx, broker.Addr(), u); err != nil {
		t.Error(err)
	}
	if err := i.UpdateConsumerOffsetOneway(ctx, broker.Addr(), u); err != nil {
		t.Error(err)
	}
	waitFor(t, "the oneway update", func() bool { return broker.Count(remoting.UpdateConsumerOffset) == 2 })
	if r := broker.Last(remoting.UpdateConsumerOffset); !r.IsOneway() || r.Ext.Get("commitOffset") != "8" {
		t.Errorf("oneway update sent %v", r)
	}
}

func TestClientCalls(t *testing.T) {
	broker := remotingtest.NewBroker(t)
	broker.Handle(remoting.GetConsumerListByGroup, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = (&remoting.ConsumerListBody{ConsumerIDs: []string{"c2", "c1"}}).Encode()
		return resp
	})
	locked := []MessageQueue{mq("T", "b", 1)}
	broker.Handle(remoting.LockBatchMQ, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = (&remoting.LockBatchResponseBody{LockOKMQSet: locked}).Encode()
		return resp
	})
	broker.Answer(remoting.UnlockBatchMQ, remoting.Success, "")
	broker.Answer(remoting.ConsumerSendMessageBack, remoting.Success, "")
	broker.Handle(remoting.EndTransaction, func(*remoting.Command) *remoting.Command { return nil })
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	ctx := bg(t)

	v, err := i.Heartbeat(ctx, broker.Addr(), &remoting.HeartbeatData{ClientID: i.ClientID(), Producers: []remoting.ProducerData{{GroupName: "pg"}}})
	if err != nil || v != remoting.Version494 {
		t.Errorf("Heartbeat = %d, %v", v, err)
	}
	if ids, err := i.GetConsumerIDList(ctx, broker.Addr(), "cg"); err != nil || !slices.Equal(ids, []string{"c2", "c1"}) {
		t.Errorf("GetConsumerIDList = %v, %v", ids, err)
	}
	body := &remoting.LockBatchRequestBody{ClientID: i.ClientID(), ConsumerGroup: "cg", MQSet: []MessageQueue{mq("T", "b", 0), mq("T", "b", 1)}}
	if got, err := i.LockBatchMQ(ctx, broker.Addr(), body); err != nil || !slices.Equal(got, locked) {
		t.Errorf("LockBatchMQ = %v, %v", got, err)
	}
	if err := i.UnlockBatchMQ(ctx, broker.Addr(), body, false); err != nil {
		t.Error(err)
	}
	if err := i.UnlockBatchMQ(ctx, broker.Addr(), body, true); err != nil {
		t.Error(err)
	}
	back := &remoting.ConsumerSendMsgBackRequest{Offset: 10, Group: "cg", DelayLevel: 0, OriginMsgID: "X", OriginTopic: "T",
		MaxReconsumeTimes: remoting.Some[int32](16)}
	if err := i.ConsumerSendMessageBack(ctx, broker.Addr(), back); err != nil {
		t.Error(err)
	}
	end := &remoting.EndTransactionRequest{ProducerGroup: "pg", TranStateTableOffset: 1, CommitLogOffset: 2,
		CommitOrRollback: remoting.TransactionCommitType, MsgID: "M"}
	if err := i.EndTransactionOneway(ctx, broker.Addr(), end, "checked"); err != nil {
		t.Error(err)
	}
	waitFor(t, "END_TRANSACTION and the oneway unlock", func() bool {
		return broker.Count(remoting.EndTransaction) == 1 && broker.Count(remoting.UnlockBatchMQ) == 2
	})
	if r := broker.Last(remoting.EndTransaction); !r.IsOneway() || r.Remark != "checked" || r.Ext.Get("commitOrRollback") != "8" {
		t.Errorf("END_TRANSACTION sent %v", r)
	}
	if err := i.UnregisterClient(ctx, broker.Addr(), "pg", ""); err != nil {
		t.Error(err)
	}
	if r := broker.Last(remoting.UnregisterClient); r.Ext.Get("producerGroup") != "pg" || r.Ext.Get("clientID") != i.ClientID() {
		t.Errorf("UNREGISTER_CLIENT sent %v", r.Ext)
	}

	broker.Answer(remoting.GetConsumerListByGroup, remoting.Success, "")
	if _, err := i.GetConsumerIDList(ctx, broker.Addr(), "cg"); err == nil {
		t.Error("a consumer list without body was accepted (Java refuses it)")
	}
}

func TestAdminCalls(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewServer(t)
	cluster := &remoting.ClusterInfo{
		Brokers:  map[string]remoting.BrokerData{"b": {BrokerName: "b", Cluster: "C", Addrs: map[int64]string{0: broker.Addr()}}},
		Clusters: map[string][]string{"C": {"b"}},
	}
	ns.Handle(remoting.GetBrokerClusterInfo, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = cluster.Encode() // bare numeric keys, as a 4.9.4 NameServer writes them
		return resp
	})
	stored := message.Ext{Message: message.Message{Topic: "T", Body: []byte("payload")}, QueueOffset: 3, CommitLogOffset: 1234,
		StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"), BornHost: netip.MustParseAddrPort("127.0.0.1:5000")}
	stored.Properties.Set(message.PropertyTags, "A")
	broker.Handle(remoting.ViewMessageByID, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body, _ = message.AppendStored(nil, &stored)
		return resp
	})
	broker.Answer(remoting.UpdateAndCreateTopic, remoting.Success, "")
	broker.Handle(remoting.GetConsumerConnectionList, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = (&remoting.ConsumerConnection{Connections: []remoting.Connection{{ClientID: "c1", Language: "GO", Version: 401}},
			ConsumeType: remoting.ConsumePassively, MessageModel: remoting.Clustering}).Encode()
		return resp
	})
	broker.Handle(remoting.GetConsumerRunningInfo, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = (&remoting.ConsumerRunningInfo{Properties: map[string]string{"k": "v"}}).Encode()
		return resp
	})
	broker.Answer(remoting.ConsumeMessageDirectly, remoting.SystemError, "The Consumer Group <cg> not exist in this consumer")
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	ctx := bg(t)

	info, err := i.GetClusterInfo(ctx)
	if err != nil || info.Brokers["b"].Addrs[0] != broker.Addr() || !slices.Equal(info.Clusters["C"], []string{"b"}) {
		t.Errorf("GetClusterInfo = %+v, %v", info, err)
	}
	msg, err := i.ViewMessage(ctx, broker.Addr(), 1234)
	if err != nil || string(msg.Body) != "payload" || msg.Tags() != "A" || msg.CommitLogOffset != 1234 {
		t.Errorf("ViewMessage = %+v, %v", msg, err)
	}
	if r := broker.Last(remoting.ViewMessageByID); r.Ext.Get("offset") != "1234" {
		t.Errorf("VIEW_MESSAGE_BY_ID sent %v", r.Ext)
	}
	ct := &remoting.CreateTopicRequest{Topic: "N", DefaultTopic: "TBW102", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}
	if err := i.CreateTopic(ctx, broker.Addr(), ct); err != nil {
		t.Error(err)
	}
	cc, err := i.GetConsumerConnectionList(ctx, broker.Addr(), "cg")
	if err != nil || len(cc.Connections) != 1 || cc.Connections[0].ClientID != "c1" {
		t.Errorf("GetConsumerConnectionList = %+v, %v", cc, err)
	}
	ri, err := i.GetConsumerRunningInfo(ctx, broker.Addr(), "cg", "c1", false)
	if err != nil || ri.Properties["k"] != "v" {
		t.Errorf("GetConsumerRunningInfo = %+v, %v", ri, err)
	}
	if _, err := i.ConsumeMessageDirectly(ctx, broker.Addr(), "cg", "c1", "ID"); !errors.Is(err, ErrSystemError) {
		t.Errorf("ConsumeMessageDirectly = %v", err)
	}
	if _, err := i.GetRouteInfo(ctx, "Nope"); !errors.Is(err, ErrTopicNotExist) {
		t.Errorf("GetRouteInfo of an unknown topic = %v", err)
	}
}

func TestFindConsumerIDListUpdatesTheRouteFirst(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	broker := remotingtest.NewBroker(t)
	broker.Handle(remoting.GetConsumerListByGroup, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = (&remoting.ConsumerListBody{ConsumerIDs: []string{"c1"}}).Encode()
		return resp
	})
	ns.SetRoute("T", remotingtest.Route(4, [2]string{"b", broker.Addr()}))
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))
	ids, err := i.FindConsumerIDList(bg(t), "T", "cg")
	if err != nil || !slices.Equal(ids, []string{"c1"}) {
		t.Fatalf("FindConsumerIDList = %v, %v", ids, err)
	}
	if i.TopicRoute("T") == nil {
		t.Error("route not cached")
	}
	if _, err := i.FindConsumerIDList(bg(t), "Nope", "cg"); !errors.Is(err, ErrTopicNotExist) {
		t.Errorf("consumers of a topic without route = %v", err)
	}
}

func TestCallsWithoutDeadlineGetTheRequestTimeout(t *testing.T) {
	broker := remotingtest.NewServer(t)
	broker.Handle(remoting.GetMaxOffset, func(*remoting.Command) *remoting.Command { return nil })
	cfg := testConfig(clock.NewFake(epoch), "127.0.0.1:1")
	cfg.RequestTimeout = 100 * time.Millisecond
	i := startInstance(t, cfg)
	start := time.Now()
	_, err := i.GetMaxOffset(t.Context(), broker.Addr(), "T", 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Errorf("timed out after %v, want about 100ms", d)
	}
}
