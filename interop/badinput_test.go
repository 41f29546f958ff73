package interop

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The answers to bad requests, learnt from Apache RocketMQ 4.9.4 (on JDK 17, whose stack
// frames end the remarks of Java exceptions): the devcluster must give the same codes,
// and the same remarks where they do not depend on the moment (ports, offsets).

// sendV2 is a SEND_MESSAGE_V2 to topic's queue 0 as the Java client writes it; edit
// changes its fields.
func sendV2(topic string, edit func(*remoting.ExtFields)) *remoting.Command {
	ext := remoting.ExtFields{{Key: "a", Value: "bad_input_pg"}, {Key: "b", Value: topic}, {Key: "c", Value: "TBW102"},
		{Key: "d", Value: "4"}, {Key: "e", Value: "0"}, {Key: "f", Value: "0"}, {Key: "g", Value: "1700000000000"},
		{Key: "h", Value: "0"}, {Key: "i", Value: "KEYS\x01k\x02WAIT\x01true"}, {Key: "j", Value: "0"},
		{Key: "k", Value: "false"}, {Key: "m", Value: "false"}}
	if edit != nil {
		edit(&ext)
	}
	return &remoting.Command{Code: int32(remoting.SendMessageV2), Ext: ext, Body: []byte("body")}
}

// pullOf is a PULL_MESSAGE of topic's queue with its own subscription, not suspended.
func pullOf(topic string, queue int) *remoting.Command {
	return &remoting.Command{Code: int32(remoting.PullMessage), Ext: remoting.ExtFields{{Key: "consumerGroup", Value: "bad_input_cg"},
		{Key: "topic", Value: topic}, {Key: "queueId", Value: strconv.Itoa(queue)}, {Key: "queueOffset", Value: "0"},
		{Key: "maxMsgNums", Value: "32"}, {Key: "sysFlag", Value: "4"}, {Key: "commitOffset", Value: "0"},
		{Key: "suspendTimeoutMillis", Value: "0"}, {Key: "subscription", Value: "*"}, {Key: "subVersion", Value: "0"},
		{Key: "expressionType", Value: "TAG"}}}
}

// endTx is an END_TRANSACTION sent expecting an answer (clients send it oneway).
func endTx(group string, queueOffset, commitLogOffset int64, verdict string) *remoting.Command {
	return &remoting.Command{Code: int32(remoting.EndTransaction), Ext: remoting.ExtFields{{Key: "producerGroup", Value: group},
		{Key: "tranStateTableOffset", Value: strconv.FormatInt(queueOffset, 10)},
		{Key: "commitLogOffset", Value: strconv.FormatInt(commitLogOffset, 10)}, {Key: "commitOrRollback", Value: verdict},
		{Key: "msgId", Value: "bad_input"}, {Key: "fromTransactionCheck", Value: "false"}}}
}

func TestBadRequestsGetJavasAnswers(t *testing.T) {
	c := startCluster(t)
	topic := name(t, "T")
	c.createTopic(t, topic, 4)
	// Messages an END_TRANSACTION may name by mistake: one without a producer group, one
	// with a group but no real queue.
	stored := func(props string) (queueOffset, commitLogOffset int64) {
		t.Helper()
		resp := invoke(t, c.broker, sendV2(topic, func(e *remoting.ExtFields) { e.Set("i", props) }))
		if resp.Code != int32(remoting.Success) {
			t.Fatalf("send: %s %s", remoting.ResponseCode(resp.Code), resp.Remark)
		}
		qo, _ := strconv.ParseInt(resp.Ext.Get("queueOffset"), 10, 64)
		_, clo, err := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
		if err != nil {
			t.Fatal(err)
		}
		return qo, clo
	}
	plainQO, plainCLO := stored("KEYS\x01plain")
	groupQO, groupCLO := stored("KEYS\x01grouped\x02PGROUP\x01bad_input_pg")
	const numberFormatAt = `", java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)`
	const illegal = "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4194304B, msg properties length limit 32KB."
	for _, tc := range []struct {
		name     string
		req      *remoting.Command
		code     remoting.ResponseCode
		remark   string
		prefix   bool // remark is a prefix: the rest names a port
		sendHead bool // the answer carries the send's TRACE_ON and MSG_REGION
	}{
		{name: "an unknown request code is not supported", req: &remoting.Command{Code: 999},
			code: remoting.RequestCodeNotSupported, remark: " request type 999 not supported"},
		{name: "a topic with illegal characters is refused", req: sendV2("bad topic!", nil), code: remoting.SystemError,
			remark: "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$", sendHead: true},
		{name: "a topic longer than 127 characters is refused", req: sendV2(strings.Repeat("t", 128), nil),
			code: remoting.SystemError, remark: "The specified topic is longer than topic max length.", sendHead: true},
		{name: "a send without a topic is refused as blank", req: sendV2(topic, func(e *remoting.ExtFields) { e.Delete("b") }),
			code: remoting.SystemError, remark: "The specified topic is blank.", sendHead: true},
		{name: "a send to the schedule topic is forbidden", req: sendV2("SCHEDULE_TOPIC_XXXX", nil), code: remoting.NoPermission,
			remark: "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden.", sendHead: true},
		{name: "a body over 4 MiB is illegal", req: func() *remoting.Command {
			r := sendV2(topic, nil)
			r.Body = bytes.Repeat([]byte("x"), 4<<20+1)
			return r
		}(), code: remoting.MessageIllegal, remark: illegal, sendHead: true},
		{name: "properties over 32 KiB are illegal", req: sendV2(topic, func(e *remoting.ExtFields) {
			e.Set("i", "K\x01"+strings.Repeat("v", 40000))
		}), code: remoting.MessageIllegal, remark: illegal, sendHead: true},
		{name: "a send to a queue the topic lacks is refused", req: sendV2(topic, func(e *remoting.ExtFields) { e.Set("e", "99") }),
			code: remoting.SystemError, prefix: true, sendHead: true,
			remark: "request queueId[99] is illegal, TopicConfig [topicName=" + topic + ", readQueueNums=4, writeQueueNums=4, " +
				"perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false] Producer: 127.0.0.1:"},
		{name: "a queue id that is not a number is refused", req: sendV2(topic, func(e *remoting.ExtFields) { e.Set("e", "one") }),
			code: remoting.SystemError, remark: `java.lang.NumberFormatException: For input string: "one` + numberFormatAt},
		{name: "a delay level that is not a number is refused", req: sendV2(topic, func(e *remoting.ExtFields) {
			e.Set("i", "DELAY\x013x\x02WAIT\x01true")
		}), code: remoting.SystemError, remark: `java.lang.NumberFormatException: For input string: "3x` + numberFormatAt},
		{name: "a pull of a queue that does not exist is refused", req: pullOf(topic, 99), code: remoting.SystemError, prefix: true,
			remark: "queueId[99] is illegal, topic:[" + topic + "] topicConfig.readQueueNums:[4] consumer:[/127.0.0.1:"},
		{name: "a pull of an unknown topic is refused", req: pullOf(topic+"_nope", 0), code: remoting.TopicNotExist,
			remark: "topic[" + topic + "_nope] not exist, apply first please! \nSee http://rocketmq.apache.org/docs/faq/ for further details."},
		{name: "a heartbeat that is not JSON is refused", req: &remoting.Command{Code: int32(remoting.Heartbeat), Body: []byte("{oops")},
			code: remoting.SystemError, remark: "com.alibaba.fastjson.JSONException: ", prefix: true},
		{name: "a send back of no message is refused", req: &remoting.Command{Code: int32(remoting.ConsumerSendMessageBack),
			Ext: remoting.ExtFields{{Key: "offset", Value: "999999999999"}, {Key: "group", Value: "bad_input_cg"}, {Key: "delayLevel", Value: "0"}}},
			code: remoting.SystemError, remark: "look message by offset failed, 999999999999"},
		{name: "an end of a transaction with no verdict is refused", req: endTx("bad_input_pg", 0, 0, "5"), code: remoting.SystemError,
			remark: "org.apache.rocketmq.remoting.exception.RemotingCommandException: commitOrRollback field wrong, " +
				"org.apache.rocketmq.common.protocol.header.EndTransactionRequestHeader.checkFields(EndTransactionRequestHeader.java:60)"},
		{name: "a commit of no message is refused", req: endTx("bad_input_pg", 0, 999999999999, "8"), code: remoting.SystemError,
			remark: "Find prepared transaction message failed"},
		{name: "a commit of a message without a producer group fails as Java's", req: endTx("bad_input_pg", plainQO, plainCLO, "8"),
			code: remoting.SystemError, remark: `java.lang.NullPointerException: Cannot invoke "String.equals(Object)" because ` +
				`"pgroupRead" is null, org.apache.rocketmq.broker.processor.EndTransactionProcessor.checkPrepareMessage(EndTransactionProcessor.java:169)`},
		{name: "a commit of another group's message is refused", req: endTx("other_pg", groupQO, groupCLO, "8"), code: remoting.SystemError,
			remark: "The producer group wrong"},
		{name: "a commit of a message that was never half fails as Java's", req: endTx("bad_input_pg", groupQO, groupCLO, "8"),
			code: remoting.SystemError, remark: "java.lang.NumberFormatException: Cannot parse null string, " +
				"java.base/java.lang.Integer.parseInt(Integer.java:630)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := invoke(t, c.broker, tc.req)
			remarkOK := resp.Remark == tc.remark || (tc.prefix && strings.HasPrefix(resp.Remark, tc.remark))
			if resp.Code != int32(tc.code) || !remarkOK {
				t.Errorf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			if got := resp.Ext.Get("MSG_REGION") == "DefaultRegion" && resp.Ext.Get("TRACE_ON") == "true"; got != tc.sendHead {
				t.Errorf("answer fields %v", resp.Ext)
			}
		})
	}
}

func TestMalformedFramesCloseTheirConnectionOnly(t *testing.T) {
	c := startCluster(t)
	// A connection opened before the bad ones, and used after them.
	bystander, err := net.DialTimeout("tcp", c.broker, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()
	frame := func(total, header uint32, rest string) []byte {
		b := binary.BigEndian.AppendUint32(nil, total)
		b = binary.BigEndian.AppendUint32(b, header)
		return append(b, rest...)
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"a header longer than its frame", frame(8, 9000, "{}\x00\x00")},
		{"a frame over 16 MiB", frame(17<<20, 10, "")},
		{"a JSON header that is not JSON", frame(9, 5, "{oops")},
		{"a JSON header that is not an object", frame(9, 5, "[1,2]")},
		{"a code that is not a number", frame(16, 12, `{"code":"x"}`)},
		{"an unknown serialization", frame(6, 7<<24|2, "{}")},
		{"a truncated ROCKETMQ header", frame(7, 1<<24|3, "\x00\x01\x02")},
		{"an empty frame", frame(0, 0, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", c.broker, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := conn.Read(make([]byte, 64)); err == nil {
				t.Errorf("answered %d bytes and kept the connection", n)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("the connection was left open")
			}
		})
	}
	// The broker serves the others: the bystander and a new connection.
	req := &remoting.Command{Code: int32(remoting.GetMaxOffset), Language: remoting.LanguageJava, Version: 401, Opaque: 1,
		Ext: remoting.ExtFields{{Key: "topic", Value: "TBW102"}, {Key: "queueId", Value: "0"}}}
	b, err := req.AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = bystander.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := bystander.Write(b); err != nil {
		t.Fatal(err)
	}
	var prefix [4]byte
	if _, err := readFull(bystander, prefix[:]); err != nil {
		t.Fatalf("the bystander connection: %v", err)
	}
	if resp := invoke(t, c.broker, &remoting.Command{Code: int32(remoting.GetMaxOffset),
		Ext: remoting.ExtFields{{Key: "topic", Value: "TBW102"}, {Key: "queueId", Value: "0"}}}); resp.Code != int32(remoting.Success) {
		t.Errorf("a new connection: %s %s", remoting.ResponseCode(resp.Code), resp.Remark)
	}
}
