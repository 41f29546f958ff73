package producer

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

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// requestCounter is an RPC hook counting the requests sent, by code.
type requestCounter struct {
	mu sync.Mutex
	n  map[remoting.RequestCode]int
}

func (c *requestCounter) BeforeRequest(_ string, req *remoting.Command) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[remoting.RequestCode]int{}
	}
	c.n[req.RequestCode()]++
	return nil
}

func (c *requestCounter) AfterResponse(string, *remoting.Command, *remoting.Command) error {
	return nil
}

func (c *requestCounter) count(code remoting.RequestCode) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[code]
}

// 64 callers send concurrently with coalescing on: every caller gets its own distinct
// message id, offset id and queue offset; every message is stored exactly once, as sent;
// the callers' messages to one queue are stored in the order each caller sent them; and
// batches were really sent.
func TestCoalescingUnderConcurrency(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	counter := &requestCounter{}
	cfg := instanceConfig(c.NameServerAddr())
	cfg.RPCHooks = []instance.RPCHook{counter}
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true, MaxMessages: 8}})
	const topic, callers, each = "Coalesced", 64, 20
	if _, err := p.Send(bg(t), newMessage(topic, "warm up")); err != nil {
		t.Fatal(err)
	}

	type sent struct {
		caller, seq int
		r           instance.SendResult
	}
	results := make([][]sent, callers)
	var wg sync.WaitGroup
	for k := range callers {
		wg.Go(func() {
			for i := range each {
				m := newMessage(topic, fmt.Sprintf("caller %d message %d", k, i))
				m.SetTags(fmt.Sprintf("c%d", k))
				var r instance.SendResult
				var err error
				if k%2 == 0 { // half of them to one queue per caller, in order
					r, err = p.SendOrderly(bg(t), m, fmt.Sprintf("caller-%d", k))
				} else {
					r, err = p.Send(bg(t), m)
				}
				if err != nil {
					t.Errorf("caller %d message %d: %v", k, i, err)
					return
				}
				if r.MsgID != m.UniqKey() {
					t.Errorf("caller %d message %d: result id %s, message id %s", k, i, r.MsgID, m.UniqKey())
				}
				results[k] = append(results[k], sent{k, i, r})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	ids, offsetIDs, positions := map[string]sent{}, map[string]sent{}, map[string]sent{}
	for _, rs := range results {
		for _, s := range rs {
			pos := fmt.Sprintf("%d@%d", s.r.Queue.QueueID, s.r.QueueOffset)
			for what, m := range map[string]map[string]sent{"message id " + s.r.MsgID: ids, "offset id " + s.r.OffsetMsgID: offsetIDs, "position " + pos: positions} {
				key := what
				if o, dup := m[key]; dup {
					t.Fatalf("%s given to caller %d message %d and caller %d message %d", what, o.caller, o.seq, s.caller, s.seq)
				}
				m[key] = s
			}
		}
	}
	stored := pullTopic(t, inst, c.BrokerAddr(), topic, 4)
	seen := map[string]int{}
	for _, m := range stored {
		seen[m.UniqKey()]++
		s, ok := ids["message id "+m.UniqKey()]
		if !ok {
			continue // the warm-up
		}
		if want := fmt.Sprintf("caller %d message %d", s.caller, s.seq); string(m.Body) != want || m.Tags() != fmt.Sprintf("c%d", s.caller) {
			t.Fatalf("stored %q tags %q for %s", m.Body, m.Tags(), want)
		}
		if m.QueueID != s.r.Queue.QueueID || m.QueueOffset != s.r.QueueOffset || m.OffsetMsgID() != s.r.OffsetMsgID {
			t.Fatalf("%q stored at %d@%d (%s), result says %d@%d (%s)", m.Body, m.QueueID, m.QueueOffset, m.OffsetMsgID(),
				s.r.Queue.QueueID, s.r.QueueOffset, s.r.OffsetMsgID)
		}
	}
	if len(stored) != callers*each+1 {
		t.Fatalf("%d messages stored, want %d", len(stored), callers*each+1)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %s stored %d times", id, n)
		}
	}
	for k := 0; k < callers; k += 2 {
		for i := 1; i < each; i++ {
			if a, b := results[k][i-1].r, results[k][i].r; a.Queue != b.Queue || b.QueueOffset <= a.QueueOffset {
				t.Fatalf("caller %d: message %d at %v@%d after message %d at %v@%d", k, i, b.Queue, b.QueueOffset, i-1, a.Queue, a.QueueOffset)
			}
		}
	}
	batches, singles := counter.count(remoting.SendBatchMessage), counter.count(remoting.SendMessageV2)
	t.Logf("%d messages in %d batches and %d single sends", callers*each, batches, singles)
	if batches == 0 || batches+singles >= callers*each {
		t.Fatalf("%d batches, %d single sends for %d messages: nothing was coalesced", batches, singles, callers*each)
	}
}

// Async sends coalesce too: every callback comes once with its own result.
func TestCoalescingAsync(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	counter := &requestCounter{}
	cfg := instanceConfig(c.NameServerAddr())
	cfg.RPCHooks = []instance.RPCHook{counter}
	inst := startInstance(t, cfg)
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true}})
	const topic, n = "CoalescedAsync", 2000
	if _, err := p.Send(bg(t), newMessage(topic, "warm up")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]instance.SendResult{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		m := newMessage(topic, fmt.Sprint("async ", i))
		err := p.SendAsync(bg(t), m, func(r instance.SendResult, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[r.MsgID]; dup {
				t.Errorf("result for %s twice", r.MsgID)
			}
			got[r.MsgID] = r
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d results for %d sends", len(got), n)
	}
	if stored := pullTopic(t, inst, c.BrokerAddr(), topic, 4); len(stored) != n+1 {
		t.Fatalf("%d stored", len(stored))
	}
	t.Logf("%d batches, %d singles", counter.count(remoting.SendBatchMessage), counter.count(remoting.SendMessageV2))
	if counter.count(remoting.SendBatchMessage) == 0 {
		t.Fatal("nothing was coalesced")
	}
}

// With Linger, the first caller to an idle queue waits for company: concurrent callers
// share one batch even when no request is in flight.
func TestCoalescingLinger(t *testing.T) {
	ns, brokers := fakeCluster(t, "Lingering", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour, MaxMessages: 4}})
	var wg sync.WaitGroup
	rs := make([]instance.SendResult, 4)
	for k := range 4 {
		wg.Go(func() {
			var err error
			if rs[k], err = p.Send(bg(t), newMessage("Lingering", fmt.Sprint(k))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // a full batch ends the hour-long linger
	b := brokers[0]
	if b.Count(remoting.SendBatchMessage) != 1 || b.Count(remoting.SendMessageV2) != 0 {
		t.Fatalf("%d batches, %d singles", b.Count(remoting.SendBatchMessage), b.Count(remoting.SendMessageV2))
	}
	msgs, err := message.DecodeBatch(b.Requests(remoting.SendBatchMessage)[0].Body)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("batch of %d (%v)", len(msgs), err)
	}
	offsets := map[int64]bool{}
	for _, r := range rs {
		offsets[r.QueueOffset] = true
	}
	if len(offsets) != 4 {
		t.Fatalf("offsets %v", offsets)
	}
}

// A failed batch fails each caller's attempt as a single send would: Send retries (on
// another broker), a selector send does not.
func TestCoalescedFailureIsPerCaller(t *testing.T) {
	ns, brokers := fakeCluster(t, "Flaky", 1, "a", "b")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true}})
	a, b := brokers[0], brokers[1]
	release := make(chan struct{})
	var held atomic.Int32
	a.setAnswer(func(req *remoting.Command) *remoting.Command {
		if held.Add(1) == 1 {
			<-release // hold the first request, so that the others line up behind it
		}
		return remoting.NewResponse(req, remoting.ServiceNotAvailable, "disk full")
	})
	toA := QueueSelectorFunc(func(qs []instance.MessageQueue, _ *message.Message, _ any) int {
		for i, q := range qs {
			if q.BrokerName == "a" {
				return i
			}
		}
		return -1
	})
	const n = 8
	errs := make([]error, n)
	results := make([]instance.SendResult, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			m := newMessage("Flaky", fmt.Sprint(k))
			if k%2 == 0 {
				results[k], errs[k] = p.SendWithSelector(bg(t), m, toA, nil)
			} else {
				// A plain Send may start on b; the ones that start on a fail over to b.
				results[k], errs[k] = p.Send(bg(t), m)
			}
		})
	}
	waitFor(t, "the first request to a held", func() bool { return held.Load() >= 1 })
	waitFor(t, "callers lined up", func() bool {
		qb := p.entry("Flaky").batcher(instance.MessageQueue{Topic: "Flaky", BrokerName: "a", QueueID: 0})
		qb.mu.Lock()
		defer qb.mu.Unlock()
		return qb.n >= n/2-1
	})
	close(release)
	wg.Wait()
	for k := range n {
		if k%2 == 0 {
			if !errors.Is(errs[k], instance.ErrServiceNotAvailable) {
				t.Errorf("selector send %d: %v, want SERVICE_NOT_AVAILABLE without retry", k, errs[k])
			}
			continue
		}
		if errs[k] != nil || results[k].Queue.BrokerName != "b" {
			t.Errorf("send %d: %+v %v, want it stored on b", k, results[k], errs[k])
		}
	}
	if a.Count(remoting.SendBatchMessage) == 0 {
		t.Fatalf("nothing was coalesced on a (%d singles)", a.Count(remoting.SendMessageV2))
	}
	if b.sends() == 0 {
		t.Fatal("nothing failed over to b")
	}
}

// Messages that must go alone do, even with coalescing on.
func TestWhatIsNotCoalesced(t *testing.T) {
	p := &Producer{cfg: Config{Coalesce: CoalesceConfig{Enabled: true, MaxBytes: 2000}}}
	te := &topicEntry{wire: "T"}
	retry := &topicEntry{wire: "%RETRY%g"}
	for _, tc := range []struct {
		name string
		mode mode
		te   *topicEntry
		msg  func(m *message.Message)
		flag int32
		want bool
	}{
		{"a plain message is coalesced", modeSync, te, nil, 0, true},
		{"an async one too", modeAsync, te, nil, 0, true},
		{"a oneway message is not", modeOneway, te, nil, 0, false},
		{"a delayed message is not", modeSync, te, func(m *message.Message) { m.SetDelayLevel(3) }, 0, false},
		{"WAIT false is not", modeSync, te, func(m *message.Message) { m.SetWaitStoreMsgOK(false) }, 0, false},
		{"a retry topic is not", modeSync, retry, nil, 0, false},
		{"a compressed body is not", modeSync, te, nil, message.SysFlagCompressed, false},
		{"a half message is not", modeSync, te, nil, message.SysFlagTransactionPrepared, false},
		{"a message over MaxBytes is not", modeSync, te, func(m *message.Message) { m.Body = make([]byte, 2000) }, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMessage("T", "body")
			if tc.msg != nil {
				tc.msg(m)
			}
			c := &sendCall{msg: m, te: tc.te, mode: tc.mode, sysFlag: tc.flag}
			if got := p.coalescable(c, tc.flag&message.SysFlagTransactionPrepared != 0); got != tc.want {
				t.Fatalf("coalescable = %v", got)
			}
		})
	}
}

// A caller whose time runs out, or whose context is cancelled, while it waits in line is
// dropped from the batch: it gets its error and nothing of it is sent.
func TestCoalescedCallerLeavesTheLine(t *testing.T) {
	h := holdQueue(t, "Line", Config{})
	p, b := h.p, h.b

	deadline := time.Now().Add(50 * time.Millisecond)
	short, cancelShort := context.WithDeadline(context.Background(), deadline)
	defer cancelShort()
	gone, cancelGone := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	for _, ctx := range []context.Context{short, gone, bg(t)} {
		go func() {
			_, err := p.Send(ctx, newMessage("Line", "waiting"))
			errs <- err
		}()
	}
	h.waitInLine(3)
	cancelGone()
	waitFor(t, "the short deadline to pass", func() bool { return time.Now().After(deadline) })
	h.releaseFirst()
	var timeouts, cancels, oks int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			oks++
		case errors.Is(err, context.Canceled):
			cancels++
		case errors.Is(err, instance.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
			timeouts++
		default:
			t.Fatalf("error %v", err)
		}
	}
	if timeouts != 1 || cancels != 1 || oks != 1 {
		t.Fatalf("%d timeouts, %d cancellations, %d sent", timeouts, cancels, oks)
	}
	reqs := b.Requests(remoting.SendBatchMessage)
	if len(reqs) != 1 {
		t.Fatalf("%d batches", len(reqs))
	}
	if msgs, _ := message.DecodeBatch(reqs[0].Body); len(msgs) != 1 {
		t.Fatalf("the batch carried %d messages", len(msgs))
	}
}

// An async first caller lingers too; a full line sends the batch at once.
func TestCoalescingLingerAsync(t *testing.T) {
	ns, brokers := fakeCluster(t, "LingerAsync", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour, MaxMessages: 4}})
	done := make(chan error, 4)
	for k := range 4 {
		if err := p.SendAsync(bg(t), newMessage("LingerAsync", fmt.Sprint(k)), func(_ instance.SendResult, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a full batch waited for the linger")
		}
	}
	b := brokers[0]
	if b.Count(remoting.SendBatchMessage) != 1 || b.Count(remoting.SendMessageV2) != 0 {
		t.Fatalf("%d batches, %d singles", b.Count(remoting.SendBatchMessage), b.Count(remoting.SendMessageV2))
	}
}

// Shutdown sends what an async first caller lingers for rather than waiting out Linger.
func TestShutdownFlushesLingeringBatches(t *testing.T) {
	ns, brokers := fakeCluster(t, "LingerShut", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour}})
	done := make(chan error, 1)
	if err := p.SendAsync(bg(t), newMessage("LingerShut", "x"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(bg(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || brokers[0].sends() != 1 {
		t.Fatalf("%v after %d sends", err, brokers[0].sends())
	}
}

// calledBackBeforeShutdownReturned checks, once Shutdown has returned, that the async
// send whose callback writes to done was called back, without error.
func calledBackBeforeShutdownReturned(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("Shutdown returned before the async send's callback ran")
	}
}

// routeGate is an RPC hook holding route requests: those for a topic while its gate is
// set, each announced on arrived first.
type routeGate struct {
	mu      sync.Mutex
	gates   map[string]chan struct{}
	arrived chan string
}

func (g *routeGate) hold(topic string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gates[topic] = make(chan struct{})
}

func (g *routeGate) release(topic string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gates[topic])
	delete(g.gates, topic)
}

func (g *routeGate) BeforeRequest(_ string, req *remoting.Command) error {
	h, ok := req.Header.(*remoting.RouteInfoRequest)
	if !ok {
		return nil
	}
	g.mu.Lock()
	gate := g.gates[h.Topic]
	g.mu.Unlock()
	if gate != nil {
		g.arrived <- h.Topic
		<-gate
	}
	return nil
}

func (g *routeGate) AfterResponse(string, *remoting.Command, *remoting.Command) error { return nil }

// A send that finds no route drops its topic's entry, while another caller holding the
// entry finds the route, created meanwhile, and lingers in the entry's line: Shutdown
// still sends what it lingers for at once, rather than waiting out Linger.
func TestShutdownFlushesLingeringBatchesOfDroppedTopics(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b := newFakeBroker(t, "a")
	gate := &routeGate{gates: map[string]chan struct{}{}, arrived: make(chan string)}
	cfg := instanceConfig(ns.Addr())
	cfg.RPCHooks = []instance.RPCHook{gate}
	inst, err := instance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The producer first, so that the instance's first route refresh, at its start, is
	// of the default topic, and over before the sends.
	p := startProducer(t, inst, Config{SendTimeout: time.Minute, Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour}})
	if err := inst.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(bg(t)) })
	waitFor(t, "the first route refresh", func() bool { return ns.Count(remoting.GetRouteInfoByTopic) == 1 })
	const topic = "Appearing"

	// The first send learns that no NameServer knows the topic and holds, before it
	// asks for the default topic's route, until the second send asks for the topic's.
	gate.hold(message.AutoCreateTopicKey)
	firstErr := make(chan error, 1)
	go func() {
		_, err := p.Send(bg(t), newMessage(topic, "first"))
		firstErr <- err
	}()
	if got := <-gate.arrived; got != message.AutoCreateTopicKey {
		t.Fatalf("route request for %s, want the default topic's", got)
	}
	gate.hold(topic)
	done := make(chan error, 1)
	queued := make(chan error, 1)
	go func() {
		queued <- p.SendAsync(bg(t), newMessage(topic, "second"), func(_ instance.SendResult, err error) { done <- err })
	}()
	if got := <-gate.arrived; got != topic {
		t.Fatalf("route request for %s, want %s's", got, topic)
	}
	// The first send finds no route at all and drops the entry; then the topic appears.
	gate.release(message.AutoCreateTopicKey)
	if err := <-firstErr; err == nil {
		t.Fatal("a send with no route succeeded")
	}
	ns.SetRoute(topic, remotingtest.Route(1, [2]string{"a", b.Addr()}))
	gate.release(topic)
	if err := <-queued; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	calledBackBeforeShutdownReturned(t, done)
	if n := b.sends(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// An async send lingering when Shutdown begins is sent at once, fails (its broker is gone)
// and is sent again to the other broker: that retry, first to an idle queue, lingers no
// more than the flushed attempt did.
func TestShutdownFlushesLingeringRetries(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	live := newFakeBroker(t, "a")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // connections to it are refused
	const topic = "RetryShut"
	ns.SetRoute(topic, remotingtest.Route(1, [2]string{"a", live.Addr()}, [2]string{"b", dead}))
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{SendTimeout: time.Minute, Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour}})
	done := make(chan error, 1)
	if err := p.SendAsync(bg(t), newMessage(topic, "x"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	qb := p.entry(topic).batcher(instance.MessageQueue{Topic: topic, BrokerName: "b"})
	qb.mu.Lock()
	onDead := qb.linger != nil
	qb.mu.Unlock()
	if !onDead {
		t.Fatal("the first attempt does not linger on the dead broker's queue")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Unregistering from the dead broker fails; the wait for the send must not.
	if err := p.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	calledBackBeforeShutdownReturned(t, done)
	if n := live.sends(); n != 1 {
		t.Fatalf("%d requests to the live broker, want 1", n)
	}
}

// An async send that joins the line of a synchronous caller lingering for company is sent
// at Shutdown too, with that caller's batch, rather than when its linger ends.
func TestShutdownFlushesLinesOfLingeringSyncSends(t *testing.T) {
	ns, brokers := fakeCluster(t, "SyncLinger", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{SendTimeout: time.Minute, Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour}})
	syncErr := make(chan error, 1)
	go func() {
		_, err := p.Send(bg(t), newMessage("SyncLinger", "sync"))
		syncErr <- err
	}()
	qb := p.entry("SyncLinger").batcher(instance.MessageQueue{Topic: "SyncLinger", BrokerName: "a"})
	waitFor(t, "the sync send lingering", func() bool { qb.mu.Lock(); defer qb.mu.Unlock(); return qb.linger != nil })
	done := make(chan error, 1)
	if err := p.SendAsync(bg(t), newMessage("SyncLinger", "async"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	calledBackBeforeShutdownReturned(t, done)
	if err := <-syncErr; err != nil {
		t.Fatal(err)
	}
	if n := brokers[0].Count(remoting.SendBatchMessage); n != 1 {
		t.Fatalf("%d batches, want 1", n)
	}
}

// growingHook gives a message whose body is "big" a property of 32 KiB, past what a
// message's properties may take: what a careless enricher could do.
type growingHook struct{}

func (growingHook) BeforeSend(_ context.Context, evs []instance.SendEvent) error {
	for i := range evs {
		if string(evs[i].Message.Body) == "big" {
			evs[i].Message.Properties.Set("x-huge", strings.Repeat("x", 32<<10))
		}
	}
	return nil
}

func (growingHook) AfterSend(context.Context, []instance.SendEvent) {}

// A message of a coalesced batch that cannot be encoded fails alone, with
// ErrMessageTooLarge: the others, coalesced with it by chance, are sent.
func TestCoalescedMessageTooLargeFailsAlone(t *testing.T) {
	h := holdQueue(t, "Props", Config{Hooks: []instance.SendHook{growingHook{}}})
	p, b := h.p, h.b
	var bigErr, otherErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, bigErr = p.Send(bg(t), newMessage("Props", "big")) })
	h.waitInLine(1)
	wg.Go(func() { _, otherErr = p.Send(bg(t), newMessage("Props", "other")) })
	h.waitInLine(2)
	h.releaseFirst()
	wg.Wait()
	if !errors.Is(bigErr, message.ErrMessageTooLarge) {
		t.Errorf("the message grown too large: %v, want ErrMessageTooLarge", bigErr)
	}
	if otherErr != nil {
		t.Errorf("the message coalesced with it: %v", otherErr)
	}
	if n := b.sends(); n != 2 {
		t.Errorf("%d requests, want the first and the other's", n)
	}
}

// A lone caller lingers at most half the time its send has left, not the whole Linger:
// with a Linger longer than the send timeout, its send would otherwise time out waiting.
func TestLingerIsBoundedByTheSendsDeadline(t *testing.T) {
	ns, brokers := fakeCluster(t, "Lone", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{SendTimeout: 400 * time.Millisecond, Coalesce: CoalesceConfig{Enabled: true, Linger: time.Hour}})
	done := make(chan error, 1)
	go func() {
		_, err := p.Send(bg(t), newMessage("Lone", "sync"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a lone sync send, Linger over SendTimeout: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone sync send still lingers past its deadline")
	}
	if err := p.SendAsync(bg(t), newMessage("Lone", "async"), func(_ instance.SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a lone async send, Linger over SendTimeout: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone async send still lingers past its deadline")
	}
	if n := brokers[0].sends(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}
