package gateway

import (
	"container/heap"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/instance/consumer"
)

// Long-poll receive: the push consumer hands each message (a delivery of one) to the
// receiver, which buffers it until an application receives it. A receive leases messages
// for a while; an ack or a nack within the lease completes the delivery, and a lease
// that runs out puts its message back at the front of the buffer, to be received again.
// Nothing goes back to the broker on expiry: an unacknowledged message stays a delivery
// in process, holding back its queue's committed offset, so it is never lost; an
// acknowledged one is completed once and never handed out again.
//
// The buffer is bounded by the push consumer's flow control: a queue whose messages
// (buffered or leased) exceed pull_threshold is not pulled until acks bring it under.
// Orderly consumption hands a queue's next message only once the previous one is
// completed, so a queue has at most one lease at a time and its order holds.
//
// A buffered message is unclaimed (consumer.Delivery.Unclaim), a leased one claimed:
// when a rebalance gives an orderly queue to another gateway, or this one stops, a
// message still buffered is withdrawn and the queue unlocked on the broker at once, so
// that its next owner goes on from that message; a leased one is waited for until it is
// acked or nacked (which still counts) or its lease runs out (it is then withdrawn), the
// next owner delivering nothing of that queue meanwhile. At shutdown the acks of leases
// cannot arrive any more: a queue with a message leased stays locked until the broker's
// lock expires (60 s), its next owner not delivering beside an application still at it.

// Receipt handle results of ack and nack.
const (
	handleOK      = "ok"
	handleExpired = "expired" // the lease ran out (or the queue left this gateway): the message comes again
	handleUnknown = "unknown" // never issued here, issued before a restart, or acked or nacked already
)

// receiver is a receive consumer's buffer and leases.
type receiver struct {
	maxInFlight int
	invisible   time.Duration
	// requeueNacks puts nacked messages back in the buffer rather than failing their
	// delivery: broadcasting consumption has no retry topic, and would drop them.
	requeueNacks bool

	// prefix starts every handle: random per receiver, so that handles issued before a
	// restart (or by another gateway) are unknown rather than mistaken.
	prefix [8]byte

	mu       sync.Mutex
	rnd      *rand.ChaCha8
	seq      uint64
	ready    []*pending // oldest first; expired leases return to the front
	leases   map[string]*lease
	byExpiry leaseHeap
	leased   int
	timer    *time.Timer   // fires at the earliest lease deadline
	wake     chan struct{} // closed when messages become ready (or a slot frees)
	closed   bool
	waiting  atomic.Int32 // receives waiting for messages
}

// pending is a delivery of one message, buffered or leased.
type pending struct {
	d       *consumer.Delivery
	handles []string // every handle issued for it, answered "expired" until it completes
}

// lease is a handle's lease.
type lease struct {
	p        *pending
	handle   string
	deadline time.Time
	expired  bool
	idx      int // in byExpiry; -1 when out
}

func newReceiver(cc *ConsumerConfig) (*receiver, error) {
	r := &receiver{maxInFlight: cc.ReceiveMaxInFlight, invisible: cc.ReceiveInvisible,
		requeueNacks: cc.Model == ModelBroadcasting, leases: map[string]*lease{}, wake: make(chan struct{})}
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	if _, err := crand.Read(r.prefix[:]); err != nil {
		return nil, err
	}
	r.rnd = rand.NewChaCha8(seed)
	return r, nil
}

// Consume implements consumer.Handler: it buffers the delivery.
func (r *receiver) Consume(_ context.Context, d *consumer.Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.Unclaim() // buffered: a queue dropped meanwhile need not wait for it
	if r.closed {
		return // not completed: the consumer is stopping; the message comes again
	}
	r.ready = append(r.ready, &pending{d: d})
	r.signal()
}

// signal wakes the receives waiting; r.mu is held.
func (r *receiver) signal() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// leasedMsg is a message handed to a receive.
type leasedMsg struct {
	handle string
	d      *consumer.Delivery
}

var errReceiverClosed = errors.New("the consumer is stopping")

// receive leases up to max messages for invisible, waiting up to wait for the first
// while ctx and stop allow; none once stop is closed. It returns the lease deadline.
func (r *receiver) receive(ctx context.Context, stop <-chan struct{}, max int, wait, invisible time.Duration) ([]leasedMsg, time.Time, error) {
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-stop:
			// Shutdown began: the acks of a lease could not reach the API any more, and
			// the messages would come again after the restart.
			return nil, time.Time{}, nil
		default:
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, time.Time{}, errReceiverClosed
		}
		out, until := r.take(max, invisible)
		wake := r.wake
		r.mu.Unlock()
		if len(out) > 0 || wait <= 0 {
			return out, until, nil
		}
		r.waiting.Add(1)
		select {
		case <-wake:
			r.waiting.Add(-1)
		case <-deadline:
			r.waiting.Add(-1)
			return nil, time.Time{}, nil
		case <-ctx.Done():
			r.waiting.Add(-1)
			return nil, time.Time{}, ctx.Err()
		case <-stop:
			r.waiting.Add(-1)
			return nil, time.Time{}, nil
		}
	}
}

// take leases up to max ready messages; r.mu is held.
func (r *receiver) take(max int, invisible time.Duration) ([]leasedMsg, time.Time) {
	now := time.Now()
	until := now.Add(invisible)
	var out []leasedMsg
	for len(r.ready) > 0 && len(out) < max && r.leased < r.maxInFlight {
		p := r.ready[0]
		r.ready[0] = nil
		r.ready = r.ready[1:]
		// Not claimed: the consumer's timeout failed it meanwhile, or its queue left (a
		// rebalance, a reset of the offsets) and its next owner delivers it again, as
		// Java's consumer skips a dropped queue's pending requests.
		if !p.d.Claim() {
			r.forget(p)
			continue
		}
		l := &lease{p: p, handle: r.newHandle(), deadline: until}
		p.handles = append(p.handles, l.handle)
		r.leases[l.handle] = l
		heap.Push(&r.byExpiry, l)
		r.leased++
		out = append(out, leasedMsg{handle: l.handle, d: p.d})
	}
	if len(out) > 0 {
		r.arm(now)
	}
	return out, until
}

// newHandle is the prefix, a sequence number and 8 random bytes, base64url: unique, and
// not guessable from another handle.
func (r *receiver) newHandle() string {
	var b [24]byte
	copy(b[:8], r.prefix[:])
	r.seq++
	binary.BigEndian.PutUint64(b[8:16], r.seq)
	binary.BigEndian.PutUint64(b[16:], r.rnd.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// arm sets the timer to the earliest deadline; r.mu is held.
func (r *receiver) arm(now time.Time) {
	if len(r.byExpiry) == 0 || r.closed {
		return
	}
	d := max(r.byExpiry[0].deadline.Sub(now), 0)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.expire)
	} else {
		r.timer.Reset(d)
	}
}

// expire puts the messages of the leases that ran out back at the front of the buffer.
func (r *receiver) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := time.Now()
	var back []*pending
	for len(r.byExpiry) > 0 && !r.byExpiry[0].deadline.After(now) {
		l := heap.Pop(&r.byExpiry).(*lease)
		l.expired = true
		r.leased--
		l.p.d.Unclaim() // a dropped orderly queue waits for it no more
		back = append(back, l.p)
	}
	if len(back) > 0 {
		// Oldest first, ahead of what was never leased.
		r.ready = append(back, r.ready...)
		r.signal()
	}
	r.arm(now)
}

// complete acks (or, with retry, nacks) the message of each handle.
func (r *receiver) complete(handles []string, retry bool, delayLevel int) []string {
	out := make([]string, len(handles))
	now := time.Now()
	var done, back []*pending
	r.mu.Lock()
	for i, h := range handles {
		l := r.leases[h]
		switch {
		case l == nil:
			out[i] = handleUnknown
			continue
		case l.expired || !l.deadline.After(now):
			out[i] = handleExpired
			continue
		}
		heap.Remove(&r.byExpiry, l.idx)
		r.leased--
		out[i] = handleOK
		if retry && r.requeueNacks {
			l.expired = true // the handle is spent; the message is received again
			l.p.d.Unclaim()
			back = append(back, l.p)
			continue
		}
		r.forget(l.p)
		done = append(done, l.p)
	}
	if len(back) > 0 {
		r.ready = append(back, r.ready...)
	}
	if len(done)+len(back) > 0 {
		r.signal() // slots freed, messages ready
	}
	r.mu.Unlock()
	// Completing may send a message back to the broker: outside the lock.
	j := 0
	for i := range out {
		if out[i] != handleOK || (retry && r.requeueNacks) {
			continue
		}
		var err error
		if retry {
			err = done[j].d.Retry(delayLevel)
		} else {
			err = done[j].d.Ack()
		}
		j++
		if err != nil { // completed by the consumer's timeout, or the queue left
			out[i] = handleExpired
		}
	}
	return out
}

// forget drops every handle of p; r.mu is held.
func (r *receiver) forget(p *pending) {
	for _, h := range p.handles {
		delete(r.leases, h)
	}
	p.handles = nil
}

// counts returns the messages leased and those buffered.
func (r *receiver) counts() (leased, buffered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leased, len(r.ready)
}

// close ends the receives and the timer; the deliveries stay uncompleted, so that their
// messages are consumed again.
func (r *receiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.signal()
	r.ready = nil
	clear(r.leases)
	r.byExpiry = nil
}

// leaseHeap orders leases by deadline.
type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *leaseHeap) Push(x any) {
	l := x.(*lease)
	l.idx = len(*h)
	*h = append(*h, l)
}
func (h *leaseHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.idx = -1
	return l
}
