package netpoll

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// Handler answers a request the peer initiated. It runs on the endpoint's handler pool;
// ctx is cancelled when the Client or Server closes. The returned command is the response:
// the transport sets its opaque, response flag and serialization from req. Oneway requests
// get no response whatever the handler returns. A handler that cannot answer at once (a
// broker holding a long-polling pull) returns nil, which frees its worker, and answers
// later with Conn.Respond.
type Handler func(ctx context.Context, c *Conn, req *remoting.Command) *remoting.Command

// NotSupported is the default handler: it answers REQUEST_CODE_NOT_SUPPORTED with Java's
// remark (" request type N not supported").
func NotSupported(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, remoting.RequestCodeNotSupported,
		" request type "+strconv.Itoa(int(req.Code))+" not supported")
}

// endpoint is what a Client and a Server share: settings, handlers, the handler pool, the
// timeout sweeper and the registry of live connections. It owns every goroutine it starts.
type endpoint struct {
	log          *slog.Logger
	maxFrame     int
	reqTimeout   time.Duration
	writeTimeout time.Duration
	maxInFlight  int

	handlers atomic.Pointer[map[remoting.RequestCode]Handler] // copy on write: read per request

	ctx    context.Context // handlers' context
	cancel context.CancelFunc
	stop   chan struct{} // closed by close
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	conns   map[*Conn]struct{}

	sweep sweeper
	pool  workerPool
}

func newEndpoint(log *slog.Logger, maxFrame int, reqTimeout, writeTimeout time.Duration,
	maxInFlight, workers, queue int) *endpoint {
	e := &endpoint{
		log: log, maxFrame: maxFrame, reqTimeout: reqTimeout, writeTimeout: writeTimeout,
		maxInFlight: maxInFlight,
		stop:        make(chan struct{}),
		conns:       make(map[*Conn]struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	empty := map[remoting.RequestCode]Handler{}
	e.handlers.Store(&empty)
	e.sweep = sweeper{ep: e, wakeCh: make(chan struct{}, 1)}
	e.pool = workerPool{ep: e, tasks: make(chan task, queue), max: int32(workers)}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.sweep.run(e.stop)
	}()
	return e
}

func (e *endpoint) handle(code remoting.RequestCode, h Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.handlers.Load()
	m := make(map[remoting.RequestCode]Handler, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if h == nil {
		delete(m, code)
	} else {
		m[code] = h
	}
	e.handlers.Store(&m)
}

func (e *endpoint) handler(code int32) Handler {
	if h, ok := (*e.handlers.Load())[remoting.RequestCode(code)]; ok {
		return h
	}
	return NotSupported
}

// register adds a live connection and starts its writer; it fails once the endpoint is
// closing. The connection's link then finishes it (Conn.finish), which waits for the
// writer and unregisters it.
func (e *endpoint) register(c *Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return false
	}
	e.conns[c] = struct{}{}
	go c.writeLoop()
	return true
}

func (e *endpoint) unregister(c *Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

func (e *endpoint) snapshot(out []*Conn) []*Conn {
	e.mu.Lock()
	for c := range e.conns {
		out = append(out, c)
	}
	e.mu.Unlock()
	return out
}

// settled reports that no call is pending and no open connection has frames queued or
// being written: a oneway request returns once queued, and must not be lost by a Close
// that follows it.
func (e *endpoint) settled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		if c.pending.len() > 0 {
			return false
		}
		if c.err.Load() == nil {
			c.wmu.Lock()
			writing := c.kicked
			c.wmu.Unlock()
			if writing {
				return false
			}
		}
	}
	return true
}

// busy reports pending calls or a flush under way: what the sweeper watches.
func (e *endpoint) busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		if c.pending.len() > 0 || c.flushing.Load() != 0 {
			return true
		}
	}
	return false
}

func (e *endpoint) pendingCount() int {
	n := 0
	e.mu.Lock()
	for c := range e.conns {
		n += c.pending.len()
	}
	e.mu.Unlock()
	return n
}

// connCount counts the open connections (not those closing).
func (e *endpoint) connCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for c := range e.conns {
		if c.err.Load() == nil {
			n++
		}
	}
	return n
}

// drain waits until nothing is pending or waiting to be written, or ctx ends. Closing is
// rare, so it polls.
func (e *endpoint) drain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !e.settled() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// close refuses new connections, closes the live ones with cause, stops the sweeper and
// the handler pool and waits, within ctx, for every goroutine and connection reader.
func (e *endpoint) close(ctx context.Context, cause error) error {
	e.mu.Lock()
	already := e.stopped
	e.stopped = true
	conns := make([]*Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	if !already {
		close(e.stop)
		e.cancel()
	}
	for _, c := range conns {
		c.shutdown(&ConnError{Op: "close", Addr: c.addr, Err: cause})
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		for _, c := range conns {
			<-c.finished
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// goOwned runs f on a goroutine the endpoint waits for; false once the endpoint is closing.
func (e *endpoint) goOwned(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// task is a peer-initiated request waiting for a handler.
type task struct {
	c   *Conn
	req *remoting.Command
}

// workerPool runs handlers on at most max goroutines, fed by a bounded queue: the reader
// never blocks on a handler. Workers start on demand, one per submission until there are
// max of them, and stay until the endpoint closes. (Starting one only when none looks
// idle strands tasks: a worker counted idle may be taking another task at that moment.)
type workerPool struct {
	ep    *endpoint
	tasks chan task
	max   int32
	n     atomic.Int32 // workers started
}

// submit queues t; false when the queue is full.
func (p *workerPool) submit(t task) bool {
	select {
	case p.tasks <- t:
	default:
		return false
	}
	if p.n.Load() < p.max {
		p.spawn()
	}
	return true
}

func (p *workerPool) spawn() {
	for {
		n := p.n.Load()
		if n >= p.max {
			return
		}
		if p.n.CompareAndSwap(n, n+1) {
			break
		}
	}
	if !p.ep.goOwned(p.work) {
		p.n.Add(-1)
	}
}

func (p *workerPool) work() {
	for {
		select {
		case t := <-p.tasks:
			t.c.serve(t.req)
		case <-p.ep.stop:
			return
		}
	}
}

// callHandler runs h, turning a panic into a SYSTEM_ERROR response: a handler bug fails
// that request only.
func (e *endpoint) callHandler(h Handler, c *Conn, req *remoting.Command) (resp *remoting.Command) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("netpoll: handler panicked", "remote", c.addr, "code", req.Code,
				"panic", r, "stack", string(debug.Stack()))
			resp = remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("handler panic: %v", r))
		}
	}()
	return h(e.ctx, c, req)
}
