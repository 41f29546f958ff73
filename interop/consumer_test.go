package interop

import (
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func sendN(t *testing.T, c *cluster, topic, group, prefix string, n int, tag string) {
	t.Helper()
	p := newProducer(t, c, group+"_p_"+prefix)
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s body %d", prefix, i)))
		if tag != "" {
			m.WithTag(tag)
		}
		m.WithKeys([]string{fmt.Sprintf("%s-%d", prefix, i)})
		if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
			t.Fatalf("send %s %d: %v", prefix, i, err)
		}
	}
}

func TestTagFilterDeliversOnlyMatchingTags(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	sendN(t, c, topic, group, "a", 5, "TagA")
	sendN(t, c, topic, group, "b", 5, "TagB")
	sendN(t, c, topic, group, "c", 5, "TagC")
	sendN(t, c, topic, group, "last", 1, "TagA")
	col := &collector{}
	newPushConsumer(t, c, group, "c1", topic, "TagA || TagB", col)
	eventually(t, 60*time.Second, "tagged messages consumed", func() bool { return col.count() >= 11 })
	got := col.byKey(t)
	if _, ok := got["last-0"]; !ok {
		t.Fatalf("the last TagA message was not consumed: %v", keysOf(got))
	}
	for k, m := range got {
		if tag := m.GetTags(); tag != "TagA" && tag != "TagB" {
			t.Errorf("message %s with tag %q delivered to a TagA || TagB subscription", k, tag)
		}
	}
	if len(got) != 11 {
		t.Errorf("consumed %d messages, want 11", len(got))
	}
}

func TestBroadcastingDeliversEveryMessageToEveryConsumer(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	cols := []*collector{{}, {}}
	for i, col := range cols {
		newPushConsumer(t, c, group, fmt.Sprintf("b%d", i), topic, "*", col,
			consumer.WithConsumerModel(consumer.BroadCasting))
	}
	sendN(t, c, topic, group, "bc", 12, "")
	for i, col := range cols {
		eventually(t, 60*time.Second, fmt.Sprintf("consumer %d has all 12", i), func() bool { return col.count() >= 12 })
		if got := col.byKey(t); len(got) != 12 {
			t.Errorf("consumer %d got %d distinct messages, want 12", i, len(got))
		}
	}
}

func TestRetryThenDeadLetterQueue(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	// The broker creates the retry topic at the consumer's first heartbeat, after the
	// client looked for its route: rocketmq-client-go would then pull from it only after
	// its next route refresh (up to 30 s later, with a real broker as with the devcluster).
	c.createTopic(t, "%RETRY%"+group, 1)
	col := &collector{onMsg: func(*primitive.MessageExt) consumer.ConsumeResult { return consumer.ConsumeRetryLater }}
	newPushConsumer(t, c, group, "c1", topic, "*", col, consumer.WithMaxReconsumeTimes(2))
	sendN(t, c, topic, group, "dlq", 1, "TagD")
	// First delivery, then reconsume 1 and 2 through %RETRY%group; the next failure goes to
	// %DLQ%group instead of a third retry.
	eventually(t, 90*time.Second, "three deliveries", func() bool { return col.count() >= 3 })
	dlq := "%DLQ%" + group
	eventually(t, 60*time.Second, "message in "+dlq, func() bool {
		n, err := c.maxOffset(dlq, 0)
		return err == nil && n >= 1
	})
	for i, r := range col.messages() {
		if r.msg.ReconsumeTimes != int32(i) {
			t.Errorf("delivery %d has reconsume times %d", i, r.msg.ReconsumeTimes)
		}
		if string(r.msg.Body) != "dlq body 0" || r.msg.GetTags() != "TagD" || r.msg.Topic != topic {
			t.Errorf("delivery %d: body %q tags %q topic %q", i, r.msg.Body, r.msg.GetTags(), r.msg.Topic)
		}
	}
	if n := col.count(); n > 3 {
		t.Errorf("delivered %d times, want 3", n)
	}
}

func TestOffsetsKeptAcrossConsumerRestart(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	sendN(t, c, topic, group, "first", 10, "")
	col1 := &collector{}
	pc := newPushConsumer(t, c, group, "c1", topic, "*", col1)
	eventually(t, 60*time.Second, "first 10 consumed", func() bool { return col1.count() >= 10 })
	// Not the window before the last offset is taken: the broker's offsets are judged.
	waitCommitted(t, c, group, topic, 4, 10)
	if err := pc.Shutdown(); err != nil { // persists the consumed offsets
		t.Fatalf("shutdown: %v", err)
	}
	sendN(t, c, topic, group, "second", 10, "")
	col2 := &collector{}
	newPushConsumer(t, c, group, "c2", topic, "*", col2)
	eventually(t, 60*time.Second, "second 10 consumed", func() bool { return col2.count() >= 10 })
	for k := range col2.byKey(t) {
		if len(k) >= 5 && k[:5] == "first" {
			t.Errorf("message %s consumed again after restart", k)
		}
	}
}

func TestRebalanceWhenSecondConsumerJoins(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	a, b := &collector{}, &collector{}
	newPushConsumer(t, c, group, "ra", topic, "*", a)
	p := newProducer(t, c, group+"_p")
	var seq atomic.Int32
	send := func(n int) {
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("rb-%d", seq.Add(1))
			m := primitive.NewMessage(topic, []byte(k))
			m.WithKeys([]string{k})
			if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	send(16)
	eventually(t, 60*time.Second, "the only consumer gets all 16", func() bool { return a.count() >= 16 })
	if qs := queuesOf(a, 0); len(qs) != 4 {
		t.Fatalf("the only consumer read queues %v, want all 4", qs)
	}
	newPushConsumer(t, c, group, "rb", topic, "*", b)
	// Rounds of 8 messages (two per queue, sent round robin) until two rounds in a row are
	// split between the consumers: disjoint queue sets covering all four. A round is judged
	// once all of it is consumed, so messages a pulled before its rebalance cannot blur it.
	round := func() (qa, qb []int) {
		ma, mb, seen := a.count(), b.count(), len(union(t, a, b))
		send(8)
		eventually(t, 30*time.Second, "a round consumed", func() bool { return len(union(t, a, b)) >= seen+8 })
		return queuesOf(a, ma), queuesOf(b, mb)
	}
	stable := 0
	deadline := time.Now().Add(90 * time.Second)
	var qa, qb []int
	for stable < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no stable split after 90s: last round a read %v, b read %v", qa, qb)
		}
		qa, qb = round()
		if len(qa) > 0 && len(qb) > 0 && len(qa)+len(qb) == 4 && disjoint(qa, qb) {
			stable++
		} else {
			stable = 0
		}
	}
	// The split holds for what follows.
	qa, qb = round()
	if !disjoint(qa, qb) || len(qa)+len(qb) != 4 {
		t.Errorf("after the rebalance a reads %v and b reads %v, want the 4 queues split", qa, qb)
	}
}

func disjoint(x, y []int) bool {
	for _, q := range x {
		for _, r := range y {
			if q == r {
				return false
			}
		}
	}
	return true
}

func queuesOf(col *collector, from int) []int {
	set := map[int]bool{}
	for _, r := range col.messages()[from:] {
		set[r.msg.Queue.QueueId] = true
	}
	var out []int
	for q := range set {
		out = append(out, q)
	}
	sort.Ints(out)
	return out
}

func union(t *testing.T, cols ...*collector) map[string]bool {
	out := map[string]bool{}
	for _, col := range cols {
		for _, r := range col.messages() {
			out[r.msg.GetKeys()] = true
		}
	}
	return out
}
