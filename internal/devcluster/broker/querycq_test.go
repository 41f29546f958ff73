package broker

import (
	"strconv"
	"testing"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestQueryConsumeQueueAsJava(t *testing.T) {
	// The requests and answers of mqadmin queryCq against the reference 4.9.4 broker.
	tb := startBroker(t, nil)
	tb.createTopic("T1", 2)
	var offsets []string
	for _, body := range []string{"m1", "m2", "m3"} {
		r := tb.send("T1", 1, body, props("TAGS", "a"))
		_, off, err := message.ParseOffsetMsgID(r.MsgID)
		if err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, strconv.FormatInt(off, 10))
	}
	e, _ := tb.store.Entry("T1", 1, 0)
	unit := func(i int) string {
		return `{"eval":false,"physicOffset":` + offsets[i] + `,"physicSize":` + strconv.Itoa(int(e.Size)) +
			`,"tagsCode":` + strconv.FormatInt(int64(remoting.TagHashCode("a")), 10) + `}`
	}
	heartbeat(t, tb.cl, tb.addr, "c1", pushConsumer(t, "Online", "T1", "*"))
	sub, _, _ := tb.b.consumers.subscriptionOf("Online", "T1")
	for _, tc := range []struct {
		name         string
		ext          []string
		code         remoting.ResponseCode
		remark, body string
	}{
		{"units from an index", []string{"queueId", "1", "index", "1", "count", "10"}, remoting.Success, unsetRemark,
			`{"maxQueueIndex":3,"minQueueIndex":0,"queueData":[` + unit(1) + `,` + unit(2) + `]}`},
		{"at most count", []string{"queueId", "1", "index", "0", "count", "1"}, remoting.Success, unsetRemark,
			`{"maxQueueIndex":3,"minQueueIndex":0,"queueData":[` + unit(0) + `]}`},
		{"a group that is not online", []string{"queueId", "1", "index", "0", "count", "1", "consumerGroup", "G1"},
			remoting.Success, unsetRemark,
			`{"filterData":"G1@T1 is not online!","maxQueueIndex":3,"minQueueIndex":0,"queueData":[` + unit(0) + `]}`},
		{"an online group's subscription", []string{"queueId", "1", "index", "2", "count", "1", "consumerGroup", "Online"},
			remoting.Success, unsetRemark, `{"filterData":"null","maxQueueIndex":3,"minQueueIndex":0,"queueData":[` + unit(2) +
				`],"subscriptionData":` + string(sub.data.Encode()) + `}`},
		{"an index past the end", []string{"queueId", "1", "index", "5", "count", "10"}, remoting.Success,
			"Index 5 of 1@T1 is not exist!", ""},
		{"a queue that does not exist", []string{"queueId", "9", "index", "0", "count", "10"}, remoting.SystemError,
			"9@T1 is not exist!", ""},
	} {
		req := &remoting.Command{Code: int32(remoting.QueryConsumeQueue), Version: remoting.Version494,
			Ext: remoting.ExtFields{{Key: "topic", Value: "T1"}}}
		for i := 0; i+1 < len(tc.ext); i += 2 {
			req.Ext.Set(tc.ext[i], tc.ext[i+1])
		}
		resp := tb.invoke(req)
		if remoting.ResponseCode(resp.Code) != tc.code || resp.Remark != tc.remark || string(resp.Body) != tc.body {
			t.Errorf("%s: %s %q\n%s\nwant %s %q\n%s", tc.name, remoting.ResponseCode(resp.Code), resp.Remark, resp.Body,
				tc.code, tc.remark, tc.body)
		}
	}
}
