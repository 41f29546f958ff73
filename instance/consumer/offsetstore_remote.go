package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// offsetStore keeps a group's consumed offsets (Java's OffsetStore): in memory, updated
// as deliveries complete, and persisted — on the brokers for clustering
// (remoteOffsetStore), in a local file for broadcasting (localOffsetStore).
type offsetStore interface {
	// load reads what was persisted, where that is local.
	load() error
	// update sets mq's offset; increaseOnly keeps a larger one.
	update(mq instance.MessageQueue, offset int64, increaseOnly bool)
	// readMemory returns the offset in memory (READ_FROM_MEMORY).
	readMemory(mq instance.MessageQueue) (int64, bool)
	// readStore reads the persisted offset into memory and returns it; found is false
	// when none was ever persisted (READ_FROM_STORE).
	readStore(ctx context.Context, mq instance.MessageQueue) (offset int64, found bool, err error)
	// persist stores mq's offset (oneway for the brokers).
	persist(ctx context.Context, mq instance.MessageQueue) error
	// persistAll stores the offsets of mqs; the remote store forgets the others' (the
	// local store's file keeps them); sync waits for the brokers' answers.
	persistAll(ctx context.Context, mqs []instance.MessageQueue, sync bool) error
	// remove forgets mq's offset.
	remove(mq instance.MessageQueue)
	// table returns the offsets of topic's queues ("" for all).
	table(topic string) map[instance.MessageQueue]int64
}

// offsetTable is the in-memory table both stores share.
type offsetTable struct {
	mu sync.RWMutex
	m  map[instance.MessageQueue]*atomic.Int64
}

func (t *offsetTable) init() { t.m = make(map[instance.MessageQueue]*atomic.Int64) }

func (t *offsetTable) update(mq instance.MessageQueue, offset int64, increaseOnly bool) {
	t.mu.RLock()
	v := t.m[mq]
	t.mu.RUnlock()
	if v == nil {
		t.mu.Lock()
		if v = t.m[mq]; v == nil {
			v = new(atomic.Int64)
			v.Store(offset)
			t.m[mq] = v
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
	}
	if !increaseOnly {
		v.Store(offset)
		return
	}
	for { // Java's MixAll.compareAndIncreaseOnly
		old := v.Load()
		if offset <= old {
			return
		}
		if v.CompareAndSwap(old, offset) {
			return
		}
	}
}

func (t *offsetTable) readMemory(mq instance.MessageQueue) (int64, bool) {
	t.mu.RLock()
	v := t.m[mq]
	t.mu.RUnlock()
	if v == nil {
		return 0, false
	}
	return v.Load(), true
}

func (t *offsetTable) remove(mq instance.MessageQueue) {
	t.mu.Lock()
	delete(t.m, mq)
	t.mu.Unlock()
}

func (t *offsetTable) table(topic string) map[instance.MessageQueue]int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[instance.MessageQueue]int64, len(t.m))
	for mq, v := range t.m {
		if topic == "" || mq.Topic == topic {
			out[mq] = v.Load()
		}
	}
	return out
}

// remoteOffsetStore keeps a clustering group's offsets on the brokers (Java's
// RemoteBrokerOffsetStore): periodic persistence is oneway UPDATE_CONSUMER_OFFSET,
// shutdown's waits for the answers; a queue taken anew reads QUERY_CONSUMER_OFFSET.
type remoteOffsetStore struct {
	offsetTable
	inst  *instance.Instance
	group string
}

func newRemoteOffsetStore(inst *instance.Instance, group string) *remoteOffsetStore {
	s := &remoteOffsetStore{inst: inst, group: group}
	s.init()
	return s
}

func (s *remoteOffsetStore) load() error { return nil }

// brokerAddr returns the master of mq's broker, updating the route once when unknown.
func (s *remoteOffsetStore) brokerAddr(ctx context.Context, mq instance.MessageQueue) (string, error) {
	if b, ok := s.inst.FindBrokerAddrInSubscribe(mq.BrokerName, 0, true); ok {
		return b.Addr, nil
	}
	if _, err := s.inst.UpdateTopicRoute(ctx, mq.Topic); err != nil {
		return "", err
	}
	if b, ok := s.inst.FindBrokerAddrInSubscribe(mq.BrokerName, 0, false); ok {
		return b.Addr, nil
	}
	return "", fmt.Errorf("consumer: offset of %s: broker %s: %w", mq, mq.BrokerName, instance.ErrNoRoute)
}

func (s *remoteOffsetStore) readStore(ctx context.Context, mq instance.MessageQueue) (int64, bool, error) {
	addr, err := s.brokerAddr(ctx, mq)
	if err != nil {
		return 0, false, err
	}
	off, err := s.inst.QueryConsumerOffset(ctx, addr, &remoting.QueryConsumerOffsetRequest{
		ConsumerGroup: s.group, Topic: mq.Topic, QueueID: mq.QueueID})
	if errors.Is(err, instance.ErrOffsetNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("consumer: offset of %s: %w", mq, err)
	}
	s.update(mq, off, false)
	return off, true, nil
}

func (s *remoteOffsetStore) send(ctx context.Context, mq instance.MessageQueue, off int64, oneway bool) error {
	addr, err := s.brokerAddr(ctx, mq)
	if err != nil {
		return err
	}
	h := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: s.group, Topic: mq.Topic, QueueID: mq.QueueID, CommitOffset: off}
	if oneway {
		return s.inst.UpdateConsumerOffsetOneway(ctx, addr, h)
	}
	return s.inst.UpdateConsumerOffset(ctx, addr, h)
}

func (s *remoteOffsetStore) persist(ctx context.Context, mq instance.MessageQueue) error {
	off, ok := s.readMemory(mq)
	if !ok {
		return nil
	}
	return s.send(ctx, mq, off, true)
}

func (s *remoteOffsetStore) persistAll(ctx context.Context, mqs []instance.MessageQueue, sync bool) error {
	if len(mqs) == 0 {
		return nil
	}
	held := make(map[instance.MessageQueue]bool, len(mqs))
	for _, mq := range mqs {
		held[mq] = true
	}
	offsets := s.table("")
	var errs []error
	for mq, off := range offsets {
		if !held[mq] {
			s.remove(mq) // Java: remove unused mq
			continue
		}
		if err := s.send(ctx, mq, off, !sync); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", mq, err))
		}
	}
	return errors.Join(errs...)
}
