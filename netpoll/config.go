package netpoll

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// ClientConfig configures a Client. The zero value is usable: Validate fills in defaults.
type ClientConfig struct {
	DialTimeout    time.Duration // connect (and TLS handshake); default 3s
	RequestTimeout time.Duration // for calls whose context has no deadline; default 3s
	// WriteTimeout bounds a write blocked on a peer that does not read; the connection is
	// then closed. Default 10s.
	WriteTimeout time.Duration
	// MaxInFlightPerConn bounds requests awaiting a response on one connection; further
	// callers wait for a slot while their context allows (the request timeout when it has
	// no deadline). Default 65535, Java's clientAsyncSemaphoreValue: a long poll holds
	// its slot for up to its suspend time, and one connection carries every consumer
	// group's pulls from its broker (and the sends), so a gateway of many groups and
	// queues needs thousands.
	MaxInFlightPerConn int
	MaxFrameLength     int // largest frame accepted; default remoting.DefaultMaxFrameLength
	// HandlerWorkers bounds the goroutines running handlers of peer-initiated requests;
	// HandlerQueue bounds the requests waiting for one, beyond which a request is answered
	// SYSTEM_BUSY (or dropped when oneway), as Java does. Defaults 16 and 1024.
	HandlerWorkers int
	HandlerQueue   int
	// TLS, when set, makes connections use crypto/tls over net.Conn instead of netpoll.
	TLS *tls.Config
	// NetConn makes plain connections use package net (Go's poller, a reader goroutine per
	// connection) instead of cloudwego/netpoll. Everything above the socket is the same.
	NetConn bool
	Logger  *slog.Logger // default slog.Default()
}

// ServerConfig configures a Server. The zero value is usable: Validate fills in defaults.
type ServerConfig struct {
	Addr string // address Listen binds; default ":0"
	// RequestTimeout, WriteTimeout, MaxInFlightPerConn: as in ClientConfig, for requests the
	// server pushes to its clients.
	RequestTimeout     time.Duration
	WriteTimeout       time.Duration
	MaxInFlightPerConn int
	MaxFrameLength     int
	HandshakeTimeout   time.Duration // TLS only; default 10s
	// HandlerWorkers and HandlerQueue as in ClientConfig; defaults 64 and 10000 (the Java
	// broker's send queue).
	HandlerWorkers int
	HandlerQueue   int
	TLS            *tls.Config // when set, connections are served with crypto/tls
	NetConn        bool        // as in ClientConfig
	Logger         *slog.Logger
	// OnConnect runs when a connection is ready, before its first request is read, so it
	// must not wait for anything the peer sends. OnDisconnect runs once it is closed and its
	// pending requests have failed; err says why (ErrClosed after Shutdown or Conn.Close).
	OnConnect    func(c *Conn)
	OnDisconnect func(c *Conn, err error)
}

// Validate applies defaults and reports the first invalid setting.
func (c *ClientConfig) Validate() error {
	defDuration(&c.DialTimeout, 3*time.Second)
	defDuration(&c.RequestTimeout, 3*time.Second)
	defDuration(&c.WriteTimeout, 10*time.Second)
	defInt(&c.MaxInFlightPerConn, 65535)
	defInt(&c.MaxFrameLength, remoting.DefaultMaxFrameLength)
	defInt(&c.HandlerWorkers, 16)
	defInt(&c.HandlerQueue, 1024)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return checkCommon("client", c.DialTimeout, c.RequestTimeout, c.WriteTimeout,
		c.MaxInFlightPerConn, c.MaxFrameLength, c.HandlerWorkers, c.HandlerQueue)
}

// Validate applies defaults and reports the first invalid setting.
func (c *ServerConfig) Validate() error {
	if c.Addr == "" {
		c.Addr = ":0"
	}
	defDuration(&c.RequestTimeout, 3*time.Second)
	defDuration(&c.WriteTimeout, 10*time.Second)
	defDuration(&c.HandshakeTimeout, 10*time.Second)
	defInt(&c.MaxInFlightPerConn, 4096)
	defInt(&c.MaxFrameLength, remoting.DefaultMaxFrameLength)
	defInt(&c.HandlerWorkers, 64)
	defInt(&c.HandlerQueue, 10000)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return checkCommon("server", c.HandshakeTimeout, c.RequestTimeout, c.WriteTimeout,
		c.MaxInFlightPerConn, c.MaxFrameLength, c.HandlerWorkers, c.HandlerQueue)
}

func defDuration(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func defInt(n *int, v int) {
	if *n == 0 {
		*n = v
	}
}

func checkCommon(who string, connect, request, write time.Duration, inflight, frame, workers, queue int) error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial/handshake timeout", connect}, {"request timeout", request}, {"write timeout", write}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: negative", d.name))
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max in-flight per connection", inflight}, {"max frame length", frame},
		{"handler workers", workers}, {"handler queue", queue}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative", n.name, n.v))
		}
	}
	if frame > 1<<31-1 {
		errs = append(errs, fmt.Errorf("max frame length: %d does not fit the int32 length prefix", frame))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netpoll: invalid %s config: %w", who, err)
	}
	return nil
}
