package producer

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// What each send returns when it fails, for callers that branch (the HTTP layer maps the
// first five to 400/413, 404, 503, 422 and 504):
//
//   - a *message.ValidationError (errors.Is(err, message.ErrMessageTooLarge) for sizes):
//     the message breaks a rule of Java's Validators; nothing was sent.
//   - errors.Is(err, instance.ErrTopicNotExist): no NameServer knows the topic and it cannot
//     be auto-created (no route for CreateTopicKey either), or the brokers answered
//     TOPIC_NOT_EXIST on every attempt.
//   - errors.Is(err, ErrNoWritableQueue): the topic is routed but none of its queues takes
//     messages (a read-only topic, brokers made read-only for maintenance, no master).
//   - errors.Is(err, instance.ErrSystemBusy): the broker's flow control refused the message
//     (SYSTEM_BUSY); as in Java this is not retried: back off and send again.
//   - *instance.RejectedError: a send hook refused the message; not retried.
//   - errors.Is(err, instance.ErrTimeout) (and context.DeadlineExceeded): SendTimeout or the
//     context's deadline passed before an answer; the message may have been stored.
//   - *SendError: every attempt failed; it wraps the last attempt's error (a
//     *instance.BrokerError, a transport error...), so errors.Is sees through it.
//   - *HookError: a send hook failed; nothing was sent for the messages it saw.
//   - errors.Is(err, instance.ErrNotRunning): the producer is not started or shut down.
//   - context.Canceled: the caller's context was cancelled.

// SendError reports a send whose every attempt failed (Java's "Send [n] times, still
// failed"). errors.Is and errors.As see the last attempt's error through it.
type SendError struct {
	Topic    string
	Attempts int
	Brokers  []string // the broker of each attempt, in order
	Err      error    // the last attempt's error
	// Timeout: the send's time ran out before another attempt could start.
	Timeout bool
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("producer: send to ")
	b.WriteString(e.Topic)
	b.WriteString(" failed after ")
	b.WriteString(strconv.Itoa(e.Attempts))
	b.WriteString(" attempt(s)")
	if len(e.Brokers) > 0 {
		b.WriteString(" (brokers ")
		b.WriteString(strings.Join(e.Brokers, ", "))
		b.WriteByte(')')
	}
	if e.Timeout {
		b.WriteString(", out of time")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// Is makes a send that ran out of time match instance.ErrTimeout and
// context.DeadlineExceeded, whatever its last attempt's error was.
func (e *SendError) Is(target error) bool {
	return e.Timeout && (target == instance.ErrTimeout || target == context.DeadlineExceeded)
}

// HookError is the failure of a send hook's BeforeSend, which fails the send of every
// message the hook saw in that call, without retry.
type HookError struct {
	Hook string
	Err  error
}

func (e *HookError) Error() string { return "producer: send hook " + e.Hook + ": " + e.Err.Error() }

func (e *HookError) Unwrap() error { return e.Err }

// timeoutError is a send whose deadline passed before any attempt could be made.
type timeoutError struct{ topic string }

func (e *timeoutError) Error() string {
	return "producer: send to " + e.topic + ": deadline passed before the message could be sent"
}

func (e *timeoutError) Is(target error) bool {
	return target == instance.ErrTimeout || target == context.DeadlineExceeded
}

// ErrNoWritableQueue: the topic has a route, but none of its queues is writable: the
// topic's or its brokers' permission is read-only (a broker taken out for maintenance
// with updateBrokerConfig brokerPermission=4, say), or its brokers have no master up.
// Unlike an unknown topic, this may pass.
var ErrNoWritableQueue = errors.New("no writable queue")

// noQueueError is a send with no queue to go to (Java's "No route info of this topic"):
// routed, the topic's route has no writable queue; otherwise there is no route at all.
type noQueueError struct {
	topic  string
	routed bool
}

func (e *noQueueError) Error() string {
	if e.routed {
		return "producer: topic " + e.topic + " has no writable queue (read-only, or no master broker)"
	}
	return "producer: topic " + e.topic + " has no route and no writable queue"
}

func (e *noQueueError) Is(target error) bool {
	if e.routed {
		return target == ErrNoWritableQueue
	}
	return target == instance.ErrTopicNotExist || target == instance.ErrNoRoute
}

// brokerNotFoundError is a queue whose broker has no known master address (Java's "The
// broker[...] not exist"); worth another attempt elsewhere.
type brokerNotFoundError struct{ broker string }

func (e *brokerNotFoundError) Error() string {
	return "producer: no address for broker " + e.broker
}

func (e *brokerNotFoundError) Is(target error) bool { return target == instance.ErrNoRoute }

// retryResponseCodes are the broker answers a sync send retries on, Java's
// DefaultMQProducer.retryResponseCodes. SYSTEM_BUSY is not among them: flow control is
// reported at once (a SYSTEM_ERROR "[PC_SYNCHRONIZED]", which also matches ErrSystemBusy,
// is retried, by its code, as Java does).
func retryResponseCode(c remoting.ResponseCode) bool {
	switch c {
	case remoting.TopicNotExist, remoting.ServiceNotAvailable, remoting.SystemError, remoting.NoPermission,
		remoting.NoBuyerID, remoting.NotInCurrentUnit:
		return true
	}
	return false
}

// retryable reports whether a failed sync attempt is sent again, as Java's sendDefaultImpl
// decides: transport failures and missing broker addresses yes, broker answers in
// retryResponseCodes yes, everything else (hook verdicts, RPC hook errors, a cancelled
// context, a closed transport, flow control) no.
func retryable(err error) bool {
	var be *instance.BrokerError
	switch {
	case errors.As(err, &be):
		return retryResponseCode(be.Code)
	case errors.Is(err, context.Canceled), errors.Is(err, instance.ErrClosed):
		return false
	case errors.Is(err, instance.ErrTimeout), errors.Is(err, instance.ErrConnClosed):
		return true
	}
	var bnf *brokerNotFoundError
	return errors.As(err, &bnf)
}

// retryableAsync reports whether a failed async attempt is sent again: Java's
// MQClientAPIImpl.sendMessageAsync retries only when no answer came (the request could
// not be sent, or timed out), never on a broker's answer.
func retryableAsync(err error) bool {
	var be *instance.BrokerError
	if errors.As(err, &be) || errors.Is(err, context.Canceled) || errors.Is(err, instance.ErrClosed) {
		return false
	}
	var bnf *brokerNotFoundError
	return errors.Is(err, instance.ErrTimeout) || errors.Is(err, instance.ErrConnClosed) || errors.As(err, &bnf)
}
