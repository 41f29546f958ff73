package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/remoting"
)

var errLinkClosed = errors.New("connection closed")

// pollLink pumps frames through a cloudwego/netpoll connection. Reading happens in
// netpoll's OnRequest callback, which netpoll runs on a pooled goroutine only while there
// is input, so an idle connection costs no goroutine.
type pollLink struct {
	c    *Conn
	conn np.Connection
	w    np.Writer
	max  int
	// mu makes a send and netpoll's close exclusive. netpoll's own finalizer closes the
	// output buffer without the lock its Flush takes, so a Malloc racing with a close
	// would touch freed buffer nodes; our close callback runs before that finalizer
	// (callbacks run newest first), waits for a send under way and marks the link dead.
	mu   sync.Mutex
	dead bool
	once sync.Once // finishes the Conn once
}

// toPoll moves an established TCP connection into netpoll. The socket is dialed or
// accepted with package net (context-aware dialing and resolving, one accept path for TLS
// and plain, none of the EventLoop's listener handling); its descriptor is duplicated for
// netpoll, which then owns it alone, and the net.Conn is closed. An os.File is avoided on
// purpose: it would register the descriptor with the Go poller too and close it again
// from a finalizer. Such a netpoll connection knows no addresses, so its read and write
// timeouts must stay unset (netpoll formats the nil remote address into its timeout
// errors, which would panic); stuck writes are caught by the sweeper instead (see
// Conn.flushing).
func toPoll(nc net.Conn) (np.Connection, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netpoll: %T has no file descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = dupFD(int(s)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	// On error netpoll has closed fd already (its registration failure path closes the
	// connection), so it must not be closed again here.
	return np.NewFDConnection(fd)
}

// newPollLink makes conn c's link; start begins reading.
func newPollLink(c *Conn, conn np.Connection) *pollLink {
	l := &pollLink{c: c, conn: conn, w: conn.Writer(), max: c.ep.maxFrame}
	c.link = l
	return l
}

func (l *pollLink) start() {
	conn := l.conn
	_ = conn.AddCloseCallback(l.closed)
	_ = conn.SetOnRequest(l.read)
	if !conn.IsActive() || l.c.err.Load() != nil {
		// Closed (by the peer, or by a shutdown racing with registration) before the
		// callbacks were in place: netpoll will not run them, so finish here.
		_ = conn.Close()
		_ = l.closed(conn)
	}
}

// read decodes every complete frame in the input buffer. netpoll calls it again whenever
// input arrives; it blocks only to complete a frame whose start has arrived.
func (l *pollLink) read(_ context.Context, conn np.Connection) error {
	r := conn.Reader()
	for {
		prefix, err := r.Peek(4)
		if err != nil {
			return err
		}
		n, err := remoting.FrameLength(prefix, l.max)
		if err != nil {
			// Refused before anything is allocated for it, and the connection with it:
			// the stream cannot be resynchronised.
			l.c.ep.log.Error("netpoll: bad frame length, closing connection", "remote", l.c.addr, "err", err)
			l.c.shutdown(&ConnError{Op: "read", Addr: l.c.addr, Err: err})
			return err
		}
		if err := r.Skip(4); err != nil {
			return err
		}
		// Decoded in place: the header strings are copied by Decode and the body by
		// deliver, as netpoll reuses its buffer after Release. Measured against copying
		// the whole frame out first (ReadBinary) and against a zero-copy Slice, this
		// copies least and allocates least; Slice would also pin netpoll's buffer (up to
		// 8 MiB) for as long as the command lives. See BenchmarkReadFrame.
		payload, err := r.Next(n)
		if err != nil {
			return err
		}
		ok := l.c.deliver(payload, false)
		_ = r.Release()
		if !ok {
			return nil
		}
		if r.Len() == 0 {
			return nil
		}
	}
}

// closed is netpoll's close callback: it runs once the reader has returned, on the poller
// goroutine when the peer hung up, so the work (failing calls, owner callbacks) moves to
// a goroutine of its own; Close waits for it through Conn.finished.
func (l *pollLink) closed(np.Connection) error {
	l.once.Do(func() {
		l.mu.Lock()
		l.dead = true
		l.mu.Unlock()
		go l.c.finish(peerClosed(l.c.addr))
	})
	return nil
}

// send hands batch to netpoll and flushes. Flush returns once netpoll has written
// everything (or failed), so batch is not referenced after a successful send; a large
// batch is therefore referenced rather than copied.
func (l *pollLink) send(batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return errLinkClosed
	}
	if len(batch) > np.BinaryInplaceThreshold {
		if _, err := l.w.WriteBinary(batch); err != nil {
			return err
		}
	} else {
		p, err := l.w.Malloc(len(batch))
		if err != nil {
			return err
		}
		copy(p, batch)
	}
	return l.w.Flush()
}

func (l *pollLink) close() { _ = l.conn.Close() }
