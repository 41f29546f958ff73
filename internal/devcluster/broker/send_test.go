package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestSentMessagesArriveIntactThroughEveryHeaderVersion(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("T", 4)
	uniq := "7F0000010001000000000000000A"
	p := props("KEYS", "k1 k2", "color", "blue", "UNIQ_KEY", uniq, "WAIT", "true", "TAGS", "TagA")

	// SEND_MESSAGE (v1), as rocketmq-client-go sends single messages.
	v1 := request(remoting.SendMessage, &remoting.SendRequest{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102",
		DefaultTopicQueueNums: 4, QueueID: 1, BornTimestamp: 1234, Flag: 7, Properties: p})
	v1.Body = []byte("v1 body")
	r1 := tb.invoke(v1)
	// SEND_MESSAGE_V2, as the Java client.
	r2 := tb.invoke(sendRequest("T", 1, []byte("v2 body"), p))
	// SEND_BATCH_MESSAGE of two messages.
	var batch []byte
	msgs := []message.Message{{Topic: "T", Body: []byte("batch 0")}, {Topic: "T", Body: []byte("batch 1")}}
	msgs[0].Properties.Set("KEYS", "b0")
	msgs[1].Properties.Set("KEYS", "b1")
	batch, err := message.AppendBatch(batch, msgs)
	if err != nil {
		t.Fatal(err)
	}
	br := request(remoting.SendBatchMessage, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "T",
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1, BornTimestamp: 99, Properties: props("WAIT", "true"),
		Batch: true}).V2())
	br.Body = batch
	r3 := tb.invoke(br)

	var ids []string
	for i, r := range []*remoting.Command{r1, r2, r3} {
		if r.Code != 0 {
			t.Fatalf("send %d: %d %s", i, r.Code, r.Remark)
		}
		var h remoting.SendResponse
		if err := h.DecodeFields(r.Ext); err != nil {
			t.Fatal(err)
		}
		if h.QueueID != 1 || h.Region != "DefaultRegion" || h.TraceOn != "true" {
			t.Errorf("send %d answered %+v", i, h)
		}
		if want := []int64{0, 1, 2}[i]; h.QueueOffset != want {
			t.Errorf("send %d queue offset %d, want %d", i, h.QueueOffset, want)
		}
		ids = append(ids, strings.Split(h.MsgID, ",")...)
	}
	if len(ids) != 4 {
		t.Fatalf("message ids %v, want 4", ids)
	}

	got := tb.pull(pullHeader("g", "T", 1, 0, "*"))
	if got.code != remoting.Success || got.remark != "FOUND" || len(got.msgs) != 4 {
		t.Fatalf("pull: %s %q %d messages", got.code, got.remark, len(got.msgs))
	}
	host := tb.b.host
	for i, m := range got.msgs {
		if m.Topic != "T" || m.QueueID != 1 || m.QueueOffset != int64(i) || m.StoreHost != host {
			t.Errorf("message %d: topic %s queue %d offset %d store host %v", i, m.Topic, m.QueueID, m.QueueOffset, m.StoreHost)
		}
		if !m.BornHost.Addr().IsLoopback() || m.BornHost.Port() == 0 {
			t.Errorf("message %d born host %v", i, m.BornHost)
		}
		if m.OffsetMsgID() != ids[i] {
			t.Errorf("message %d offset id %s, the send answered %s", i, m.OffsetMsgID(), ids[i])
		}
		if m.Properties.Get("CLUSTER") != "DefaultCluster" {
			t.Errorf("message %d has no CLUSTER: %q", i, m.Properties.Encode())
		}
	}
	// Single messages: Java's HashMap order, WAIT dropped.
	for i, body := range []string{"v1 body", "v2 body"} {
		m := got.msgs[i]
		if string(m.Body) != body || m.UniqKey() != uniq || m.Tags() != "TagA" {
			t.Errorf("message %d: body %q uniq %q tags %q", i, m.Body, m.UniqKey(), m.Tags())
		}
		want := props("color", "blue", "KEYS", "k1 k2", "UNIQ_KEY", uniq, "CLUSTER", "DefaultCluster", "TAGS", "TagA")
		if p := m.Properties.Encode(); p != want {
			t.Errorf("message %d properties\n got %q\nwant %q", i, p, want)
		}
	}
	if got.msgs[0].Flag != 7 || got.msgs[0].BornTimestamp != 1234 {
		t.Errorf("v1 message flag %d born %d", got.msgs[0].Flag, got.msgs[0].BornTimestamp)
	}
	// Batch messages: their own properties, then the batch's.
	for i, m := range got.msgs[2:] {
		want := "KEYS\x01b" + itoa(i) + "\x02CLUSTER\x01DefaultCluster\x02WAIT\x01true"
		if p := m.Properties.Encode(); p != want || string(m.Body) != "batch "+itoa(i) || m.BornTimestamp != 99 {
			t.Errorf("batch message %d: body %q properties %q", i, m.Body, p)
		}
	}

	// The offset id names the stored message: VIEW_MESSAGE_BY_ID answers it.
	_, off, err := message.ParseOffsetMsgID(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	view := tb.invoke(&remoting.Command{Code: int32(remoting.ViewMessageByID), Ext: remoting.ExtFields{{Key: "offset", Value: itoa(int(off))}}})
	if view.Code != 0 {
		t.Fatalf("view message: %d %s", view.Code, view.Remark)
	}
	viewed, err := message.DecodeStored(view.Body)
	if err != nil || len(viewed) != 1 || !bytes.Equal(viewed[0].Body, []byte("v2 body")) {
		t.Fatalf("viewed %v %v", viewed, err)
	}
	missing := tb.invoke(&remoting.Command{Code: int32(remoting.ViewMessageByID), Ext: remoting.ExtFields{{Key: "offset", Value: "3"}}})
	if missing.Code != int32(remoting.SystemError) || missing.Remark != "can not find message by the offset, 3" {
		t.Errorf("view of a bad offset: %d %q", missing.Code, missing.Remark)
	}
	_ = time.Now
}

func TestSendToATopicWithoutWriteQueuesThrowsAsJava(t *testing.T) {
	// A topic auto-created from a negative defaultTopicQueueNums has no queue: a send
	// for any queue (-1) divides by zero in randomQueueId, an exception answered by
	// NettyRemotingAbstract — without the send's MSG_REGION and TRACE_ON — and a send
	// to queue 0 is refused by msgCheck, with them. As the reference 4.9.4 broker.
	tb := startBroker(t, nil)
	for _, tc := range []struct {
		queue  int32
		remark string
		ext    int
	}{
		{-1, "java.lang.ArithmeticException: / by zero, " +
			"org.apache.rocketmq.broker.processor.SendMessageProcessor.randomQueueId(SendMessageProcessor.java:690)", 0},
		{0, "request queueId[0] is illegal, TopicConfig [topicName=NoQueues, readQueueNums=0, writeQueueNums=0, " +
			"perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false] Producer: 127.0.0.1:", 2},
	} {
		req := request(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "NoQueues",
			DefaultTopic: "TBW102", DefaultTopicQueueNums: -3, QueueID: tc.queue, Properties: ""}).V2())
		req.Body = []byte("x")
		resp := tb.invoke(req)
		if resp.Code != int32(remoting.SystemError) || !strings.HasPrefix(resp.Remark, tc.remark) || len(resp.Ext) != tc.ext {
			t.Errorf("send to queue %d: %d %q %v, want SYSTEM_ERROR %q with %d fields", tc.queue, resp.Code,
				resp.Remark, resp.Ext, tc.remark, tc.ext)
		}
	}
	// A negative count divides well: Java's remainder of a positive number by -2 is 0 or 1.
	resp := tb.invoke(request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{Topic: "NegW",
		DefaultTopic: "TBW102", ReadQueueNums: 2, WriteQueueNums: -2, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != 0 {
		t.Fatalf("create topic: %d %s", resp.Code, resp.Remark)
	}
	if h := tb.send("NegW", -1, "x", ""); h.QueueID != 0 && h.QueueID != 1 {
		t.Errorf("send to a topic of -2 write queues went to queue %d", h.QueueID)
	}
}

func TestBatchSendRefusesAsJavasStoreChecksIt(t *testing.T) {
	// DefaultMessageStore.asyncPutMessages: checkMessages (null body, size), then
	// CommitLog.asyncPutMessages (transaction, delay) and its encoder (the batch's
	// properties); remarks and headers as the reference 4.9.4 broker answered.
	tb := startBroker(t, nil)
	tb.createTopic("B", 1)
	one, err := message.AppendBatch(nil, []message.Message{{Topic: "B", Body: []byte("b1")}})
	if err != nil {
		t.Fatal(err)
	}
	big, err := message.AppendBatch(nil, []message.Message{{Topic: "B", Body: make([]byte, 4<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	illegal := "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4194304B, msg properties length limit 32KB."
	for _, tc := range []struct {
		name   string
		props  string
		body   []byte
		code   remoting.ResponseCode
		remark string
		header bool // MSG_REGION and TRACE_ON: not when Java threw
	}{
		{"a body over 4 MiB is illegal", "", big, remoting.MessageIllegal, illegal, true},
		{"a delayed body over 4 MiB is illegal", props("DELAY", "2"), big, remoting.MessageIllegal, illegal, true},
		{"no body throws in checkMessages", props("DELAY", "2"), nil, remoting.SystemError,
			`java.lang.NullPointerException: Cannot read the array length because the return value of "org.apache.rocketmq.common.message.MessageExtBatch.getBody()" is null, ` +
				"org.apache.rocketmq.store.DefaultMessageStore.checkMessages(DefaultMessageStore.java:391)", false},
		{"properties over 32767 bytes with CLUSTER throw in the encoder", props("K", strings.Repeat("v", 32765)), []byte{0, 0, 0, 5, 1},
			remoting.SystemError, "java.lang.RuntimeException: Properties size of messageExtBatch exceeded!, " +
				"org.apache.rocketmq.store.CommitLog$MessageExtEncoder.encode(CommitLog.java:1587)", false},
		{"a malformed delay level throws", props("DELAY", "x"), one, remoting.SystemError, numberFormatRemark("x"), false},
		{"a delay level beyond an int throws", props("DELAY", "99999999999"), one, remoting.SystemError,
			numberFormatRemark("99999999999"), false},
		{"a delay level is illegal", props("DELAY", "2"), one, remoting.MessageIllegal, illegal, true},
		{"a malformed body underflows", "", []byte{0, 0, 0, 5, 1}, remoting.SystemError, bufferUnderflowRemark, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(remoting.SendBatchMessage, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "B",
				DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 0, Properties: tc.props, Batch: true}).V2())
			req.Body = tc.body
			resp := tb.invoke(req)
			if remoting.ResponseCode(resp.Code) != tc.code || resp.Remark != tc.remark {
				t.Errorf("got %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			if _, ok := resp.Ext.Lookup("MSG_REGION"); ok != tc.header {
				t.Errorf("header %v, want MSG_REGION %v", resp.Ext, tc.header)
			}
		})
	}
	if max := tb.store.MaxOffset("B", 0); max != 0 {
		t.Errorf("%d messages stored", max)
	}
}
