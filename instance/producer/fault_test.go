package producer

import (
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/remotingtest"
)

func TestNotAvailableDuration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency int64
		want    int64
	}{
		{"a fast answer costs nothing", 10, 0},
		{"100 ms is still fine", 100, 0},
		{"549 ms is still fine", 549, 0},
		{"550 ms makes the broker unavailable for 30 s", 550, 30000},
		{"1 s for 60 s", 1000, 60000},
		{"2 s for 2 min", 2000, 120000},
		{"3 s for 3 min", 3000, 180000},
		{"15 s for 10 min", 15000, 600000},
		{"a failure counts as 30 s: 10 min", isolationLatency, 600000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := notAvailableFor(tc.latency); got != tc.want {
				t.Errorf("notAvailableFor(%d) = %d, want %d", tc.latency, got, tc.want)
			}
		})
	}
}

func TestFaultTolerance(t *testing.T) {
	fc := fakeClock()
	f := newFaultTolerance(fc.Now)
	if !f.available("a") {
		t.Fatal("a broker never seen is not available")
	}
	f.update("a", 20*time.Millisecond, false)
	if !f.available("a") {
		t.Fatal("a broker that answered in 20 ms is avoided")
	}
	f.update("a", 600*time.Millisecond, false)
	if f.available("a") {
		t.Fatal("a broker that answered in 600 ms is still chosen")
	}
	fc.Advance(29 * time.Second)
	if f.available("a") {
		t.Fatal("a slow broker is chosen again before 30 s")
	}
	fc.Advance(time.Second)
	if !f.available("a") {
		t.Fatal("a slow broker is still avoided after 30 s")
	}
	f.update("b", time.Millisecond, true)
	fc.Advance(9 * time.Minute)
	if f.available("b") {
		t.Fatal("a failed broker is chosen again before 10 min")
	}
	fc.Advance(time.Minute)
	if !f.available("b") {
		t.Fatal("a failed broker is still avoided after 10 min")
	}
	f.remove("b")
	if _, ok := (*f.items.Load())["b"]; ok {
		t.Fatal("remove left the item")
	}
}

func TestPickOneAtLeast(t *testing.T) {
	fc := fakeClock()
	f := newFaultTolerance(fc.Now)
	if got := f.pickOneAtLeast(); got != "" {
		t.Fatalf("no item: picked %q", got)
	}
	f.update("slow", 3*time.Second, false) // unavailable 3 min
	if got := f.pickOneAtLeast(); got != "slow" {
		t.Fatalf("one item: picked %q", got)
	}
	f.update("slower", 15*time.Second, false) // unavailable 10 min
	f.update("failed", 0, true)               // unavailable 10 min, latency 0
	f.update("fine", 700*time.Millisecond, false)
	fc.Advance(time.Minute) // "fine" is available again
	// Order: fine (available), then by latency: failed (0), slow (3 s), slower (15 s).
	// The better half is {fine, failed}, taken in turn.
	seen := map[string]int{}
	for range 10 {
		seen[f.pickOneAtLeast()]++
	}
	if len(seen) != 2 || seen["fine"] != 5 || seen["failed"] != 5 {
		t.Fatalf("picked %v, want fine and failed in turn", seen)
	}
}

func TestSelectQueue(t *testing.T) {
	info := instance.PublishInfoFromRoute("T", remotingtest.Route(2, [2]string{"a", "127.0.0.1:1"}, [2]string{"b", "127.0.0.1:2"},
		[2]string{"c", "127.0.0.1:3"}))
	t.Run("round robin over every queue", func(t *testing.T) {
		p := &Producer{}
		e := &topicEntry{}
		seen := map[instance.MessageQueue]int{}
		for range 60 {
			seen[p.selectQueue(e, info, "")]++
		}
		if len(seen) != 6 {
			t.Fatalf("queues chosen: %v", seen)
		}
		for q, n := range seen {
			if n != 10 {
				t.Errorf("queue %v chosen %d times of 60", q, n)
			}
		}
	})
	t.Run("a retry avoids the broker that failed", func(t *testing.T) {
		p := &Producer{}
		e := &topicEntry{}
		for range 30 {
			if q := p.selectQueue(e, info, "b"); q.BrokerName == "b" {
				t.Fatalf("chose %v after b failed", q)
			}
		}
	})
	t.Run("a retry on the only broker goes to it again", func(t *testing.T) {
		p := &Producer{}
		one := instance.PublishInfoFromRoute("T", remotingtest.Route(4, [2]string{"a", "127.0.0.1:1"}))
		if q := p.selectQueue(&topicEntry{}, one, "a"); q.BrokerName != "a" {
			t.Fatalf("chose %v", q)
		}
	})
	t.Run("fault strategy skips unavailable brokers", func(t *testing.T) {
		fc := fakeClock()
		p := &Producer{fault: newFaultTolerance(fc.Now)}
		p.fault.update("a", time.Second, false)
		p.fault.update("c", 0, true)
		e := &topicEntry{}
		for range 30 {
			if q := p.selectQueue(e, info, ""); q.BrokerName != "b" {
				t.Fatalf("chose %v while a and c are unavailable", q)
			}
		}
		fc.Advance(time.Minute)
		seen := map[string]bool{}
		for range 30 {
			seen[p.selectQueue(e, info, "").BrokerName] = true
		}
		if !seen["a"] || seen["c"] == true {
			t.Fatalf("after 1 min chose %v: want a back, c still out", seen)
		}
	})
	t.Run("fault strategy with every broker unavailable takes the least bad", func(t *testing.T) {
		fc := fakeClock()
		p := &Producer{fault: newFaultTolerance(fc.Now)}
		p.fault.update("a", 2*time.Second, false)
		p.fault.update("b", time.Second, false)
		p.fault.update("c", 0, true)
		// Order by latency: c (0, failed), b (1 s), a (2 s); better half: {c}.
		for range 10 {
			q := p.selectQueue(&topicEntry{}, info, "")
			if q.BrokerName != "c" || q.QueueID < 0 || q.QueueID > 1 {
				t.Fatalf("chose %v", q)
			}
		}
	})
	t.Run("fault strategy forgets a least bad broker without queues", func(t *testing.T) {
		fc := fakeClock()
		p := &Producer{fault: newFaultTolerance(fc.Now)}
		p.fault.update("gone", 0, true)
		p.fault.update("a", 2*time.Second, false)
		p.fault.update("b", 2*time.Second, false)
		p.fault.update("c", 2*time.Second, false)
		// better half {gone, a}: gone has no queue in the route.
		for range 4 {
			_ = p.selectQueue(&topicEntry{}, info, "")
		}
		if _, ok := (*p.fault.items.Load())["gone"]; ok {
			t.Fatal("the broker without queues is still tracked")
		}
	})
}

func TestWriteQueueNums(t *testing.T) {
	r := remotingtest.Route(3, [2]string{"a", "x:1"})
	r.Queues[0].WriteQueueNums = 2
	info := &instance.TopicPublishInfo{Topic: "T", Route: r}
	if n := writeQueueNums(info, "a"); n != 2 {
		t.Errorf("a: %d", n)
	}
	if n := writeQueueNums(info, "zz"); n != -1 {
		t.Errorf("unknown broker: %d", n)
	}
	if n := writeQueueNums(&instance.TopicPublishInfo{}, "a"); n != -1 {
		t.Errorf("no route: %d", n)
	}
}
