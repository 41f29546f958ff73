package consumer

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/remoting"
)

// The churn the peer's users report leaks after (rocketmq-client-go issues 561, 587, 580,
// 614, 754, 884, 617): consumers starting and stopping, members joining and leaving,
// queues dropped at every rebalance. Afterwards the goroutines and the heap are back to
// where they were, and a started consumer with nothing to consume costs next to no CPU —
// with the broker up and with the broker down.

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

func TestChurnLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("churn takes a while")
	}
	dc := startCluster(t, devcluster.Config{})
	admin := startInstance(t, dc.NameServerAddr(), "admin")
	const topic, group, queues = "ChurnTopic", "churn_g", 8
	createTopic(t, admin, dc.BrokerAddr(), topic, queues)
	stay := newCollector("stay")
	iStay := startInstance(t, dc.NameServerAddr(), "stay")
	a := newConsumer(t, iStay, clusterConfig(group, stay), map[string]string{topic: "*"})
	i1 := startInstance(t, dc.NameServerAddr(), "j1")
	i2 := startInstance(t, dc.NameServerAddr(), "j2")

	sent := 0
	cycle := func(k int) {
		col1, col2 := newCollector("j1"), newCollector("j2")
		b := makeConsumerNoCleanup(t, i1, clusterConfig(group, col1), map[string]string{topic: "*"})
		c := makeConsumerNoCleanup(t, i2, clusterConfig(group, col2), map[string]string{topic: "*"})
		if err := b.Start(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, slow, fmt.Sprintf("cycle %d: three members split the queues", k), func() bool {
			return splitFair(topic, queues, a, b, c)
		})
		msgs := bodies(fmt.Sprint("churn", k), 8, queues)
		send(t, admin, topic, msgs...)
		sent += len(msgs)
		waitFor(t, slow, fmt.Sprintf("cycle %d: consumed", k), func() bool {
			got := distinct(stay, col1, col2)
			for _, m := range msgs {
				if got[m.body] == 0 {
					return false
				}
			}
			return true
		})
		for _, x := range []*PushConsumer{b, c} {
			if err := x.Shutdown(ctxFor(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, slow, fmt.Sprintf("cycle %d: the one left holds every queue", k), func() bool {
			return len(heldQueueSet(a, topic)) == queues
		})
	}

	// Warm up: connections, the retry topic, and the transport's handler pools, which
	// grow to their bound (16 workers a client, 64 a server) and stay.
	const warmup, cycles = 10, 50
	for k := range warmup {
		cycle(k)
	}
	check := leakCheck(t)
	baseHeap := heapInUse()
	start := time.Now()
	for k := warmup; k < warmup+cycles; k++ {
		cycle(k)
	}
	t.Logf("%d cycles of two members joining and leaving in %v", cycles, time.Since(start))
	check()
	// Long polls of the consumers that left stay with the transport until the broker
	// answers them (at most BrokerSuspend); what they hold goes with them.
	var heap uint64
	deadline := time.Now().Add(DefaultPullTimeout + 10*time.Second)
	for heap = heapInUse(); heap >= baseHeap+8<<20; heap = heapInUse() {
		if time.Now().After(deadline) {
			t.Fatalf("heap in use %d KiB, baseline %d KiB", heap>>10, baseHeap>>10)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Logf("goroutines back to baseline; heap in use %d KiB, baseline %d KiB", heap>>10, baseHeap>>10)
}

// A started consumer with nothing to consume waits in long polls and timers: no busy
// loop, no tight retry, whether the broker is up or down.
func TestIdleConsumerCostsNoCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("measures two seconds twice")
	}
	dc := startCluster(t, devcluster.Config{})
	i := startInstance(t, dc.NameServerAddr(), "idle")
	createTopic(t, i, dc.BrokerAddr(), "IdleTopic", 8)
	c := newConsumer(t, i, Config{Group: "idle_g", Handler: newCollector("idle"),
		Model: remoting.Clustering}, map[string]string{"IdleTopic": "*"})
	waitFor(t, slow, "the queues held", func() bool { return len(heldQueueSet(c, "IdleTopic")) == 8 })
	// The limit catches a spin (a loop without a wait burns a whole core: 100%) and a
	// tight retry (a pull or a dial every few milliseconds), not the few wake-ups of
	// timers and long polls: the whole process, the in-process dev cluster included,
	// measures about 1% here (2% under the race detector, which multiplies the cost of
	// what runs).
	limit := 0.03
	if raceEnabled {
		limit = 0.08
	}
	measure := func(what string) {
		t.Helper()
		time.Sleep(500 * time.Millisecond) // settle: not a wait for a condition
		cpu0, wall0 := cpuTime(), time.Now()
		time.Sleep(2 * time.Second) // the measurement window
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
		share := cpu.Seconds() / wall.Seconds()
		t.Logf("%s: %v of CPU in %v (%.2f%% of a core, limit %.0f%%)", what, cpu, wall.Round(time.Millisecond), 100*share, 100*limit)
		if share > limit {
			t.Errorf("%s: the idle process used %.2f%% of a core", what, 100*share)
		}
	}
	measure("broker up")
	if err := dc.StopBroker(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	measure("broker down")
	if err := dc.StartBroker(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}
