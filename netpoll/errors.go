package netpoll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrClosed is returned by calls on a Client or Server after Close or Shutdown.
	ErrClosed = errors.New("netpoll: transport closed")
	// ErrConnClosed matches every *ConnError: the connection a request needed is gone.
	ErrConnClosed = errors.New("netpoll: connection closed")
	// ErrTimeout matches every *TimeoutError: no response came before the deadline.
	ErrTimeout = errors.New("netpoll: request timed out")
)

// ConnError reports a connection that could not be made or broke: Op is "dial", "read",
// "write" or "close". Every request pending on a broken connection fails with one.
type ConnError struct {
	Op   string
	Addr string
	Err  error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("netpoll: %s %s: %v", e.Op, e.Addr, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConnClosed) true for every ConnError.
func (e *ConnError) Is(target error) bool { return target == ErrConnClosed }

// TimeoutError reports a request that got no response before its deadline. When the
// deadline was the caller's context's, errors.Is(err, context.DeadlineExceeded) holds too.
type TimeoutError struct {
	Addr   string
	Code   int32
	Opaque int32
	Waited time.Duration // how long the request waited
	// Unsent says the request was certainly never written: its context ended while it
	// waited for a connection, an in-flight slot or the connection's write backlog (a
	// peer not reading), or, without a context deadline, its request timeout passed while
	// it waited for a slot or the backlog. Sending it again cannot duplicate it. False
	// does not say it was sent: a call past its deadline fails without waiting for the
	// write it queued.
	Unsent bool
	ctx    bool
	why    string // what an unsent request waited for
}

func (e *TimeoutError) Error() string {
	if e.Unsent {
		return fmt.Sprintf("netpoll: request code %d to %s: not sent: its deadline passed after %v %s",
			e.Code, e.Addr, e.Waited.Round(time.Millisecond), e.why)
	}
	return fmt.Sprintf("netpoll: request code %d opaque %d to %s: no response after %v",
		e.Code, e.Opaque, e.Addr, e.Waited.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrTimeout) true for every TimeoutError.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || e.ctx && target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error's method does.
func (e *TimeoutError) Timeout() bool { return true }
