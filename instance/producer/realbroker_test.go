package producer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// Against a real Apache RocketMQ 4.9.4 (ROCKETMQ_NAMESRV): the same scenarios as against
// the dev cluster, on fresh topics (a real broker keeps what it stored).

func realSetup(t *testing.T) (*instance.Instance, string) {
	ns := realBroker(t)
	cfg := instanceConfig(ns)
	cfg.InstanceName = fmt.Sprint("ptest", time.Now().UnixNano())
	inst := startInstance(t, cfg)
	return inst, fmt.Sprint(time.Now().UnixNano())
}

func TestRealBrokerSendModes(t *testing.T) {
	inst, run := realSetup(t)
	for _, coalesce := range []bool{false, true} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			p := startProducer(t, inst, Config{Group: fmt.Sprintf("pg_%s_%v", run, coalesce), Coalesce: CoalesceConfig{Enabled: coalesce}})
			topic := fmt.Sprintf("PTest_%s_%v", run, coalesce)
			m := userMessage(topic, "sync")
			r, err := p.Send(bg(t), m)
			if err != nil {
				t.Fatal(err)
			}
			addr := inst.FindBrokerAddrInPublish(r.Queue.BrokerName)
			checkStored(t, findStored(t, inst, addr, topic, r), m, r)

			done := make(chan error, 1)
			am := userMessage(topic, "async")
			var ar instance.SendResult
			if err := p.SendAsync(bg(t), am, func(r instance.SendResult, err error) { ar = r; done <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			checkStored(t, findStored(t, inst, addr, topic, ar), am, ar)

			msgs := []*message.Message{userMessage(topic, "b0"), userMessage(topic, "b1")}
			rs, err := p.SendBatch(bg(t), msgs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				checkStored(t, findStored(t, inst, addr, topic, r), msgs[i], r)
			}

			big := &message.Message{Topic: topic, Body: make([]byte, 10000)}
			for i := range big.Body {
				big.Body[i] = byte('a' + i%7)
			}
			r, err = p.Send(bg(t), big)
			if err != nil {
				t.Fatal(err)
			}
			if got := findStored(t, inst, addr, topic, r); string(got.Body) != string(big.Body) {
				t.Fatal("the compressed body came back different")
			}

			// 64 concurrent senders: distinct ids and positions, all stored.
			const callers, each = 64, 10
			var mu sync.Mutex
			pos := map[string]bool{}
			var wg sync.WaitGroup
			for k := range callers {
				wg.Go(func() {
					for i := range each {
						r, err := p.Send(bg(t), newMessage(topic, fmt.Sprintf("c%d-%d", k, i)))
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						key := fmt.Sprint(r.Queue.QueueID, "@", r.QueueOffset)
						if pos[key] || pos[r.MsgID] || pos[r.OffsetMsgID] {
							t.Errorf("duplicate result %+v", r)
						}
						pos[key], pos[r.MsgID], pos[r.OffsetMsgID] = true, true, true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			// The broker acknowledges a send once it is in the commit log; its consume
			// queues, which a pull reads, follow a moment later (ReputMessageService).
			stored := pullTopic(t, inst, addr, topic, 4)
			for deadline := time.Now().Add(5 * time.Second); len(stored) < 5+callers*each && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				stored = pullTopic(t, inst, addr, topic, 4)
			}
			if len(stored) != 5+callers*each {
				t.Fatalf("%d messages stored, want %d", len(stored), 5+callers*each)
			}
		})
	}
}

// A delay level a send hook gives a message coalesced with others is honoured by the real
// broker, which stores a batch's messages at once.
func TestRealBrokerHonoursADelayAHookSets(t *testing.T) {
	inst, run := realSetup(t)
	topic := "PTestHookDelay_" + run
	p := startProducer(t, inst, Config{Group: "pg_hookdelay_" + run, Coalesce: CoalesceConfig{Enabled: true},
		Hooks: []instance.SendHook{delayHook("hook-delayed", "1")}})
	if _, err := p.Send(bg(t), userMessage(topic, "route")); err != nil { // create the topic and learn its route
		t.Fatal(err)
	}
	ps := p.entry(topic).pub.Load()
	if ps == nil || len(ps.info.Queues) == 0 {
		t.Fatal("no route learnt")
	}
	checkHookDelayAmongConcurrentSends(t, inst, inst.FindBrokerAddrInPublish(ps.info.Queues[0].BrokerName), p, topic)
}

func TestRealBrokerTransactions(t *testing.T) {
	inst, run := realSetup(t)
	topic := "PTestTx_" + run
	// Route the topic first: the check goes to a producer of the group only once the
	// broker knows the group (heartbeat).
	p := startProducer(t, inst, Config{Group: "warm_" + run})
	r, err := p.Send(bg(t), newMessage(topic, "route"))
	if err != nil {
		t.Fatal(err)
	}
	transactionScenario(t, inst, inst.FindBrokerAddrInPublish(r.Queue.BrokerName), topic)
}
