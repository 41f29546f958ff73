package instance

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Sentinels matched by *BrokerError (errors.Is), one per response code a caller decides
// on. A broker's non-success answer is always a *BrokerError; these name its meaning.
var (
	// ErrTopicNotExist: TOPIC_NOT_EXIST (17), from a NameServer (no route) or a broker.
	ErrTopicNotExist = errors.New("topic does not exist")
	// ErrSystemBusy: SYSTEM_BUSY (2), the broker's flow control ([REJECTREQUEST],
	// [OVERLOAD], [PCBUSY_CLEAN_QUEUE], [TIMEOUT_CLEAN_QUEUE]), and SYSTEM_ERROR (1) with
	// the [PC_SYNCHRONIZED] remark a 4.9.4 broker gives when its page cache is busy
	// (SendMessageProcessor, OS_PAGECACHE_BUSY). Worth retrying after a pause.
	ErrSystemBusy = errors.New("broker busy")
	// ErrSystemError: any other SYSTEM_ERROR (1), ACL refusals ("No accessKey") included.
	ErrSystemError = errors.New("broker system error")
	// ErrRequestNotSupported: REQUEST_CODE_NOT_SUPPORTED (3).
	ErrRequestNotSupported = errors.New("request code not supported")
	// ErrMessageIllegal: MESSAGE_ILLEGAL (13), a message the broker refuses to store.
	ErrMessageIllegal = errors.New("message illegal")
	// ErrServiceNotAvailable: SERVICE_NOT_AVAILABLE (14): disk full, slave, shutting down.
	ErrServiceNotAvailable = errors.New("service not available")
	// ErrNoPermission: NO_PERMISSION (16): the topic or broker refuses writes or reads, or
	// the ACL refuses the account.
	ErrNoPermission = errors.New("no permission")
	// ErrOffsetNotFound: QUERY_NOT_FOUND (22) from QueryConsumerOffset: the group has no
	// offset stored for the queue yet (a new group); Java's RemoteBrokerOffsetStore then
	// starts from ConsumeFromWhere. (A 4.9.4 broker answers offset 0 instead when the
	// queue still starts at 0 in memory: ConsumerManageProcessor.queryConsumerOffset.)
	ErrOffsetNotFound = errors.New("no consumer offset stored")
	// ErrSubscriptionNotExist, ErrSubscriptionNotLatest, ErrSubscriptionGroupNotExist:
	// SUBSCRIPTION_NOT_EXIST (24), SUBSCRIPTION_NOT_LATEST (25) and
	// SUBSCRIPTION_GROUP_NOT_EXIST (26), answers to a pull before the broker has the
	// consumer's heartbeat.
	ErrSubscriptionNotExist      = errors.New("subscription does not exist")
	ErrSubscriptionNotLatest     = errors.New("subscription not latest")
	ErrSubscriptionGroupNotExist = errors.New("subscription group does not exist")
)

// Transport sentinels, the netpoll package's own, so that callers need not import it.
var (
	// ErrTimeout matches every request that got no response in time (a *netpoll.TimeoutError).
	ErrTimeout = netpoll.ErrTimeout
	// ErrConnClosed matches every connection that could not be made or broke.
	ErrConnClosed = netpoll.ErrConnClosed
	// ErrClosed matches calls made after Shutdown closed the transport.
	ErrClosed = netpoll.ErrClosed
)

// Sentinels of the instance itself.
var (
	// ErrNotRunning: the call needs a started instance (see State).
	ErrNotRunning = errors.New("instance not running")
	// ErrNoNameServer: no NameServer address is known (none configured, none fetched yet).
	ErrNoNameServer = errors.New("no NameServer address")
	// ErrNameServerUnreachable: every known NameServer refused the connection or broke it.
	ErrNameServerUnreachable = errors.New("no NameServer reachable")
	// ErrGroupRegistered: a producer or consumer group of that name is registered already.
	ErrGroupRegistered = errors.New("group registered already")
	// ErrGroupNotRegistered: no producer or consumer group of that name is registered.
	ErrGroupNotRegistered = errors.New("group not registered")
	// ErrNoRoute: the route cache has nothing for the topic (see UpdateTopicRoute).
	ErrNoRoute = errors.New("no route")
)

// BrokerError is a broker's or NameServer's non-success answer, as Java's
// MQBrokerException: the response code and remark, where it came from and what was asked.
type BrokerError struct {
	Code    remoting.ResponseCode
	Remark  string
	Addr    string
	Request remoting.RequestCode
}

func (e *BrokerError) Error() string {
	var b strings.Builder
	b.WriteString("instance: ")
	b.WriteString(e.Request.String())
	b.WriteString(" to ")
	b.WriteString(e.Addr)
	b.WriteString(": ")
	b.WriteString(e.Code.String())
	if e.Remark != "" {
		b.WriteString(": ")
		b.WriteString(e.Remark)
	}
	return b.String()
}

// Is matches the sentinel naming e's code; see ErrTopicNotExist and the others.
func (e *BrokerError) Is(target error) bool {
	switch target {
	case ErrTopicNotExist:
		return e.Code == remoting.TopicNotExist
	case ErrSystemBusy:
		return e.busy()
	case ErrSystemError:
		return e.Code == remoting.SystemError && !e.busy()
	case ErrRequestNotSupported:
		return e.Code == remoting.RequestCodeNotSupported
	case ErrMessageIllegal:
		return e.Code == remoting.MessageIllegal
	case ErrServiceNotAvailable:
		return e.Code == remoting.ServiceNotAvailable
	case ErrNoPermission:
		return e.Code == remoting.NoPermission
	case ErrOffsetNotFound:
		return e.Code == remoting.QueryNotFound && e.Request == remoting.QueryConsumerOffset
	case ErrSubscriptionNotExist:
		return e.Code == remoting.SubscriptionNotExist
	case ErrSubscriptionNotLatest:
		return e.Code == remoting.SubscriptionNotLatest
	case ErrSubscriptionGroupNotExist:
		return e.Code == remoting.SubscriptionGroupNotExist
	}
	return false
}

func (e *BrokerError) busy() bool {
	return e.Code == remoting.SystemBusy ||
		e.Code == remoting.SystemError && strings.HasPrefix(e.Remark, "[PC_SYNCHRONIZED]")
}

func brokerError(resp *remoting.Command, addr string, req remoting.RequestCode) *BrokerError {
	return &BrokerError{Code: resp.ResponseCode(), Remark: resp.Remark, Addr: addr, Request: req}
}

// HookError is the failure of an RPC hook, which fails the call it ran around.
type HookError struct {
	Stage   string // "before request" or "after response"
	Request remoting.RequestCode
	Addr    string
	Err     error
}

func (e *HookError) Error() string {
	return fmt.Sprintf("instance: RPC hook %s %s to %s: %v", e.Stage, e.Request, e.Addr, e.Err)
}

func (e *HookError) Unwrap() error { return e.Err }

// StateError is a lifecycle call made in a state that does not allow it: a second Start,
// a Start after a failed one or after Shutdown, a registration after Shutdown.
type StateError struct {
	ClientID string
	Op       string // "start", "register producer", ...
	State    State
}

func (e *StateError) Error() string {
	what := "it is " + e.State.description()
	return "instance " + e.ClientID + ": cannot " + e.Op + ": " + what
}

// Is makes errors.Is(err, ErrNotRunning) true when the instance is not running.
func (e *StateError) Is(target error) bool { return target == ErrNotRunning && e.State != Running }

// decodeError reports a response (or pushed request) whose header or body cannot be read.
func decodeError(what string, code remoting.RequestCode, addr string, err error) error {
	return fmt.Errorf("instance: %s of %s from %s: %w", what, code, addr, err)
}

// callError wraps a transport failure with the request and address.
func callError(code remoting.RequestCode, addr string, err error) error {
	return fmt.Errorf("instance: %s to %s: %w", code, addr, err)
}
