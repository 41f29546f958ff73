package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

func TestReplyMessagesArePushedToTheRequesterAndStored(t *testing.T) {
	tb := startBroker(t, nil)
	const replyTopic = "DefaultCluster_REPLY_TOPIC"
	// The requester: a producer whose client takes the pushed replies.
	requester := newClient(t)
	pushed := make(chan *remoting.Command, 4)
	requester.Handle(remoting.PushReplyMessageToClient, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		pushed <- req
		return &remoting.Command{Code: int32(remoting.Success), Flag: remoting.FlagResponse}
	})
	hb := remoting.HeartbeatData{ClientID: "requester@1", Producers: []remoting.ProducerData{{GroupName: "req_pg"}}}
	if resp := invokeWith(t, requester, tb.addr, &remoting.Command{Code: int32(remoting.Heartbeat),
		Version: remoting.Version494, Body: hb.Encode()}); resp.Code != 0 {
		t.Fatalf("heartbeat: %d %s", resp.Code, resp.Remark)
	}
	reply := func(p string) *remoting.Command {
		req := request(remoting.SendReplyMessageV2, (&remoting.SendRequest{ProducerGroup: "reply_pg", Topic: replyTopic,
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 0, BornTimestamp: 1234, Flag: 3, Properties: p}).V2())
		req.Body = []byte("the answer")
		return tb.invoke(req)
	}

	p := props("CORRELATION_ID", "corr-1", "REPLY_TO_CLIENT", "requester@1", "MSG_TYPE", "reply", "CLUSTER", "DefaultCluster")
	resp := reply(p)
	var h remoting.SendResponse
	if err := h.DecodeFields(resp.Ext); err != nil || resp.Code != 0 || h.QueueOffset != 0 || h.MsgID == "" || h.Region != regionID {
		t.Fatalf("reply: %d %q %+v %v", resp.Code, resp.Remark, h, err)
	}
	select {
	case push := <-pushed:
		ext := push.Ext
		var pp message.Properties
		pp.Parse(ext.Get("properties"))
		if string(push.Body) != "the answer" || ext.Get("topic") != replyTopic || ext.Get("producerGroup") != "reply_pg" ||
			ext.Get("flag") != "3" || ext.Get("bornTimestamp") != "1234" || ext.Get("storeHost") != tb.b.host.String() ||
			!strings.HasPrefix(ext.Get("bornHost"), "127.0.0.1:") || pp.Get("CORRELATION_ID") != "corr-1" ||
			pp.Get("PUSH_REPLY_TIME") == "" {
			t.Errorf("pushed %v body %q", ext, push.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply pushed to the requester")
	}
	// Stored with the properties as they came, without the push time.
	if stored := tb.messagesIn(replyTopic, 0); len(stored) != 1 || stored[0].Properties.Encode() != p ||
		string(stored[0].Body) != "the answer" || stored[0].OffsetMsgID() != h.MsgID {
		t.Errorf("stored %+v", stored)
	}

	for _, tc := range []struct {
		props, remark string
	}{
		{props("CORRELATION_ID", "corr-2", "REPLY_TO_CLIENT", "gone@1"), "push reply message fail, channel of <gone@1> not found."},
		{props("CORRELATION_ID", "corr-3"), "reply message properties[REPLY_TO_CLIENT] is null"},
	} {
		resp := reply(tc.props)
		if resp.Code != int32(remoting.SystemError) || resp.Remark != tc.remark || resp.Ext.Get("queueOffset") == "" {
			t.Errorf("reply %q: %d %q %v, want SYSTEM_ERROR %q with the stored offsets", tc.props, resp.Code, resp.Remark,
				resp.Ext, tc.remark)
		}
	}
	if n := len(tb.messagesIn(replyTopic, 0)); n != 3 {
		t.Errorf("%d replies stored, want 3 (stored whether pushed or not)", n)
	}
}
