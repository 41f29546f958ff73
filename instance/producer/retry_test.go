package producer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Retries and the fault strategy against fake brokers on netpoll.Server: two broker names,
// each its own server.

// A sync send that a broker refuses with a retryable answer goes to the other broker.
func TestSyncRetryGoesToAnotherBroker(t *testing.T) {
	ns, brokers := fakeCluster(t, "Retried", 2, "a", "b")
	a, b := brokers[0], brokers[1]
	a.setAnswer(func(req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.SystemError, "store error")
	})
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{})
	for i := range 6 {
		r, err := p.Send(bg(t), newMessage("Retried", "x"))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if r.Queue.BrokerName != "b" {
			t.Fatalf("send %d stored on %s", i, r.Queue.BrokerName)
		}
	}
	if a.sends() == 0 || b.sends() != 6 {
		t.Fatalf("a got %d sends, b %d", a.sends(), b.sends())
	}
	// Every attempt on a was followed by one on b: no send tried a twice.
	if a.sends() > 6 {
		t.Fatalf("a got %d attempts for 6 sends", a.sends())
	}
}

// Retries are spent when every broker refuses: the error says so and wraps the last
// answer.
func TestSyncRetriesSpent(t *testing.T) {
	ns, brokers := fakeCluster(t, "Refused", 2, "a", "b")
	for _, b := range brokers {
		b.setAnswer(func(req *remoting.Command) *remoting.Command {
			return remoting.NewResponse(req, remoting.NoPermission, "no")
		})
	}
	inst := startInstance(t, instanceConfig(ns.Addr()))
	for i, tc := range []struct {
		name    string
		retries int
		want    int
	}{
		{"the default is 2 retries", 0, 3},
		{"4 retries make 5 attempts", 4, 5},
		{"negative means no retry", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProducer(t, inst, Config{Group: "g" + strconv.Itoa(i), RetriesWhenSyncFailed: tc.retries})
			before := brokers[0].sends() + brokers[1].sends()
			_, err := p.Send(bg(t), newMessage("Refused", "x"))
			if !errors.Is(err, instance.ErrNoPermission) {
				t.Fatalf("error %v", err)
			}
			if n := brokers[0].sends() + brokers[1].sends() - before; n != tc.want {
				t.Fatalf("%d attempts", n)
			}
			var se *SendError
			if tc.want > 1 && (!errors.As(err, &se) || se.Attempts != tc.want || len(se.Brokers) != tc.want) {
				t.Fatalf("error %#v", err)
			}
		})
	}
}

// A broker that stores a message without flushing it in time answers FLUSH_DISK_TIMEOUT:
// the result is returned as it is, or, with RetryAnotherBroker, sent again elsewhere.
func TestFlushTimeoutResult(t *testing.T) {
	ns, brokers := fakeCluster(t, "Flush", 1, "a", "b")
	for _, b := range brokers {
		b.setAnswer(func(req *remoting.Command) *remoting.Command {
			resp := b.stored(req)
			resp.Code = int32(remoting.FlushDiskTimeout)
			return resp
		})
	}
	inst := startInstance(t, instanceConfig(ns.Addr()))
	t.Run("returned as it is by default", func(t *testing.T) {
		p := startProducer(t, inst, Config{Group: "g1"})
		r, err := p.Send(bg(t), newMessage("Flush", "x"))
		if err != nil || r.Status != instance.FlushDiskTimeout {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("sent again with RetryAnotherBroker, the last result kept", func(t *testing.T) {
		p := startProducer(t, inst, Config{Group: "g2", RetryAnotherBroker: true})
		before := brokers[0].sends() + brokers[1].sends()
		r, err := p.Send(bg(t), newMessage("Flush", "x"))
		if err != nil || r.Status != instance.FlushDiskTimeout {
			t.Fatalf("%+v %v", r, err)
		}
		if n := brokers[0].sends() + brokers[1].sends() - before; n != 3 {
			t.Fatalf("%d attempts", n)
		}
	})
}

// A broker that never answers: the attempt takes the whole SendTimeout, after which the
// send fails as a timeout (Java: RemotingTooMuchRequestException), not later.
func TestSendTimeout(t *testing.T) {
	ns, brokers := fakeCluster(t, "Silent", 1, "a")
	never := make(chan struct{})
	t.Cleanup(func() { close(never) }) // before the broker's shutdown, which waits for its handlers
	brokers[0].setAnswer(func(req *remoting.Command) *remoting.Command {
		<-never
		return nil
	})
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{SendTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := p.Send(bg(t), newMessage("Silent", "x"))
	if !errors.Is(err, instance.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("took %v for a 300ms timeout", d)
	}
	t.Run("async times out the same", func(t *testing.T) {
		done := make(chan error, 1)
		if err := p.SendAsync(bg(t), newMessage("Silent", "x"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, instance.ErrTimeout) {
				t.Fatalf("error %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no callback")
		}
	})
	t.Run("a context deadline earlier than SendTimeout wins", func(t *testing.T) {
		q := startProducer(t, inst, Config{Group: "long", SendTimeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := q.Send(ctx, newMessage("Silent", "x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Fatalf("took %v", d)
		}
	})
}

// A NameServer that does not answer holds a send to a topic with no route yet for
// SendTimeout, not for the NameServer's request timeout (twice over: the topic's route,
// then the default topic's). SendAsync returns, the send failed, just as soon.
func TestSendTimeoutBoundsTheRouteLookup(t *testing.T) {
	ns := remotingtest.NewServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ns.HandleConn(remoting.GetRouteInfoByTopic, func(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
		go func() {
			<-release
			_ = c.Respond(req, remoting.NewResponse(req, remoting.TopicNotExist, "no route"))
		}()
		return nil
	})
	cfg := instanceConfig(ns.Addr())
	cfg.RequestTimeout = time.Minute
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{SendTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name string
		send func() error
	}{
		{"Send", func() error { _, err := p.Send(context.Background(), newMessage("Unrouted", "x")); return err }},
		{"SendAsync", func() error {
			return p.SendAsync(context.Background(), newMessage("Unrouted", "x"), func(instance.SendResult, error) {})
		}},
	} {
		done := make(chan error, 1)
		go func() { done <- tc.send() }()
		select {
		case err := <-done:
			if !errors.Is(err, instance.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want a timeout", tc.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a SendTimeout of 200 ms still waits for the NameServer after 10 s", tc.name)
		}
	}
}

// An async send whose request cannot be written (its broker is gone) goes to the other
// broker; a broker's error answer is not retried (Java's sendMessageAsync).
func TestAsyncRetry(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b := newFakeBroker(t, "b")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // connections to it are refused
	r := remotingtest.Route(1, [2]string{"a", dead}, [2]string{"b", b.Addr()})
	ns.SetRoute("Async", r)
	inst := startInstance(t, instanceConfig(ns.Addr()))
	for _, coalesce := range []bool{false, true} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			asyncFailover(t, inst, coalesce, b)
		})
	}
	t.Run("an error answer is final", func(t *testing.T) {
		p := startProducer(t, inst, Config{Group: "final"})
		b.setAnswer(func(req *remoting.Command) *remoting.Command {
			return remoting.NewResponse(req, remoting.ServiceNotAvailable, "no")
		})
		defer b.setAnswer(nil)
		ns.SetRoute("AsyncB", remotingtest.Route(1, [2]string{"b", b.Addr()}))
		before := b.sends()
		done := make(chan error, 1)
		if err := p.SendAsync(bg(t), newMessage("AsyncB", "x"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, instance.ErrServiceNotAvailable) {
			t.Fatalf("error %v", err)
		}
		if n := b.sends() - before; n != 1 {
			t.Fatalf("%d attempts", n)
		}
	})
}

// asyncFailover sends async to a topic on a dead broker a and a live b: every send ends
// on b.
func asyncFailover(t *testing.T, inst *instance.Instance, coalesce bool, b *fakeBroker) {
	p := startProducer(t, inst, Config{Group: fmt.Sprint("failover", coalesce), Coalesce: CoalesceConfig{Enabled: coalesce}})
	send := func() (instance.SendResult, error) {
		type out struct {
			r   instance.SendResult
			err error
		}
		done := make(chan out, 1)
		if err := p.SendAsync(bg(t), newMessage("Async", "x"), func(r instance.SendResult, err error) { done <- out{r, err} }); err != nil {
			return instance.SendResult{}, err
		}
		o := <-done
		return o.r, o.err
	}
	for i := range 4 { // round robin puts every other first attempt on a
		res, err := send()
		if err != nil || res.Queue.BrokerName != "b" {
			t.Fatalf("send %d: %+v %v", i, res, err)
		}
	}
}

// A message to a retry topic carries RECONSUME_TIME and MAX_RECONSUME_TIMES in the
// header, not in its properties (sendKernelImpl).
func TestRetryTopicHeader(t *testing.T) {
	ns, brokers := fakeCluster(t, "%RETRY%cg", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true}})
	m := newMessage("%RETRY%cg", "again")
	m.Properties.Set(message.PropertyReconsumeTime, "3")
	m.Properties.Set(message.PropertyMaxReconsumeTimes, "16")
	if _, err := p.Send(bg(t), m); err != nil {
		t.Fatal(err)
	}
	reqs := brokers[0].Requests(remoting.SendMessageV2)
	if len(reqs) != 1 {
		t.Fatalf("%d single sends", len(reqs))
	}
	var h remoting.SendRequestV2
	_ = h.DecodeFields(reqs[0].Ext)
	if mx, ok := h.MaxReconsumeTimes.Get(); h.ReconsumeTimes != 3 || !ok || mx != 16 ||
		strings.Contains(h.Properties, message.PropertyReconsumeTime) || strings.Contains(h.Properties, message.PropertyMaxReconsumeTimes) {
		t.Fatalf("header %+v", h)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{&SendError{Topic: "T", Attempts: 3, Brokers: []string{"a", "b", "a"}, Err: errors.New("boom"), Timeout: true},
			[]string{"T", "3 attempt", "a, b, a", "out of time", "boom"}},
		{&HookError{Hook: "enricher", Err: errors.New("trap")}, []string{"enricher", "trap"}},
		{&timeoutError{topic: "T"}, []string{"T", "deadline"}},
		{&noQueueError{topic: "T"}, []string{"T", "no route"}},
		{&noQueueError{topic: "T", routed: true}, []string{"T", "no writable queue", "read-only"}},
		{&brokerNotFoundError{broker: "b"}, []string{"broker b"}},
		{&BatchError{Errs: []error{nil, errors.New("x"), errors.New("y")}}, []string{"message 1: x", "message 2: y"}},
	} {
		msg := tc.err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
	if !errors.Is(&noQueueError{}, instance.ErrTopicNotExist) || errors.Is(&noQueueError{}, ErrNoWritableQueue) ||
		!errors.Is(&noQueueError{routed: true}, ErrNoWritableQueue) || errors.Is(&noQueueError{routed: true}, instance.ErrTopicNotExist) ||
		!errors.Is(&timeoutError{}, instance.ErrTimeout) ||
		errors.Is(&SendError{Err: errors.New("x")}, instance.ErrTimeout) {
		t.Error("sentinels")
	}
	if CommitMessage.String() != "COMMIT_MESSAGE" || Unknown.String() != "UNKNOW" || LocalTransactionState(9).String() == "" {
		t.Error("state names")
	}
}

// The latency fault strategy: a broker that answered in 600 ms is left alone for 30 s
// (by the instance's clock), then chosen again.
func TestLatencyFaultToleranceAvoidsASlowBroker(t *testing.T) {
	ns, brokers := fakeCluster(t, "Slow", 2, "a", "b")
	a, b := brokers[0], brokers[1]
	var slow sync.Once
	a.setAnswer(func(req *remoting.Command) *remoting.Command {
		slow.Do(func() { time.Sleep(600 * time.Millisecond) }) // the broker's handler waits, once
		return nil
	})
	fc := fakeClock()
	cfg := instanceConfig(ns.Addr())
	cfg.Clock = fc
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{LatencyFaultTolerance: true})
	// Send until a has answered slowly once.
	for a.sends() == 0 {
		if _, err := p.Send(bg(t), newMessage("Slow", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if p.fault.available("a") {
		t.Fatal("a is available after a 600 ms answer")
	}
	aBefore := a.sends()
	for range 20 {
		r, err := p.Send(bg(t), newMessage("Slow", "x"))
		if err != nil || r.Queue.BrokerName != "b" {
			t.Fatalf("%+v %v", r, err)
		}
	}
	if a.sends() != aBefore {
		t.Fatal("a was chosen while unavailable")
	}
	fc.Advance(30 * time.Second)
	for range 4 {
		if _, err := p.Send(bg(t), newMessage("Slow", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if a.sends() == aBefore {
		t.Fatal("a was not chosen again after 30 s")
	}
	if b.sends() < 20 {
		t.Fatalf("b got %d sends", b.sends())
	}
}

// A route that changes (a broker joins) reaches the producer through the instance: the
// next sends use the new broker's queues.
func TestRouteChangeReachesTheProducer(t *testing.T) {
	ns, brokers := fakeCluster(t, "Growing", 2, "a")
	b := newFakeBroker(t, "b")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{})
	if _, err := p.Send(bg(t), newMessage("Growing", "x")); err != nil {
		t.Fatal(err)
	}
	ns.SetRoute("Growing", remotingtest.Route(2, [2]string{"a", brokers[0].Addr()}, [2]string{"b", b.Addr()}))
	if changed, err := inst.UpdateTopicRoute(bg(t), "Growing"); err != nil || !changed {
		t.Fatalf("route update: %v %v", changed, err)
	}
	for range 8 {
		if _, err := p.Send(bg(t), newMessage("Growing", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if b.sends() != 4 {
		t.Fatalf("the new broker got %d of 8 sends", b.sends())
	}
}

// A route lookup that read the instance's route just before a newer one arrived does not
// store the older over the newer (the instance handed the newer to the producer between
// the lookup's read and its store): the sends use the newer route.
func TestAStaleRouteLookupDoesNotUndoANewerRoute(t *testing.T) {
	ns, brokers := fakeCluster(t, "Racing", 2, "a")
	b := newFakeBroker(t, "b")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{})
	if _, err := p.Send(bg(t), newMessage("Racing", "x")); err != nil {
		t.Fatal(err)
	}
	e := p.topics.get("Racing")
	older := inst.PublishInfo("Racing") // what a lookup read
	ns.SetRoute("Racing", remotingtest.Route(2, [2]string{"a", brokers[0].Addr()}, [2]string{"b", b.Addr()}))
	if changed, err := inst.UpdateTopicRoute(bg(t), "Racing"); err != nil || !changed {
		t.Fatalf("route update: %v %v", changed, err)
	}
	p.storePublishInfo(e, older) // the lookup stores what it read, after the newer route
	if got := e.pub.Load().info; got != inst.PublishInfo("Racing") {
		t.Fatalf("the producer holds a route of %d queues, the instance's has %d", len(got.Queues),
			len(inst.PublishInfo("Racing").Queues))
	}
}

// A send whose caller gave up (an HTTP client gone) says nothing against its broker: the
// latency fault strategy records the time it took but does not isolate the broker, as
// Java's sendDefaultImpl does not for an interrupted send. Isolated, a healthy broker
// would be avoided for ten minutes because a client hung up.
func TestCancelledSendDoesNotIsolateItsBroker(t *testing.T) {
	ns, brokers := fakeCluster(t, "HangUp", 1, "a", "b")
	a := brokers[0]
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the broker's shutdown, which waits for its handlers
	a.setAnswer(func(req *remoting.Command) *remoting.Command {
		if string(req.Body) == "hang up" {
			arrived <- struct{}{}
			<-release
		}
		return nil
	})
	cfg := instanceConfig(ns.Addr())
	cfg.Clock = fakeClock() // no time passes for the strategy: only an isolation could make a unavailable
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{LatencyFaultTolerance: true})
	for cancelled := false; !cancelled; { // until a send to a is cancelled; those to b go through
		ctx, cancel := context.WithCancel(bg(t))
		done := make(chan error, 1)
		go func() { _, err := p.Send(ctx, newMessage("HangUp", "hang up")); done <- err }()
		select {
		case <-arrived:
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled send: %v", err)
			}
			cancelled = true
		case err := <-done:
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	before := a.sends()
	for i := range 4 {
		if _, err := p.Send(bg(t), newMessage("HangUp", "x")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if a.sends() == before {
		t.Fatal("broker a is avoided after a send to it was cancelled by its caller")
	}
}

// trappingHook is an RPC hook (a plugin, say) that fails every request whose body is
// "trap".
type trappingHook struct{}

func (trappingHook) BeforeRequest(_ string, req *remoting.Command) error {
	if string(req.Body) == "trap" {
		return errors.New("plugin trapped")
	}
	return nil
}

func (trappingHook) AfterResponse(string, *remoting.Command, *remoting.Command) error { return nil }

// An RPC hook that fails (a plugin that traps) says nothing against the broker of the
// request it ran around: the latency fault strategy does not isolate the broker for it,
// as Java's sendDefaultImpl records nothing when an RPC hook throws. Isolated, every
// broker would be avoided for ten minutes after a few traps.
func TestFailedRPCHookDoesNotIsolateTheBroker(t *testing.T) {
	ns, brokers := fakeCluster(t, "Trapped", 1, "a", "b")
	a, b := brokers[0], brokers[1]
	cfg := instanceConfig(ns.Addr())
	cfg.Clock = fakeClock() // no time passes for the strategy: only an isolation could make a broker unavailable
	cfg.RPCHooks = []instance.RPCHook{trappingHook{}}
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{LatencyFaultTolerance: true})
	for i := range 2 { // one attempt on each broker
		if _, err := p.Send(bg(t), newMessage("Trapped", "trap")); err == nil || !strings.Contains(err.Error(), "plugin trapped") {
			t.Fatalf("trapped send %d: %v", i, err)
		}
	}
	aBefore, bBefore := a.sends(), b.sends()
	for i := range 4 {
		if _, err := p.Send(bg(t), newMessage("Trapped", "x")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if a.sends() == aBefore || b.sends() == bBefore {
		t.Fatalf("a got %d of 4 sends, b %d: a broker is avoided after an RPC hook failed", a.sends()-aBefore, b.sends()-bBefore)
	}
}

// A send called past its context's deadline makes no attempt, its route at hand or not:
// the first attempt's check, which takes the call's own clock reading when nothing since
// can have taken long, sees the time up.
func TestSendPastItsDeadlineMakesNoAttempt(t *testing.T) {
	ns, brokers := fakeCluster(t, "Late", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{})
	late := func() {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		defer cancel()
		if _, err := p.Send(ctx, newMessage("Late", "x")); !errors.Is(err, instance.ErrTimeout) {
			t.Fatalf("a send past its deadline: %v, want a timeout", err)
		}
	}
	late() // no route yet
	if _, err := p.Send(bg(t), newMessage("Late", "on time")); err != nil {
		t.Fatal(err)
	}
	late() // the route at hand
	if n := brokers[0].Count(remoting.SendMessageV2); n != 1 {
		t.Fatalf("the broker got %d sends, want the one on time", n)
	}
}
