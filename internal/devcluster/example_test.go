package devcluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// A test starts a cluster on free ports, points its client at NameServerAddr, and can
// route TBW102 as soon as Start returns.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{
		DelayFactor: 0.01, // delay level 1 lasts 10ms
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	cl, _ := netpoll.NewClient(netpoll.ClientConfig{})
	defer cl.Close(ctx)
	resp, err := cl.Invoke(ctx, c.NameServerAddr(), &remoting.Command{
		Code:    int32(remoting.GetRouteInfoByTopic),
		Version: remoting.Version494,
		Ext:     remoting.ExtFields{{Key: "topic", Value: "TBW102"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var route remoting.TopicRouteData
	if err := route.Decode(resp.Body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(route.Brokers[0].BrokerName, route.Queues[0].WriteQueueNums,
		route.Brokers[0].MasterAddr() == c.BrokerAddr())
	// Output: broker-a 8 true
}
