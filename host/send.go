package host

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unsafe"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/sdk/abi"
)

// SendHook is a send hook plugin as an instance.SendHook. A batch is one call (split only
// when it would not fit an eighth of the plugin's memory). Nothing of a call's answer is
// applied unless the whole answer is valid; a failed call leaves the messages as they were
// and returns nil (policies Skip and Fallback: they are sent unchanged) or the error
// (Fail: the batch fails).
type SendHook struct{ p *Plugin }

var _ instance.SendHook = (*SendHook)(nil)

// NewSendHook adapts p, a send hook plugin.
func NewSendHook(p *Plugin) (*SendHook, error) {
	if k := p.Kind(); k != KindSend {
		return nil, fmt.Errorf("plugin %q is a %v plugin, not a send hook", p.name, k)
	}
	return &SendHook{p: p}, nil
}

// Name returns the plugin's name.
func (h *SendHook) Name() string { return h.p.name }

// BeforeSend implements instance.SendHook.
func (h *SendHook) BeforeSend(ctx context.Context, events []instance.SendEvent) error {
	return h.beforeSend(ctx, events, nil)
}

func (h *SendHook) beforeSend(ctx context.Context, events []instance.SendEvent, r *report) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var c call
	if err := h.p.begin(&c, abi.EntryBeforeSend); err != nil {
		return h.p.outcome(err, r)
	}
	r.served(&c)
	if err := h.each(&c, events, false); err != nil {
		return h.p.outcome(err, r)
	}
	c.end()
	return nil
}

// AfterSend implements instance.SendHook. A module that registered no After is not
// called.
func (h *SendHook) AfterSend(ctx context.Context, events []instance.SendEvent) {
	h.afterSend(events, nil)
}

func (h *SendHook) afterSend(events []instance.SendEvent, r *report) {
	if v := h.p.active.Load(); len(events) == 0 || v == nil || v.flags&abi.FlagAfter == 0 {
		return
	}
	var c call
	if err := h.p.begin(&c, abi.EntryAfterSend); err != nil {
		_ = h.p.outcome(err, r)
		return
	}
	r.served(&c)
	if err := h.each(&c, events, true); err != nil {
		_ = h.p.outcome(err, r)
		return
	}
	c.end()
}

// each calls c's entry point over events, in chunks that fit the plugin's memory, and
// applies before_send's edits once every chunk's call succeeded.
func (h *SendHook) each(c *call, events []instance.SendEvent, after bool) *CallError {
	bodies := !after && c.v.flags&abi.FlagHeadersOnly == 0
	limit := c.v.inputLimit
	var split []chunkAnswer // a split batch's checked answers, copied out of the instance
	for start := 0; start < len(events); {
		end, size := start, sendHeader
		for end < len(events) {
			n := sendEventSize(&events[end], after, bodies)
			if end > start && size+n > limit {
				break
			}
			size += n
			end++
		}
		chunk := events[start:end]
		buf, err := c.input(size)
		if err != nil {
			return err
		}
		n := encodeSend(&c.g.layout, buf, chunk, after, bodies)
		out, err := c.run(n)
		if err != nil {
			return err
		}
		switch {
		case after: // after_send answers nothing
		case start == 0 && end == len(events): // one call: nothing to wait for
			if f := applySendEdits(c.g, out, chunk); f.failed() {
				return c.fail(f)
			}
		default: // a later call may fail, which must leave every message as it was
			if f := checkSendEdits(c.g, out, chunk); f.failed() {
				return c.fail(f)
			}
			split = append(split, chunkAnswer{bytes.Clone(out), start, end})
		}
		start = end
	}
	for _, a := range split {
		applyCheckedSendEdits(c.g, a.out, events[a.from:a.to])
	}
	return nil
}

// chunkAnswer is the answer of the call over a split batch's messages [from, to).
type chunkAnswer struct {
	out      []byte
	from, to int
}

// sendEventSize bounds the bytes one event takes in a send input.
func sendEventSize(ev *instance.SendEvent, after, bodies bool) int {
	m := ev.Message
	n := sendRecordSize + len(ev.ProducerGroup) + len(m.Topic) + len(ev.Queue.BrokerName) + len(ev.BrokerAddr) + propsSize(&m.Properties)
	if bodies {
		n += len(m.Body)
	}
	if after {
		n += sendAfterRecordSize - sendRecordSize
		if r := ev.Result; r != nil && ev.Err == nil {
			n += len(r.MsgID) + len(r.OffsetMsgID)
		} else {
			n += len(errText(ev.Err))
		}
	}
	return n
}

// encodeSend writes a before_send or after_send input into buf and returns its length.
func encodeSend(l *layout, buf []byte, events []instance.SendEvent, after, bodies bool) int {
	size := sendRecordSize
	if after {
		size = sendAfterRecordSize
	}
	l.reset(buf, sendHeader+size*len(events))
	l.put32(0, uint32(len(events)))
	l.put32(4, uint32(size))
	for i := range events {
		ev, rec := &events[i], sendHeader+i*size
		m := ev.Message
		l.shared(rec, 0, ev.ProducerGroup)
		l.shared(rec+8, 1, m.Topic)
		l.shared(rec+16, 2, ev.Queue.BrokerName)
		l.shared(rec+24, 3, ev.BrokerAddr)
		l.bytesRef(rec+32, m.Body, bodies)
		l.props(rec+40, &m.Properties)
		l.put32(rec+48, uint32(ev.Queue.QueueID))
		l.put32(rec+52, uint32(m.Flag))
		if !after {
			continue
		}
		clear(l.buf[rec+56 : rec+60])
		if r := ev.Result; r != nil && ev.Err == nil {
			l.buf[rec+56], l.buf[rec+57] = 1, uint8(r.Status)
			l.ref(rec+60, r.MsgID)
			l.ref(rec+68, r.OffsetMsgID)
			l.put64(rec+76, uint64(r.QueueOffset))
			l.ref(rec+84, "")
		} else {
			l.ref(rec+60, "")
			l.ref(rec+68, "")
			l.put64(rec+76, 0)
			l.ref(rec+84, errText(ev.Err))
		}
		l.put32(rec+92, 0)
	}
	return l.data
}

// view is b as a string without a copy, for comparisons that do not keep it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func errText(err error) string {
	if err == nil {
		return "no result"
	}
	return err.Error()
}

// checkPropertyEdit refuses a property a message could not carry, and one a hook may
// not edit (checkPropertyName).
func checkPropertyEdit(name, value []byte) string {
	switch {
	case len(name) == 0:
		return "empty property name"
	case hasSeparator(name) || hasSeparator(value):
		return fmt.Sprintf("property %q: names and values cannot hold 0x01 or 0x02", name)
	}
	return checkPropertyName(name)
}

// checkPropertyName refuses a property a hook may not edit (abi.HookMayEdit).
func checkPropertyName(name []byte) string {
	if n := view(name); !abi.HookMayEdit(n) {
		return fmt.Sprintf("property %q is the system's: a hook may edit user properties, KEYS and TAGS", n)
	}
	return ""
}

// checkPropertyDelete refuses the delete of a property a hook may not edit; err is the
// decoder's, after which name means nothing.
func checkPropertyDelete(name []byte, err error) failure {
	if err != nil {
		return failure{}
	}
	msg := "empty property name"
	if len(name) != 0 {
		msg = checkPropertyName(name)
	}
	if msg != "" {
		return failure{kind: FailBadResult, detail: msg}
	}
	return failure{}
}

func hasSeparator(b []byte) bool {
	for _, c := range b {
		if c <= message.PropertySeparator && c >= message.NameValueSeparator {
			return true
		}
	}
	return false
}

// applySendEdits checks a before_send answer whole, then applies it.
func applySendEdits(g *guest, out []byte, events []instance.SendEvent) failure {
	if f := checkSendEdits(g, out, events); f.failed() {
		return f
	}
	applyCheckedSendEdits(g, out, events)
	return failure{}
}

// checkSendEdits checks a before_send answer whole.
//
// A hook that adds a header sets the same one on every message: an edit that repeats the
// previous one byte for byte (its op, name and value; the encoding is prefix-free), in this
// call or the instance's earlier ones, is neither decoded nor checked again.
func checkSendEdits(g *guest, out []byte, events []instance.SendEvent) failure {
	d := abi.NewDecoder(out)
	n := d.Count(abi.SizeU32 + abi.SizeU8 + abi.StrSize(0))
	same := g.edit.record() // the last property edit checked, from its op on
	g.edits.start(n, len(events))
	for range n {
		i := d.U32()
		if i >= uint32(len(events)) {
			return failure{kind: FailBadResult, detail: fmt.Sprintf("edit of message %d in a batch of %d", i, len(events))}
		}
		if g.edits.over(i) {
			return tooManyEdits(i)
		}
		if len(same) != 0 && bytes.HasPrefix(out[d.Offset():], same) {
			d.Bytes0(len(same))
			continue
		}
		from := d.Offset()
		switch op := abi.Op(d.U8()); op {
		case abi.OpSetProperty:
			name, value := d.Bytes(), d.Bytes()
			if msg := checkPropertyEdit(name, value); msg != "" {
				return failure{kind: FailBadResult, detail: msg}
			}
			if d.Err() == nil {
				same = out[from:d.Offset()]
			}
		case abi.OpDeleteProperty:
			if f := checkPropertyDelete(d.Bytes(), d.Err()); f.failed() {
				return f
			}
		case abi.OpReject:
			d.Bytes()
		default:
			return failure{kind: FailBadResult, detail: fmt.Sprintf("edit op %d is not a send hook's", op)}
		}
	}
	if d.Err() != nil || d.Remaining() != 0 {
		return failure{kind: FailBadResult, detail: "malformed before_send result"}
	}
	return failure{}
}

// applyCheckedSendEdits applies a before_send answer checkSendEdits accepted.
func applyCheckedSendEdits(g *guest, out []byte, events []instance.SendEvent) {
	d := abi.NewDecoder(out)
	n := d.U32()
	last := &g.edit
	for range n {
		ev := &events[d.U32()]
		if rec := last.record(); len(rec) != 0 && bytes.HasPrefix(out[d.Offset():], rec) {
			d.Bytes0(len(rec))
			ev.Message.Properties.Set(last.name, last.value)
			continue
		}
		from := d.Offset()
		switch abi.Op(d.U8()) {
		case abi.OpSetProperty:
			n, v := d.Bytes(), d.Bytes()
			if len(v) == 0 {
				ev.Message.Properties.Delete(view(n))
				continue
			}
			// A header is short: the instance keeps no large answer.
			last.keep(out[from:d.Offset()], g.intern.get(n), g.intern.get(v))
			ev.Message.Properties.Set(last.name, last.value)
		case abi.OpDeleteProperty:
			ev.Message.Properties.Delete(d.Str())
		case abi.OpReject:
			ev.Reject = strings.ToValidUTF8(string(d.Bytes()), "\uFFFD")
			if ev.Reject == "" {
				ev.Reject = "rejected"
			}
		}
	}
}
