package remoting_test

import (
	"fmt"

	"github.com/mqgate/mqgate/remoting"
)

// A NameServer answers a route request in the form the client's version expects; a
// client reads either.
func ExampleTopicRouteData() {
	route := remoting.TopicRouteData{
		Brokers: []remoting.BrokerData{{BrokerName: "broker-a", Cluster: "c1",
			Addrs: map[int64]string{0: "10.0.0.1:10911"}}},
		Queues: []remoting.QueueData{{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 4}},
	}
	req := remoting.RouteInfoRequest{Topic: "orders"}
	for _, version := range []int32{remoting.Version494, 317} {
		body := route.Encode()
		if req.StandardJSON(version) {
			body = route.EncodeStandard()
		}
		fmt.Printf("%d: %s\n", version, body)

		var got remoting.TopicRouteData
		if err := got.Decode(body); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// 401: {"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"c1"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}
	// 317: {"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"c1"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}
}

// BuildSubscription reads a tag expression as the Java client does.
func ExampleBuildSubscription() {
	sub, _ := remoting.BuildSubscription("orders", "TagB || TagA ||")
	fmt.Println(sub.TagsSet, sub.CodeSet)
	// Output: [TagA TagB] [2598919 2598920]
}
