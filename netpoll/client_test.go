package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

func TestPipelinedRequestsAreMatchedToTheirResponses(t *testing.T) {
	check := leaktest.Check(t)
	defer check()
	srv, addr := startServer(t, ServerConfig{}, nil)
	cl := newClient(t, ClientConfig{})

	const callers, perCaller = 64, 200
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ser := remoting.SerializeType(g % 2) // JSON and ROCKETMQ headers on one connection
			for i := range perCaller {
				id := fmt.Sprintf("%d-%d", g, i)
				resp, err := cl.Invoke(context.Background(), addr, request(codeEcho, id, ser))
				if err != nil {
					errs <- fmt.Errorf("request %s: %w", id, err)
					return
				}
				if got := resp.Ext.Get("id"); got != id || string(resp.Body) != "body-"+id || !resp.IsResponse() || resp.Serialize != ser {
					errs <- fmt.Errorf("request %s got %v", id, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := cl.Stats(); st.Conns != 1 || st.Pending != 0 {
		t.Errorf("stats %+v, want one connection and nothing pending", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentFirstCallsShareOneDial(t *testing.T) {
	var accepted atomic.Int32
	_, addr := startServer(t, ServerConfig{OnConnect: func(*Conn) { accepted.Add(1) }}, nil)
	cl := newClient(t, ClientConfig{})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, fmt.Sprint(i), remoting.RocketMQ)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

func TestTimedOutRequestFailsAndItsLateResponseIsDropped(t *testing.T) {
	g := newGate()
	_, addr := startServer(t, ServerConfig{}, g)
	logs := &logRecorder{}
	cl := newClient(t, ClientConfig{RequestTimeout: 100 * time.Millisecond, Logger: logs.logger()})

	t.Run("request timeout of the client", func(t *testing.T) {
		start := time.Now()
		_, err := cl.Invoke(context.Background(), addr, request(codeGate, "slow", remoting.RocketMQ))
		var te *TimeoutError
		if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || errors.Is(err, ErrConnClosed) {
			t.Fatalf("err = %v, want a *TimeoutError", err)
		}
		if el := time.Since(start); el < 100*time.Millisecond || el > time.Second {
			t.Errorf("failed after %v, want about 100ms", el)
		}
	})
	t.Run("deadline of the context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := cl.Invoke(ctx, addr, request(codeGate, "slow-ctx", remoting.RocketMQ))
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 90*time.Millisecond {
			t.Errorf("failed after %v, want about 30ms", el)
		}
	})
	t.Run("async request", func(t *testing.T) {
		got := make(chan error, 1)
		err := cl.InvokeAsync(context.Background(), addr, request(codeGate, "slow-async", remoting.JSON),
			func(_ *remoting.Command, err error) { got <- err })
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("callback got %v, want ErrTimeout", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("callback not called")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			waitFor(t, "request to arrive", 2*time.Second, func() bool { return g.count() >= 4 })
			cancel()
		}()
		_, err := cl.Invoke(ctx, addr, request(codeGate, "cancelled", remoting.JSON))
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	if st := cl.Stats(); st.Pending != 0 {
		t.Errorf("pending after timeouts: %d", st.Pending)
	}
	close(g.open) // the four late responses now arrive
	waitFor(t, "late responses to be dropped", 2*time.Second, func() bool {
		return logs.count("response to no pending request dropped") == 4
	})
	if st := cl.Stats(); st.Pending != 0 || st.Conns != 1 {
		t.Errorf("stats %+v, want one connection and nothing pending", st)
	}
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "after", remoting.JSON)); err != nil {
		t.Fatalf("connection unusable after timeouts: %v", err)
	}
}

func TestConnectionLossFailsEveryPendingRequestAtOnce(t *testing.T) {
	g := newGate()
	defer close(g.open)
	srv, addr := startServer(t, ServerConfig{HandlerWorkers: 128}, g)
	cl := newClient(t, ClientConfig{RequestTimeout: 30 * time.Second})

	const n = 100
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		go func() {
			_, err := cl.Invoke(context.Background(), addr, request(codeGate, fmt.Sprint(i), remoting.RocketMQ))
			errs <- err
		}()
	}
	waitFor(t, "all requests to reach the server", 5*time.Second, func() bool { return g.count() == n })
	if p := cl.Stats().Pending; p != n {
		t.Fatalf("pending %d, want %d", p, n)
	}
	for _, c := range srv.Conns() {
		_ = c.Close()
	}
	for range n {
		err := <-errs
		var ce *ConnError
		if !errors.Is(err, ErrConnClosed) || !errors.As(err, &ce) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want a *ConnError", err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("requests failed after %v", el)
	}
	waitFor(t, "the broken connection to be forgotten", 2*time.Second, func() bool { return cl.Stats().Conns == 0 })

	// The next request dials again.
	resp, err := cl.Invoke(context.Background(), addr, request(codeEcho, "again", remoting.RocketMQ))
	if err != nil || resp.Ext.Get("id") != "again" {
		t.Fatalf("after reconnect: %v, %v", resp, err)
	}
	if st := cl.Stats(); st.Conns != 1 {
		t.Errorf("stats %+v after reconnect", st)
	}
}

func TestClientReconnectsToARestartedServer(t *testing.T) {
	s1, err := NewServer(ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s1.Handle(codeEcho, echo)
	a, err := s1.Listen()
	if err != nil {
		t.Fatal(err)
	}
	addr := a.String()
	cl := newClient(t, ClientConfig{})
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "1", remoting.JSON)); err != nil {
		t.Fatal(err)
	}
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client to see the connection drop", 2*time.Second, func() bool { return cl.Stats().Conns == 0 })
	_, err = cl.Invoke(context.Background(), addr, request(codeEcho, "2", remoting.JSON))
	if !errors.Is(err, ErrConnClosed) {
		t.Fatalf("with the server down: %v, want ErrConnClosed (dial)", err)
	}

	_, _ = startServer(t, ServerConfig{Addr: addr}, nil)
	resp, err := cl.Invoke(context.Background(), addr, request(codeEcho, "3", remoting.JSON))
	if err != nil || resp.Ext.Get("id") != "3" {
		t.Fatalf("after restart: %v, %v", resp, err)
	}
}

func TestCloseUnblocksInFlightCallersAndStopsEverything(t *testing.T) {
	check := leaktest.Check(t)
	g := newGate()
	srv, addr := startServer(t, ServerConfig{}, g)
	cl, err := NewClient(ClientConfig{RequestTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make(chan error, n+1)
	for i := range n {
		go func() {
			_, err := cl.Invoke(context.Background(), addr, request(codeGate, fmt.Sprint(i), remoting.RocketMQ))
			errs <- err
		}()
	}
	if err := cl.InvokeAsync(context.Background(), addr, request(codeGate, "async", remoting.RocketMQ),
		func(_ *remoting.Command, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "requests to reach the server", 5*time.Second, func() bool { return g.count() == n+1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := cl.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the context's deadline (the requests could not drain)", err)
	}
	for range n + 1 {
		if err := <-errs; !errors.Is(err, ErrClosed) || !errors.Is(err, ErrConnClosed) {
			t.Errorf("in-flight caller got %v, want ErrClosed", err)
		}
	}
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "late", remoting.JSON)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
	if err := cl.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
	close(g.open)
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	check()
}

func TestCloseDrainsPendingRequests(t *testing.T) {
	g := newGate()
	_, addr := startServer(t, ServerConfig{}, g)
	cl, err := NewClient(ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := cl.Invoke(context.Background(), addr, request(codeGate, "drained", remoting.JSON))
		errs <- err
	}()
	waitFor(t, "request to arrive", 2*time.Second, func() bool { return g.count() == 1 })
	closed := make(chan error, 1)
	go func() { closed <- cl.Close(context.Background()) }()
	waitFor(t, "Close to refuse new requests", 2*time.Second, func() bool {
		_, err := cl.Conn(context.Background(), addr)
		return errors.Is(err, ErrClosed)
	})
	close(g.open)
	if err := <-errs; err != nil {
		t.Errorf("pending request during Close: %v, want its response", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestInFlightBoundMakesCallersWait(t *testing.T) {
	g := newGate()
	_, addr := startServer(t, ServerConfig{}, g)
	const bound = 4
	cl := newClient(t, ClientConfig{MaxInFlightPerConn: bound})

	const n = 12
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := cl.Invoke(context.Background(), addr, request(codeGate, fmt.Sprint(i), remoting.RocketMQ))
			errs <- err
		}()
	}
	waitFor(t, "the first requests to arrive", 2*time.Second, func() bool { return g.count() == bound })
	// One more caller with a short deadline waits for a slot and gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := cl.Invoke(ctx, addr, request(codeGate, "waiting", remoting.RocketMQ))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("caller beyond the bound: %v, want a timeout while waiting for a slot", err)
	}
	if got, p := g.count(), cl.Stats().Pending; got != bound || p != bound {
		t.Fatalf("server saw %d requests, %d pending; want %d", got, p, bound)
	}
	close(g.open)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A caller without a context deadline waits for an in-flight slot no longer than the
// request timeout, even when the slots are held by long polls with far later deadlines.
func TestCallerWaitingForASlotGivesUpAtTheRequestTimeout(t *testing.T) {
	g := newGate()
	defer close(g.open)
	_, addr := startServer(t, ServerConfig{}, g)
	cl := newClient(t, ClientConfig{MaxInFlightPerConn: 1, RequestTimeout: 100 * time.Millisecond})
	long, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.InvokeAsync(long, addr, request(codeGate, "long poll", remoting.RocketMQ), func(*remoting.Command, error) {}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the long poll to arrive", 2*time.Second, func() bool { return g.count() == 1 })
	err := returnsWithin(t, "Invoke waiting for a slot", func() error {
		_, err := cl.Invoke(context.Background(), addr, request(codeGate, "waiting", remoting.RocketMQ))
		return err
	})
	var te *TimeoutError
	if !errors.As(err, &te) || !te.Unsent || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke waiting for a slot: %v; want an unsent request's timeout", err)
	}
	if n := g.count(); n != 1 {
		t.Errorf("server saw %d requests, want only the long poll", n)
	}
}

func TestOnewayRequestGetsNoResponse(t *testing.T) {
	got := make(chan *remoting.Command, 1)
	s, addr := startServer(t, ServerConfig{}, nil)
	s.Handle(remoting.UpdateConsumerOffset, func(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
		got <- req
		return remoting.NewResponse(req, remoting.Success, "") // must not be sent
	})
	logs := &logRecorder{}
	cl := newClient(t, ClientConfig{Logger: logs.logger()})
	if err := cl.InvokeOneway(context.Background(), addr, request(remoting.UpdateConsumerOffset, "ow", remoting.RocketMQ)); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if !req.IsOneway() || req.Ext.Get("id") != "ow" {
		t.Errorf("server got %v", req)
	}
	// A following request's response arrives after any response to the oneway would have.
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "x", remoting.RocketMQ)); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("response to no pending request"); n != 0 {
		t.Errorf("client got %d responses to nothing", n)
	}
}

func TestUnknownRequestCodeIsAnsweredLikeJava(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, nil)
	cl := newClient(t, ClientConfig{})
	resp, err := cl.Invoke(context.Background(), addr, request(4242, "?", remoting.JSON))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode() != remoting.RequestCodeNotSupported || resp.Remark != " request type 4242 not supported" {
		t.Errorf("got %v", resp)
	}
}

func TestFullHandlerQueueAnswersSystemBusy(t *testing.T) {
	g := newGate()
	defer close(g.open)
	_, addr := startServer(t, ServerConfig{HandlerWorkers: 1, HandlerQueue: 1}, g)
	cl := newClient(t, ClientConfig{})
	go func() { _, _ = cl.Invoke(context.Background(), addr, request(codeGate, "running", remoting.JSON)) }()
	waitFor(t, "the worker to be busy", 2*time.Second, func() bool { return g.count() == 1 })
	go func() { _, _ = cl.Invoke(context.Background(), addr, request(codeGate, "queued", remoting.JSON)) }()
	waitFor(t, "a request to queue", 2*time.Second, func() bool { return cl.Stats().Pending == 2 })
	resp, err := cl.Invoke(context.Background(), addr, request(codeGate, "refused", remoting.JSON))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode() != remoting.SystemBusy {
		t.Errorf("got %v, want SYSTEM_BUSY", resp)
	}
}

func TestHandlerPanicIsAnsweredSystemError(t *testing.T) {
	s, addr := startServer(t, ServerConfig{Logger: (&logRecorder{}).logger()}, nil)
	s.Handle(77, func(context.Context, *Conn, *remoting.Command) *remoting.Command { panic("boom") })
	cl := newClient(t, ClientConfig{})
	resp, err := cl.Invoke(context.Background(), addr, request(77, "p", remoting.RocketMQ))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode() != remoting.SystemError {
		t.Errorf("got %v, want SYSTEM_ERROR", resp)
	}
}

func TestDialFailureIsAConnError(t *testing.T) {
	cl := newClient(t, ClientConfig{DialTimeout: time.Second})
	_, err := cl.Invoke(context.Background(), "127.0.0.1:1", request(codeEcho, "x", remoting.JSON))
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Op != "dial" || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a dial *ConnError", err)
	}
}

func TestConfigValidate(t *testing.T) {
	var c ClientConfig
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RequestTimeout != 3*time.Second || c.MaxFrameLength != remoting.DefaultMaxFrameLength ||
		c.MaxInFlightPerConn != 65535 || c.Logger == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	bad := ClientConfig{RequestTimeout: -1, MaxInFlightPerConn: -3}
	if err := bad.Validate(); err == nil {
		t.Error("negative settings accepted")
	}
	s := ServerConfig{MaxFrameLength: 1 << 40}
	if err := s.Validate(); err == nil {
		t.Error("frame length beyond int32 accepted")
	}
}

// silentPeer listens for one connection, which it holds open and never reads, until the
// test ends; it returns the address.
func silentPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		ln.Close()
		if nc := <-accepted; nc != nil {
			nc.Close()
		}
	})
	return ln.Addr().String()
}

func TestWriteBlockedOnAPeerThatDoesNotReadClosesTheConnection(t *testing.T) {
	for _, netConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("NetConn=%v", netConn), func(t *testing.T) {
			addr := silentPeer(t)
			logs := &logRecorder{}
			cl := newClient(t, ClientConfig{WriteTimeout: 200 * time.Millisecond, NetConn: netConn, Logger: logs.logger()})
			c, err := cl.Conn(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			req := request(codeEcho, "big", remoting.RocketMQ)
			req.Body = make([]byte, 1<<20)
			start := time.Now()
			for {
				err := c.InvokeOneway(context.Background(), req)
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrConnClosed) || !errors.Is(c.Err(), errWriteTimeout) {
					t.Fatalf("err = %v (connection: %v), want the write timeout", err, c.Err())
				}
				break
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("write timeout took %v", el)
			}
			if logs.count("write blocked too long") != 1 {
				t.Error("write timeout not logged")
			}
		})
	}
}

// A caller behind a full write backlog (a peer that stops reading) waits while its context
// allows, not until the write timeout closes the connection; its request is never sent,
// and its error says so.
func TestCallerBehindAFullBacklogGivesUpWithItsContext(t *testing.T) {
	for _, netConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("NetConn=%v", netConn), func(t *testing.T) {
			addr := silentPeer(t)
			cl := newClient(t, ClientConfig{WriteTimeout: time.Minute, NetConn: netConn, Logger: quietLogger()})
			c, err := cl.Conn(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			big := fillBacklog(t, c)
			// Each call below would wait for the write timeout, a minute, if it did not
			// give up with its context.
			returns := func(what string, call func() error) error {
				t.Helper()
				return returnsWithin(t, what+" behind a full backlog", call)
			}
			err = returns("Invoke with a deadline", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_, err := c.Invoke(ctx, request(codeEcho, "small", remoting.RocketMQ))
				return err
			})
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Invoke behind a full backlog: %v; want its deadline's timeout", err)
			}
			err = returns("Invoke, cancelled", func() error {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				_, err := c.Invoke(ctx, request(codeEcho, "small", remoting.RocketMQ))
				return err
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Invoke behind a full backlog, cancelled: %v; want context.Canceled", err)
			}
			err = returns("InvokeOneway with a deadline", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return c.InvokeOneway(ctx, big)
			})
			var te *TimeoutError
			if !errors.As(err, &te) || !te.Unsent || !strings.Contains(err.Error(), "write backlog") {
				t.Fatalf("InvokeOneway behind a full backlog: %v; want an unsent request's timeout naming the backlog", err)
			}
			if c.Err() != nil || cl.Stats().Pending != 0 {
				t.Fatalf("connection %v, %d calls pending; want it open and none", c.Err(), cl.Stats().Pending)
			}
		})
	}
}

// fillBacklog fills the socket's buffers, then the write backlog, of c, a connection to
// a peer that does not read; it returns the 1 MiB oneway request it used.
func fillBacklog(t *testing.T, c *Conn) *remoting.Command {
	t.Helper()
	// The backlog never drains: drop it, or the client's Close would wait for it.
	t.Cleanup(func() { _ = c.Close() })
	big := request(codeEcho, "big", remoting.RocketMQ)
	big.Body = make([]byte, 1<<20)
	full := func() bool {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.kicked && len(c.out) >= maxBacklog
	}
	for !full() {
		if err := c.InvokeOneway(context.Background(), big); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return big
}

// returnsWithin runs call, failing the test if it has not returned after 20 seconds: far
// beyond the deadlines the callers use, far short of the minute-long waits they escape.
func returnsWithin(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return by its deadline", what)
		return nil
	}
}

// A request without a context deadline is bounded by the request timeout, behind a full
// write backlog too: it must not wait for the write timeout to close the connection.
func TestCallerBehindAFullBacklogGivesUpAtTheRequestTimeout(t *testing.T) {
	for _, netConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("NetConn=%v", netConn), func(t *testing.T) {
			addr := silentPeer(t)
			cl := newClient(t, ClientConfig{RequestTimeout: 100 * time.Millisecond, WriteTimeout: time.Minute,
				NetConn: netConn, Logger: quietLogger()})
			c, err := cl.Conn(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			big := fillBacklog(t, c)
			err = returnsWithin(t, "Invoke without a deadline behind a full backlog", func() error {
				_, err := c.Invoke(context.Background(), request(codeEcho, "small", remoting.RocketMQ))
				return err
			})
			if !errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Invoke behind a full backlog: %v; want the request timeout", err)
			}
			got := make(chan error, 1)
			err = returnsWithin(t, "InvokeAsync without a deadline behind a full backlog", func() error {
				return c.InvokeAsync(context.Background(), request(codeEcho, "small", remoting.RocketMQ),
					func(_ *remoting.Command, err error) { got <- err })
			})
			if err == nil {
				err = <-got
			}
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("InvokeAsync behind a full backlog: %v; want the request timeout", err)
			}
			err = returnsWithin(t, "InvokeOneway without a deadline behind a full backlog", func() error {
				return c.InvokeOneway(context.Background(), big)
			})
			var te *TimeoutError
			if !errors.As(err, &te) || !te.Unsent || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("InvokeOneway behind a full backlog: %v; want an unsent request's timeout", err)
			}
			if c.Err() != nil || cl.Stats().Pending != 0 {
				t.Fatalf("connection %v, %d calls pending; want it open and none", c.Err(), cl.Stats().Pending)
			}
		})
	}
}

// A request whose context has already ended is not sent: its caller, told it failed, may
// send it again, and the broker must not have run it.
func TestRequestWithAnEndedContextIsNotSent(t *testing.T) {
	g := newGate()
	close(g.open)
	_, addr := startServer(t, ServerConfig{}, g)
	cl := newClient(t, ClientConfig{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := cl.Invoke(cancelled, addr, request(codeGate, "cancelled", remoting.RocketMQ)); !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke, cancelled: %v, want context.Canceled", err)
	}
	var te *TimeoutError
	if _, err := cl.Invoke(expired, addr, request(codeGate, "expired", remoting.RocketMQ)); !errors.As(err, &te) || !te.Unsent {
		t.Errorf("Invoke, past its deadline: %v, want an unsent request's timeout", err)
	}
	if err := cl.InvokeAsync(cancelled, addr, request(codeGate, "async", remoting.RocketMQ), func(*remoting.Command, error) {
		t.Error("callback of a request that was not sent")
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("InvokeAsync, cancelled: %v, want context.Canceled", err)
	}
	// A request sent afterwards is the first the server sees.
	if _, err := cl.Invoke(context.Background(), addr, request(codeGate, "sent", remoting.RocketMQ)); err != nil {
		t.Fatal(err)
	}
	if n := g.count(); n != 1 {
		t.Errorf("the server ran %d requests, want only the one sent with a live context", n)
	}
}

// An asynchronous call whose context is cancelled fails at once, however far its deadline:
// a consumer shutting down must not wait for its long polls' 30-second deadlines.
func TestCancelledAsyncCallFailsLongBeforeItsDeadline(t *testing.T) {
	g := newGate()
	_, addr := startServer(t, ServerConfig{}, g)
	cl := newClient(t, ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	done := make(chan error, 1)
	if err := cl.InvokeAsync(ctx, addr, request(codeGate, "held", remoting.RocketMQ), func(_ *remoting.Command, err error) {
		done <- err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the call pending", 5*time.Second, func() bool { return cl.Stats().Pending == 1 })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if waited := time.Since(start); waited > 2*time.Second {
			t.Errorf("failed %v after the cancel", waited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled call still pending")
	}
	close(g.open)
}

// A context deadline longer than RequestTimeout is honoured: long polls ask for more.
func TestContextDeadlineBeyondRequestTimeoutIsHonoured(t *testing.T) {
	g := newGate()
	_, addr := startServer(t, ServerConfig{}, g)
	cl := newClient(t, ClientConfig{RequestTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := cl.Invoke(ctx, addr, request(codeGate, "long", remoting.RocketMQ))
		result <- err
	}()
	waitFor(t, "the call pending", 5*time.Second, func() bool { return cl.Stats().Pending == 1 })
	time.Sleep(200 * time.Millisecond) // well past RequestTimeout: the call must still be waiting
	if cl.Stats().Pending != 1 {
		t.Fatal("the call was failed at RequestTimeout despite its context's later deadline")
	}
	close(g.open)
	if err := <-result; err != nil {
		t.Fatalf("call: %v", err)
	}
}

// A oneway request accepted before Close reaches the peer: Close sends what was queued
// before it closes the connection (a consumer's last offsets, a transaction's end).
func TestCloseSendsQueuedOnewayRequests(t *testing.T) {
	var got atomic.Int32
	s, addr := startServer(t, ServerConfig{}, nil)
	s.Handle(remoting.UpdateConsumerOffset, func(context.Context, *Conn, *remoting.Command) *remoting.Command {
		got.Add(1)
		return nil
	})
	const n = 100
	for i := range n {
		cl, err := NewClient(ClientConfig{NetConn: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Conn(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
		if err := cl.InvokeOneway(context.Background(), addr, request(remoting.UpdateConsumerOffset, "last", remoting.RocketMQ)); err != nil {
			t.Fatal(err)
		}
		if err := cl.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every oneway request to arrive", 5*time.Second, func() bool { return got.Load() == n })
}
