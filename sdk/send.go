package sdk

import "github.com/mqgate/mqgate/sdk/abi"

// SendHook is a send hook: Before sees each message about to be sent and may add,
// change or remove properties or reject the message; After sees each outcome. Either may
// be nil. A non-nil error from Before fails the hook for the whole batch (the gateway
// then applies the slot's policy: fail the batch or send it unchanged).
type SendHook struct {
	Before func(m *SendMessage) error
	After  func(m *SendMessage)
	// HeadersOnly says the hook never reads bodies: the host then does not copy them into
	// the module, which saves a copy per message; Body returns nil (BodyLen still works).
	HeadersOnly bool
}

// RegisterSendHook makes h the module's send hook.
func RegisterSendHook(h SendHook) {
	register(abi.KindSend)
	reg.send = h
	reg.after = h.After != nil
	reg.headersOnly = h.HeadersOnly
}

// SendMessage is one message going through a send hook, on the queue it was routed to.
// Its strings and body are views of the module's input, valid until the hook returns.
type SendMessage struct{ message }

// Offsets of a send record's fields (ABI.md, "before_send").
const (
	sendGroup      = 0
	sendTopic      = 8
	sendBrokerName = 16
	sendBrokerAddr = 24
	sendBody       = 32
	sendProps      = 40
	sendQueueID    = 48
	sendFlag       = 52
	sendSent       = 56
	sendMsgID      = 60
	sendOffsetID   = 68
	sendQueueOff   = 76
	sendError      = 84

	sendRecordSize      = 56
	sendAfterRecordSize = 96
)

func (m *SendMessage) ProducerGroup() string { return str(m.b.in, m.rec+sendGroup) }
func (m *SendMessage) Topic() string         { return str(m.b.in, m.rec+sendTopic) }
func (m *SendMessage) BrokerName() string    { return str(m.b.in, m.rec+sendBrokerName) }
func (m *SendMessage) BrokerAddr() string    { return str(m.b.in, m.rec+sendBrokerAddr) }
func (m *SendMessage) QueueID() int32        { return int32(le32(m.b.in, m.rec+sendQueueID)) }
func (m *SendMessage) Flag() int32           { return int32(le32(m.b.in, m.rec+sendFlag)) }

// Body returns the body; nil in After and for a HeadersOnly hook.
func (m *SendMessage) Body() []byte { return bytesAt(m.b.in, m.rec+sendBody) }

// BodyLen returns the body's length, also when Body is nil.
func (m *SendMessage) BodyLen() int { return int(le32(m.b.in, m.rec+sendBody+4)) }

// Properties returns the properties as the host sent them.
func (m *SendMessage) Properties() Properties {
	return Properties{b: m.b.in, table: le32(m.b.in, m.rec+sendProps), n: le32(m.b.in, m.rec+sendProps+4)}
}

// Property returns the value of a property, as edited so far by this hook.
func (m *SendMessage) Property(name string) string {
	if m.firstEdit >= 0 {
		v, _ := m.property(m.Properties(), name)
		return v
	}
	// No edits yet, the common case: lookup written out, one call fewer.
	in := m.b.in
	table, n := le32(in, m.rec+sendProps), le32(in, m.rec+sendProps+4)
	for at := table + 16*n; at > table; {
		at -= 16
		if le32(in, at+4) == uint32(len(name)) && equalAt(in, le32(in, at), name) {
			return str(in, at+8)
		}
	}
	return ""
}

// Tags returns the TAGS property.
func (m *SendMessage) Tags() string { return m.Property(PropertyTags) }

// SetProperty sets a property on the message before it is sent.
// A user property, KEYS or TAGS: the host refuses an answer that
// edits another system property (ABI.md §6).
func (m *SendMessage) SetProperty(name, value string) {
	m.addEdit(SetProperty, name, value, true)
}

// DeleteProperty removes a property before the message is sent.
func (m *SendMessage) DeleteProperty(name string) { m.addEdit(DeleteProperty, name, "", false) }

// Reject refuses the message: it is not sent and its send fails with reason.
func (m *SendMessage) Reject(reason string) { m.addEdit(Reject, reason, "", false) }

// Edits returns the edits asked for so far, in order; for tests.
func (m *SendMessage) Edits() []Edit { return m.editsOf() }

// SendResult is the outcome of one message's send, in After.
type SendResult struct {
	// Sent reports whether the broker accepted the message; Error says why not otherwise.
	Sent        bool
	Status      SendStatus
	MsgID       string
	OffsetMsgID string
	QueueOffset int64
	Error       string
}

// SendStatus is Java's SendStatus.
type SendStatus uint8

const (
	SendOK SendStatus = iota
	FlushDiskTimeout
	FlushSlaveTimeout
	SlaveNotAvailable
)

// Result returns the outcome of the send; in Before, the zero SendResult.
func (m *SendMessage) Result() SendResult {
	if le32(m.b.in, 4) < sendAfterRecordSize {
		return SendResult{}
	}
	in, r := m.b.in, m.rec
	return SendResult{
		Sent:        in[r+sendSent] != 0,
		Status:      SendStatus(in[r+sendSent+1]),
		MsgID:       str(in, r+sendMsgID),
		OffsetMsgID: str(in, r+sendOffsetID),
		QueueOffset: int64(le64(in, r+sendQueueOff)),
		Error:       str(in, r+sendError),
	}
}

var (
	sendBatch batch
	sendMsgs  []SendMessage
)

// sendCount checks a send input's header and returns its message count and record size.
func sendCount(in []byte, minRecord uint32) (n, size uint32, bad string) {
	if len(in) < 8 {
		return 0, 0, "input shorter than its header"
	}
	n, size = le32(in, 0), le32(in, 4)
	if size < minRecord || uint64(n)*uint64(size)+8 > uint64(len(in)) {
		return 0, 0, "records do not fit the input"
	}
	return n, size, ""
}

// msgsFor returns n reusable message views of sendBatch (set once: a pointer store per
// message is a write barrier's check in the loop).
func msgsFor(n uint32) []SendMessage {
	if uint32(cap(sendMsgs)) < n {
		sendMsgs = make([]SendMessage, n)
		for i := range sendMsgs {
			sendMsgs[i].b = &sendBatch
		}
	}
	return sendMsgs[:n]
}

// handleBeforeSend is written flat, the views set up as the loop reaches them: every
// function call costs a few nanoseconds in WebAssembly, and this runs per call.
func handleBeforeSend(in []byte, out *[]byte) []byte {
	n, size, bad := sendCount(in, sendRecordSize)
	if bad != "" {
		return errorResult(*out, "before_send input: "+bad)
	}
	bt := &sendBatch
	bt.begin(in, out)
	if before := reg.send.Before; before != nil {
		msgs, rec := msgsFor(n), uint32(8)
		for i := range msgs {
			m := &msgs[i]
			m.rec, m.idx, m.firstEdit = rec, uint32(i), -1
			if err := before(m); err != nil {
				return errorResult(*out, err.Error())
			}
			rec += size
		}
	}
	return bt.finish()
}

func handleAfterSend(in []byte, out *[]byte) []byte {
	n, size, bad := sendCount(in, sendAfterRecordSize)
	if bad != "" {
		return errorResult(*out, "after_send input: "+bad)
	}
	bt := &sendBatch
	bt.begin(in, out)
	if after := reg.send.After; after != nil {
		msgs, rec := msgsFor(n), uint32(8)
		for i := range msgs {
			m := &msgs[i]
			m.rec, m.idx, m.firstEdit = rec, uint32(i), -1
			after(m)
			rec += size
		}
	}
	return append((*out)[:0], abi.StatusOK)
}

// NewSendMessage returns a message as a send hook sees it, for tests.
func NewSendMessage(topic string, properties Properties, body []byte) *SendMessage {
	var w builder
	w.reserve(8)
	w.put32(0, 1)
	w.put32(4, sendRecordSize)
	rec := w.reserve(sendRecordSize)
	w.ref(rec+sendTopic, topic)
	w.ref(rec+sendBody, string(body))
	w.props(rec+sendProps, properties)
	bt := &batch{}
	bt.begin(w.b, new([]byte))
	return &SendMessage{message{b: bt, rec: rec, firstEdit: -1}}
}
