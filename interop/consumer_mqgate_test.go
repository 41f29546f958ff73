package interop

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// mqgate's push consumer (instance/consumer) beside rocketmq-client-go: it consumes what
// the official client produces, intact, and shares a group with the official push
// consumer, the queues split between them as both clients' averagely strategy says.

// startMqgateInstance starts an mqgate client instance on c, shut down with the test
// (after the consumers on it).
func startMqgateInstance(t *testing.T, c *cluster, name string) *instance.Instance {
	t.Helper()
	i, err := instance.New(instance.Config{NameServers: []string{c.namesrv}, InstanceName: name,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Long polls in flight hold the transport's drain up to the broker's suspension.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = i.Shutdown(ctx)
	})
	return i
}

// mqgateDelivery is one message an mqgate consumer was given.
type mqgateDelivery struct {
	msg   message.Ext // a copy
	queue instance.MessageQueue
}

type mqgateCollector struct {
	mu     sync.Mutex
	got    []mqgateDelivery
	decide func(d *consumer.Delivery, m *message.Ext)
}

func (col *mqgateCollector) Consume(_ context.Context, d *consumer.Delivery) {
	for _, m := range d.Messages() {
		col.mu.Lock()
		col.got = append(col.got, mqgateDelivery{msg: m.Clone(), queue: d.Queue()})
		col.mu.Unlock()
	}
	if col.decide != nil {
		col.decide(d, d.Messages()[0])
		return
	}
	_ = d.Ack()
}

func (col *mqgateCollector) all() []mqgateDelivery {
	col.mu.Lock()
	defer col.mu.Unlock()
	return slices.Clone(col.got)
}

// startMqgateConsumer starts an mqgate push consumer of group on topic.
func startMqgateConsumer(t *testing.T, i *instance.Instance, group, topic string, h consumer.Handler) *consumer.PushConsumer {
	t.Helper()
	return startMqgateConsumerWith(t, i, consumer.Config{Group: group, Handler: h,
		ConsumeFromWhere: remoting.ConsumeFromFirstOffset}, topic)
}

// startMqgateConsumerWith starts an mqgate push consumer of cfg on topic, shut down with
// the test.
func startMqgateConsumerWith(t *testing.T, i *instance.Instance, cfg consumer.Config, topic string) *consumer.PushConsumer {
	t.Helper()
	pc, err := consumer.New(i, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, "*"); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Shutdown(ctxFor(t, 10*time.Second)) })
	return pc
}

func TestMqgateConsumesWhatRocketmqClientGoProduces(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	p := newProducer(t, c, group+"_p")
	type sent struct {
		body, tags, keys, color string
	}
	var want []sent
	for k := range 8 {
		s := sent{body: fmt.Sprintf("go body %d ünïcode", k), tags: fmt.Sprintf("Tag%d", k%3),
			keys: fmt.Sprintf("key-%d", k), color: fmt.Sprintf("c%d", k)}
		m := primitive.NewMessage(topic, []byte(s.body))
		m.WithTag(s.tags)
		m.WithKeys([]string{s.keys})
		m.WithProperty("color", s.color)
		if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	big := make([]byte, 6000) // compressed by the producer (over 4 KiB)
	for k := range big {
		big[k] = byte('a' + k%26)
	}
	if _, err := p.SendSync(ctxFor(t, 10*time.Second), primitive.NewMessage(topic, big).WithKeys([]string{"big"})); err != nil {
		t.Fatal(err)
	}

	var retried atomic.Bool
	col := &mqgateCollector{decide: func(d *consumer.Delivery, m *message.Ext) {
		if m.Keys() == "key-0" && retried.CompareAndSwap(false, true) {
			_ = d.Retry(1) // once, through %RETRY%group
			return
		}
		_ = d.Ack()
	}}
	i := startMqgateInstance(t, c, "intact")
	startMqgateConsumer(t, i, group, topic, col)
	eventually(t, 90*time.Second, "every message, and key-0 again", func() bool { return len(col.all()) >= 10 })

	byKey := map[string][]mqgateDelivery{}
	for _, d := range col.all() {
		byKey[d.msg.Keys()] = append(byKey[d.msg.Keys()], d)
	}
	for _, s := range want {
		ds := byKey[s.keys]
		if s.keys == "key-0" && len(ds) != 2 || s.keys != "key-0" && len(ds) != 1 {
			t.Errorf("%s delivered %d times", s.keys, len(ds))
			continue
		}
		for n, d := range ds {
			m := d.msg
			if string(m.Body) != s.body || m.Tags() != s.tags || m.Properties.Get("color") != s.color || m.Topic != topic ||
				m.UniqKey() == "" || m.ReconsumeTimes != int32(n) {
				t.Errorf("%s delivery %d: body %q tags %q color %q topic %s uniq %q reconsume %d", s.keys, n, m.Body,
					m.Tags(), m.Properties.Get("color"), m.Topic, m.UniqKey(), m.ReconsumeTimes)
			}
		}
		if s.keys == "key-0" && ds[1].queue.Topic != message.RetryTopic(group) {
			t.Errorf("the retry of key-0 came from %s", ds[1].queue)
		}
	}
	if ds := byKey["big"]; len(ds) != 1 || string(ds[0].msg.Body) != string(big) {
		t.Errorf("the compressed message: %d deliveries", len(ds))
	}
}

func TestGroupSharedWithRocketmqClientGo(t *testing.T) {
	c := startCluster(t)
	topic, group := name(t, "T"), name(t, "G")
	const queues = 8
	c.createTopic(t, topic, queues)
	theirs := &collector{}
	newPushConsumer(t, c, group, "peer", topic, "*", theirs)
	ours := &mqgateCollector{}
	i := startMqgateInstance(t, c, "mqgate")
	pc := startMqgateConsumer(t, i, group, topic, ours)

	var seq atomic.Int32
	var qa, qb []int
	// Messages sent to every queue now reach both clients, from disjoint queues that
	// cover all of them (each client rebalances when it hears the other joined).
	eventually(t, 120*time.Second, "the queues split between the two clients", func() bool {
		markA, markB := len(ours.all()), theirs.count()
		sendToEachQueue(t, i, topic, &seq)
		deadline := time.Now().Add(10 * time.Second)
		for len(ours.all())-markA+theirs.count()-markB < queues && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		qa, qb = nil, nil
		for _, d := range ours.all()[markA:] {
			qa = append(qa, int(d.queue.QueueID))
		}
		for _, r := range theirs.messages()[markB:] {
			qb = append(qb, r.msg.Queue.QueueId)
		}
		sort.Ints(qa)
		sort.Ints(qb)
		union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(qa), qb...))))
		for _, q := range qa {
			if slices.Contains(qb, q) {
				return false
			}
		}
		return len(qa) > 0 && len(qb) > 0 && len(union) == queues
	})
	var mine []int
	for _, q := range pc.Status().Queues {
		if q.Queue.Topic == topic {
			mine = append(mine, int(q.Queue.QueueID))
		}
	}
	t.Logf("mqgate consumes queues %v, rocketmq-client-go %v", qa, qb)
	if !slices.Equal(qa, mine) {
		t.Errorf("mqgate's status holds %v, its messages came from %v", mine, qa)
	}
	if len(mine) != queues/2 {
		t.Errorf("mqgate holds %d queues, want %d (averagely between two)", len(mine), queues/2)
	}
}

// sendToEachQueue sends one message to each queue of topic through the mqgate instance.
func sendToEachQueue(t *testing.T, i *instance.Instance, topic string, seq *atomic.Int32) {
	t.Helper()
	if _, err := i.UpdateTopicRoute(ctxFor(t, 10*time.Second), topic); err != nil {
		t.Fatal(err)
	}
	for _, q := range i.PublishInfo(topic).Queues {
		k := fmt.Sprintf("s-%d", seq.Add(1))
		var props message.Properties
		props.Set(message.PropertyKeys, k)
		h := &remoting.SendRequest{ProducerGroup: "mqgate_p", Topic: topic, DefaultTopic: message.AutoCreateTopicKey,
			DefaultTopicQueueNums: 4, QueueID: q.QueueID, BornTimestamp: time.Now().UnixMilli(), Properties: props.Encode()}
		if _, err := i.SendMessage(ctxFor(t, 10*time.Second), i.FindBrokerAddrInPublish(q.BrokerName), q.BrokerName,
			h, []byte(k), k); err != nil {
			t.Fatalf("send to %s: %v", q, err)
		}
	}
}
