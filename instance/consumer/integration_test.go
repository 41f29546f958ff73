package consumer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// Scenarios against the embedded dev cluster. Consumers of one group run on separate
// instances (distinct client ids), as separate gateways would. The periodic rebalance is
// set to an hour where a test proves that NOTIFY_CONSUMER_IDS_CHANGED rebalances at once.

const slow = 30 * time.Second

func clusterConfig(group string, h Handler) Config {
	return Config{Group: group, Handler: h, ConsumeFromWhere: remoting.ConsumeFromFirstOffset,
		RebalanceInterval: time.Hour}
}

// checkOnce reports the bodies received other than exactly once.
func checkOnce(t *testing.T, want []testMsg, cols ...*collector) {
	t.Helper()
	got := distinct(cols...)
	for _, m := range want {
		if n := got[m.body]; n != 1 {
			t.Errorf("%s consumed %d times", m.body, n)
		}
	}
}

func TestClusteringSharesTheQueuesAndRebalancesOnJoinAndLeave(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	const topic, group, queues = "ShareTopic", "share_g", 8
	createTopic(t, admin, dc.BrokerAddr(), topic, queues)

	var cols []*collector
	var cs []*PushConsumer
	join := func() {
		name := fmt.Sprintf("c%d", len(cs))
		col := newCollector(name)
		i := startInstance(t, dc.NameServerAddr(), name)
		cs = append(cs, newConsumer(t, i, clusterConfig(group, col), map[string]string{topic: "*"}))
		cols = append(cols, col)
	}
	stable := func(what string, members ...*PushConsumer) {
		t.Helper()
		waitFor(t, slow, what, func() bool { return splitFair(topic, queues, members...) })
	}
	var all []testMsg
	round := func(name string, members ...*PushConsumer) {
		t.Helper()
		msgs := bodies(name, 80, queues)
		all = append(all, msgs...)
		before := distinct(cols...)
		send(t, admin, topic, msgs...)
		waitFor(t, slow, name+" consumed", func() bool {
			got := distinct(cols...)
			for _, m := range msgs {
				if got[m.body] == 0 {
					return false
				}
			}
			return true
		})
		got := distinct(cols...)
		for _, m := range msgs { // exactly once in the steady state
			if n := got[m.body] - before[m.body]; n != 1 {
				var by []string
				for _, col := range cols {
					for _, r := range col.all() {
						if r.body == m.body {
							by = append(by, fmt.Sprintf("%s@%s/%d", col.name, r.queue, r.offset))
						}
					}
				}
				t.Errorf("%s consumed %d times: %v", m.body, n, by)
			}
		}
		// only by the members holding the queues
		for k, col := range cols {
			if !slices.Contains(members, cs[k]) {
				for _, r := range col.all() {
					if strings.HasPrefix(r.body, name+"-") {
						t.Errorf("%s consumed by %s, which left", r.body, col.name)
					}
				}
			}
		}
	}

	join()
	join()
	stable("two consumers split 8 queues", cs[0], cs[1])
	for _, c := range cs {
		if n := len(heldQueueSet(c, topic)); n != 4 {
			t.Errorf("a consumer of two holds %d queues", n)
		}
	}
	round("two", cs[0], cs[1])

	join() // the others hear NOTIFY_CONSUMER_IDS_CHANGED: no 20 s wait (the period is an hour)
	stable("three consumers split 8 queues", cs...)
	round("three", cs...)

	if err := cs[1].Shutdown(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	stable("the remaining two take the leaver's queues", cs[0], cs[2])
	round("leave", cs[0], cs[2])
	got := distinct(cols...)
	for _, m := range all {
		if got[m.body] < 1 {
			t.Errorf("%s lost", m.body)
		}
	}
}

// A message is delivered intact: body, tags, keys, user properties, and what the consumer
// adds (MIN_OFFSET, MAX_OFFSET, the broker name); a tag subscription filters.
func TestMessagesDeliveredIntactAndFiltered(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	i := startInstance(t, dc.NameServerAddr(), "intact")
	createTopic(t, i, dc.BrokerAddr(), "IntactTopic", 2)
	col := newCollector("c")
	newConsumer(t, i, clusterConfig("intact_g", col), map[string]string{"IntactTopic": "TagA || TagB"})
	send(t, i, "IntactTopic",
		testMsg{queue: 0, body: "a", tags: "TagA", keys: "k1 k2", props: map[string]string{"color": "blue"}},
		testMsg{queue: 1, body: "c", tags: "TagC"},
		testMsg{queue: 1, body: "b", tags: "TagB"},
		testMsg{queue: 0, body: "none"})
	waitFor(t, slow, "a and b", func() bool { return col.count() >= 2 })
	var got []string
	for _, r := range col.all() {
		got = append(got, r.body)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("consumed %v, want a and b", got)
	}
	for _, r := range col.all() {
		m := r.msg
		if r.body != "a" {
			continue
		}
		if m.Tags() != "TagA" || m.Keys() != "k1 k2" || m.Properties.Get("color") != "blue" || m.Topic != "IntactTopic" ||
			m.BrokerName != "broker-a" || !slices.Contains([]string{"1", "2"}, m.Properties.Get(message.PropertyMaxOffset)) ||
			m.Properties.Get(message.PropertyMinOffset) != "0" || m.UniqKey() == "" || m.ReconsumeTimes != 0 {
			t.Errorf("message a: %+v", m)
		}
	}
}

// A failed message comes back through %RETRY%group with its original topic and one more
// reconsume time each time, and after MaxReconsumeTimes goes to %DLQ%group.
func TestRetryThenDeadLetterQueue(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	i := startInstance(t, dc.NameServerAddr(), "retry")
	createTopic(t, i, dc.BrokerAddr(), "RetryTopic", 2)
	if err := i.ConsumerSendMessageBack(ctxFor(t, 5*time.Second), dc.BrokerAddr(),
		&remoting.ConsumerSendMsgBackRequest{Group: "probe_g", Offset: 0}); errors.Is(err, instance.ErrRequestNotSupported) {
		t.Skipf("the dev broker does not implement CONSUMER_SEND_MSG_BACK yet: %v", err)
	}
	col := newCollector("c")
	col.decide = func(d *Delivery) { _ = d.Retry(1) } // delay level 1: 10ms on this cluster
	cfg := clusterConfig("retry_g", col)
	cfg.MaxReconsumeTimes = 2
	newConsumer(t, i, cfg, map[string]string{"RetryTopic": "*"})
	send(t, i, "RetryTopic", testMsg{queue: 1, body: "doomed", tags: "TagD"})
	waitFor(t, slow, "three deliveries", func() bool { return col.count() >= 3 })
	dlq := message.DLQTopic("retry_g")
	waitFor(t, slow, "the message in "+dlq, func() bool {
		if _, err := i.UpdateTopicRoute(ctxFor(t, 5*time.Second), dlq); err != nil {
			return false
		}
		n, err := i.GetMaxOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), dlq, 0)
		return err == nil && n == 1
	})
	for k, r := range col.all() {
		if r.body != "doomed" || r.topic != "RetryTopic" || r.reconsumeTimes != int32(k) || r.msg.Tags() != "TagD" {
			t.Errorf("delivery %d: %s topic %s reconsume %d tags %s", k, r.body, r.topic, r.reconsumeTimes, r.msg.Tags())
		}
		if k > 0 && r.queue.Topic != "%RETRY%retry_g" {
			t.Errorf("delivery %d from %s, want the retry topic", k, r.queue)
		}
	}
	if n := col.count(); n != 3 {
		t.Errorf("delivered %d times, want 3", n)
	}
}

// Broadcasting: every consumer gets every message; offsets live in a local file and
// survive a restart of the consumer with the same client id.
func TestBroadcasting(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	createTopic(t, admin, dc.BrokerAddr(), "CastTopic", 4)
	dir := t.TempDir()
	var cols []*collector
	var cs []*PushConsumer
	for k := range 2 {
		col := newCollector(fmt.Sprint("b", k))
		i := startInstance(t, dc.NameServerAddr(), fmt.Sprint("b", k))
		cfg := clusterConfig("cast_g", col)
		cfg.Model, cfg.OffsetStoreDir = remoting.Broadcasting, dir
		cs = append(cs, newConsumer(t, i, cfg, map[string]string{"CastTopic": "*"}))
		cols = append(cols, col)
	}
	for _, c := range cs {
		waitFor(t, slow, "all queues held by each", func() bool { return len(heldQueueSet(c, "CastTopic")) == 4 })
	}
	first := bodies("cast", 40, 4)
	send(t, admin, "CastTopic", first...)
	for _, col := range cols {
		waitFor(t, slow, col.name+" has all", func() bool { return len(distinct(col)) == 40 })
		checkOnce(t, first, col)
	}
	if err := cs[0].Shutdown(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("%s/127.0.0.1@b0/cast_g/offsets.json", dir)
	waitFor(t, slow, "the offsets file", func() bool { return fileExists(path) })

	second := bodies("again", 20, 4)
	send(t, admin, "CastTopic", second...)
	col := newCollector("b0-again")
	i := startInstance(t, dc.NameServerAddr(), "b0") // the same client id
	cfg := clusterConfig("cast_g", col)
	cfg.Model, cfg.OffsetStoreDir = remoting.Broadcasting, dir
	newConsumer(t, i, cfg, map[string]string{"CastTopic": "*"})
	waitFor(t, slow, "the second batch after the restart", func() bool { return len(distinct(col)) >= 20 })
	checkOnce(t, second, col)
	for body := range distinct(col) {
		if strings.HasPrefix(body, "cast-") {
			t.Errorf("%s consumed again after the restart", body)
		}
	}
}

// Orderly consumption keeps each queue's order across a rebalance: a message is never
// consumed before an earlier message of its queue was consumed, whoever holds the queue.
func TestOrderlyKeepsQueueOrderAcrossARebalance(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	const topic, queues = "OrderTopic", 4
	createTopic(t, admin, dc.BrokerAddr(), topic, queues)

	type event struct {
		queue  int32
		offset int64
		at     int
	}
	var mu sync.Mutex
	var events []event
	seq := 0
	handler := func(name string) Handler {
		return HandlerFunc(func(_ context.Context, d *Delivery) {
			mu.Lock()
			for _, m := range d.Messages() {
				events = append(events, event{queue: m.QueueID, offset: m.QueueOffset, at: seq})
				seq++
			}
			mu.Unlock()
			go func() { _ = d.Ack() }() // completed asynchronously
		})
	}
	cfg := func(name string) Config {
		c := clusterConfig("order_g", handler(name))
		c.Orderly, c.ConsumeBatchMaxSize = true, 3
		return c
	}
	i1 := startInstance(t, dc.NameServerAddr(), "o1")
	c1 := newConsumer(t, i1, cfg("o1"), map[string]string{topic: "*"})
	waitFor(t, slow, "o1 holds every queue", func() bool { return len(heldQueueSet(c1, topic)) == queues })

	const n = 400
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; k < n; k += 20 {
			send(t, admin, topic, bodies(fmt.Sprint("o", k), 20, queues)...)
		}
	}()
	i2 := startInstance(t, dc.NameServerAddr(), "o2")
	c2 := newConsumer(t, i2, cfg("o2"), map[string]string{topic: "*"})
	<-done
	waitFor(t, slow, "the split", func() bool { return splitFair(topic, queues, c1, c2) })
	waitFor(t, slow, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[[2]int64]bool{}
		for _, e := range events {
			seen[[2]int64{int64(e.queue), e.offset}] = true
		}
		return len(seen) == n
	})
	mu.Lock()
	defer mu.Unlock()
	byQueue := map[int32][]event{}
	for _, e := range events {
		byQueue[e.queue] = append(byQueue[e.queue], e)
	}
	for q, es := range byQueue {
		sort.Slice(es, func(a, b int) bool { return es[a].at < es[b].at })
		consumed := map[int64]bool{}
		next := int64(0)
		for _, e := range es {
			if e.offset > next {
				t.Fatalf("queue %d: offset %d consumed before %d", q, e.offset, next)
			}
			consumed[e.offset] = true
			for consumed[next] {
				next++
			}
		}
	}
}

// Offsets survive a consumer restart (persisted at shutdown) and a broker restart in place
// (the consumer goes on from where it was, re-persisting its offsets).
func TestOffsetsKeptAcrossRestarts(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	createTopic(t, admin, dc.BrokerAddr(), "KeepTopic", 4)
	first := bodies("first", 40, 4)
	send(t, admin, "KeepTopic", first...)

	col1 := newCollector("c1")
	i1 := startInstance(t, dc.NameServerAddr(), "k1")
	c1 := newConsumer(t, i1, clusterConfig("keep_g", col1), map[string]string{"KeepTopic": "*"})
	waitFor(t, slow, "first 40", func() bool { return len(distinct(col1)) == 40 })
	if err := c1.Shutdown(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	second := bodies("second", 40, 4)
	send(t, admin, "KeepTopic", second...)
	col2 := newCollector("c2")
	i2 := startInstance(t, dc.NameServerAddr(), "k2")
	newConsumer(t, i2, clusterConfig("keep_g", col2), map[string]string{"KeepTopic": "*"})
	waitFor(t, slow, "second 40", func() bool { return len(distinct(col2)) >= 40 })
	checkOnce(t, second, col2)
	for body := range distinct(col2) {
		if strings.HasPrefix(body, "first-") {
			t.Errorf("%s consumed again after the consumer restart", body)
		}
	}

	if err := dc.RestartBroker(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	third := bodies("third", 40, 4)
	send(t, admin, "KeepTopic", third...)
	waitFor(t, slow, "third 40 after the broker restart", func() bool {
		got := distinct(col2)
		for _, m := range third {
			if got[m.body] == 0 {
				return false
			}
		}
		return true
	})
	checkOnce(t, append(second, third...), col2)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// An offset reset of an orderly queue whose batch is still being consumed takes the queue
// anew once that batch is done, not at the next periodic rebalance (an hour here).
func TestOrderlyResetWithABatchInFlightTakesTheQueueAnew(t *testing.T) {
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	const topic, group = "ResetOrderTopic", "reset_order_g"
	createTopic(t, admin, dc.BrokerAddr(), topic, 1)
	// The retry topic's route appearing would rebalance the group by chance.
	createTopic(t, admin, dc.BrokerAddr(), message.RetryTopic(group), 1)
	send(t, admin, topic, bodies("a", 3, 1)...)
	col := newCollector("c")
	var late atomic.Bool
	col.decide = func(d *Delivery) {
		if late.CompareAndSwap(true, false) { // completed late, as a webhook's would be
			go func() {
				time.Sleep(300 * time.Millisecond)
				_ = d.Ack()
			}()
			return
		}
		_ = d.Ack()
	}
	cfg := clusterConfig(group, col)
	cfg.Orderly = true
	i := startInstance(t, dc.NameServerAddr(), "ro")
	c := newConsumer(t, i, cfg, map[string]string{topic: "*"})
	waitFor(t, slow, "the first messages", func() bool { return col.count() == 3 })
	// The broker must know the group's offset, or it refuses the reset ("consumer group
	// not exist"). The last batch's commit follows its Ack, which the count does not wait
	// for: wait for the commit, persist it once (a oneway update), and wait for the broker
	// to have it, so that no update of the offset before the reset is still in flight.
	waitFor(t, slow, "the first messages committed", func() bool {
		for _, off := range c.offsets.table(topic) { // its one queue
			return off == 3
		}
		return false
	})
	if err := c.PersistOffsets(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	q := &remoting.QueryConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: 0}
	waitFor(t, slow, "the broker to know the group's offset", func() bool {
		off, err := admin.QueryConsumerOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), q)
		return err == nil && off == 3
	})
	late.Store(true)
	send(t, admin, topic, testMsg{body: "b"})
	waitFor(t, slow, "a batch in flight", func() bool { return col.count() == 4 })
	if _, err := admin.ResetOffsetByTimestamp(ctxFor(t, 5*time.Second), group, topic, 0, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, slow, "the queue consumed again from the reset offset", func() bool {
		got := distinct(col)
		return got["a-0"] >= 2 && got["b"] >= 2
	})
}
