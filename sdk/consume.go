package sdk

import (
	"unsafe"

	"github.com/mqgate/mqgate/sdk/abi"
)

// ConsumeHook is a consume hook. Before sees each message of a pulled batch before it is
// delivered: it may rewrite properties or the body and decide whether the message is
// delivered (the default), skipped (treated as consumed without delivery) or retried
// later. After sees each delivered message and whether its consumption succeeded. Either
// may be nil. A non-nil error from Before fails the hook for the whole batch (the gateway
// then applies the slot's policy: retry the batch later or deliver it unchanged).
type ConsumeHook struct {
	Before func(c *ConsumeContext, m *ConsumedMessage) error
	After  func(c *ConsumeContext, m *ConsumedMessage, success bool)
	// HeadersOnly says the hook never reads bodies (see SendHook).
	HeadersOnly bool
}

// RegisterConsumeHook makes h the module's consume hook.
func RegisterConsumeHook(h ConsumeHook) {
	register(abi.KindConsume)
	reg.consume = h
	reg.after = h.After != nil
	reg.headersOnly = h.HeadersOnly
}

// ConsumeContext says where a batch comes from.
type ConsumeContext struct {
	Group        string
	Topic        string
	BrokerName   string
	QueueID      int32
	Broadcasting bool
}

// Verdict is a consume hook's decision for one message.
type Verdict uint8

const (
	Deliver Verdict = abi.VerdictDeliver
	Skip    Verdict = abi.VerdictSkip
	Retry   Verdict = abi.VerdictRetry
)

// ConsumedMessage is one message of a pulled batch. Its strings and body are views of the
// module's input, valid until the hook returns.
type ConsumedMessage struct{ message }

// Offsets of a consume input's header and records (ABI.md, "before_consume").
const (
	consumeGroup      = 0
	consumeTopic      = 8
	consumeBrokerName = 16
	consumeQueueID    = 24
	consumeModel      = 28
	consumeSuccess    = 29
	consumeCount      = 32
	consumeRecordSize = 36
	consumeRecords    = 40

	recQueueOffset = 0
	recBorn        = 8
	recStored      = 16
	recReconsume   = 24
	recFlag        = 28
	recBody        = 32
	recProps       = 40
	recSize        = 48
)

func (m *ConsumedMessage) QueueOffset() int64    { return int64(le64(m.b.in, m.rec+recQueueOffset)) }
func (m *ConsumedMessage) BornTimestamp() int64  { return int64(le64(m.b.in, m.rec+recBorn)) }
func (m *ConsumedMessage) StoreTimestamp() int64 { return int64(le64(m.b.in, m.rec+recStored)) }
func (m *ConsumedMessage) ReconsumeTimes() int32 { return int32(le32(m.b.in, m.rec+recReconsume)) }
func (m *ConsumedMessage) Flag() int32           { return int32(le32(m.b.in, m.rec+recFlag)) }

// Body returns the body; nil for a HeadersOnly hook.
func (m *ConsumedMessage) Body() []byte { return bytesAt(m.b.in, m.rec+recBody) }

// BodyLen returns the body's length, also when Body is nil.
func (m *ConsumedMessage) BodyLen() int { return int(le32(m.b.in, m.rec+recBody+4)) }

// Properties returns the properties as the host sent them.
func (m *ConsumedMessage) Properties() Properties {
	return Properties{b: m.b.in, table: le32(m.b.in, m.rec+recProps), n: le32(m.b.in, m.rec+recProps+4)}
}

// Property returns the value of a property, as edited so far by this hook.
func (m *ConsumedMessage) Property(name string) string {
	if m.firstEdit >= 0 {
		v, _ := m.property(m.Properties(), name)
		return v
	}
	// No edits yet, the common case: lookup written out, one call fewer.
	in := m.b.in
	table, n := le32(in, m.rec+recProps), le32(in, m.rec+recProps+4)
	for at := table + 16*n; at > table; {
		at -= 16
		if le32(in, at+4) == uint32(len(name)) && equalAt(in, le32(in, at), name) {
			return str(in, at+8)
		}
	}
	return ""
}

// Tags returns the TAGS property.
func (m *ConsumedMessage) Tags() string { return m.Property(PropertyTags) }

// MsgID returns the UNIQ_KEY property, the id the producer gave the message.
func (m *ConsumedMessage) MsgID() string { return m.Property(PropertyUniqKey) }

// SetProperty sets a property on the message before it is delivered.
// A user property, KEYS or TAGS: the host refuses an answer that
// edits another system property (ABI.md §6).
func (m *ConsumedMessage) SetProperty(name, value string) {
	m.addEdit(SetProperty, name, value, true)
}

// DeleteProperty removes a property before the message is delivered.
func (m *ConsumedMessage) DeleteProperty(name string) { m.addEdit(DeleteProperty, name, "", false) }

// SetBody replaces the body delivered; body is copied, so the caller may reuse it.
func (m *ConsumedMessage) SetBody(body []byte) {
	m.addEdit(SetBody, unsafe.String(unsafe.SliceData(body), len(body)), "", false)
}

// Skip treats the message as consumed without delivering it.
func (m *ConsumedMessage) Skip() { m.setVerdict(Skip) }

// Retry sends the message back for a later attempt, as a failed consumption would.
func (m *ConsumedMessage) Retry() { m.setVerdict(Retry) }

func (m *ConsumedMessage) setVerdict(v Verdict) {
	if m.b.verdicts >= 0 {
		m.b.o[m.b.verdicts+int(m.idx)] = byte(v)
	}
}

// Verdict returns the decision so far (Deliver unless Skip or Retry was called).
func (m *ConsumedMessage) Verdict() Verdict {
	if m.b.verdicts < 0 {
		return Deliver
	}
	return Verdict(m.b.o[m.b.verdicts+int(m.idx)])
}

// Edits returns the edits asked for so far, in order; for tests.
func (m *ConsumedMessage) Edits() []Edit { return m.editsOf() }

var (
	consumeBatch batch
	consumeCtx   ConsumeContext
	consumeMsgs  []ConsumedMessage
)

// consumeCount checks a consume input's header and returns its message count and record
// size.
func consumeCountOf(in []byte) (n, size uint32, bad string) {
	if len(in) < consumeRecords {
		return 0, 0, "input shorter than its header"
	}
	n, size = le32(in, consumeCount), le32(in, consumeRecordSize)
	if size < recSize || uint64(n)*uint64(size)+consumeRecords > uint64(len(in)) {
		return 0, 0, "records do not fit the input"
	}
	return n, size, ""
}

func consumeContext(in []byte) *ConsumeContext {
	c := &consumeCtx
	*c = ConsumeContext{Group: str(in, consumeGroup), Topic: str(in, consumeTopic), BrokerName: str(in, consumeBrokerName),
		QueueID: int32(le32(in, consumeQueueID)), Broadcasting: in[consumeModel] == abi.ModelBroadcasting}
	return c
}

// consumeMsgsFor returns n reusable message views of consumeBatch (set once, as
// msgsFor).
func consumeMsgsFor(n uint32) []ConsumedMessage {
	if uint32(cap(consumeMsgs)) < n {
		consumeMsgs = make([]ConsumedMessage, n)
		for i := range consumeMsgs {
			consumeMsgs[i].b = &consumeBatch
		}
	}
	return consumeMsgs[:n]
}

func handleBeforeConsume(in []byte, out *[]byte) []byte {
	n, size, bad := consumeCountOf(in)
	if bad != "" {
		return errorResult(*out, "before_consume input: "+bad)
	}
	bt := &consumeBatch
	bt.beginVerdicts(in, out, int(n))
	if before := reg.consume.Before; before != nil {
		c := consumeContext(in)
		msgs, rec := consumeMsgsFor(n), uint32(consumeRecords)
		for i := range msgs {
			m := &msgs[i]
			m.rec, m.idx, m.firstEdit = rec, uint32(i), -1
			if err := before(c, m); err != nil {
				return errorResult(*out, err.Error())
			}
			rec += size
		}
	}
	return bt.finish()
}

func handleAfterConsume(in []byte, out *[]byte) []byte {
	n, size, bad := consumeCountOf(in)
	if bad != "" {
		return errorResult(*out, "after_consume input: "+bad)
	}
	bt := &consumeBatch
	bt.begin(in, out)
	if after := reg.consume.After; after != nil {
		c := consumeContext(in)
		success := in[consumeSuccess] != 0
		msgs, rec := consumeMsgsFor(n), uint32(consumeRecords)
		for i := range msgs {
			m := &msgs[i]
			m.rec, m.idx, m.firstEdit = rec, uint32(i), -1
			after(c, m, success)
			rec += size
		}
	}
	return append((*out)[:0], abi.StatusOK)
}

// NewConsumedMessage returns a message as a consume hook sees it, for tests.
func NewConsumedMessage(properties Properties, body []byte) *ConsumedMessage {
	var w builder
	w.reserve(consumeRecords)
	w.put32(consumeCount, 1)
	w.put32(consumeRecordSize, recSize)
	rec := w.reserve(recSize)
	w.ref(rec+recBody, string(body))
	w.props(rec+recProps, properties)
	bt := &batch{}
	bt.beginVerdicts(w.b, new([]byte), 1)
	return &ConsumedMessage{message{b: bt, rec: rec, firstEdit: -1}}
}
