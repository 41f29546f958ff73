package consumer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
)

// Orderly queues handed from one member of a group to another by a rebalance: the old
// owner releases a queue's lock once its batch in flight is done, so that the new owner
// goes on at once and never beside that batch.

// handoverLog records who consumed what, in the order consumption began, and holds the
// deliveries of the messages hold says until released.
type handoverLog struct {
	mu       sync.Mutex
	events   []handoverEvent
	held     []*Delivery
	hold     func(m *message.Ext) bool
	released bool
}

type handoverEvent struct {
	consumer string
	queue    int32
	offset   int64
}

func (l *handoverLog) handler(name string) Handler {
	return HandlerFunc(func(_ context.Context, d *Delivery) {
		l.mu.Lock()
		hold := false
		for _, m := range d.Messages() {
			l.events = append(l.events, handoverEvent{consumer: name, queue: m.QueueID, offset: m.QueueOffset})
			hold = hold || !l.released && l.hold != nil && l.hold(m)
		}
		if hold {
			l.held = append(l.held, d)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		go func() { _ = d.Ack() }() // completed later, as a webhook's or a lease's
	})
}

// release acks the deliveries held and stops holding; it returns the acks' errors.
func (l *handoverLog) release() []error {
	l.mu.Lock()
	held := l.held
	l.held, l.released = nil, true
	l.mu.Unlock()
	var errs []error
	for _, d := range held {
		errs = append(errs, d.Ack())
	}
	return errs
}

func (l *handoverLog) heldCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// of returns the offsets of queue consumer consumed (any consumer for ""), in order.
func (l *handoverLog) of(consumer string, queue int32) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, e := range l.events {
		if e.queue == queue && (consumer == "" || e.consumer == consumer) {
			out = append(out, e.offset)
		}
	}
	return out
}

// checkOrder fails t unless every queue's offsets were consumed once each, in order.
func (l *handoverLog) checkOrder(t *testing.T, queues int32, perQueue int64) {
	t.Helper()
	for q := range queues {
		got := l.of("", q)
		want := make([]int64, 0, perQueue)
		for o := range perQueue {
			want = append(want, o)
		}
		if !slices.Equal(got, want) {
			t.Errorf("queue %d consumed %v, want %v once each in order", q, got, want)
		}
	}
}

func TestOrderlyHandoverWaitsForTheBatchInFlightThenUnlocks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lockExpiry is the broker's; holdFor how long the old owner's batch is consumed
		// after the new owner joined.
		lockExpiry, holdFor time.Duration
	}{
		// Beyond OrderlyDropWait: the new owner gets the queue as soon as the batch is
		// done, not when the broker's lock expires (60 s).
		{"batch completed after the drop", 60 * time.Second, 2 * time.Second},
		// Beyond the broker's lock expiry: the old owner keeps renewing the lock, so the
		// new owner does not consume the queue beside the batch.
		{"batch longer than the broker's lock expiry", 2 * time.Second, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(leakCheck(t)) // registered first: checked once everything stopped
			dc := startCluster(t, devcluster.Config{LockExpiry: tc.lockExpiry})
			admin := startInstance(t, dc.NameServerAddr(), "admin")
			const topic, group, queues, perQueue = "HandoverTopic", "handover_g", 2, 5
			createTopic(t, admin, dc.BrokerAddr(), topic, queues)
			// The retry topic's route appearing would rebalance the group by chance.
			createTopic(t, admin, dc.BrokerAddr(), message.RetryTopic(group), 1)
			log := &handoverLog{hold: func(m *message.Ext) bool { return m.QueueOffset == 0 }}
			cfg := func(name string) Config {
				c := clusterConfig(group, log.handler(name))
				c.Orderly = true
				c.LockInterval, c.LockMaxLive = 300*time.Millisecond, time.Second
				c.PullDelayOnError = 200 * time.Millisecond // the new owner's lock retries
				return c
			}
			i1 := startInstance(t, dc.NameServerAddr(), "h1")
			c1 := newConsumer(t, i1, cfg("h1"), map[string]string{topic: "*"})
			waitFor(t, slow, "h1 holds every queue", func() bool { return len(heldQueueSet(c1, topic)) == queues })
			send(t, admin, topic, bodies("m", queues*perQueue, queues)...)
			waitFor(t, slow, "h1 consuming the first message of each queue", func() bool { return log.heldCount() == queues })

			i2 := startInstance(t, dc.NameServerAddr(), "h2")
			c2 := newConsumer(t, i2, cfg("h2"), map[string]string{topic: "*"})
			waitFor(t, slow, "h1 dropping a queue to h2", func() bool { return len(heldQueueSet(c1, topic)) == 1 })
			kept := heldQueueSet(c1, topic)[0].QueueID
			moved := 1 - kept
			// While h1's batch of the moved queue is in flight, h2 consumes none of it.
			until := time.Now().Add(tc.holdFor)
			for time.Now().Before(until) {
				if got := log.of("h2", moved); len(got) > 0 {
					t.Fatalf("h2 consumed offsets %v of queue %d while h1's batch of it was in flight", got, moved)
				}
				time.Sleep(10 * time.Millisecond) // poll interval
			}
			for _, err := range log.release() {
				if err != nil {
					t.Errorf("ack of a batch in flight when its queue was dropped: %v, want it recorded", err)
				}
			}
			waitFor(t, 10*time.Second, "h2 consuming the moved queue", func() bool {
				return len(log.of("h2", moved)) == perQueue-1
			})
			waitFor(t, 10*time.Second, "h1 consuming the queue it kept", func() bool {
				return len(log.of("", kept)) == perQueue
			})
			log.checkOrder(t, queues, perQueue)
			if got := queueOf(heldQueueSet(c2, topic)); !slices.Equal(got, []int32{moved}) {
				t.Errorf("h2 holds %v, want [%d]", got, moved)
			}
		})
	}
}

func queueOf(mqs []instance.MessageQueue) []int32 {
	var out []int32
	for _, mq := range mqs {
		out = append(out, mq.QueueID)
	}
	slices.Sort(out)
	return out
}
