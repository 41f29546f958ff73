package netpoll_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// A server answering one request code, and a client calling it.
func Example() {
	srv, err := netpoll.NewServer(netpoll.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	srv.Handle(remoting.GetRouteInfoByTopic, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = []byte(`{"topic":"` + req.Ext.Get("topic") + `"}`)
		return resp
	})
	addr, err := srv.Listen()
	if err != nil {
		panic(err)
	}

	cl, err := netpoll.NewClient(netpoll.ClientConfig{RequestTimeout: 3 * time.Second})
	if err != nil {
		panic(err)
	}
	req := remoting.NewRequest(remoting.GetRouteInfoByTopic, nil)
	req.Ext.Set("topic", "TopicTest")
	resp, err := cl.Invoke(context.Background(), addr.String(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.ResponseCode(), string(resp.Body))

	// An unregistered code gets Java's answer.
	resp, err = cl.Invoke(context.Background(), addr.String(), remoting.NewRequest(remoting.RequestCode(9999), nil))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%v %q\n", resp.ResponseCode(), resp.Remark)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Close(ctx)
	_ = srv.Shutdown(ctx)
	// Output:
	// SUCCESS {"topic":"TopicTest"}
	// REQUEST_CODE_NOT_SUPPORTED " request type 9999 not supported"
}

// A broker asking its clients for their running info: the server keeps the connections
// it is told about and invokes requests on them; the client answers through a handler.
func ExampleServer_push() {
	conns := make(chan *netpoll.Conn, 1)
	srv, err := netpoll.NewServer(netpoll.ServerConfig{
		Addr:      "127.0.0.1:0",
		OnConnect: func(c *netpoll.Conn) { conns <- c },
	})
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		panic(err)
	}

	cl, err := netpoll.NewClient(netpoll.ClientConfig{})
	if err != nil {
		panic(err)
	}
	cl.Handle(remoting.GetConsumerRunningInfo, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = []byte(`{"group":"` + req.Ext.Get("consumerGroup") + `"}`)
		return resp
	})
	if _, err := cl.Conn(context.Background(), addr.String()); err != nil {
		panic(err)
	}

	c := <-conns
	req := remoting.NewRequest(remoting.GetConsumerRunningInfo, nil)
	req.Ext.Set("consumerGroup", "orders")
	resp, err := c.Invoke(context.Background(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Body))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Close(ctx)
	_ = srv.Shutdown(ctx)
	// Output: {"group":"orders"}
}
