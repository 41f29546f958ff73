package remoting_test

import (
	"fmt"

	"github.com/mqgate/mqgate/remoting"
)

// A pull request built from its typed header encodes as Java 4.9.4 would write it; the
// broker side reads the same header back from the decoded extFields.
func ExamplePullRequest() {
	req := remoting.NewRequest(remoting.PullMessage, &remoting.PullRequest{
		ConsumerGroup: "group", Topic: "orders", QueueID: 2, QueueOffset: 42, MaxMsgNums: 32,
		SysFlag:              remoting.PullFlagSuspend | remoting.PullFlagSubscription,
		SuspendTimeoutMillis: 15000, Subscription: "*", ExpressionType: "TAG",
	})
	req.Serialize = remoting.RocketMQ
	frame, _ := req.AppendFrame(nil)

	cmd, _ := remoting.DecodeFrame(frame, 0)
	var h remoting.PullRequest
	if err := h.DecodeFields(cmd.Ext); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Topic, h.QueueID, h.QueueOffset)

	cmd.Ext.Delete("queueId")
	fmt.Println(h.DecodeFields(cmd.Ext))
	// Output:
	// orders 2 42
	// remoting: PullMessageRequestHeader.queueId: missing
}
