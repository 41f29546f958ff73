package consumer

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

func TestComputePullFromWhere(t *testing.T) {
	mq := instanceMQ("T", 1)
	retry := instanceMQ("%RETRY%unit_g", 0)
	stamp := time.Date(2026, 2, 28, 11, 30, 0, 0, time.UTC)
	errDown := errors.New("broker down")
	tests := []struct {
		name    string
		from    remoting.ConsumeFromWhere
		mq      instance.MessageQueue
		stored  int64 // -1: none stored
		readErr error
		want    int64
		wantErr bool
		search  bool
	}{
		{"stored offset wins (last)", remoting.ConsumeFromLastOffset, mq, 42, nil, 42, false, false},
		{"stored offset wins (first)", remoting.ConsumeFromFirstOffset, mq, 42, nil, 42, false, false},
		{"stored offset wins (timestamp)", remoting.ConsumeFromTimestamp, mq, 42, nil, 42, false, false},
		{"stored zero is an offset", remoting.ConsumeFromLastOffset, mq, 0, nil, 0, false, false},
		{"new group, last: the max offset", remoting.ConsumeFromLastOffset, mq, -1, nil, 500, false, false},
		{"new group, last, retry topic: 0", remoting.ConsumeFromLastOffset, retry, -1, nil, 0, false, false},
		{"new group, first: 0", remoting.ConsumeFromFirstOffset, mq, -1, nil, 0, false, false},
		{"new group, first, retry topic: 0", remoting.ConsumeFromFirstOffset, retry, -1, nil, 0, false, false},
		{"new group, timestamp: searched", remoting.ConsumeFromTimestamp, mq, -1, nil, 777, false, true},
		{"new group, timestamp, retry topic: the max offset", remoting.ConsumeFromTimestamp, retry, -1, nil, 500, false, false},
		{"store unreachable: no offset, queue not taken", remoting.ConsumeFromLastOffset, mq, -1, errDown, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnitConsumer(t, Config{ConsumeFromWhere: tt.from, ConsumeTimestamp: stamp})
			u.consumeTimestamp = stamp
			u.remote.maxOffsets[tt.mq] = 500
			if tt.stored >= 0 {
				u.offsets.stored[tt.mq] = tt.stored
			}
			u.offsets.readErr = tt.readErr
			got, err := u.computePullFromWhere(ctxFor(t, timeoutUnit), tt.mq)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("= %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
			if tt.search && !slices.Equal(u.remote.searched, []int64{stamp.UnixMilli()}) {
				t.Errorf("searched %v, want the consume timestamp", u.remote.searched)
			}
		})
	}
}

func heldSet(c *PushConsumer, topic string) []int32 {
	var out []int32
	for _, pq := range c.queues() {
		if pq.mq.Topic == topic {
			out = append(out, pq.mq.QueueID)
		}
	}
	slices.Sort(out)
	return out
}

// The rebalance through each native strategy: this consumer's share of 8 queues among 3
// consumers, taken from where the offsets say and pulled at once.
func TestRebalanceWithTheNativeStrategies(t *testing.T) {
	queues := make([]instance.MessageQueue, 8)
	for i := range queues {
		queues[i] = instanceMQ("T", i)
	}
	ids := []string{"10.0.0.2@b", "10.0.0.1@unit", "10.0.0.0@a"} // sorted by the rebalance: unit is second
	tests := []struct {
		name     string
		strategy instance.AllocateStrategy
		want     []int32
	}{
		{"averagely (REMOTING.md: c1 {3,4,5})", Averagely(), []int32{3, 4, 5}},
		{"by circle (REMOTING.md: c1 {1,4,7})", AveragelyByCircle(), []int32{1, 4, 7}},
		{"by config", ByConfig([]instance.MessageQueue{queues[6], queues[2], instanceMQ("Other", 0)}), []int32{2, 6}},
		{"by machine room, no room matches", ByMachineRoom([]string{"room1"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnitConsumer(t, Config{Strategy: tt.strategy})
			u.remote.queues["T"] = queues
			u.remote.ids = ids
			u.rebalanceNow(t)
			if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, tt.want) {
				t.Fatalf("held %v, want %v", got, tt.want)
			}
			if len(tt.want) > 0 && u.remote.heartbeats != 1 {
				t.Errorf("%d heartbeats after the change, want 1", u.remote.heartbeats)
			}
			waitFor(t, timeoutUnit, "the first pulls issued", func() bool {
				ready, later := u.sched.pending()
				return ready == 0 && later == len(tt.want) // no broker address: backed off
			})
		})
	}
}

// badStrategy answers whatever it is told to.
type badStrategy struct {
	idx []int
	err error
}

func (badStrategy) Name() string { return "BAD" }
func (s badStrategy) Allocate(string, string, []string, []instance.MessageQueue) ([]int, error) {
	return s.idx, s.err
}

type panicStrategy struct{}

func (panicStrategy) Name() string { return "PANIC" }
func (panicStrategy) Allocate(string, string, []string, []instance.MessageQueue) ([]int, error) {
	panic("plugin crashed")
}

// A strategy that fails or answers indices that do not name the queues leaves the queues
// as they were, and the error is reported.
func TestRebalanceKeepsQueuesWhenTheStrategyIsWrong(t *testing.T) {
	queues := []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1), instanceMQ("T", 2)}
	for _, tt := range []struct {
		name     string
		strategy instance.AllocateStrategy
	}{
		{"index out of range", badStrategy{idx: []int{0, 3}}},
		{"negative index", badStrategy{idx: []int{-1}}},
		{"index twice", badStrategy{idx: []int{1, 1}}},
		{"error", badStrategy{err: errors.New("wasm trap")}},
		{"panic", panicStrategy{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &switchable{AllocateStrategy: Averagely()}
			u := newUnitConsumer(t, Config{Strategy: s})
			u.remote.queues["T"] = queues
			u.remote.ids = []string{"10.0.0.1@unit"}
			u.rebalanceNow(t)
			if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1, 2}) {
				t.Fatalf("held %v before", got)
			}
			s.AllocateStrategy = tt.strategy
			u.remote.ids = []string{"10.0.0.1@unit", "10.0.0.9@other"}
			err := u.rebalanceTopic(ctxFor(t, timeoutUnit), "T")
			if !errors.Is(err, ErrStrategy) {
				t.Errorf("rebalance = %v, want ErrStrategy", err)
			}
			if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1, 2}) {
				t.Errorf("held %v after a bad answer, want the queues kept", got)
			}
		})
	}
}

type switchable struct{ instance.AllocateStrategy }

// Consumers joining and leaving move queues: dropped ones persist their offsets, taken ones
// start from the stored offsets; the consumer id list is sorted before allocation.
func TestRebalanceJoinAndLeave(t *testing.T) {
	u := newUnitConsumer(t, Config{})
	queues := []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1), instanceMQ("T", 2), instanceMQ("T", 3)}
	u.remote.queues["T"] = queues
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.offsets.stored[queues[3]] = 33
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("alone: %v", got)
	}
	pq3 := u.table[queues[3]]
	if pq3.nextOffset.Load() != 33 {
		t.Errorf("queue 3 starts at %d, want the stored 33", pq3.nextOffset.Load())
	}
	u.offsets.update(queues[3], 40, true) // consumed meanwhile
	u.remote.ids = []string{"10.0.0.2@b", "10.0.0.1@unit"}
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("with a second consumer: %v", got)
	}
	if !pq3.isDropped() {
		t.Error("queue 3 not dropped")
	}
	if off, ok := u.offsets.storedOffset(queues[3]); !ok || off != 40 {
		t.Errorf("queue 3's offset persisted at the drop: %d %v, want 40", off, ok)
	}
	if _, ok := u.offsets.readMemory(queues[3]); ok {
		t.Error("queue 3's offset still in memory")
	}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("after the leave: %v", got)
	}
	if pq := u.table[queues[3]]; pq == pq3 || pq.nextOffset.Load() != 40 {
		t.Errorf("queue 3 taken anew at %d, want 40", pq.nextOffset.Load())
	}
	if n := u.rebalances.Load(); n != 3 {
		t.Errorf("%d rebalances counted", n)
	}
}

// An orderly consumer takes only the queues it could lock.
func TestRebalanceOrderlyLocksFirst(t *testing.T) {
	u := newUnitConsumer(t, Config{Orderly: true})
	u.remote.queues["T"] = []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1)}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.remote.lockable = func(mq instance.MessageQueue) bool { return mq.QueueID == 1 }
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{1}) {
		t.Fatalf("held %v, want the locked queue 1", got)
	}
	if pq := u.table[instanceMQ("T", 1)]; !pq.locked.Load() {
		t.Error("queue 1 not marked locked")
	}
	if len(u.remote.locks) != 1 || len(u.remote.locks[0]) != 2 {
		t.Errorf("lock requests %v, want one for both queues", u.remote.locks)
	}
}

// An orderly rebalance superseded after locking its new queues (the group changed again)
// releases the locks of those it did not take: the next rebalance may give them to another
// consumer, whose lock the broker would refuse until the lock expired (60 s). The unlock
// is waited for: sent oneway, the broker may handle it after the next rebalance's lock of
// the same queues (requests on a connection run concurrently there) and release locks
// this consumer then consumes under, which let another consumer deliver a queue's
// message while this one still had it leased (out of order; seen on the dev cluster).
func TestRebalanceOrderlySupersededReleasesTheLocksItDidNotUse(t *testing.T) {
	u := newUnitConsumer(t, Config{Orderly: true})
	q0, q1 := instanceMQ("T", 0), instanceMQ("T", 1)
	u.remote.queues["T"] = []instance.MessageQueue{q0, q1}
	u.remote.ids = []string{"10.0.0.1@unit"}
	u.remote.lockable = func(instance.MessageQueue) bool {
		u.RebalanceImmediately() // another consumer joins while the locks are taken
		return true
	}
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); len(got) != 0 {
		t.Fatalf("held %v after a superseded rebalance", got)
	}
	u.remote.mu.Lock()
	var unlocked []instance.MessageQueue
	for _, mqs := range u.remote.unlocks {
		unlocked = append(unlocked, mqs...)
	}
	oneway := u.remote.oneway
	u.remote.mu.Unlock()
	if oneway != 0 {
		t.Errorf("%d unlocks sent oneway, want each waited for", oneway)
	}
	slices.SortFunc(unlocked, instance.MessageQueue.Compare)
	if !slices.Equal(unlocked, []instance.MessageQueue{q0, q1}) {
		t.Errorf("unlocked %v, want the queues locked and not taken", unlocked)
	}
}

// A broadcasting queue answered PULL_OFFSET_MOVED is taken anew from the corrected
// offset, not from the one its file held, which the broker would answer the same way
// again; an offsets' write meanwhile, without the queue, keeps it.
func TestBroadcastingQueueResumesFromTheOffsetCorrectedAfterOffsetMoved(t *testing.T) {
	u := newUnitConsumer(t, Config{Model: remoting.Broadcasting})
	local := newLocalOffsetStore(t.TempDir(), "10.0.0.1@unit", "unit_g")
	u.PushConsumer.offsets = local
	mq, other := instanceMQ("T", 0), instanceMQ("T", 1)
	u.remote.queues["T"] = []instance.MessageQueue{mq, other}
	local.update(mq, 5, false) // consumed before the messages expired
	local.update(other, 7, false)
	if err := local.persistAll(ctxFor(t, timeoutUnit), []instance.MessageQueue{mq, other}, true); err != nil {
		t.Fatal(err)
	}
	u.rebalanceNow(t)
	pq := u.table[mq]
	if pq == nil || pq.nextOffset.Load() != 5 {
		t.Fatalf("queue not taken at 5: %+v", pq)
	}
	u.onPull(pq, nil, instance.PullResult{Status: instance.PullOffsetIllegal, NextBeginOffset: 100,
		MinOffset: 100, MaxOffset: 200}, nil)
	// As the scheduler does offsetIllegalDelay later, then the periodic write.
	u.correctOffset(pq, 100)
	if err := local.persistAll(ctxFor(t, timeoutUnit), u.heldQueues(), false); err != nil {
		t.Fatal(err)
	}
	u.rebalanceNow(t)
	pq2 := u.table[mq]
	if pq2 == nil {
		t.Fatal("queue not taken anew")
	}
	if got := pq2.nextOffset.Load(); got != 100 {
		t.Errorf("queue taken anew at offset %d, want the corrected 100", got)
	}
}

// Broadcasting takes every queue, asking nobody for the consumer list.
func TestRebalanceBroadcastingTakesAll(t *testing.T) {
	u := newUnitConsumer(t, Config{Model: remoting.Broadcasting})
	u.remote.queues["T"] = []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1)}
	u.remote.idsErr = errors.New("must not be asked")
	u.rebalanceNow(t)
	if got := heldSet(u.PushConsumer, "T"); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("held %v", got)
	}
	if u.subs.has("%RETRY%unit_g") {
		t.Error("broadcasting subscribed to the retry topic")
	}
}

// A rebalance that changes the queues gives the subscription a new version; pulls use it
// only once a heartbeat carried it to the brokers (else they would be answered
// SUBSCRIPTION_NOT_LATEST and back off).
func TestSubscriptionVersionReachesPullsAfterTheHeartbeat(t *testing.T) {
	u := newUnitConsumer(t, Config{})
	u.remote.queues["T"] = []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1)}
	u.remote.ids = []string{"10.0.0.1@unit"}
	before, _ := u.subs.forPull("T")
	u.remote.hbErr = errors.New("broker down")
	u.rebalanceNow(t)
	if sub, _ := u.subs.forPull("T"); sub.SubVersion != before.SubVersion {
		t.Errorf("pull version %d after a failed heartbeat, want %d", sub.SubVersion, before.SubVersion)
	}
	if v := u.ConsumerData().Subscriptions[1].SubVersion; v <= before.SubVersion {
		t.Errorf("heartbeat version %d not bumped from %d", v, before.SubVersion)
	}
	u.remote.hbErr = nil
	u.remote.ids = []string{"10.0.0.1@unit", "10.0.0.2@other"}
	u.rebalanceNow(t)
	sub, _ := u.subs.forPull("T")
	if want := u.ConsumerData().Subscriptions[1].SubVersion; sub.SubVersion != want {
		t.Errorf("pull version %d after the heartbeat, want %d", sub.SubVersion, want)
	}
}
