package broker

import (
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestQueryMessageAnswersAsJavasIndex(t *testing.T) {
	// The messages and answers of a run against the reference 4.9.4 broker: one index
	// entry per key a message has (UNIQ_KEY included), newest first up to maxNum, then in
	// commit log order.
	tb := startBroker(t, nil)
	tb.createTopic("Q", 2)
	tb.send("Q", 0, "m1", props("KEYS", "k1 k2", "UNIQ_KEY", "U0001"))
	tb.send("Q", 1, "m2", props("KEYS", "k1 k1", "UNIQ_KEY", "U0002"))
	tb.send("Q", 0, "m3", props("KEYS", "k3", "UNIQ_KEY", "k1"))
	last := tb.send("Other", 0, "m4", props("KEYS", "k1"))
	_, lastOffset, err := message.ParseOffsetMsgID(last.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	const forever = "9223372036854775807"
	for _, tc := range []struct {
		name   string
		ext    []string
		code   remoting.ResponseCode
		remark string
		bodies string
	}{
		{"every entry of the key", []string{"key", "k1", "maxNum", "32"}, remoting.Success, "", "m1 m2 m2 m3"},
		{"the newest entry", []string{"key", "k1", "maxNum", "1"}, remoting.Success, "", "m3"},
		{"the two newest entries", []string{"key", "k1", "maxNum", "2"}, remoting.Success, "", "m2 m3"},
		{"a unique key query takes 32", []string{"key", "U0002", "maxNum", "1", "_UNIQUE_KEY_QUERY", "true"},
			remoting.Success, "", "m2"},
		{"no entry", []string{"key", "k1", "maxNum", "0"}, remoting.QueryNotFound,
			"can not find message, maybe time range not correct", ""},
		{"an unknown key", []string{"key", "zz", "maxNum", "32"}, remoting.QueryNotFound,
			"can not find message, maybe time range not correct", ""},
		{"a time range after the messages", []string{"key", "k1", "maxNum", "32", "beginTimestamp", "9223372036854775800"},
			remoting.QueryNotFound, "can not find message, maybe time range not correct", ""},
		{"a negative maxNum", []string{"key", "k1", "maxNum", "-1"}, remoting.SystemError, illegalCapacityRemark(-1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &remoting.Command{Code: int32(remoting.QueryMessage), Version: remoting.Version494,
				Ext: remoting.ExtFields{{Key: "topic", Value: "Q"}, {Key: "beginTimestamp", Value: "0"}, {Key: "endTimestamp", Value: forever}}}
			for i := 0; i+1 < len(tc.ext); i += 2 {
				req.Ext.Set(tc.ext[i], tc.ext[i+1])
			}
			resp := tb.invoke(req)
			if remoting.ResponseCode(resp.Code) != tc.code || resp.Remark != tc.remark {
				t.Fatalf("got %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			var bodies []string
			if len(resp.Body) > 0 {
				msgs, err := message.DecodeStored(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					bodies = append(bodies, string(m.Body))
				}
			}
			if got := strings.Join(bodies, " "); got != tc.bodies {
				t.Errorf("bodies %q, want %q", got, tc.bodies)
			}
			wantOffset := "0" // the index's end, reported only with offsets found
			if tc.code == remoting.Success {
				wantOffset = itoa(int(lastOffset))
			}
			if tc.code != remoting.SystemError && resp.Ext.Get("indexLastUpdatePhyoffset") != wantOffset {
				t.Errorf("header %v, want indexLastUpdatePhyoffset %s", resp.Ext, wantOffset)
			}
		})
	}
}
