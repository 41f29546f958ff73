package netpoll

import (
	"context"
	"testing"

	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

// Servers and clients started and stopped back to back must never hand a new connection
// the fate of an old one: every first request on a fresh connection is answered. (Under
// the race detector cloudwego/netpoll routes epoll events by descriptor number, so a
// reused number could inherit a stale hang-up; see dupfd_race.go.)
func TestServerChurnKeepsNewConnections(t *testing.T) {
	defer leaktest.Check(t)()
	iterations := 1500
	if testing.Short() {
		iterations = 50
	}
	for i := 0; i < iterations; i++ {
		s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		s.Handle(codeEcho, func(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
			return remoting.NewResponse(req, remoting.Success, "")
		})
		addr, err := s.Listen()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := NewClient(ClientConfig{NetConn: i%2 == 0, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 3; j++ {
			if _, err := cl.Invoke(context.Background(), addr.String(), request(codeEcho, "x", remoting.RocketMQ)); err != nil {
				t.Fatalf("iteration %d, request %d on a fresh connection: %v", i, j, err)
			}
		}
		if err := cl.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
