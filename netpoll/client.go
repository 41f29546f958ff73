package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// Client is the remoting client: one connection per address, dialed on first use and
// again after a loss, shared by all callers. Safe for concurrent use.
type Client struct {
	cfg ClientConfig
	ep  *endpoint

	// conns maps an address to its connection. Copied on write: it changes on dial and
	// loss, and is read on every request.
	conns  atomic.Pointer[map[string]*Conn]
	mu     sync.Mutex // serialises writers of conns and dials
	dials  map[string]*dial
	closed atomic.Bool
}

// dial is a connection attempt that concurrent first callers share.
type dial struct {
	done chan struct{}
	c    *Conn
	err  error
}

// Stats is a snapshot of a Client's or Server's connections.
type Stats struct {
	Conns   int // open connections
	Pending int // requests awaiting a response
}

// NewClient validates cfg and returns a client; it dials nothing until first used. Close
// it to stop its goroutines.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl := &Client{cfg: cfg, dials: make(map[string]*dial)}
	cl.ep = newEndpoint(cfg.Logger, cfg.MaxFrameLength, cfg.RequestTimeout, cfg.WriteTimeout,
		cfg.MaxInFlightPerConn, cfg.HandlerWorkers, cfg.HandlerQueue)
	empty := map[string]*Conn{}
	cl.conns.Store(&empty)
	return cl, nil
}

// Handle registers h for requests with code that brokers send to this client
// (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, GET_CONSUMER_RUNNING_INFO...);
// a nil h removes it. Unregistered codes are answered by NotSupported.
func (cl *Client) Handle(code remoting.RequestCode, h Handler) { cl.ep.handle(code, h) }

// Invoke sends req to addr and waits for the response; see Conn.Invoke.
func (cl *Client) Invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c.Invoke(ctx, req)
}

// InvokeAsync sends req to addr; see Conn.InvokeAsync.
func (cl *Client) InvokeAsync(ctx context.Context, addr string, req *remoting.Command, cb func(*remoting.Command, error)) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req to addr expecting no response; see Conn.InvokeOneway.
func (cl *Client) InvokeOneway(ctx context.Context, addr string, req *remoting.Command) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeOneway(ctx, req)
}

// Conn returns the open connection to addr, dialing it if there is none. Concurrent
// callers share one dial; each waits only as long as its ctx allows.
func (cl *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	if cl.closed.Load() {
		return nil, ErrClosed
	}
	if c := (*cl.conns.Load())[addr]; c != nil && c.err.Load() == nil {
		return c, nil
	}
	cl.mu.Lock()
	if cl.closed.Load() {
		cl.mu.Unlock()
		return nil, ErrClosed
	}
	if c := (*cl.conns.Load())[addr]; c != nil && c.err.Load() == nil {
		cl.mu.Unlock()
		return c, nil
	}
	d := cl.dials[addr]
	if d == nil {
		d = &dial{done: make(chan struct{})}
		// The dial runs on its own goroutine so that a caller whose context ends does not
		// cut it short for the others; Close cancels it.
		if !cl.ep.goOwned(func() { cl.dial(addr, d) }) {
			cl.mu.Unlock()
			return nil, ErrClosed
		}
		cl.dials[addr] = d
	}
	cl.mu.Unlock()
	select {
	case <-d.done: // dialled already: the connection, whatever the context (its request checks it)
		return d.c, d.err
	default:
	}
	start := monoNow()
	select {
	case <-d.done:
		return d.c, d.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &TimeoutError{Addr: addr, Waited: time.Duration(monoNow() - start), Unsent: true, ctx: true, why: "dialing"}
		}
		return nil, ctx.Err()
	}
}

func (cl *Client) dial(addr string, d *dial) {
	ctx, cancel := context.WithTimeout(cl.ep.ctx, cl.cfg.DialTimeout)
	c, err := cl.open(ctx, addr)
	cancel()
	cl.mu.Lock()
	delete(cl.dials, addr)
	if err == nil {
		old := *cl.conns.Load()
		m := make(map[string]*Conn, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[addr] = c
		cl.conns.Store(&m)
	}
	d.c, d.err = c, err
	close(d.done)
	cl.mu.Unlock()
}

// open dials addr and starts a connection on it.
func (cl *Client) open(ctx context.Context, addr string) (*Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, cl.dialError(addr, err)
	}
	if cl.cfg.TLS != nil || cl.cfg.NetConn {
		var tc net.Conn = nc
		if cl.cfg.TLS != nil {
			t := tls.Client(nc, clientTLS(cl.cfg.TLS, addr))
			if err := t.HandshakeContext(ctx); err != nil {
				_ = nc.Close()
				return nil, cl.dialError(addr, err)
			}
			tc = t
		}
		c := newConn(cl.ep, addr, nc.LocalAddr(), nc.RemoteAddr(), cl.dropped)
		l := newStreamLink(c, tc)
		if !cl.ep.register(c) {
			_ = tc.Close()
			return nil, ErrClosed
		}
		go l.readLoop()
		return c, nil
	}
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	pc, err := toPoll(nc)
	if err != nil {
		return nil, cl.dialError(addr, err)
	}
	c := newConn(cl.ep, addr, local, remote, cl.dropped)
	l := newPollLink(c, pc)
	if !cl.ep.register(c) {
		_ = pc.Close()
		return nil, ErrClosed
	}
	l.start()
	return c, nil
}

func (cl *Client) dialError(addr string, err error) error {
	if cl.ep.ctx.Err() != nil {
		return ErrClosed
	}
	return &ConnError{Op: "dial", Addr: addr, Err: err}
}

// dropped forgets a closed connection, so that the next request dials again.
func (cl *Client) dropped(c *Conn, cause *ConnError) {
	cl.mu.Lock()
	if old := *cl.conns.Load(); old[c.addr] == c {
		m := make(map[string]*Conn, len(old))
		for k, v := range old {
			if v != c {
				m[k] = v
			}
		}
		cl.conns.Store(&m)
	}
	cl.mu.Unlock()
	if !errors.Is(cause, ErrClosed) {
		cl.ep.log.Warn("netpoll: connection lost", "addr", c.addr, "err", cause.Err)
	}
}

// CloseConn closes the connection to addr, if any; its pending requests fail with a
// *ConnError wrapping ErrClosed. The next request to addr dials again.
func (cl *Client) CloseConn(addr string) {
	if c := (*cl.conns.Load())[addr]; c != nil {
		_ = c.Close()
	}
}

// Stats reports the open connections and the requests pending on them.
func (cl *Client) Stats() Stats {
	return Stats{Conns: cl.ep.connCount(), Pending: cl.ep.pendingCount()}
}

// Close refuses new requests (they fail with ErrClosed), waits while ctx allows for
// pending ones to complete and for queued ones (oneway requests too) to be written, then
// closes every connection, failing what is still pending with a *ConnError wrapping
// ErrClosed, and waits for every goroutine the client started.
// It returns ctx.Err() if ctx ended first; everything is closed all the same.
func (cl *Client) Close(ctx context.Context) error {
	cl.mu.Lock()
	cl.closed.Store(true)
	cl.mu.Unlock()
	err := cl.ep.drain(ctx)
	if cerr := cl.ep.close(ctx, ErrClosed); err == nil {
		err = cerr
	}
	return err
}
