package consumer

import "testing"

func TestFlowControlThresholds(t *testing.T) {
	tests := []struct {
		name    string
		orderly bool
		lim     limits
		size    int
		offsets []int64
		want    flowReason
	}{
		{"under every threshold", false, limits{count: 3, sizeMiB: 1, maxSpan: 10}, 1, []int64{1, 2, 3}, flowOK},
		{"count over", false, limits{count: 2, sizeMiB: 1, maxSpan: 10}, 1, []int64{1, 2, 3}, flowCount},
		{"count at the threshold is not over (Java's >)", false, limits{count: 3, sizeMiB: 1, maxSpan: 10}, 1, []int64{1, 2, 3}, flowOK},
		{"size over, in whole MiB", false, limits{count: 10, sizeMiB: 1, maxSpan: 10}, 1 << 20, []int64{1, 2}, flowSize},
		{"size just under 2 MiB is 1 MiB", false, limits{count: 10, sizeMiB: 1, maxSpan: 10}, 1<<20 - 1, []int64{1, 2}, flowOK},
		{"span over", false, limits{count: 10, sizeMiB: 1, maxSpan: 10}, 1, []int64{1, 12}, flowSpan},
		{"span at the threshold", false, limits{count: 10, sizeMiB: 1, maxSpan: 10}, 1, []int64{1, 11}, flowOK},
		{"orderly has no span check", true, limits{count: 10, sizeMiB: 1}, 1, []int64{1, 500}, flowOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pq := newProcessQueue(testMQ, tt.orderly, 0, &topicStats{}, epoch)
			pq.put(msgsAt(tt.size, tt.offsets...), 0)
			if got := pq.holdBack(tt.lim); got != tt.want {
				t.Errorf("holdBack = %q, want %q", got, tt.want)
			}
			if pq.isPaused() != (tt.want != flowOK) {
				t.Errorf("paused = %v", pq.isPaused())
			}
		})
	}
}

// A queue held back resumes with the acknowledgement that brings it under its limits, and
// only then; a queue not held back is never "resumed" (its pull is under way already).
func TestFlowControlResumesOnAcknowledgement(t *testing.T) {
	lim := limits{count: 2, sizeMiB: 100, maxSpan: 100}
	pq := newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	ms := msgsAt(1, 1, 2, 3, 4)
	pq.put(ms, 5)
	if r := pq.holdBack(lim); r != flowCount {
		t.Fatalf("holdBack = %v", r)
	}
	if _, resume := pq.remove(ms[:1], lim, epoch); resume {
		t.Error("resumed with 3 messages held, threshold 2")
	}
	if _, resume := pq.remove(ms[1:2], lim, epoch); !resume {
		t.Error("not resumed with 2 messages held")
	}
	if _, resume := pq.remove(ms[2:3], lim, epoch); resume {
		t.Error("resumed twice")
	}

	span := limits{count: 100, sizeMiB: 100, maxSpan: 5}
	pq = newProcessQueue(testMQ, false, 0, &topicStats{}, epoch)
	ms = msgsAt(1, 1, 2, 8)
	pq.put(ms, 9)
	if r := pq.holdBack(span); r != flowSpan {
		t.Fatalf("holdBack = %v", r)
	}
	if _, resume := pq.remove(ms[2:], span, epoch); !resume {
		t.Error("the newest message done, span 1: not resumed")
	}

	o := newProcessQueue(testMQ, true, 0, &topicStats{}, epoch)
	o.put(msgsAt(1, 1, 2, 3), 4)
	if r := o.holdBack(lim); r != flowCount {
		t.Fatalf("orderly holdBack = %v", r)
	}
	o.take(1, epoch)
	if _, resume := o.commit(1, lim); !resume {
		t.Error("orderly commit under the threshold did not resume")
	}
}

func TestTopicThresholdsDividedAmongQueues(t *testing.T) {
	c := newUnitConsumer(t, Config{PullThresholdForTopic: 1000, PullThresholdSizeForTopic: 30})
	for q := range 3 {
		c.addQueue(instanceMQ("T", q), 0)
	}
	c.queuesChanged(ctxFor(t, timeoutUnit), "T")
	if lim := c.thresholds.limits(); lim.count != 333 || lim.sizeMiB != 10 {
		t.Errorf("limits = %+v, want 1000/3 messages and 30/3 MiB", lim)
	}
}
