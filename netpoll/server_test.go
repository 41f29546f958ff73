package netpoll

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

// connectedPair starts a server that reports its connections and a client connected to it.
func connectedPair(t *testing.T, scfg ServerConfig, ccfg ClientConfig) (*Server, *Client, *Conn, chan error) {
	t.Helper()
	conns := make(chan *Conn, 1)
	gone := make(chan error, 1)
	scfg.OnConnect = func(c *Conn) { conns <- c }
	scfg.OnDisconnect = func(_ *Conn, err error) { gone <- err }
	srv, addr := startServer(t, scfg, nil)
	cl := newClient(t, ccfg)
	if _, err := cl.Conn(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	return srv, cl, <-conns, gone
}

func TestServerPushesRequestsToClientHandlers(t *testing.T) {
	check := leaktest.Check(t)
	notified := make(chan *remoting.Command, 2)
	srv, cl, sc, gone := connectedPair(t, ServerConfig{}, ClientConfig{})
	cl.Handle(remoting.GetConsumerRunningInfo, func(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Body = []byte(`{"running":"` + req.Ext.Get("consumerGroup") + `"}`)
		return resp
	})
	oneway := func(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
		notified <- req
		return remoting.NewResponse(req, remoting.Success, "") // not sent: the request is oneway
	}
	cl.Handle(remoting.NotifyConsumerIDsChanged, oneway)
	cl.Handle(remoting.CheckTransactionState, oneway)

	req := &remoting.Command{Code: int32(remoting.GetConsumerRunningInfo), Language: remoting.LanguageJava, Version: 401}
	req.Ext.Set("consumerGroup", "g1")
	resp, err := sc.Invoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.IsResponse() || resp.ResponseCode() != remoting.Success || string(resp.Body) != `{"running":"g1"}` {
		t.Errorf("GET_CONSUMER_RUNNING_INFO answered %v %q", resp, resp.Body)
	}

	for _, code := range []remoting.RequestCode{remoting.NotifyConsumerIDsChanged, remoting.CheckTransactionState} {
		push := &remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: 401, Serialize: remoting.RocketMQ}
		push.Ext.Set("consumerGroup", "g1")
		if err := sc.InvokeOneway(context.Background(), push); err != nil {
			t.Fatal(err)
		}
		got := <-notified
		if got.RequestCode() != code || !got.IsOneway() || got.Ext.Get("consumerGroup") != "g1" {
			t.Errorf("client handler got %v", got)
		}
	}

	resp, err = sc.Invoke(context.Background(), &remoting.Command{Code: 999})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode() != remoting.RequestCodeNotSupported || resp.Remark != " request type 999 not supported" {
		t.Errorf("unregistered code answered %v", resp)
	}
	if st := srv.Stats(); st.Conns != 1 || st.Pending != 0 {
		t.Errorf("server stats %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-gone; !errors.Is(err, ErrConnClosed) {
		t.Errorf("OnDisconnect got %v", err)
	}
	if _, err := sc.Invoke(context.Background(), req); !errors.Is(err, ErrConnClosed) {
		t.Errorf("push to a gone client: %v, want ErrConnClosed", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	check()
}

func TestServerPushTimesOut(t *testing.T) {
	_, cl, sc, _ := connectedPair(t, ServerConfig{RequestTimeout: 80 * time.Millisecond}, ClientConfig{})
	release := make(chan struct{})
	defer close(release)
	cl.Handle(remoting.GetConsumerRunningInfo, func(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
		<-release
		return remoting.NewResponse(req, remoting.Success, "")
	})
	_, err := sc.Invoke(context.Background(), &remoting.Command{Code: int32(remoting.GetConsumerRunningInfo)})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if sc.Pending() != 0 {
		t.Errorf("pending %d after the timeout", sc.Pending())
	}
}

func TestServerShutdownClosesClientConnections(t *testing.T) {
	check := leaktest.Check(t)
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	srv.Handle(codeGate, g.handler)
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := cl.Invoke(context.Background(), addr.String(), request(codeGate, "held", remoting.JSON))
		errs <- err
	}()
	waitFor(t, "request to arrive", 2*time.Second, func() bool { return g.count() == 1 })
	// The held handler sees its context cancelled by Shutdown and returns.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrConnClosed) {
		t.Errorf("client request: %v, want ErrConnClosed", err)
	}
	if _, err := srv.Listen(); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Shutdown: %v", err)
	}
	if err := cl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	check()
}

// A handler that returns nil frees its worker and answers later with Conn.Respond: how the
// dev broker holds long-polling pulls without pinning a worker for each.
func TestHandlerAnswersLaterWithRespond(t *testing.T) {
	s, addr := startServer(t, ServerConfig{HandlerWorkers: 1}, nil)
	held := make(chan func(), 8)
	s.Handle(remoting.PullMessage, func(_ context.Context, c *Conn, req *remoting.Command) *remoting.Command {
		held <- func() {
			resp := remoting.NewResponse(req, remoting.Success, "later")
			resp.Ext.Set("id", req.Ext.Get("id"))
			if err := c.Respond(req, resp); err != nil {
				t.Errorf("respond: %v", err)
			}
		}
		return nil
	})
	cl := newClient(t, ClientConfig{})
	results := make(chan *remoting.Command, 4)
	for i := 0; i < 4; i++ {
		id := fmt.Sprint(i)
		go func() {
			resp, err := cl.Invoke(context.Background(), addr, request(remoting.PullMessage, id, remoting.JSON))
			if err != nil {
				t.Errorf("invoke %s: %v", id, err)
			}
			results <- resp
		}()
	}
	// One worker took all four: none of them kept it.
	answers := make([]func(), 0, 4)
	for len(answers) < 4 {
		answers = append(answers, <-held)
	}
	// Another request is still served while they are held.
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "x", remoting.JSON)); err != nil {
		t.Fatal(err)
	}
	for i := len(answers) - 1; i >= 0; i-- {
		answers[i]()
	}
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		resp := <-results
		if resp == nil || resp.Remark != "later" {
			t.Fatalf("response %v", resp)
		}
		seen[resp.Ext.Get("id")] = true
	}
	if len(seen) != 4 {
		t.Errorf("responses matched to %v", seen)
	}
}
