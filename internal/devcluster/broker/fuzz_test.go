package broker

import (
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

// FuzzSendAndPull feeds arbitrary batch bodies, properties and subscriptions to a running
// broker: every request must be answered, none may make a handler panic.
func FuzzSendAndPull(f *testing.F) {
	frames := recorded.MustLoad(f)
	for _, name := range []string{"013-send-json-req320.bin", "089-send-rocketmq-req320.bin", "447-go-send-json-req320.bin"} {
		cmd, err := remoting.DecodeFrame(recorded.Find(f, frames, name).Bytes, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cmd.Body, cmd.Ext.Get("i"), "TagA || TagB")
	}
	f.Add([]byte{0, 0, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "WAIT\x01true\x02DELAY\x01x", "||")
	tb := startBroker(f, nil)
	tb.createTopic("F", 2)
	check := func(t *testing.T, what string, resp *remoting.Command) {
		if strings.HasPrefix(resp.Remark, "handler panic") {
			t.Fatalf("%s: %s", what, resp.Remark)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, properties, subscription string) {
		batch := request(remoting.SendBatchMessage, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "F",
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1, Properties: properties, Batch: true}).V2())
		batch.Body = body
		check(t, "batch", invokeWith(t, tb.cl, tb.addr, batch))
		single := sendRequest("F", 0, body, properties)
		check(t, "send", invokeWith(t, tb.cl, tb.addr, single))
		check(t, "pull", invokeWith(t, tb.cl, tb.addr, request(remoting.PullMessage, pullHeader("fz", "F", 1, 0, subscription))))
	})
}
