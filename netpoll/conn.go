package netpoll

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// link is the byte pump under a Conn: netpoll's reactor (pollLink), or a net.Conn with
// Go's poller for TLS and NetConn (streamLink). Pipelining, opaque matching, timeouts,
// batching of writes and dispatch live in Conn and are shared; a link only moves bytes. It feeds every frame it reads to Conn.deliver and calls Conn.finish once, after
// its reader has stopped and its socket is closed.
type link interface {
	// send writes a batch of whole frames to the socket, returning once it is written.
	// Conn calls it from one goroutine at a time; the link must not keep batch after.
	send(batch []byte) error
	// close closes the socket, making the reader stop. Safe to call more than once.
	close()
}

// Conn is one connection, on a Client (to a broker or NameServer) or on a Server (from a
// client). Either side may invoke requests on it; requests from the peer go to the
// handlers of the Client or Server that owns it.
type Conn struct {
	ep     *endpoint
	link   link
	addr   string // dial address on a client, the peer's address on a server
	local  net.Addr
	remote net.Addr

	pending pendingTable
	slots   chan struct{} // requests in flight; a send takes a slot, completion frees it

	// Writers append frames to out and kick the connection's writer goroutine, which
	// sends out in batches until it is empty: frames that arrive during a syscall go out
	// together in the next one, and no caller waits on another's syscall. Writers wait
	// while maxBacklog bytes are queued behind a send, so a peer that stops reading costs
	// bounded memory (until the write timeout closes the connection), and each gives up
	// when its context ends: its frame is then never sent.
	wmu     sync.Mutex
	drained chan struct{} // made by a waiting writer, closed when the writer takes out, and on close (wmu)
	out     []byte        // frames waiting to be sent (wmu)
	kicked  bool          // the writer has been kicked and has not emptied out yet (wmu)
	kick    chan struct{} // cap 1
	spare   []byte        // the writer's batch buffer, swapped with out
	wrote   chan struct{} // closed when the writer goroutine has returned
	// flushing is when the send under way started (monoNow), 0 when none: the sweeper
	// closes a connection whose send has been blocked longer than the write timeout,
	// which unblocks it, instead of arming a timer for every send.
	flushing atomic.Int64

	err      atomic.Pointer[ConnError] // set once, by shutdown; non-nil means closed
	done     chan struct{}             // closed by shutdown after pending calls failed
	finished chan struct{}             // closed once the reader stopped and the socket closed
	onClose  func(c *Conn, cause *ConnError)
}

func newConn(ep *endpoint, addr string, local, remote net.Addr, onClose func(*Conn, *ConnError)) *Conn {
	c := &Conn{
		ep: ep, addr: addr, local: local, remote: remote, onClose: onClose,
		slots:    make(chan struct{}, ep.maxInFlight),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		wrote:    make(chan struct{}),
	}
	return c
}

// Addr is the address the connection was dialed with (client side) or the peer's
// address (server side).
func (c *Conn) Addr() string { return c.addr }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr is this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// Done is closed when the connection is closed and its pending requests have failed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is open, then the *ConnError its requests failed with.
func (c *Conn) Err() error {
	if e := c.err.Load(); e != nil {
		return e
	}
	return nil
}

// Pending is the number of requests awaiting a response.
func (c *Conn) Pending() int { return c.pending.len() }

// Close closes the connection; pending requests fail with a *ConnError wrapping ErrClosed.
func (c *Conn) Close() error {
	c.shutdown(&ConnError{Op: "close", Addr: c.addr, Err: ErrClosed})
	return nil
}

// Invoke sends req and waits for its response, until ctx ends or the request timeout of
// the Client or Server passes, whichever is first. req is not modified (the opaque is set
// on the frame only) and may be reused once Invoke returns.
func (c *Conn) Invoke(ctx context.Context, req *remoting.Command) (*remoting.Command, error) {
	ca, op, err := c.start(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	select {
	case <-ca.done:
	case <-ctx.Done():
		if c.pending.remove(op) != nil {
			c.release()
			err := c.ctxError(ctx, ca.code, op, ca.sent)
			putCall(ca)
			return nil, err
		}
		<-ca.done // completed meanwhile: take the result
	}
	resp, err := ca.resp, ca.err
	putCall(ca)
	return resp, err
}

// InvokeAsync sends req and returns; cb gets the response or the error exactly once when
// InvokeAsync returns nil, and never when it returns an error. ctx bounds the wait for a
// slot and, with its deadline and cancellation, the request (checked every few
// milliseconds). cb runs on a transport goroutine and must not block: hand long work to
// a goroutine of your own, and never call Invoke from it.
func (c *Conn) InvokeAsync(ctx context.Context, req *remoting.Command, cb func(*remoting.Command, error)) error {
	if cb == nil {
		return errors.New("netpoll: InvokeAsync without a callback")
	}
	_, _, err := c.start(ctx, req, cb)
	return err
}

// InvokeOneway sends req with the oneway flag and expects no response. It returns once
// the frame is handed to the connection's send buffer, waiting for a full one while ctx
// allows, or for the request timeout when ctx has no deadline.
func (c *Conn) InvokeOneway(ctx context.Context, req *remoting.Command) error {
	if req == nil {
		return errors.New("netpoll: nil request")
	}
	if e := c.err.Load(); e != nil {
		return e
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	flag := (req.Flag | remoting.FlagOneway) &^ remoting.FlagResponse
	// Without a context deadline the request timeout bounds the wait for a full backlog.
	var limit int64
	if _, ok := ctx.Deadline(); !ok {
		limit = monoNow() + int64(c.ep.reqTimeout)
	}
	return c.send(ctx, limit, req, opaques.Add(1), flag, req.Serialize)
}

// start registers a call for req and sends it. It returns the call (nil for an async call,
// which belongs to its completer once registered), its opaque, or an error when the
// request was not sent.
func (c *Conn) start(ctx context.Context, req *remoting.Command, cb func(*remoting.Command, error)) (*call, int32, error) {
	if req == nil {
		return nil, 0, errors.New("netpoll: nil request")
	}
	// The caller's deadline wins, longer or shorter: a long poll asks for more than the
	// default on purpose. RequestTimeout bounds only calls whose context has none, from
	// the wait for a slot to the response.
	now := monoNow()
	deadline, ctxDeadline := now+int64(c.ep.reqTimeout), false
	if dl, ok := ctx.Deadline(); ok {
		deadline, ctxDeadline = now+int64(time.Until(dl)), true
	}
	// A deadline that is not the context's bounds the waits for a slot and for a full
	// backlog too: without it a caller would wait for other requests' deadlines (long
	// polls hold slots for 30 s) or for the write timeout.
	var limit int64
	if !ctxDeadline {
		limit = deadline
	}
	if err := c.acquire(ctx, limit, req.Code); err != nil {
		return nil, 0, err
	}
	ca := getCall()
	op := opaques.Add(1)
	ca.opaque, ca.code, ca.sent, ca.cb = op, req.Code, now, cb
	ca.deadline, ca.ctxDeadline = deadline, ctxDeadline
	if cb != nil && ctx.Done() != nil {
		ca.ctx = ctx
	}
	if !c.pending.add(ca) {
		c.release()
		putCall(ca)
		return nil, 0, c.Err()
	}
	c.ep.sweep.wake()
	if cb != nil {
		ca = nil // the completer owns it from here
	}
	flag := req.Flag &^ (remoting.FlagResponse | remoting.FlagOneway)
	if err := c.send(ctx, limit, req, op, flag, req.Serialize); err != nil {
		if x := c.pending.remove(op); x != nil {
			c.release()
			putCall(x)
			return nil, 0, err
		}
		// The connection failed it already; the caller gets that through the call.
	}
	return ca, op, nil
}

// acquire takes an in-flight slot, waiting for one while ctx allows and until limit
// (monoNow), if not 0. A context that has already ended gets none: its request must not
// reach the broker (a caller told its send failed may send it again).
func (c *Conn) acquire(ctx context.Context, limit int64, code int32) error {
	if e := c.err.Load(); e != nil {
		return e
	}
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return c.unsentError(ctx, code, 0, monoNow(), "before it was sent")
		default:
		}
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	const why = "waiting for one of the connection's in-flight slots"
	start := monoNow()
	var expired <-chan time.Time // armed here only: the hot path has no timer
	if limit != 0 {
		t := time.NewTimer(time.Duration(limit - start))
		defer t.Stop()
		expired = t.C
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return c.unsentError(ctx, code, 0, start, why)
	case <-expired:
		return &TimeoutError{Addr: c.addr, Code: code, Waited: time.Duration(monoNow() - start), Unsent: true, why: why}
	}
}

func (c *Conn) release() { <-c.slots }

// complete hands a call its result. The caller removed it from the pending table, which
// makes it the only one completing it.
func (c *Conn) complete(ca *call, resp *remoting.Command, err error) {
	c.release()
	if cb := ca.cb; cb != nil {
		putCall(ca)
		cb(resp, err)
		return
	}
	ca.resp, ca.err = resp, err
	ca.done <- struct{}{}
}

// expiredError is the error of a call the sweeper removed: past its deadline, or an
// async call whose context was cancelled.
func (c *Conn) expiredError(ca *call) error {
	if ca.ctx != nil && errors.Is(ca.ctx.Err(), context.Canceled) {
		return ca.ctx.Err()
	}
	return &TimeoutError{Addr: c.addr, Code: ca.code, Opaque: ca.opaque,
		Waited: time.Duration(monoNow() - ca.sent), ctx: ca.ctxDeadline}
}

// ctxError reports a context that ended before the response: a *TimeoutError for a
// deadline, the context's error for a cancellation.
func (c *Conn) ctxError(ctx context.Context, code, opaque int32, since int64) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Addr: c.addr, Code: code, Opaque: opaque, Waited: time.Duration(monoNow() - since), ctx: true}
	}
	return err
}

// unsentError is ctxError for a request that ctx ended before it was written, while it
// waited for what why says.
func (c *Conn) unsentError(ctx context.Context, code, opaque int32, since int64, why string) error {
	err := c.ctxError(ctx, code, opaque, since)
	if te, ok := err.(*TimeoutError); ok {
		te.Unsent, te.why = true, why
	}
	return err
}

// frameBufs holds encode buffers: a header is encoded into one outside any lock, in the
// caller's goroutine, then copied into the connection's write queue with the body.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes cmd's header with the given opaque, flag and serialization, and writes it
// and cmd.Body, waiting for a full backlog while ctx allows and until limit (monoNow), if
// not 0. cmd itself is not modified.
func (c *Conn) send(ctx context.Context, limit int64, cmd *remoting.Command, opaque, flag int32, ser remoting.SerializeType) error {
	hdr := *cmd
	hdr.Opaque, hdr.Flag, hdr.Serialize, hdr.Body = opaque, flag, ser, nil
	bp := frameBufs.Get().(*[]byte)
	b, err := hdr.AppendFrame((*bp)[:0])
	if err == nil {
		total := len(b) - 4 + len(cmd.Body)
		if total+4 > c.ep.maxFrame { // the limit counts the length prefix, as Java's decoder does
			err = fmt.Errorf("netpoll: request code %d: %w: %d bytes, limit %d",
				cmd.Code, remoting.ErrFrameTooLarge, total+4, c.ep.maxFrame)
		} else {
			binary.BigEndian.PutUint32(b, uint32(total))
			err = c.write(ctx, limit, cmd.Code, opaque, b, cmd.Body)
		}
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		frameBufs.Put(bp)
	}
	return err
}

// write queues a frame (hdr then body) for the writer goroutine. An error means the
// frame was not queued: the connection is closed, or ctx ended or limit passed while the
// backlog was full (a *TimeoutError with Unsent, or the context's error). A frame queued
// on a connection that then fails is lost with it, and the requests waiting for its
// response fail with the connection.
func (c *Conn) write(ctx context.Context, limit int64, code, opaque int32, hdr, body []byte) error {
	const why = "waiting for the connection's write backlog to drain (the peer is not reading)"
	c.wmu.Lock()
	var since int64
	var expired <-chan time.Time // armed on the first wait only: the hot path has no timer
	for c.kicked && len(c.out) >= maxBacklog && c.err.Load() == nil {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained := c.drained
		c.wmu.Unlock()
		if since == 0 {
			since = monoNow()
			if limit != 0 {
				t := time.NewTimer(time.Duration(limit - since))
				defer t.Stop()
				expired = t.C
			}
		}
		select {
		case <-drained:
		case <-ctx.Done():
			return c.unsentError(ctx, code, opaque, since, why)
		case <-expired:
			return &TimeoutError{Addr: c.addr, Code: code, Opaque: opaque,
				Waited: time.Duration(monoNow() - since), Unsent: true, why: why}
		}
		c.wmu.Lock()
	}
	if e := c.err.Load(); e != nil {
		c.wmu.Unlock()
		return e
	}
	c.out = append(append(c.out, hdr...), body...)
	kick := !c.kicked
	c.kicked = true
	c.wmu.Unlock()
	if kick {
		c.kick <- struct{}{} // never blocks: only the writer that set kicked sends
	}
	return nil
}

const (
	// maxKeptBuffer bounds the write buffers kept between batches: a batch with a large
	// message goes out, its buffer does not stay.
	maxKeptBuffer = 256 << 10
	// maxBacklog is how many bytes may wait behind a send before writers block.
	maxBacklog = 4 << 20
)

// writeLoop is the connection's writer goroutine, started when the connection is
// registered and stopped by shutdown. One goroutine per connection was measured against
// callers taking turns to send (whoever finds no send under way drains the queue) and
// against a lock held across each send: it cost 6% less CPU per request with 64 callers
// and the same with one (BenchmarkRoundTrip, interleaved runs).
func (c *Conn) writeLoop() {
	defer close(c.wrote)
	for {
		select {
		case <-c.kick:
			c.drain()
		case <-c.done:
			return
		}
	}
}

// drain sends out in batches until it is empty.
func (c *Conn) drain() {
	for {
		c.wmu.Lock()
		batch := c.out
		if len(batch) == 0 || c.err.Load() != nil {
			c.out = batch[:0]
			c.kicked = false
			c.wmu.Unlock()
			return
		}
		c.out = c.spare[:0]
		c.wakeWriters()
		c.wmu.Unlock()

		c.flushing.Store(monoNow())
		c.ep.sweep.wake()
		err := c.link.send(batch)
		c.flushing.Store(0)
		if err != nil {
			c.shutdown(&ConnError{Op: "write", Addr: c.addr, Err: err})
			return
		}
		if cap(batch) <= maxKeptBuffer {
			c.spare = batch[:0]
		} else {
			c.spare = nil
		}
	}
}

// command is a decoded command allocated with room for its extFields: one allocation
// where growing Ext from nothing would take four or five (Decode keeps Ext's capacity).
// Twelve fields hold a send or pull request header and every common response.
type command struct {
	cmd remoting.Command
	ext [12]remoting.Field
}

// deliver handles one frame from the reader. payload is the frame after its length
// prefix; owned says the command may keep it (Body then aliases it), otherwise the link
// reuses it after deliver returns and the body is copied. It returns false when the
// connection is closing and the reader should stop.
func (c *Conn) deliver(payload []byte, owned bool) bool {
	box := new(command)
	cmd := &box.cmd
	cmd.Ext = box.ext[:0]
	if err := cmd.Decode(payload); err != nil {
		c.ep.log.Error("netpoll: malformed frame, closing connection", "remote", c.addr, "err", err)
		c.shutdown(&ConnError{Op: "read", Addr: c.addr, Err: err})
		return false
	}
	if !owned && len(cmd.Body) > 0 {
		cmd.Body = append([]byte(nil), cmd.Body...)
	}
	if cmd.IsResponse() {
		if ca := c.pending.remove(cmd.Opaque); ca != nil {
			c.complete(ca, cmd, nil)
		} else {
			c.ep.log.Debug("netpoll: response to no pending request dropped", "remote", c.addr,
				"opaque", cmd.Opaque, "code", cmd.Code)
		}
		return true
	}
	if !c.ep.pool.submit(task{c: c, req: cmd}) {
		c.ep.log.Warn("netpoll: handler queue full, request refused", "remote", c.addr, "code", cmd.Code)
		if !cmd.IsOneway() {
			c.respond(cmd, remoting.NewResponse(cmd, remoting.SystemBusy,
				"[OVERLOAD]system busy, start flow control for a while"))
		}
	}
	return true
}

// serve runs the handler of a peer-initiated request and writes its response.
func (c *Conn) serve(req *remoting.Command) {
	resp := c.ep.callHandler(c.ep.handler(req.Code), c, req)
	if resp != nil && !req.IsOneway() {
		c.respond(req, resp)
	}
}

// Respond answers req, a request this connection received, with resp: for handlers that
// returned nil to answer later. It does nothing for a oneway request; an error means the
// connection has closed and the answer is lost with it.
func (c *Conn) Respond(req, resp *remoting.Command) error {
	if req.IsOneway() {
		return nil
	}
	return c.send(context.Background(), 0, resp, req.Opaque, resp.Flag|remoting.FlagResponse, req.Serialize)
}

func (c *Conn) respond(req, resp *remoting.Command) {
	if err := c.send(context.Background(), 0, resp, req.Opaque, resp.Flag|remoting.FlagResponse, req.Serialize); err != nil {
		c.ep.log.Debug("netpoll: response not sent", "remote", c.addr, "code", req.Code, "err", err)
	}
}

// wakeWriters wakes the writers waiting for the backlog to shrink; wmu is held.
func (c *Conn) wakeWriters() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// shutdown closes the connection once: the socket is closed, every pending call fails
// with cause, and the owner is told. Later calls do nothing.
func (c *Conn) shutdown(cause *ConnError) {
	if !c.err.CompareAndSwap(nil, cause) {
		return
	}
	c.link.close()
	c.wmu.Lock()
	c.wakeWriters() // writers waiting on the backlog see the error
	c.wmu.Unlock()
	failed := c.pending.drain(nil)
	for _, ca := range failed {
		c.complete(ca, nil, cause)
	}
	close(c.done)
	if c.onClose != nil {
		c.onClose(c, cause)
	}
}

// finish is called by the link when its reader has stopped and its socket is closed.
func (c *Conn) finish(cause *ConnError) {
	c.shutdown(cause)
	<-c.wrote
	c.ep.unregister(c)
	close(c.finished)
}

// peerClosed is the cause recorded when the peer hangs up.
func peerClosed(addr string) *ConnError {
	return &ConnError{Op: "read", Addr: addr, Err: io.EOF}
}
