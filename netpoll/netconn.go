package netpoll

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"

	"github.com/mqgate/mqgate/remoting"
)

// streamLink pumps frames through a net.Conn, with Go's own poller: the TLS transport,
// since netpoll has no TLS, and the plain one when configured (NetConn). A goroutine per
// connection reads; Conn hands it batches of frames to write, so concurrent callers share
// TLS records and syscalls.
type streamLink struct {
	c      *Conn
	nc     net.Conn
	max    int
	prefix [4]byte
}

func newStreamLink(c *Conn, nc net.Conn) *streamLink {
	l := &streamLink{c: c, nc: nc, max: c.ep.maxFrame}
	c.link = l
	return l
}

// clientTLS returns cfg for dialing addr, naming the server after the address's host
// when the config names none, as tls.Dial does.
func clientTLS(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg = cfg.Clone()
	cfg.ServerName = host
	return cfg
}

// readBufferSize is the per-connection read buffer of the net.Conn transport; frames up
// to this size are decoded without being copied out first.
const readBufferSize = 32 << 10

// readLoop reads frames until the connection fails, then finishes the Conn.
func (l *streamLink) readLoop() {
	br := bufio.NewReaderSize(l.nc, readBufferSize)
	cause := peerClosed(l.c.addr)
	for {
		if _, err := io.ReadFull(br, l.prefix[:]); err != nil {
			if err != io.EOF {
				cause = &ConnError{Op: "read", Addr: l.c.addr, Err: err}
			}
			break
		}
		n, err := remoting.FrameLength(l.prefix[:], l.max)
		if err != nil {
			l.c.ep.log.Error("netpoll: bad frame length, closing connection", "remote", l.c.addr, "err", err)
			cause = &ConnError{Op: "read", Addr: l.c.addr, Err: err}
			break
		}
		// A frame that fits the read buffer is decoded in place (deliver copies what the
		// command keeps); a larger one is read into a buffer the command then owns.
		var payload []byte
		owned := n > br.Size()
		if owned {
			payload, err = readFrame(br, n)
		} else {
			payload, err = br.Peek(n)
		}
		if err != nil {
			cause = &ConnError{Op: "read", Addr: l.c.addr, Err: err}
			break
		}
		ok := l.c.deliver(payload, owned)
		if !owned {
			_, _ = br.Discard(n)
		}
		if !ok {
			break
		}
	}
	l.c.shutdown(cause)
	_ = l.nc.Close()
	l.c.finish(cause)
}

// readFrame reads n bytes. Past 1 MiB the buffer grows with the data that actually
// arrives, so a peer declaring a large frame and sending little costs little.
func readFrame(r io.Reader, n int) ([]byte, error) {
	const step = 1 << 20
	if n <= step {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, step)
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, make([]byte, min(cap(b), n-len(b)))...)[:len(b)]
		}
		m, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

func (l *streamLink) send(batch []byte) error {
	_, err := l.nc.Write(batch)
	return err
}

func (l *streamLink) close() { _ = l.nc.Close() }
