package broker

import (
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// A matching message stored while held pulls re-run for messages their filter does not
// match (each out of the table between its read of the queue and its return to it) wakes
// them all the same: the queue is looked at again after a pull goes back. Before, such a
// pull waited out its whole suspend timeout with its message stored. Timing decides
// whether a run meets the window: 790 non-matching messages make each re-run's scan long,
// and the matching message is stored while the 200 pulls re-run one by one.
func TestHeldPullsSeeAMatchingMessageStoredWhileTheyReRun(t *testing.T) {
	tb := startBroker(t, nil)
	const held = 200
	tb.createTopic("R", 1)
	var chs []<-chan pullResult
	for range held {
		ch, _ := tb.asyncPull(suspended(pullHeader("lp_cg", "R", 0, 0, "TagB"), 10*time.Second))
		chs = append(chs, ch)
	}
	waitFor(t, "pulls held", 5*time.Second, func() bool { return tb.b.holds.held() == held })
	mk := func(tag string) *message.Ext {
		m := &message.Ext{Message: message.Message{Topic: "R", Body: []byte(tag)}, QueueID: 0,
			BornTimestamp: time.Now().UnixMilli(), BornHost: tb.b.host, StoreHost: tb.b.host}
		m.Properties.Set("TAGS", tag)
		return m
	}
	for range 790 {
		if _, err := tb.store.Put(mk("TagA")); err != nil {
			t.Fatal(err)
		}
	}
	go tb.b.NotifyMessageArriving("R", 0, tb.store.MaxOffset("R", 0)) // the woken pulls re-run, find nothing, go back
	for spin := time.Now(); ; {                                       // busy-wait: the re-run takes well under a millisecond
		if n := tb.b.holds.held(); n >= 5 && n < held-20 {
			break
		}
		if time.Since(spin) > 5*time.Second {
			t.Skip("missed the re-run window; run again")
		}
	}
	if _, err := tb.b.putMessage(mk("TagB")); err != nil { // stored and notified as a send does
		t.Fatal(err)
	}
	deadline := time.After(3 * time.Second)
	missed := 0
	for _, ch := range chs {
		select {
		case got := <-ch:
			if got.code != remoting.Success {
				t.Fatalf("%s %q", got.code, got.remark)
			}
		case <-deadline:
			missed++
		}
	}
	if missed > 0 {
		t.Fatalf("%d of %d held pulls not answered 3 s after their matching message was stored (suspend timeout 10 s); still held: %d",
			missed, held, tb.b.holds.held())
	}
}
