package broker

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// fakeNameServer records what brokers send a NameServer.
type fakeNameServer struct {
	srv  *netpoll.Server
	addr string
	mu   sync.Mutex
	reqs []*remoting.Command
	got  chan *remoting.Command
}

func startNameServer(t *testing.T) *fakeNameServer {
	t.Helper()
	ns := &fakeNameServer{got: make(chan *remoting.Command, 64)}
	srv, err := netpoll.NewServer(netpoll.ServerConfig{Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	record := func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		ns.mu.Lock()
		ns.reqs = append(ns.reqs, req)
		ns.mu.Unlock()
		ns.got <- req
		resp := &remoting.Command{Code: 0}
		if req.Code == int32(remoting.RegisterBroker) {
			resp.Header = &remoting.RegisterBrokerResponse{}
		}
		return resp
	}
	srv.Handle(remoting.RegisterBroker, record)
	srv.Handle(remoting.UnregisterBroker, record)
	a, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ns.srv, ns.addr = srv, a.String()
	return ns
}

// next waits for the next request the NameServer receives.
func (ns *fakeNameServer) next(t *testing.T) *remoting.Command {
	t.Helper()
	select {
	case req := <-ns.got:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("the NameServer received nothing")
		return nil
	}
}

// registration decodes a REGISTER_BROKER.
func registration(t *testing.T, req *remoting.Command) (remoting.RegisterBrokerRequest, remoting.RegisterBrokerBody) {
	t.Helper()
	if req.Code != int32(remoting.RegisterBroker) {
		t.Fatalf("%s, want REGISTER_BROKER", remoting.RequestCode(req.Code))
	}
	var h remoting.RegisterBrokerRequest
	var body remoting.RegisterBrokerBody
	if err := h.DecodeFields(req.Ext); err != nil {
		t.Fatal(err)
	}
	if err := body.Decode(req.Body, h.Compressed); err != nil {
		t.Fatal(err)
	}
	if h.BodyCRC32 != remoting.BodyCRC32(req.Body) {
		t.Errorf("body CRC %d, want %d", h.BodyCRC32, remoting.BodyCRC32(req.Body))
	}
	return h, body
}

func TestBrokerRegistersWithItsNameServersAndUnregistersAtShutdown(t *testing.T) {
	ns := startNameServer(t)
	down, _ := listen(t) // a NameServer that is down: refused, skipped
	downAddr := down.Addr().String()
	down.Close()
	ln, host := listen(t)
	st, err := store.Open(store.Config{StoreHost: host, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := New(Config{Listener: ln, Store: st, Logger: quiet, NameServers: []string{downAddr, ns.addr},
		BrokerName: "broker-x", ClusterName: "C1", RegisterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := ns.next(t)
	h, body := registration(t, req)
	if req.IsOneway() || h.BrokerName != "broker-x" || h.ClusterName != "C1" || h.BrokerAddr != b.Addr() || h.BrokerID != 0 {
		t.Errorf("registration header %+v (oneway %v)", h, req.IsOneway())
	}
	if host, port, _ := net.SplitHostPort(b.Addr()); h.HAServerAddr != net.JoinHostPort(host, itoa(atoi(port)+1)) {
		t.Errorf("HA address %s for %s", h.HAServerAddr, b.Addr())
	}
	tbw := body.TopicConfig.Topics["TBW102"]
	if tbw.Perm != 7 || tbw.WriteQueueNums != 8 || body.TopicConfig.Topics["SCHEDULE_TOPIC_XXXX"].ReadQueueNums != 18 ||
		body.TopicConfig.Topics["C1"].Perm != 7 || body.TopicConfig.Topics["broker-x"].WriteQueueNums != 1 {
		t.Errorf("registered topics %v", body.TopicConfig.Topics)
	}

	cl := newClient(t)
	// A topic created by a send is registered at once, oneway.
	resp := invokeWith(t, cl, b.Addr(), sendRequest("AutoT", 0, []byte("x"), ""))
	if resp.Code != 0 {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
	req = ns.next(t)
	_, body = registration(t, req)
	if !req.IsOneway() || body.TopicConfig.Topics["AutoT"].WriteQueueNums != 4 {
		t.Errorf("registration after auto-creation: oneway %v topics %v", req.IsOneway(), body.TopicConfig.Topics)
	}
	// UPDATE_AND_CREATE_TOPIC registers that topic alone, before answering.
	resp = invokeWith(t, cl, b.Addr(), request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{Topic: "Made",
		DefaultTopic: "TBW102", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != 0 {
		t.Fatalf("create topic: %d %s", resp.Code, resp.Remark)
	}
	_, body = registration(t, ns.next(t))
	if len(body.TopicConfig.Topics) != 1 || body.TopicConfig.Topics["Made"].ReadQueueNums != 2 {
		t.Errorf("incremental registration %v", body.TopicConfig.Topics)
	}

	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	req = ns.next(t)
	var u remoting.UnregisterBrokerRequest
	if err := u.DecodeFields(req.Ext); err != nil || req.Code != int32(remoting.UnregisterBroker) ||
		u.BrokerName != "broker-x" || u.BrokerAddr != b.Addr() || u.ClusterName != "C1" {
		t.Errorf("at shutdown: %s %+v %v", remoting.RequestCode(req.Code), u, err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestRestartInPlaceKeepsMessagesTopicsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	ln, host := listen(t)
	addr := ln.Addr().String()
	st, err := store.Open(store.Config{StoreHost: host, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first, err := New(Config{Listener: ln, Store: st, DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{t: t, b: first, store: st, addr: first.Addr(), cl: newClient(t)}
	tb.createTopic("Keep", 2)
	tb.send("Keep", 1, "kept", "")
	tb.invoke(request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "k_cg",
		Topic: "Keep", QueueID: 1, CommitOffset: 1}))
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	second := runBroker(t, Config{ListenAddr: addr, Store: st, DataDir: dir, Logger: quiet})
	if second.addr != tb.addr {
		t.Fatalf("restarted on %s, was %s", second.addr, tb.addr)
	}
	got := second.pull(pullHeader("g", "Keep", 1, 0, "*"))
	if got.code != remoting.Success || len(got.msgs) != 1 || string(got.msgs[0].Body) != "kept" {
		t.Errorf("pull after restart: %s %q", got.code, got.remark)
	}
	if _, off := second.queryOffset("k_cg", "Keep", 1); off != 1 {
		t.Errorf("offset after restart: %d", off)
	}
	if tc := second.b.topics.get("Keep"); tc == nil || tc.WriteQueueNums != 2 {
		t.Errorf("topic after restart: %+v", tc)
	}
}

func TestShutdownStopsEveryGoroutine(t *testing.T) {
	ns := startNameServer(t) // before the baseline: it lives until the test ends
	check := leaktest.Check(t)
	ln, host := listen(t)
	st, err := store.Open(store.Config{StoreHost: host, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Listener: ln, Store: st, Logger: quiet, NameServers: []string{ns.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{t: t, b: b, store: st, addr: b.Addr(), cl: cl}
	tb.createTopic("G", 1)
	tb.send("G", 0, "m", "")
	heartbeat(t, cl, tb.addr, "client-g", pushConsumer(t, "g_cg", "G", "*"))
	ch, _ := tb.asyncPull(suspended(pullHeader("g_cg", "G", 0, 1, "*"), time.Minute))
	waitFor(t, "the pull held", 5*time.Second, func() bool { return b.holds.held() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.code != -1 {
		t.Errorf("held pull answered %s at shutdown; its connection should just close", r.code)
	}
	_ = cl.Close(ctx)
	_ = st.Close()
	for ns.next(t).Code != int32(remoting.UnregisterBroker) {
	}
	_ = ns.srv.Shutdown(ctx)
	check()
}

func TestBadRequestsGetJavasAnswersAndTheBrokerGoesOn(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		st, err := store.Open(store.Config{MaxMessageSize: 1024, Logger: quiet}) // the broker names its host
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c.Store = st
		c.AutoCreateTopic = ptr(false)
	})
	tb.createTopic("B", 2)
	v2 := func(edit func(*remoting.SendRequest)) *remoting.Command {
		h := &remoting.SendRequest{ProducerGroup: "pg", Topic: "B", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4}
		edit(h)
		req := request(remoting.SendMessageV2, h.V2())
		req.Body = []byte("body")
		return req
	}
	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		code   remoting.ResponseCode
		remark string // a prefix
	}{
		{"a send without a topic is refused as blank", func() *remoting.Command {
			r := v2(func(*remoting.SendRequest) {})
			r.Header = nil
			r.Ext = remoting.ExtFields{{Key: "a", Value: "pg"}}
			return r
		}(), remoting.SystemError, "The specified topic is blank."},
		{"a send with a queue id that is not a number is refused", func() *remoting.Command {
			r := v2(func(*remoting.SendRequest) {})
			r.Header = nil
			r.Ext = remoting.ExtFields{{Key: "a", Value: "pg"}, {Key: "b", Value: "B"}, {Key: "c", Value: "TBW102"},
				{Key: "d", Value: "4"}, {Key: "e", Value: "one"}, {Key: "f", Value: "0"}, {Key: "g", Value: "0"}, {Key: "h", Value: "0"}}
			return r
		}(), remoting.SystemError, `java.lang.NumberFormatException: For input string: "one"`},
		{"an unknown request code is not supported", &remoting.Command{Code: 999}, remoting.RequestCodeNotSupported,
			" request type 999 not supported"},
		{"a topic with illegal characters is refused", v2(func(h *remoting.SendRequest) { h.Topic = "bad topic!" }),
			remoting.SystemError, "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"},
		{"a topic longer than 127 characters is refused", v2(func(h *remoting.SendRequest) { h.Topic = strings.Repeat("t", 128) }),
			remoting.SystemError, "The specified topic is longer than topic max length."},
		{"a send to the schedule topic is forbidden", v2(func(h *remoting.SendRequest) { h.Topic = "SCHEDULE_TOPIC_XXXX" }),
			remoting.NoPermission, "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden."},
		{"a send to an unknown topic without auto-creation is refused", v2(func(h *remoting.SendRequest) { h.Topic = "Unknown" }),
			remoting.TopicNotExist, "topic[Unknown] not exist, apply first please!\nSee http://rocketmq.apache.org/docs/faq/ for further details."},
		{"a send to a queue the topic lacks is refused", v2(func(h *remoting.SendRequest) { h.QueueID = 2 }),
			remoting.SystemError, "request queueId[2] is illegal, TopicConfig [topicName=B, readQueueNums=2, writeQueueNums=2, perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false] Producer: 127.0.0.1:"},
		{"a message over the maximum size is illegal", func() *remoting.Command {
			r := v2(func(*remoting.SendRequest) {})
			r.Body = make([]byte, 1025)
			return r
		}(), remoting.MessageIllegal, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 1024B, msg properties length limit 32KB."},
		{"a heartbeat that is not JSON is refused", &remoting.Command{Code: int32(remoting.Heartbeat), Body: []byte("{oops")},
			remoting.SystemError, "com.alibaba.fastjson.JSONException"},
		{"a pull without a queue id is refused", func() *remoting.Command {
			return &remoting.Command{Code: int32(remoting.PullMessage), Ext: remoting.ExtFields{{Key: "consumerGroup", Value: "g"},
				{Key: "topic", Value: "B"}}}
		}(), remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <queueId> is null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.invoke(tc.req)
			if resp.Code != int32(tc.code) || !strings.HasPrefix(resp.Remark, tc.remark) {
				t.Errorf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
		})
	}
	// A connection sending garbage is closed; the others are served.
	raw, err := net.Dial("tcp", tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = raw.Write([]byte{0, 0, 0, 8, 9, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 1)); err == nil {
		t.Errorf("the garbage connection got %d bytes and stays open", n)
	}
	tb.send("B", 1, "still serving", "")
}

func TestSendsToARetryTopicMoveToTheDLQAfterTheMaxReconsumeTimes(t *testing.T) {
	tb := startBroker(t, nil)
	retry := func(reconsume int32, max remoting.Optional[int32]) remoting.SendResponse {
		t.Helper()
		req := request(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "%RETRY%d_cg",
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 0, ReconsumeTimes: reconsume,
			MaxReconsumeTimes: max, Properties: props("RETRY_TOPIC", "T")}).V2())
		req.Body = []byte("again")
		resp := tb.invoke(req)
		if resp.Code != 0 {
			t.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
		var h remoting.SendResponse
		_ = h.DecodeFields(resp.Ext)
		return h
	}
	retry(3, remoting.Optional[int32]{}) // below the group's 16: the retry topic, created on the fly
	retry(2, remoting.Some[int32](2))    // the producer's maximum reached: the DLQ
	retry(16, remoting.Optional[int32]{})
	if n := tb.store.MaxOffset("%RETRY%d_cg", 0); n != 1 {
		t.Errorf("retry topic holds %d messages, want 1", n)
	}
	if n := tb.store.MaxOffset("%DLQ%d_cg", 0); n != 2 {
		t.Errorf("DLQ holds %d messages, want 2", n)
	}
	if tc := tb.b.topics.get("%DLQ%d_cg"); tc == nil || tc.WriteQueueNums != 1 || tc.Perm != permRW {
		t.Errorf("DLQ topic %+v", tc)
	}
}

func TestAutoCreatedTopicsTakeTheirQueuesFromTBW102(t *testing.T) {
	tb := startBroker(t, nil)
	for _, tc := range []struct {
		topic  string
		asked  int32
		queues int32
	}{{"AskFour", 4, 4}, {"AskSixteen", 16, 8}} {
		req := request(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "pg", Topic: tc.topic,
			DefaultTopic: "TBW102", DefaultTopicQueueNums: tc.asked, QueueID: 0}).V2())
		req.Body = []byte("x")
		if resp := tb.invoke(req); resp.Code != 0 {
			t.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
		if got := tb.b.topics.get(tc.topic); got == nil || got.WriteQueueNums != tc.queues || got.Perm != permRW {
			t.Errorf("%s: %+v, want %d queues perm 6", tc.topic, got, tc.queues)
		}
	}
	// A negative queue id picks one at random.
	tb.createTopic("Rand", 4)
	h := tb.send("Rand", -1, "x", "")
	if h.QueueID < 0 || h.QueueID >= 4 {
		t.Errorf("random queue %d", h.QueueID)
	}
}

func TestAdminRequestsDescribeTopicsAndGroups(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("S", 2)
	tb.send("S", 0, "a", "")
	tb.send("S", 0, "b", "")
	tb.b.offsets.commit("s_cg", "S", 0, 1)

	stats := tb.invoke(&remoting.Command{Code: int32(remoting.GetTopicStatsInfo), Ext: remoting.ExtFields{{Key: "topic", Value: "S"}}})
	if stats.Code != 0 || !strings.Contains(string(stats.Body), `{"brokerName":"broker-a","queueId":0,"topic":"S"}:{"lastUpdateTimestamp":`) ||
		!strings.Contains(string(stats.Body), `"maxOffset":2,"minOffset":0}`) {
		t.Errorf("topic stats: %d %s", stats.Code, stats.Body)
	}
	consume := tb.invoke(&remoting.Command{Code: int32(remoting.GetConsumeStats), Ext: remoting.ExtFields{{Key: "consumerGroup", Value: "s_cg"}}})
	if consume.Code != 0 || !strings.Contains(string(consume.Body), `:{"brokerOffset":2,"consumerOffset":1,"lastTimestamp":`) {
		t.Errorf("consume stats: %d %s", consume.Code, consume.Body)
	}
	who := tb.invoke(&remoting.Command{Code: int32(remoting.QueryTopicConsumeByWho), Ext: remoting.ExtFields{{Key: "topic", Value: "S"}}})
	if string(who.Body) != `{"groupList":["s_cg"]}` {
		t.Errorf("consumed by %s", who.Body)
	}
	all := tb.invoke(&remoting.Command{Code: int32(remoting.GetAllTopicConfig)})
	if all.Code != 0 || !strings.HasPrefix(string(all.Body), `{"dataVersion":{"counter":`) || !strings.Contains(string(all.Body), `"S":{"order":false,"perm":6,"readQueueNums":2`) {
		t.Errorf("all topics: %s", all.Body)
	}
	earliest := tb.invoke(&remoting.Command{Code: int32(remoting.GetEarliestMessageStoreTime),
		Ext: remoting.ExtFields{{Key: "topic", Value: "S"}, {Key: "queueId", Value: "0"}}})
	if ts := earliest.Ext.Get("timestamp"); earliest.Code != 0 || ts == "" || ts == "-1" {
		t.Errorf("earliest store time: %d %v", earliest.Code, earliest.Ext)
	}
	// Creating a system topic is refused.
	resp := tb.invoke(request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{Topic: "TBW102",
		DefaultTopic: "TBW102", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != int32(remoting.SystemError) || resp.Remark != "The topic[TBW102] is conflict with system topic." {
		t.Errorf("create TBW102: %d %q", resp.Code, resp.Remark)
	}
	// A subscription group switched off cannot pull.
	g := `{"groupName":"off_cg","consumeEnable":false}`
	if r := tb.invoke(&remoting.Command{Code: int32(remoting.UpdateAndCreateSubscriptionGroup), Body: []byte(g)}); r.Code != 0 {
		t.Fatalf("update group: %d %q", r.Code, r.Remark)
	}
	if got := tb.pull(pullHeader("off_cg", "S", 0, 0, "*")); got.code != remoting.NoPermission ||
		got.remark != "subscription group no permission, off_cg" {
		t.Errorf("pull of a disabled group: %s %q", got.code, got.remark)
	}
	// Deleting a topic.
	del := tb.invoke(&remoting.Command{Code: int32(remoting.DeleteTopicInBroker), Ext: remoting.ExtFields{{Key: "topic", Value: "S"}}})
	if del.Code != 0 || tb.b.topics.get("S") != nil {
		t.Errorf("delete topic: %d %q", del.Code, del.Remark)
	}
	_ = message.AutoCreateTopicKey
	_ = netip.Addr{}
}

func TestDropConnectionsClosesEveryClientAndKeepsServing(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("Drop", 1)
	a := newClient(t)
	heartbeat(t, a, tb.addr, "client-a", pushConsumer(t, "drop_cg", "Drop", "*"))
	ca, err := a.Conn(context.Background(), tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	tb.b.DropConnections()
	select {
	case <-ca.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection is still open")
	}
	tb.cl = newClient(t) // the old connection was dropped too
	waitFor(t, "the consumer gone", 5*time.Second, func() bool {
		_, ids := tb.consumerList("drop_cg")
		return len(ids) == 0
	})
	tb.send("Drop", 0, "after the drop", "")
}

func TestCreateTopicSucceedsWithJavasUnsetRemark(t *testing.T) {
	// updateAndCreateTopic sets the code of createResponseCommand(null) but, unlike the
	// other handlers, never clears its remark: a 4.9.4 broker answers SUCCESS with it.
	tb := startBroker(t, nil)
	resp := tb.invoke(request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{Topic: "Made",
		DefaultTopic: "TBW102", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != 0 || resp.Remark != "not set any response code" || len(resp.Ext) != 0 {
		t.Errorf("create topic: %d %q %v, want SUCCESS \"not set any response code\" without fields",
			resp.Code, resp.Remark, resp.Ext)
	}
}

func TestCreateTopicReadsItsHeaderAsLenientlyAsJava(t *testing.T) {
	// Java's decodeCommandCustomHeader leaves a missing or malformed field null, and
	// updateAndCreateTopic never reads defaultTopic or order; a null topicSysFlag is 0.
	// Remarks and outcomes as the reference 4.9.4 broker answered.
	tb := startBroker(t, nil)
	for _, tc := range []struct {
		name   string
		ext    []string
		code   remoting.ResponseCode
		remark string
		want   *remoting.TopicConfig
	}{
		{"without defaultTopic and order", []string{"topic", "L1", "readQueueNums", "2", "writeQueueNums", "3",
			"perm", "6", "topicFilterType", "SINGLE_TAG"}, remoting.Success, unsetRemark,
			&remoting.TopicConfig{TopicName: "L1", ReadQueueNums: 2, WriteQueueNums: 3, Perm: 6, TopicFilterType: "SINGLE_TAG"}},
		{"with a malformed topicSysFlag", []string{"topic", "L2", "defaultTopic", "TBW102", "readQueueNums", "1",
			"writeQueueNums", "1", "perm", "6", "topicFilterType", "MULTI_TAG", "topicSysFlag", "zz", "order", "yes"},
			remoting.Success, unsetRemark,
			&remoting.TopicConfig{TopicName: "L2", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: "MULTI_TAG"}},
		{"without a topic", []string{"defaultTopic", "TBW102", "readQueueNums", "1", "writeQueueNums", "1", "perm", "6",
			"topicFilterType", "SINGLE_TAG", "order", "false"}, remoting.SystemError, "The specified topic is blank.", nil},
		{"without a filter type", []string{"topic", "L3", "readQueueNums", "1", "writeQueueNums", "1", "perm", "6"},
			remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: topicFilterType = [null] value invalid, " +
				"org.apache.rocketmq.common.protocol.header.CreateTopicRequestHeader.checkFields(CreateTopicRequestHeader.java:50)", nil},
		{"without perm", []string{"topic", "L4", "readQueueNums", "1", "writeQueueNums", "1", "topicFilterType", "SINGLE_TAG"},
			remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <perm> is null", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &remoting.Command{Code: int32(remoting.UpdateAndCreateTopic), Version: remoting.Version494}
			for i := 0; i+1 < len(tc.ext); i += 2 {
				req.Ext = append(req.Ext, remoting.Field{Key: tc.ext[i], Value: tc.ext[i+1]})
			}
			resp := tb.invoke(req)
			if remoting.ResponseCode(resp.Code) != tc.code || resp.Remark != tc.remark {
				t.Errorf("got %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			if tc.want != nil {
				if got := tb.b.topics.get(tc.want.TopicName); got == nil || *got != *tc.want {
					t.Errorf("topic config %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestMissingOrNullJSONBodiesFailAsJava(t *testing.T) {
	// Java's body is null when a request has none, and RemotingSerializable.decode throws
	// on it; fastjson reads "null" as a null object, which some handlers then use. As
	// the reference 4.9.4 broker answered.
	tb := startBroker(t, nil)
	npe := func(call, what, where string) string {
		return `java.lang.NullPointerException: Cannot invoke "` + call + `" because "` + what + `" is null, ` + where
	}
	for _, tc := range []struct {
		code   remoting.RequestCode
		body   string
		want   remoting.ResponseCode
		remark string
	}{
		{remoting.Heartbeat, "", remoting.SystemError, nullBodyRemark},
		{remoting.Heartbeat, "null", remoting.SystemError, npe("org.apache.rocketmq.common.protocol.heartbeat.HeartbeatData.getClientID()",
			"heartbeatData", "org.apache.rocketmq.broker.processor.ClientManageProcessor.heartBeat(ClientManageProcessor.java:80)")},
		{remoting.LockBatchMQ, "", remoting.SystemError, nullBodyRemark},
		{remoting.LockBatchMQ, " null", remoting.SystemError, npe("org.apache.rocketmq.common.protocol.body.LockBatchRequestBody.getConsumerGroup()",
			"requestBody", "org.apache.rocketmq.broker.processor.AdminBrokerProcessor.lockBatchMQ(AdminBrokerProcessor.java:664)")},
		{remoting.UnlockBatchMQ, "", remoting.SystemError, nullBodyRemark},
		{remoting.UnlockBatchMQ, "null", remoting.SystemError, npe("org.apache.rocketmq.common.protocol.body.UnlockBatchRequestBody.getConsumerGroup()",
			"requestBody", "org.apache.rocketmq.broker.processor.AdminBrokerProcessor.unlockBatchMQ(AdminBrokerProcessor.java:683)")},
		{remoting.UnlockBatchMQ, "{}", remoting.SystemError, npeNullKeyGet},
		{remoting.LockBatchMQ, `{"clientId":"c","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}`, remoting.SystemError, npeNullKeyGet},
		{remoting.LockBatchMQ, `{"clientId":"c","mqSet":[]}`, remoting.Success, ""},
		{remoting.CheckClientConfig, "", remoting.SystemError, nullBodyRemark},
		{remoting.CheckClientConfig, "null", remoting.Success, ""},
		{remoting.UpdateAndCreateSubscriptionGroup, "", remoting.SystemError, nullBodyRemark},
		{remoting.UpdateAndCreateSubscriptionGroup, "null", remoting.Success, ""},
		{remoting.UpdateAndCreateSubscriptionGroup, "{}", remoting.SystemError, "java.lang.NullPointerException, " +
			"java.base/java.util.concurrent.ConcurrentHashMap.putVal(ConcurrentHashMap.java:1011)"},
	} {
		req := &remoting.Command{Code: int32(tc.code), Version: remoting.Version494}
		if tc.body != "" {
			req.Body = []byte(tc.body)
		}
		resp := tb.invoke(req)
		if remoting.ResponseCode(resp.Code) != tc.want || resp.Remark != tc.remark {
			t.Errorf("%s with body %q: %s %q, want %s %q", tc.code, tc.body, remoting.ResponseCode(resp.Code), resp.Remark,
				tc.want, tc.remark)
		}
	}
}
