package broker

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// holdService is Java's PullRequestHoldService: pulls that found nothing new wait, per
// queue, until a message arrives (the put wakes them: NotifyMessageArrivingListener) or
// their suspendTimeoutMillis passes. One goroutine keeps all deadlines in a heap with one
// timer; Java's service scans every 5 s, so this one answers at the deadline, not up to
// 5 s after it.
type holdService struct {
	b     *Broker
	mu    sync.Mutex
	byKey map[holdKey][]*heldPull
	heap  heldHeap
	count atomic.Int32  // held pulls: arrivals skip the lock while it is 0
	wake  chan struct{} // an earlier deadline was added
}

type holdKey struct {
	topic   string
	queueID int32
}

// heldPull is Java's longpolling.PullRequest.
type heldPull struct {
	conn     *netpoll.Conn
	req      *remoting.Command
	key      holdKey
	offset   int64 // the offset pulled from
	deadline time.Time
	index    int // in the heap; -1 once released
}

func newHoldService(b *Broker) *holdService {
	return &holdService{b: b, byKey: make(map[holdKey][]*heldPull), wake: make(chan struct{}, 1)}
}

// hold is suspendPullRequest. A message that arrived between the pull and now would have
// found nothing to wake, so the queue is checked once the request is in place.
func (s *holdService) hold(c *netpoll.Conn, req *remoting.Command, topic string, queueID int32, offset, timeoutMillis int64) {
	h := &heldPull{conn: c, req: req, key: holdKey{topic, queueID}, offset: offset,
		deadline: time.Now().Add(time.Duration(max(timeoutMillis, 0)) * time.Millisecond)}
	s.add(h)
	if maxOffset := s.b.store.MaxOffset(topic, queueID); maxOffset > offset {
		s.arrived(topic, queueID, maxOffset)
	}
}

func (s *holdService) add(h *heldPull) {
	s.mu.Lock()
	s.byKey[h.key] = append(s.byKey[h.key], h)
	heap.Push(&s.heap, h)
	first := s.heap[0] == h
	s.count.Add(1)
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// removeLocked takes h out of both tables; false when it was released already.
func (s *holdService) removeLocked(h *heldPull) bool {
	if h.index < 0 {
		return false
	}
	heap.Remove(&s.heap, h.index)
	list := s.byKey[h.key]
	for i, x := range list {
		if x == h {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(s.byKey, h.key)
	} else {
		s.byKey[h.key] = list
	}
	s.count.Add(-1)
	return true
}

// arrived is notifyMessageArriving: the pulls held on the queue from an offset below the
// new max offset are re-run. One whose filter matches nothing yet waits on, until its
// deadline.
func (s *holdService) arrived(topic string, queueID int32, maxOffset int64) {
	// A message stored while a pull re-ran, after it read the queue, found the pull out
	// of the table and woke nothing: the queue is looked at again, as hold does, a few
	// times at most (each later message wakes the pulls itself).
	for range 3 {
		if !s.arrivedOnce(topic, queueID, maxOffset) {
			return
		}
		maxOffset = s.b.store.MaxOffset(topic, queueID)
	}
}

// arrivedOnce re-runs the pulls held on the queue below maxOffset, and reports whether
// the queue grew while one it put back was re-running.
func (s *holdService) arrivedOnce(topic string, queueID int32, maxOffset int64) (grew bool) {
	if s.count.Load() == 0 {
		return false
	}
	key := holdKey{topic, queueID}
	s.mu.Lock()
	var woken []*heldPull
	for _, h := range s.byKey[key] {
		if maxOffset > h.offset {
			woken = append(woken, h)
		}
	}
	for _, h := range woken {
		s.removeLocked(h)
	}
	s.mu.Unlock()
	for _, h := range woken {
		seen := s.b.store.MaxOffset(topic, queueID) // the re-run reads this much at least
		if s.b.pull(h.conn, h.req, pullWoken) {
			continue
		}
		switch {
		case h.conn.Err() != nil:
			// closed meanwhile: nobody to answer
		case time.Now().Before(h.deadline):
			s.add(h)
			if h.conn.Err() != nil { // closed as it went back: its clean-up missed it
				s.mu.Lock()
				s.removeLocked(h)
				s.mu.Unlock()
			}
			grew = grew || s.b.store.MaxOffset(topic, queueID) > seen
		default:
			s.b.pull(h.conn, h.req, pullExpired)
		}
	}
	return grew
}

// run answers held pulls at their deadlines until ctx ends.
func (s *holdService) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		var expired []*heldPull
		for len(s.heap) > 0 && !s.heap[0].deadline.After(now) {
			h := s.heap[0]
			s.removeLocked(h)
			expired = append(expired, h)
		}
		next := time.Hour
		if len(s.heap) > 0 {
			next = s.heap[0].deadline.Sub(now)
		}
		s.mu.Unlock()
		for _, h := range expired {
			s.b.pull(h.conn, h.req, pullExpired)
		}
		if len(expired) > 0 {
			continue // the pulls took time: look again before sleeping
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
		}
	}
}

// dropConn releases the pulls held for a closed connection: nobody is left to answer.
func (s *holdService) dropConn(c *netpoll.Conn) {
	if s.count.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []*heldPull
	for _, h := range s.heap {
		if h.conn == c {
			mine = append(mine, h)
		}
	}
	for _, h := range mine {
		s.removeLocked(h)
	}
}

// clear releases every held pull, at shutdown.
func (s *holdService) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.heap {
		h.index = -1
	}
	s.heap = nil
	s.byKey = make(map[holdKey][]*heldPull)
	s.count.Store(0)
}

// held returns the number of held pulls.
func (s *holdService) held() int { return int(s.count.Load()) }

// heldHeap orders held pulls by deadline (container/heap).
type heldHeap []*heldPull

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h heldHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *heldHeap) Push(x any) {
	p := x.(*heldPull)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *heldHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.index = -1
	*h = old[:len(old)-1]
	return p
}
