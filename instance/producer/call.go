package producer

import (
	"context"
	"sync"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// mode is how a send waits for its answer, Java's CommunicationMode.
type mode uint8

const (
	modeSync mode = iota
	modeAsync
	modeOneway
)

// sendCall is the state of one message's send from the call to its result: what was
// prepared once (id, properties, body), the request header, the hook event, the attempt
// bookkeeping and, when coalesced, the link in its queue's waiting list. Calls are pooled:
// a send allocates none of this.
type sendCall struct {
	p    *Producer
	ctx  deadlineCtx // the caller's context bounded by the send's deadline
	born time.Time   // when the send was called: its deadline's and its id's clock reading
	msg  *message.Message
	te   *topicEntry
	mode mode

	// Prepared once per send.
	msgID    string // UNIQ_KEY
	props    string // encoded properties, by the first attempt made alone; again by each when hooks may change them
	body     []byte // msg.Body, or its compressed form in zbuf
	zbuf     []byte
	sysFlag  int32
	recon    int32                    // reconsumeTimes of a retry-topic message
	maxRecon remoting.Optional[int32] // maxReconsumeTimes of a retry-topic message
	coalesce bool                     // may share a batch with others (see coalesce.go)
	selected bool                     // the queue was chosen by a selector: one attempt
	bsize    int                      // encoded size in a batch body
	h        remoting.SendRequest     // the request header of the current attempt
	events   [1]instance.SendEvent    // the hooks' view of a single send
	by       [1]int16                 // which hook rejected it

	// Attempts.
	attempts int
	last     string   // broker of the previous attempt
	brokers  []string // every attempt's broker, recorded on failure only
	mq       instance.MessageQueue
	started  time.Time

	result instance.SendResult
	err    error

	batch bool        // a SendBatch: its messages are in bat
	bat   *batchState // kept with the pooled call for reuse

	// Asynchronous sends.
	cb      func(instance.SendResult, error)
	onReply func(instance.SendResult, error) // c.asyncReply, bound once per pooled call

	// Coalescing: the waiting list and the wake-up of a waiting caller, told either its
	// result or that it leads the next batch.
	next *sendCall
	wake chan struct{}
	lead *batch
	line *queueBatcher // the line an async caller sent alone holds, to hand on
	// alone: its batch's hooks gave it a delay level, which a batch would not honour, so
	// it is taken out of the batch and sent on its own (sendDelayed), its event in events.
	alone bool
}

// calls are the pooled sendCalls. (New is set in init: a call's bound callback leads back
// to the pool.)
var calls sync.Pool

func init() {
	calls.New = func() any {
		c := &sendCall{wake: make(chan struct{}, 1)}
		c.onReply = c.asyncReply
		return c
	}
}

// maxKeptBuffer bounds the compression buffer a pooled call keeps.
const maxKeptBuffer = 64 << 10

// getCall returns a call for a send of msg; span, when not nil, is its producer span,
// which its context carries.
func (p *Producer) getCall(ctx context.Context, span trace.Span, msg *message.Message, m mode) *sendCall {
	c := calls.Get().(*sendCall)
	c.p, c.msg, c.mode, c.born = p, msg, m, time.Now()
	c.ctx.bound(ctx, c.born.Add(p.cfg.SendTimeout))
	c.ctx.span = span
	return c
}

func putCall(c *sendCall) {
	zbuf := c.zbuf[:0]
	if cap(zbuf) > maxKeptBuffer {
		zbuf = nil
	}
	wake, onReply, bat := c.wake, c.onReply, c.bat
	if bat != nil {
		bat.reset()
	}
	*c = sendCall{zbuf: zbuf, wake: wake, onReply: onReply, bat: bat}
	calls.Put(c)
}

// deadlineCtx is a context whose deadline is the earlier of its parent's and the send's
// own. It is not a timer: the transport ends every request at its context's deadline by
// itself, so the send's deadline only needs to be visible there, and the parent's
// cancellation (Done, Err) still applies as it is. That spares each send the timer and
// the allocations of context.WithDeadline. It lives in a pooled call: a context with a
// timer must not be derived from it (the timer may outlive the call; updatePublishInfo
// derives from a copy).
type deadlineCtx struct {
	context.Context
	deadline time.Time
	// span is the send's producer span, carried here rather than in a context of its
	// own (trace.ContextWithSpan's allocation, a traced send's fifth): Value finds it
	// for the broker call's client span, the hooks and the RPC hooks. nil untraced.
	span trace.Span
}

// Value answers the span's key with the send's producer span (telemetry.IsSpanKey).
func (c *deadlineCtx) Value(key any) any {
	if c.span != nil && telemetry.IsSpanKey(key) {
		return c.span
	}
	return c.Context.Value(key)
}

func (c *deadlineCtx) bound(parent context.Context, dl time.Time) {
	c.Context, c.deadline = parent, dl
	if pd, ok := parent.Deadline(); ok && pd.Before(dl) {
		c.deadline = pd
	}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// expired reports whether the send's time is up at now (Java's "timeout < costTime").
func (c *deadlineCtx) expired(now time.Time) bool { return !now.Before(c.deadline) }
