package interop

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/remoting"
)

// An offset reset through the broker (RESET_CONSUMER_CLIENT_OFFSET pushed to the group's
// live consumers) has an mqgate consumer, concurrent or orderly, consume its queues again
// from the reset's offset, and its offsets committed on the broker move on from there.
func TestResetOffsetThroughTheBrokerConsumesAgain(t *testing.T) {
	for _, orderly := range []bool{false, true} {
		t.Run(fmt.Sprintf("orderly=%v", orderly), func(t *testing.T) {
			c := startCluster(t)
			topic, group := name(t, "T"), name(t, "G")
			const queues, n = 2, 6
			c.createTopic(t, topic, queues)
			sendN(t, c, topic, group, "r", n, "")

			col := &mqgateCollector{}
			i := startMqgateInstance(t, c, "reset")
			pc := startMqgateConsumerWith(t, i, consumer.Config{Group: group, Handler: col, Orderly: orderly,
				ConsumeFromWhere: remoting.ConsumeFromFirstOffset}, topic)

			// Each queue's offset, as the broker has it, at its max: everything consumed
			// and committed (the broker refuses a reset of a queue it has no offset of).
			committed := func(q int) bool {
				want, err := c.maxOffset(topic, q)
				if err != nil {
					return false
				}
				off, err := i.QueryConsumerOffset(ctxFor(t, 5*time.Second), c.broker,
					&remoting.QueryConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: int32(q)})
				return err == nil && off == want
			}
			allCommitted := func() bool {
				if err := pc.PersistOffsets(ctxFor(t, 5*time.Second)); err != nil {
					return false
				}
				for q := range queues {
					if !committed(q) {
						return false
					}
				}
				return true
			}
			eventually(t, 90*time.Second, "every message consumed", func() bool { return len(col.all()) >= n })
			eventually(t, 30*time.Second, "the offsets committed on the broker", allCommitted)

			res, err := i.ResetOffsetByTimestamp(ctxFor(t, 10*time.Second), group, topic, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			if res.Direct || len(res.Offsets) != queues {
				t.Fatalf("reset %+v: want the offsets of %d queues pushed to the live consumer", res, queues)
			}
			for mq, off := range res.Offsets {
				if off != 0 {
					t.Errorf("the broker reset %s to %d, want 0", mq, off)
				}
			}
			eventually(t, 60*time.Second, "every message consumed again", func() bool {
				times := map[string]int{}
				for _, d := range col.all() {
					times[d.msg.Keys()]++
				}
				for k := range n {
					if times[fmt.Sprintf("r-%d", k)] < 2 {
						return false
					}
				}
				return true
			})
			eventually(t, 30*time.Second, "the offsets committed on the broker again", allCommitted)
		})
	}
}
