package consumer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

const timeoutUnit = 5 * time.Second

func instanceMQ(topic string, q int) instance.MessageQueue {
	return instance.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: int32(q)}
}

// unitConsumer is a consumer on an instance that never starts: the cluster is a
// fakeRemote, the offsets a memOffsets, the clock a Fake. Its scheduler and workers run.
type unitConsumer struct {
	*PushConsumer
	clock   *clock.Fake
	remote  *fakeRemote
	offsets *memOffsets
	col     *collector
}

func newUnitConsumer(t testing.TB, cfg Config, subs ...string) *unitConsumer {
	t.Helper()
	fc := clock.NewFake(epoch)
	inst, err := instance.New(instance.Config{NameServers: []string{"127.0.0.1:9"}, ClientIP: "10.0.0.1",
		InstanceName: "unit", Clock: fc, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Group == "" {
		cfg.Group = "unit_g"
	}
	col := newCollector("unit")
	if cfg.Handler == nil {
		cfg.Handler = col
	}
	cfg.Clock = fc
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Model == remoting.Broadcasting && cfg.OffsetStoreDir == "" {
		cfg.OffsetStoreDir = t.TempDir()
	}
	c, err := New(inst, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := &unitConsumer{PushConsumer: c, clock: fc, remote: newFakeRemote(), offsets: newMemOffsets(), col: col}
	c.remote, c.offsets = u.remote, u.offsets
	if len(subs) == 0 {
		subs = []string{"T"}
	}
	for _, s := range subs {
		if err := c.Subscribe(s, "*"); err != nil {
			t.Fatal(err)
		}
	}
	c.subs.freeze(cfg.Group, c.cfg.Model, epoch.UnixMilli())
	stats := map[string]*topicStats{}
	for _, topic := range c.subs.topicList() {
		stats[topic] = &topicStats{}
	}
	c.stats.Store(&stats)
	c.startedAt = epoch
	c.consumeTimestamp = epoch.Add(-DefaultConsumeTimestampAge)
	c.state.Store(stateRunning)
	c.goOwned(func() { c.sched.loop(c.runCtx) })
	if !c.cfg.Orderly {
		for range c.cfg.ConsumeGoroutines {
			c.wg.Add(1)
			go c.worker()
		}
	}
	t.Cleanup(func() {
		c.state.Store(stateStopped)
		c.stop()
		c.stopConsume()
		// Goroutines may wait on the fake clock (an orderly batch in flight waits
		// OrderlyDropWait): move it until they are gone.
		done := make(chan struct{})
		go func() {
			c.wg.Wait()
			close(done)
		}()
		deadline := time.After(timeoutUnit)
		for {
			select {
			case <-done:
				return
			case <-deadline:
				t.Error("the consumer's goroutines did not end")
				return
			case <-time.After(time.Millisecond):
				fc.Advance(time.Second)
			}
		}
	})
	return u
}

// rebalanceNow runs a rebalance as the service goroutine would: taking the request first.
func (u *unitConsumer) rebalanceNow(t testing.TB) {
	select {
	case <-u.PushConsumer.rebalanceNow:
	default:
	}
	u.rebalance(ctxFor(t, timeoutUnit))
}

// addQueue makes the consumer hold mq from offset, without pulling it.
func (u *unitConsumer) addQueue(mq instance.MessageQueue, offset int64) *processQueue {
	pq := newProcessQueue(mq, u.cfg.Orderly, offset, u.topicStats()[mq.Topic], u.clock.Now())
	if pq.stats == nil {
		pq.stats = &topicStats{}
	}
	u.mu.Lock()
	u.table[mq] = pq
	u.mu.Unlock()
	return pq
}

// deliver puts msgs into pq and hands them to the workers, as a pull would.
func (u *unitConsumer) deliver(pq *processQueue, msgs []*message.Ext) {
	pq.put(msgs, msgs[len(msgs)-1].QueueOffset+1)
	if !u.cfg.Orderly {
		u.tasks.push(consumeTask{pq: pq, msgs: msgs})
	}
}

// fakeRemote is the cluster of unit tests.
type fakeRemote struct {
	mu          sync.Mutex
	id          string
	queues      map[string][]instance.MessageQueue
	ids         []string
	idsErr      error
	maxOffsets  map[instance.MessageQueue]int64
	searched    []int64 // timestamps asked
	offsetErr   error
	sendBackErr func(m *message.Ext) error
	sentBack    []sentBack
	lockable    func(mq instance.MessageQueue) bool
	locks       [][]instance.MessageQueue
	unlocks     [][]instance.MessageQueue
	oneway      int // unlocks sent oneway
	heartbeats  int
	hbErr       error
}

type sentBack struct {
	offset     int64
	delayLevel int32
	topic      string
	max        int32
}

func newFakeRemote() *fakeRemote {
	return &fakeRemote{id: "10.0.0.1@unit", queues: map[string][]instance.MessageQueue{},
		maxOffsets: map[instance.MessageQueue]int64{}}
}

func (r *fakeRemote) clientID() string { return r.id }

func (r *fakeRemote) subscribeInfo(topic string) []instance.MessageQueue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queues[topic]
}

func (r *fakeRemote) consumerIDs(context.Context, string, string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids), r.idsErr
}

func (r *fakeRemote) heartbeat(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heartbeats++
	return r.hbErr
}

func (r *fakeRemote) maxOffset(_ context.Context, mq instance.MessageQueue) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offsetErr != nil {
		return 0, r.offsetErr
	}
	return r.maxOffsets[mq], nil
}

func (r *fakeRemote) searchOffset(_ context.Context, _ instance.MessageQueue, ts int64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.searched = append(r.searched, ts)
	if r.offsetErr != nil {
		return 0, r.offsetErr
	}
	return 777, nil
}

func (r *fakeRemote) sendBack(_ context.Context, _ string, m *message.Ext, h *remoting.ConsumerSendMsgBackRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sendBackErr != nil {
		if err := r.sendBackErr(m); err != nil {
			return err
		}
	}
	max, _ := h.MaxReconsumeTimes.Get()
	r.sentBack = append(r.sentBack, sentBack{offset: m.QueueOffset, delayLevel: h.DelayLevel, topic: h.OriginTopic, max: max})
	return nil
}

func (r *fakeRemote) sent() []sentBack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sentBack)
}

// unlocked returns the queue sets unlocked so far, a request each.
func (r *fakeRemote) unlocked() [][]instance.MessageQueue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.unlocks)
}

func (r *fakeRemote) lock(_ context.Context, _ string, body *remoting.LockBatchRequestBody) ([]instance.MessageQueue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.locks = append(r.locks, slices.Clone(body.MQSet))
	var out []instance.MessageQueue
	for _, mq := range body.MQSet {
		if r.lockable == nil || r.lockable(mq) {
			out = append(out, mq)
		}
	}
	return out, nil
}

func (r *fakeRemote) unlock(_ context.Context, _ string, body *remoting.LockBatchRequestBody, oneway bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlocks = append(r.unlocks, slices.Clone(body.MQSet))
	if oneway {
		r.oneway++
	}
	return nil
}

// memOffsets is an offset store whose "persisted" side is a map.
type memOffsets struct {
	offsetTable
	mu        sync.Mutex
	stored    map[instance.MessageQueue]int64
	readErr   error
	persisted []instance.MessageQueue
}

func newMemOffsets() *memOffsets {
	s := &memOffsets{stored: map[instance.MessageQueue]int64{}}
	s.init()
	return s
}

func (s *memOffsets) load() error { return nil }

func (s *memOffsets) readStore(_ context.Context, mq instance.MessageQueue) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return 0, false, s.readErr
	}
	off, ok := s.stored[mq]
	if ok {
		s.update(mq, off, false)
	}
	return off, ok, nil
}

func (s *memOffsets) persist(_ context.Context, mq instance.MessageQueue) error {
	off, ok := s.readMemory(mq)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.persisted = append(s.persisted, mq)
	if ok {
		s.stored[mq] = off
	}
	return nil
}

func (s *memOffsets) persistAll(ctx context.Context, mqs []instance.MessageQueue, _ bool) error {
	for _, mq := range mqs {
		_ = s.persist(ctx, mq)
	}
	return nil
}

func (s *memOffsets) storedOffset(mq instance.MessageQueue) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.stored[mq]
	return off, ok
}

var errBrokerDown = errors.New("broker down")

// committed returns the offset in memory of mq, -1 when none.
func (u *unitConsumer) committed(mq instance.MessageQueue) int64 {
	off, ok := u.offsets.readMemory(mq)
	if !ok {
		return -1
	}
	return off
}
