package consumer

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

var (
	epoch  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testMQ = instance.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}
	noLim  = limits{count: 1 << 30, sizeMiB: 1 << 30}
)

// msgsAt returns messages at the offsets, each with a body of size bytes.
func msgsAt(size int, offsets ...int64) []*message.Ext {
	out := make([]*message.Ext, len(offsets))
	for i, o := range offsets {
		out[i] = &message.Ext{QueueOffset: o, Message: message.Message{Topic: "T", Body: make([]byte, size)}}
	}
	return out
}

func offsetsOf(msgs []*message.Ext) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.QueueOffset
	}
	return out
}

func TestProcessQueueCommitsTheSmallestOffsetInProcess(t *testing.T) {
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	m := msgsAt(10, 5, 6, 7, 9) // 8 was filtered out by tag
	pq.put(m, 20)
	steps := []struct {
		name   string
		remove []*message.Ext
		want   int64
		count  int
	}{
		{"the newest consumed first: the oldest still holds the offset", m[3:4], 5, 3},
		{"a middle one: still the oldest", m[1:2], 5, 2},
		{"the oldest: the next one in process", m[0:1], 7, 1},
		{"removing it again changes nothing", m[0:1], 7, 1},
		{"the last: the offset after the last message put", m[2:3], 10, 0},
		{"nothing held: -1", m[2:3], -1, 0},
	}
	for _, s := range steps {
		got, _ := pq.remove(s.remove, noLim, epoch)
		count, bytes := pq.held()
		if got != s.want || count != s.count || bytes != int64(10*s.count) {
			t.Errorf("%s: commit %d held %d (%d bytes), want %d held %d", s.name, got, count, bytes, s.want, s.count)
		}
	}
}

func TestProcessQueueSkipsMessagesHeldAlready(t *testing.T) {
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	pq.put(msgsAt(1, 1, 2, 3), 4)
	pq.put(msgsAt(1, 2, 3, 4), 5) // a pull answered twice
	if count, _ := pq.held(); count != 4 {
		t.Fatalf("held %d messages, want 4", count)
	}
	if pq.accCnt != 1 {
		t.Errorf("accumulated %d, want max offset 5 - last offset 4", pq.accCnt)
	}
}

// Completions in random order, thousands of messages: the committed offset is always the
// smallest offset not yet removed, and compaction keeps the lookups right.
func TestProcessQueueRandomCompletions(t *testing.T) {
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	var all []*message.Ext
	next := int64(100)
	rng := rand.New(rand.NewPCG(1, 2))
	open := map[int64]bool{}
	for round := range 200 {
		batch := make([]int64, 0, 32)
		for range 1 + rng.IntN(32) {
			next += 1 + int64(rng.IntN(3)) // gaps: filtered messages
			batch = append(batch, next)
		}
		ms := msgsAt(1, batch...)
		pq.put(ms, next+10)
		all = append(all, ms...)
		for _, m := range ms {
			open[m.QueueOffset] = true
		}
		// complete a random third of what is open
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		k := len(all) / 3
		done := all[:k]
		all = slices.Clone(all[k:])
		for _, m := range done {
			delete(open, m.QueueOffset)
		}
		got, _ := pq.remove(done, noLim, epoch)
		want := next + 1
		if len(open) > 0 {
			want = slices.Min(slices.Collect(mapKeys(open)))
		}
		if len(done) > 0 && got != want {
			t.Fatalf("round %d: commit %d, want %d", round, got, want)
		}
		if count, _ := pq.held(); count != len(open) {
			t.Fatalf("round %d: held %d, want %d", round, count, len(open))
		}
	}
}

func mapKeys(m map[int64]bool) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestProcessQueueOrderlyTakeCommitGiveBack(t *testing.T) {
	pq := newProcessQueue(testMQ, true, 0, &topicStats{}, epoch)
	pq.put(msgsAt(1, 10, 11, 12, 13, 14), 15)
	if got := offsetsOf(pq.take(2, epoch)); !slices.Equal(got, []int64{10, 11}) {
		t.Fatalf("take 2 = %v", got)
	}
	if got := offsetsOf(pq.take(2, epoch)); !slices.Equal(got, []int64{12, 13}) {
		t.Fatalf("next take 2 = %v", got)
	}
	info := pq.info(10)
	if info.TransactionMsgCount != 4 || info.TransactionMsgMinOffset != 10 || info.TransactionMsgMaxOffset != 13 ||
		info.CachedMsgCount != 1 || info.CachedMsgMinOffset != 14 {
		t.Errorf("info while consuming: %+v", info)
	}
	pq.giveBack()
	if got := offsetsOf(pq.take(3, epoch)); !slices.Equal(got, []int64{10, 11, 12}) {
		t.Fatalf("take after give back = %v", got)
	}
	// The first one consumed, the other two failed: commit 1, they come again.
	if off, _ := pq.commit(1, noLim); off != 11 {
		t.Errorf("partial commit = %d, want 11", off)
	}
	if got := offsetsOf(pq.take(10, epoch)); !slices.Equal(got, []int64{11, 12, 13, 14}) {
		t.Fatalf("take after partial commit = %v", got)
	}
	if off, _ := pq.commit(4, noLim); off != 15 {
		t.Errorf("commit all = %d, want 15", off)
	}
	if off, _ := pq.commit(1, noLim); off != -1 {
		t.Errorf("commit of nothing = %d, want -1", off)
	}
	if pq.hasMessages() {
		t.Error("messages left")
	}
}

func TestProcessQueueBumpReconsumeCopies(t *testing.T) {
	pq := newProcessQueue(testMQ, true, 0, &topicStats{}, epoch)
	orig := msgsAt(1, 3)
	pq.put(orig, 4)
	taken := pq.take(1, epoch)
	pq.giveBack()
	pq.bumpReconsume(taken)
	again := pq.take(1, epoch)
	if orig[0].ReconsumeTimes != 0 || again[0].ReconsumeTimes != 1 || again[0] == orig[0] {
		t.Errorf("original %d, again %d (same message: %v)", orig[0].ReconsumeTimes, again[0].ReconsumeTimes, again[0] == orig[0])
	}
}

func TestProcessQueueExpiredDeliveries(t *testing.T) {
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	ms := msgsAt(1, 1, 2, 3)
	pq.put(ms, 4)
	old := &Delivery{start: epoch}
	recent := &Delivery{start: epoch.Add(time.Minute)}
	pq.markDelivered(ms[:2], old)
	pq.markDelivered(ms[2:], recent)
	got := pq.expired(epoch.Add(30 * time.Second))
	if len(got) != 1 || got[0] != old {
		t.Errorf("expired = %v, want the old delivery once", got)
	}
	pq.remove(ms[:2], noLim, epoch)
	if got := pq.expired(epoch.Add(30 * time.Second)); len(got) != 0 {
		t.Errorf("expired after completion = %v", got)
	}
}

func TestProcessQueueDropReleasesConcurrentKeepsOrderly(t *testing.T) {
	c := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	c.put(msgsAt(1, 1), 2)
	if !c.drop() || c.drop() {
		t.Error("drop should report the first call only")
	}
	if n, _ := c.held(); n != 0 {
		t.Errorf("a dropped concurrent queue holds %d messages", n)
	}
	o := newProcessQueue(testMQ, true, 0, &topicStats{}, epoch)
	o.put(msgsAt(1, 1), 2)
	o.take(1, epoch)
	o.drop()
	if off, _ := o.commit(1, noLim); off != 2 {
		t.Errorf("an orderly queue dropped mid-batch commits %d, want 2", off)
	}
	select {
	case <-o.droppedCh:
	default:
		t.Error("droppedCh not closed")
	}
}
