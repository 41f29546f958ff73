package remotingtest

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Server is a NameServer or broker double. It is closed at the end of the test.
type Server struct {
	t    testing.TB
	srv  *netpoll.Server
	addr string
	once sync.Once

	mu    sync.Mutex
	reqs  map[remoting.RequestCode][]*remoting.Command
	conns []*netpoll.Conn
}

// NewServer starts a server on a free loopback port.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, reqs: make(map[remoting.RequestCode][]*remoting.Command)}
	srv, err := netpoll.NewServer(netpoll.ServerConfig{
		Addr: "127.0.0.1:0",
		// The doubles serve on package net: on cloudwego/netpoll, a netpoll.Server
		// sometimes closes a connection it has just accepted when tests open and close
		// many in a row (the client reads EOF on its first request; reported, not ours to
		// fix here). The clients under test stay on cloudwego/netpoll, as in production.
		NetConn: true,
		Logger:  slog.New(slog.DiscardHandler),
		OnConnect: func(c *netpoll.Conn) {
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s.srv, s.addr = srv, addr.String()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Close shuts the server down; later calls do nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	})
}

// Handle answers code with h, recording each request; a nil answer sends none (a oneway
// request's).
func (s *Server) Handle(code remoting.RequestCode, h func(req *remoting.Command) *remoting.Command) {
	s.HandleConn(code, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		return h(req)
	})
}

// HandleConn is Handle for a handler that needs the connection: one answering later
// (Conn.Respond), say.
func (s *Server) HandleConn(code remoting.RequestCode, h netpoll.Handler) {
	s.srv.Handle(code, func(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
		s.mu.Lock()
		s.reqs[code] = append(s.reqs[code], req)
		s.mu.Unlock()
		return h(ctx, c, req)
	})
}

// Answer answers code with a fixed response code, remark and extFields.
func (s *Server) Answer(code remoting.RequestCode, rc remoting.ResponseCode, remark string, ext ...remoting.Field) {
	s.Handle(code, func(req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, rc, remark)
		resp.Ext = append(resp.Ext, ext...)
		return resp
	})
}

// Count returns how many requests of code the server got.
func (s *Server) Count(code remoting.RequestCode) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs[code])
}

// Requests returns the requests of code the server got, in order.
func (s *Server) Requests(code remoting.RequestCode) []*remoting.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs[code])
}

// Last returns the latest request of code, failing the test when there is none.
func (s *Server) Last(code remoting.RequestCode) *remoting.Command {
	s.t.Helper()
	rs := s.Requests(code)
	if len(rs) == 0 {
		s.t.Fatalf("%s got no %s", s.addr, code)
	}
	return rs[len(rs)-1]
}

// Conn returns the server side of the latest connection, waiting up to 10 s for one.
func (s *Server) Conn() *netpoll.Conn {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.conns)
		var c *netpoll.Conn
		if n > 0 {
			c = s.conns[n-1]
		}
		s.mu.Unlock()
		if c != nil {
			return c
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no connection to %s", s.addr)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

// NewBroker returns a server answering heartbeats and UNREGISTER_CLIENT with SUCCESS.
func NewBroker(t testing.TB) *Server {
	b := NewServer(t)
	b.Answer(remoting.Heartbeat, remoting.Success, "")
	b.Answer(remoting.UnregisterClient, remoting.Success, "")
	return b
}

// NameServer answers GET_ROUTEINFO_BY_TOPIC from a table of routes, as a 4.9.4
// NameServer does.
type NameServer struct {
	*Server
	mu     sync.Mutex
	routes map[string]*remoting.TopicRouteData
}

// NewNameServer starts a NameServer double with no route.
func NewNameServer(t testing.TB) *NameServer {
	n := &NameServer{Server: NewServer(t), routes: make(map[string]*remoting.TopicRouteData)}
	n.Handle(remoting.GetRouteInfoByTopic, func(req *remoting.Command) *remoting.Command {
		topic := req.Ext.Get("topic")
		n.mu.Lock()
		route := n.routes[topic]
		n.mu.Unlock()
		if route == nil {
			return remoting.NewResponse(req, remoting.TopicNotExist,
				"No topic route info in name server for the topic: "+topic+"\nSee http://rocketmq.apache.org/docs/faq/ for further details.")
		}
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = route.EncodeStandard()
		return resp
	})
	return n
}

// SetRoute sets topic's route; nil removes it.
func (n *NameServer) SetRoute(topic string, route *remoting.TopicRouteData) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if route == nil {
		delete(n.routes, topic)
		return
	}
	n.routes[topic] = route
}

// Route returns a route with one master per broker (name, address), each with queues read
// and write queues of permission 6.
func Route(queues int32, brokers ...[2]string) *remoting.TopicRouteData {
	r := &remoting.TopicRouteData{FilterServers: map[string][]string{}}
	for _, b := range brokers {
		r.Brokers = append(r.Brokers, remoting.BrokerData{BrokerName: b[0], Cluster: "DefaultCluster", Addrs: map[int64]string{0: b[1]}})
		r.Queues = append(r.Queues, remoting.QueueData{BrokerName: b[0], Perm: 6, ReadQueueNums: queues, WriteQueueNums: queues})
	}
	return r
}
