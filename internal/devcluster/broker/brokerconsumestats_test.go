package broker

import (
	"strconv"
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

func TestBrokerConsumeStatsAsJava(t *testing.T) {
	// The reference 4.9.4 broker, with group G1 at offset 1 of T1's queue 0, answered the
	// same groups in the same order and the same stats (its T1 had other counts).
	tb := startBroker(t, nil)
	tb.createTopic("T1", 2)
	tb.send("T1", 0, "m1", "")
	tb.send("T1", 1, "m2", "")
	tb.send("T1", 1, "m3", "")
	if r := tb.invoke(&remoting.Command{Code: int32(remoting.UpdateAndCreateSubscriptionGroup),
		Body: []byte(`{"groupName":"G1"}`)}); r.Code != 0 {
		t.Fatal(r.Remark)
	}
	tb.invoke(request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "G1",
		Topic: "T1", QueueID: 0, CommitOffset: 1}))
	last := strconv.FormatInt(tb.store.StoreTimestamp("T1", 0, 0), 10)
	stats := `[{"consumeTps":0.0,"offsetTable":{` +
		`{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"brokerOffset":1,"consumerOffset":1,"lastTimestamp":` + last + `},` +
		`{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"brokerOffset":2,"consumerOffset":0,"lastTimestamp":0}}}]`
	for _, tc := range []struct {
		name, isOrder string
		g1            string
		diff          string
	}{
		{"all topics", "false", stats, "2"},
		{"without the field, as false", "", stats, "2"},
		{"order topics only", "true", "[]", "0"},
	} {
		req := &remoting.Command{Code: int32(remoting.GetBrokerConsumeStats), Version: remoting.Version494}
		if tc.isOrder != "" {
			req.Ext = remoting.ExtFields{{Key: "isOrder", Value: tc.isOrder}}
		}
		resp := tb.invoke(req)
		want := `{"brokerAddr":"` + tb.addr + `","consumeStatsList":[{"SELF_TEST_C_GROUP":[]},{"G1":` + tc.g1 +
			`},{"CID_ONSAPI_OWNER":[]},{"CID_ONSAPI_PERMISSION":[]},{"TOOLS_CONSUMER":[]},{"CID_ONS-HTTP-PROXY":[]},` +
			`{"FILTERSRV_CONSUMER":[]},{"CID_ONSAPI_PULL":[]}],"totalDiff":` + tc.diff + `}`
		if resp.Code != int32(remoting.Success) || string(resp.Body) != want {
			t.Errorf("%s: %d %q\n%s\nwant\n%s", tc.name, resp.Code, resp.Remark, resp.Body, want)
		}
	}
}
