package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// Server accepts remoting connections, dispatches their requests to handlers by code and
// can push requests to its clients through their Conn handles. The dev broker and
// NameServer are built on it.
type Server struct {
	cfg ServerConfig
	ep  *endpoint

	mu     sync.Mutex
	lns    map[net.Listener]chan struct{} // closed when the listener's accept loop returns
	closed bool
}

// NewServer validates cfg and returns a server that serves nothing yet: register handlers,
// then Listen or Serve. Shut it down to stop its goroutines.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, lns: make(map[net.Listener]chan struct{})}
	s.ep = newEndpoint(cfg.Logger, cfg.MaxFrameLength, cfg.RequestTimeout, cfg.WriteTimeout,
		cfg.MaxInFlightPerConn, cfg.HandlerWorkers, cfg.HandlerQueue)
	return s, nil
}

// Handle registers h for requests with code; a nil h removes it. Unregistered codes are
// answered by NotSupported.
func (s *Server) Handle(code remoting.RequestCode, h Handler) { s.ep.handle(code, h) }

// Listen binds cfg.Addr and serves it in the background until Shutdown. It returns the
// bound address (cfg.Addr may ask for port 0).
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	done, err := s.track(ln)
	if err != nil {
		return nil, err
	}
	if !s.ep.goOwned(func() { _ = s.accept(ln, done) }) {
		_ = ln.Close()
		close(done)
		return nil, ErrClosed
	}
	return ln.Addr(), nil
}

// Serve accepts connections on ln until Shutdown, then returns ErrClosed, or until ln
// fails for good (closed by someone else), then returns that error. The server closes ln
// at Shutdown. Unless the server uses TLS or NetConn, ln must hand out TCP connections
// (netpoll takes over their sockets).
func (s *Server) Serve(ln net.Listener) error {
	done, err := s.track(ln)
	if err != nil {
		return err
	}
	return s.accept(ln, done)
}

func (s *Server) track(ln net.Listener) (chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = ln.Close()
		return nil, ErrClosed
	}
	done := make(chan struct{})
	s.lns[ln] = done
	return done, nil
}

// accept runs a listener's accept loop until the listener is closed.
func (s *Server) accept(ln net.Listener, done chan struct{}) error {
	defer close(done)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				s.ep.log.Error("netpoll: listener closed under the server", "addr", ln.Addr())
				return err
			}
			// Out of descriptors and the like: wait and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.ep.log.Error("netpoll: accept failed", "addr", ln.Addr(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ep.stop:
				t.Stop()
				return ErrClosed
			}
			continue
		}
		backoff = 0
		if s.cfg.TLS != nil || s.cfg.NetConn {
			if !s.ep.goOwned(func() { s.serveStream(nc) }) {
				_ = nc.Close()
			}
			continue
		}
		s.servePoll(nc)
	}
}

func (s *Server) servePoll(nc net.Conn) {
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	pc, err := toPoll(nc)
	if err != nil {
		s.ep.log.Error("netpoll: cannot take over accepted connection", "remote", remote, "err", err)
		return
	}
	c := newConn(s.ep, remote.String(), local, remote, s.dropped)
	l := newPollLink(c, pc)
	if !s.ep.register(c) {
		_ = pc.Close()
		return
	}
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(c)
	}
	l.start()
}

// serveStream runs a net.Conn connection on a goroutine of its own: the TLS handshake if
// configured, then the connection's reader.
func (s *Server) serveStream(nc net.Conn) {
	var tc net.Conn = nc
	if s.cfg.TLS != nil {
		t := tls.Server(nc, s.cfg.TLS)
		ctx, cancel := context.WithTimeout(s.ep.ctx, s.cfg.HandshakeTimeout)
		err := t.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.ep.log.Warn("netpoll: TLS handshake failed", "remote", nc.RemoteAddr(), "err", err)
			_ = nc.Close()
			return
		}
		tc = t
	}
	c := newConn(s.ep, nc.RemoteAddr().String(), nc.LocalAddr(), nc.RemoteAddr(), s.dropped)
	l := newStreamLink(c, tc)
	if !s.ep.register(c) {
		_ = tc.Close()
		return
	}
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(c)
	}
	l.readLoop()
}

func (s *Server) dropped(c *Conn, cause *ConnError) {
	if s.cfg.OnDisconnect != nil {
		s.cfg.OnDisconnect(c, cause)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Conns returns the open connections.
func (s *Server) Conns() []*Conn {
	cs := s.ep.snapshot(nil)
	out := cs[:0]
	for _, c := range cs {
		if c.err.Load() == nil {
			out = append(out, c)
		}
	}
	return out
}

// Stats reports the open connections and the pushed requests pending on them.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.ep.connCount(), Pending: s.ep.pendingCount()}
}

// Shutdown closes the listeners and every connection (pending pushes fail with a
// *ConnError wrapping ErrClosed) and waits, while ctx allows, for the accept loops,
// readers and running handlers to return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	lns := s.lns
	s.lns = map[net.Listener]chan struct{}{}
	s.mu.Unlock()
	for ln := range lns {
		_ = ln.Close()
	}
	err := s.ep.close(ctx, ErrClosed)
	for _, done := range lns {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
