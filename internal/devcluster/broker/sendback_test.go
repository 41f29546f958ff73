package broker

import (
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// sendBack is a CONSUMER_SEND_MSG_BACK of the message at offset for group.
func sendBack(offset int64, group string, delayLevel int32, maxTimes ...int32) *remoting.Command {
	h := &remoting.ConsumerSendMsgBackRequest{Offset: offset, Group: group, DelayLevel: delayLevel, OriginTopic: "S"}
	if len(maxTimes) > 0 {
		h.MaxReconsumeTimes = remoting.Some(maxTimes[0])
	}
	return request(remoting.ConsumerSendMessageBack, h)
}

func TestSendBackStoresARetryAsJavaDoes(t *testing.T) {
	tb, fake := clockedBroker(t, nil)
	frames := recorded.MustLoad(t)
	// Recording 086 is the message the push-json consumer failed to consume and sent back
	// (187); recording 236 is the retry it then pulled from %RETRY%rec_push_cg.
	req, err := remoting.DecodeFrame(recorded.Find(t, frames, "086-send-rocketmq-req310.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp := tb.invoke(req)
	if resp.Code != 0 {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
	_, offset, err := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := remoting.DecodeFrame(recorded.Find(t, frames, "187-push-json-req36.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	back.Ext.Set("offset", itoa(int(offset)))
	got := tb.invoke(back)
	want, err := remoting.DecodeFrame(recorded.Find(t, frames, "227-push-json-resp0.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Code != want.Code || got.Remark != want.Remark || len(got.Ext) != 0 || got.KeepEmptyExt != want.KeepEmptyExt {
		t.Fatalf("answered %d %q %v, Java %d %q %v", got.Code, got.Remark, got.Ext, want.Code, want.Remark, want.Ext)
	}
	// Delay level 3 (10s) for the first retry: the schedule topic, then the retry topic.
	if n := len(tb.messagesIn(message.SystemTopicSchedule, 2)); n != 1 {
		t.Fatalf("%d messages in schedule queue 2", n)
	}
	if !fake.WaitForWaiters(2, 5*time.Second) {
		t.Fatal("the delay service does not wait for the retry")
	}
	fake.Advance(10 * time.Second)
	waitFor(t, "the retry", 5*time.Second, func() bool { return len(tb.messagesIn("%RETRY%rec_push_cg", 0)) == 1 })
	retry := tb.messagesIn("%RETRY%rec_push_cg", 0)[0]
	javaResp, err := remoting.DecodeFrame(recorded.Find(t, frames, "236-push-json-resp0.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	java, err := message.DecodeStored(javaResp.Body)
	if err != nil {
		t.Fatal(err)
	}
	javaProps := java[0].Properties.Clone()
	javaProps.Set(message.PropertyOriginMessageID, message.OffsetMsgID(tb.b.host, offset)) // this broker's id of the original
	if g, w := retry.Properties.Encode(), javaProps.Encode(); g != w {
		t.Errorf("retry properties\n got %q\nJava %q", g, w)
	}
	if retry.ReconsumeTimes != java[0].ReconsumeTimes || retry.BornTimestamp != java[0].BornTimestamp ||
		string(retry.Body) != string(java[0].Body) || retry.SysFlag != java[0].SysFlag || retry.Flag != java[0].Flag {
		t.Errorf("retry\n got %+v\nJava %+v", retry, java[0])
	}
	tc := tb.b.topics.get("%RETRY%rec_push_cg")
	if tc == nil || tc.Perm != permRW || tc.WriteQueueNums != 1 {
		t.Errorf("retry topic %+v", tc)
	}
}

func TestSendBackAnswersAndDeadLettersAsJava(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.AutoCreateSubscriptionGroup = ptr(false) })
	tb.createTopic("S", 1)
	// A group allowed two reconsumes, and one without retry queues.
	for _, g := range []*groupConfig{func() *groupConfig { g := newGroupConfig("g2"); g.RetryMaxTimes = 2; return g }(),
		func() *groupConfig { g := newGroupConfig("noretry"); g.RetryQueueNums = 0; return g }(),
		newGroupConfig("g")} {
		tb.b.groups.update(g)
	}
	first := tb.send("S", 0, "payload", props("TAGS", "TagA"))
	_, offset, _ := message.ParseOffsetMsgID(first.MsgID)
	retried := tb.send("%RETRY%g2", 0, "payload", props("TAGS", "TagA", "RETRY_TOPIC", "S"))
	_, retriedOffset, _ := message.ParseOffsetMsgID(retried.MsgID)
	// Make the stored retry a second reconsume: send it as the consumer's inner producer does.
	twice := sendRequest("%RETRY%g2", 0, []byte("payload"), props("TAGS", "TagA", "RETRY_TOPIC", "S"))
	twice.Header.(*remoting.SendRequestV2).ReconsumeTimes = 2
	twice.Header.(*remoting.SendRequestV2).MaxReconsumeTimes = remoting.Some[int32](5)
	twiceResp := tb.invoke(twice)
	_, twiceOffset, _ := message.ParseOffsetMsgID(twiceResp.Ext.Get("msgId"))

	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		code   remoting.ResponseCode
		remark string
		topic  string // where the copy went ("" nowhere)
		delay  string
	}{
		{"an unknown group is refused", sendBack(offset, "nobody", 0), remoting.SubscriptionGroupNotExist,
			"subscription group not exist, nobody \nSee http://rocketmq.apache.org/docs/faq/ for further details.", "", ""},
		{"a group without retry queues drops it", sendBack(offset, "noretry", 0), remoting.Success, "", "", ""},
		{"an offset without a message is refused", sendBack(offset+1, "g", 0), remoting.SystemError,
			"look message by offset failed, " + itoa(int(offset+1)), "", ""},
		{"a header without a group is refused", func() *remoting.Command {
			r := sendBack(offset, "g", 0)
			r.Header, r.Ext = nil, remoting.ExtFields{{Key: "offset", Value: "0"}, {Key: "delayLevel", Value: "0"}}
			return r
		}(), remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <group> is null", "", ""},
		{"level 0 is 3 + the reconsume times", sendBack(offset, "g", 0), remoting.Success, "", message.SystemTopicSchedule, "3"},
		{"the consumer's level is kept", sendBack(offset, "g", 5), remoting.Success, "", message.SystemTopicSchedule, "5"},
		{"a negative level goes to the dead letter queue", sendBack(offset, "g", -1), remoting.Success, "", "%DLQ%g", "0"},
		{"the group's max reconsume times apply without the header's", sendBack(twiceOffset, "g2", 0), remoting.Success, "",
			"%DLQ%g2", "0"},
		{"the header's max reconsume times win", sendBack(twiceOffset, "g2", 0, 3), remoting.Success, "",
			message.SystemTopicSchedule, "5"},
		{"a retry below the max is retried again", sendBack(retriedOffset, "g2", 0), remoting.Success, "",
			message.SystemTopicSchedule, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tb.store.MaxCommitLogOffset()
			resp := tb.invoke(tc.req)
			if resp.Code != int32(tc.code) || resp.Remark != tc.remark {
				t.Fatalf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			stored := tb.store.MaxCommitLogOffset() != before
			if tc.topic == "" {
				if stored {
					t.Error("a copy was stored")
				}
				return
			}
			m, err := tb.store.Lookup(before)
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != tc.topic || m.Properties.Get("DELAY") != tc.delay {
				t.Errorf("stored in %s with DELAY %q, want %s %q", m.Topic, m.Properties.Get("DELAY"), tc.topic, tc.delay)
			}
			if tc.topic == "%DLQ%"+tc.req.Header.(*remoting.ConsumerSendMsgBackRequest).Group {
				if tc := tb.b.topics.get(tc.topic); tc == nil || tc.Perm != permRW || tc.WriteQueueNums != dlqQueueNums {
					t.Errorf("dead letter topic %+v", tc)
				}
			}
		})
	}
}
