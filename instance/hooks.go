package instance

import (
	"context"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// MessageQueue identifies a queue: topic, broker name and queue id. Its Compare and
// String are Java's, which allocation strategies depend on.
type MessageQueue = remoting.MessageQueue

// SendHook sees the messages a producer sends. Hooks take a batch so that a per-message
// plugin pays one call for many messages; a single send is a batch of one.
//
// Hooks run in the order they were added. BeforeSend runs after the queue is chosen and
// before the request is built: it may change a message's properties (not its topic) and
// refuse any message by setting its Reject reason, which fails that message's send with a
// *RejectedError and sends nothing for it. A delay level it sets is honoured: a message a
// producer coalesced with others leaves their batch and is sent alone, and a message of a
// SendBatch is refused (a batch cannot carry one). An error from BeforeSend means the hook
// itself failed; what happens then is the hook's business (a plugin slot applies its
// policy and returns nil to skip, or an error to fail the whole batch). AfterSend sees
// each outcome; it cannot change it.
type SendHook interface {
	BeforeSend(ctx context.Context, events []SendEvent) error
	AfterSend(ctx context.Context, events []SendEvent)
}

// SendEvent is one message going through the send hooks.
type SendEvent struct {
	ProducerGroup string
	Message       *message.Message
	Queue         MessageQueue
	BrokerAddr    string

	// Reject, set by a BeforeSend hook, refuses the message with this reason.
	Reject string

	// Set before AfterSend.
	Result *SendResult
	Err    error
}

// SendStatus is the outcome of a send the broker accepted, as Java's SendStatus.
type SendStatus uint8

const (
	SendOK SendStatus = iota
	FlushDiskTimeout
	FlushSlaveTimeout
	SlaveNotAvailable
)

var sendStatusNames = [...]string{"SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT", "SLAVE_NOT_AVAILABLE"}

func (s SendStatus) String() string {
	if int(s) < len(sendStatusNames) {
		return sendStatusNames[s]
	}
	return "SendStatus(?)"
}

// SendResult is what the broker answered for one message.
type SendResult struct {
	Status SendStatus
	// MsgID is the client's unique id (UNIQ_KEY); OffsetMsgID the broker's store position.
	MsgID         string
	OffsetMsgID   string
	Queue         MessageQueue
	QueueOffset   int64
	TransactionID string
	RegionID      string
	TraceOn       bool
}

// RejectedError is the error of a send refused by a send hook.
type RejectedError struct {
	Hook   string
	Reason string
}

func (e *RejectedError) Error() string { return "send rejected by hook " + e.Hook + ": " + e.Reason }

// ConsumeHook sees each batch a consumer pulled, before and after it is consumed.
//
// BeforeConsume may rewrite a message's properties or body in place and decide, per
// message, whether it is delivered: verdicts has one entry per message, preset to
// Deliver. A message given Skip is treated as consumed without being delivered (its offset
// advances); Retry sends it back for later consumption as a failed message would be. An
// error means the hook itself failed (see SendHook). AfterConsume sees the messages that
// were delivered and whether consumption succeeded.
type ConsumeHook interface {
	BeforeConsume(ctx context.Context, c *ConsumeContext, msgs []*message.Ext, verdicts []ConsumeVerdict) error
	AfterConsume(ctx context.Context, c *ConsumeContext, msgs []*message.Ext, success bool)
}

// ConsumeContext says where a batch comes from.
type ConsumeContext struct {
	ConsumerGroup string
	Queue         MessageQueue
	// Model is "CLUSTERING" or "BROADCASTING".
	Model string
}

// ConsumeVerdict is a consume hook's decision for one message.
type ConsumeVerdict uint8

const (
	Deliver ConsumeVerdict = iota
	Skip
	Retry
)

// RPCHook sees every request the instance sends and every response it gets, as Java's
// RPCHook. BeforeRequest may add extFields (an ACL signature, say) with req.Ext.Set; the
// typed header's fields are in req.Header, and remoting.AllFields lists all of them. An
// error from BeforeRequest fails the request before it is sent; an error from
// AfterResponse fails the call with that error. Oneway requests get BeforeRequest only.
//
// Hooks are called concurrently, from the callers' goroutines and (AfterResponse of an
// asynchronous call) from transport goroutines. They must not keep req or resp after they
// return (requests are recycled), and AfterResponse must not modify req: the transport may
// still be reading it.
type RPCHook interface {
	BeforeRequest(addr string, req *remoting.Command) error
	AfterResponse(addr string, req, resp *remoting.Command) error
}

// AllocateStrategy chooses the queues of one consumer of a group at a rebalance, as Java's
// AllocateMessageQueueStrategy. clients holds the ids of every consumer of the group,
// sorted; queues every queue of the topic, sorted by (topic, broker name, queue id); self
// is this consumer's id. It returns the indices into queues of this consumer's share, each
// at most once. Every consumer of the group must get answers that split the queues among
// them, so a strategy must be deterministic.
type AllocateStrategy interface {
	Name() string
	Allocate(group, self string, clients []string, queues []MessageQueue) ([]int, error)
}
