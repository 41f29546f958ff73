package netpoll

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// epoch anchors a monotonic clock: deadlines are nanoseconds since it, immune to wall
// clock steps that would otherwise time out every pending request at once.
var epoch = time.Now()

func monoNow() int64 { return int64(time.Since(epoch)) }

// opaques is the per-process request counter, as Java's RemotingCommand.requestId.
var opaques atomic.Int32

// call is a request awaiting its response. Calls are pooled. Exactly one party completes
// a call: whoever removes it from its pendingTable (the reader on a response, the sweeper
// on a timeout, the connection on failure, the caller on cancellation).
type call struct {
	opaque   int32
	code     int32
	sent     int64 // monoNow at registration, for the timeout error
	deadline int64
	// ctxDeadline says the deadline is the caller's context's, so that a timeout error
	// also matches context.DeadlineExceeded.
	ctxDeadline bool
	// done is signalled once by the completer of a synchronous call; the caller then reads
	// resp and err and returns the call to the pool. Reusing the channel with its call
	// saves one allocation per request.
	done chan struct{}
	// cb is set for asynchronous calls; the completer returns the call to the pool first.
	cb func(*remoting.Command, error)
	// ctx is kept only for asynchronous calls whose context can be cancelled; the sweeper
	// checks it, since no goroutine waits on it.
	ctx  context.Context
	resp *remoting.Command
	err  error
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall() *call { return calls.Get().(*call) }

func putCall(c *call) {
	done := c.done
	*c = call{done: done}
	calls.Put(c)
}

// pendingShards spreads the table over locks: the opaque counter is sequential, so
// concurrent callers land on different shards.
const pendingShards = 16

type pendingShard struct {
	mu sync.Mutex
	m  map[int32]*call
	// earliest is at or before the earliest deadline in m, so the sweeper skips shards
	// that cannot hold an expired call (long polls with 30 s deadlines, say).
	earliest int64
	// cancellable counts the asynchronous calls whose context can end before their
	// deadline: a shard holding any is swept every round, however late its deadlines.
	cancellable int
	closed      bool
	_           [32]byte // keep shards on separate cache lines
}

// pendingTable holds a connection's calls by opaque.
type pendingTable struct {
	shards [pendingShards]pendingShard
	n      atomic.Int64
}

func (t *pendingTable) shard(opaque int32) *pendingShard {
	return &t.shards[uint32(opaque)%pendingShards]
}

// add registers c; it fails once the table has been drained by a closing connection.
func (t *pendingTable) add(c *call) bool {
	s := t.shard(c.opaque)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.m == nil {
		s.m = make(map[int32]*call)
	}
	s.m[c.opaque] = c
	if len(s.m) == 1 || c.deadline < s.earliest {
		s.earliest = c.deadline
	}
	if c.ctx != nil {
		s.cancellable++
	}
	s.mu.Unlock()
	t.n.Add(1)
	return true
}

// remove takes the call with opaque out of the table; nil when it is not there (completed
// by someone else, or a late response).
func (t *pendingTable) remove(opaque int32) *call {
	s := t.shard(opaque)
	s.mu.Lock()
	c, ok := s.m[opaque]
	if ok {
		delete(s.m, opaque)
		if c.ctx != nil {
			s.cancellable--
		}
	}
	s.mu.Unlock()
	if ok {
		t.n.Add(-1)
	}
	return c
}

// expire removes the calls past their deadline, or whose asynchronous caller gave up,
// appending them to out.
func (t *pendingTable) expire(now int64, out []*call) []*call {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		if len(s.m) == 0 || now < s.earliest && s.cancellable == 0 {
			s.mu.Unlock()
			continue
		}
		earliest := int64(1<<63 - 1)
		for op, c := range s.m {
			if c.deadline <= now || c.ctx != nil && c.ctx.Err() != nil {
				delete(s.m, op)
				if c.ctx != nil {
					s.cancellable--
				}
				out = append(out, c)
				t.n.Add(-1)
				continue
			}
			earliest = min(earliest, c.deadline)
		}
		s.earliest = earliest
		s.mu.Unlock()
	}
	return out
}

// drain closes the table to new calls and removes every call, appending them to out.
func (t *pendingTable) drain(out []*call) []*call {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.closed = true
		for op, c := range s.m {
			delete(s.m, op)
			out = append(out, c)
			t.n.Add(-1)
		}
		s.cancellable = 0
		s.mu.Unlock()
	}
	return out
}

func (t *pendingTable) len() int { return int(t.n.Load()) }

// sweepInterval is the resolution of timeouts not carried by a caller's context: a single
// goroutine per Client or Server scans the pending tables this often, instead of a timer
// per request, and sleeps while nothing is pending.
const sweepInterval = 5 * time.Millisecond

var errWriteTimeout = errors.New("blocked longer than the write timeout: peer not reading")

// sweeper fails timed-out calls of an endpoint's connections.
type sweeper struct {
	ep       *endpoint
	sleeping atomic.Bool
	wakeCh   chan struct{}
}

// wake restarts a sleeping sweeper; callers call it after adding a call, so a sweeper that
// went to sleep concurrently either saw the call or is woken.
func (s *sweeper) wake() {
	if s.sleeping.Load() && s.sleeping.CompareAndSwap(true, false) {
		select {
		case s.wakeCh <- struct{}{}:
		default:
		}
	}
}

func (s *sweeper) run(stop <-chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	var conns []*Conn
	var expired []*call
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		conns = s.ep.snapshot(conns[:0])
		pending := 0
		for _, c := range conns {
			if f := c.flushing.Load(); f != 0 {
				pending++
				if monoNow()-f > int64(s.ep.writeTimeout) {
					s.ep.log.Error("netpoll: write blocked too long, closing connection", "remote", c.addr,
						"timeout", s.ep.writeTimeout)
					c.shutdown(&ConnError{Op: "write", Addr: c.addr, Err: errWriteTimeout})
				}
			}
			if c.pending.len() == 0 {
				continue
			}
			expired = c.pending.expire(monoNow(), expired[:0])
			for i, ca := range expired {
				c.complete(ca, nil, c.expiredError(ca))
				expired[i] = nil
			}
			pending += c.pending.len()
		}
		clear(conns)
		if pending > 0 {
			continue
		}
		// Nothing pending: sleep until a caller adds a call. Publish sleeping before the
		// last look, so a concurrent add either is seen here or wakes us.
		s.sleeping.Store(true)
		if s.ep.busy() {
			s.sleeping.Store(false)
			continue
		}
		t.Stop()
		select {
		case <-stop:
			return
		case <-s.wakeCh:
		}
		s.sleeping.Store(false)
		t.Reset(sweepInterval)
	}
}
