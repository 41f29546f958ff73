package host

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/sdk/abi"
)

// ConsumeHook is a consume hook plugin as an instance.ConsumeHook. A pulled batch is one
// call (split only when it would not fit an eighth of the plugin's memory). Nothing of a
// call's answer is applied unless the whole answer is valid; a failed call leaves the
// messages and verdicts as they were (every message delivered) and returns nil (policies
// Skip and Fallback) or the error (Fail: the consumer retries the batch later, so nothing
// is lost).
type ConsumeHook struct{ p *Plugin }

var _ instance.ConsumeHook = (*ConsumeHook)(nil)

// NewConsumeHook adapts p, a consume hook plugin.
func NewConsumeHook(p *Plugin) (*ConsumeHook, error) {
	if k := p.Kind(); k != KindConsume {
		return nil, fmt.Errorf("plugin %q is a %v plugin, not a consume hook", p.name, k)
	}
	return &ConsumeHook{p: p}, nil
}

// Name returns the plugin's name.
func (h *ConsumeHook) Name() string { return h.p.name }

// BeforeConsume implements instance.ConsumeHook.
func (h *ConsumeHook) BeforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) error {
	return h.beforeConsume(ctx, cc, msgs, verdicts, nil)
}

func (h *ConsumeHook) beforeConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict, r *report) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(verdicts) != len(msgs) {
		return fmt.Errorf("host: %d verdicts for %d messages", len(verdicts), len(msgs))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var c call
	if err := h.p.begin(&c, abi.EntryBeforeConsume); err != nil {
		return h.p.outcome(err, r)
	}
	r.served(&c)
	return h.each(&c, cc, msgs, verdicts, false, r)
}

// AfterConsume implements instance.ConsumeHook. A module that registered no After is not
// called.
func (h *ConsumeHook) AfterConsume(ctx context.Context, cc *instance.ConsumeContext, msgs []*message.Ext, success bool) {
	h.afterConsume(cc, msgs, success, nil)
}

func (h *ConsumeHook) afterConsume(cc *instance.ConsumeContext, msgs []*message.Ext, success bool, r *report) {
	if v := h.p.active.Load(); len(msgs) == 0 || v == nil || v.flags&abi.FlagAfter == 0 {
		return
	}
	var c call
	if err := h.p.begin(&c, abi.EntryAfterConsume); err != nil {
		_ = h.p.outcome(err, r)
		return
	}
	r.served(&c)
	_ = h.each(&c, cc, msgs, nil, success, r)
}

// each calls the entry point of c over msgs, in chunks that fit the plugin's memory. Given
// verdicts, it is before_consume's: it applies the answers once every chunk's call
// succeeded.
func (h *ConsumeHook) each(c *call, cc *instance.ConsumeContext, msgs []*message.Ext, verdicts []instance.ConsumeVerdict, success bool, r *report) error {
	after := verdicts == nil
	bodies := !after && c.v.flags&abi.FlagHeadersOnly == 0
	var split []chunkAnswer // a split batch's checked answers, copied out of the instance
	header := consumeHeader + len(cc.ConsumerGroup) + len(cc.Queue.Topic) + len(cc.Queue.BrokerName)
	limit := c.v.inputLimit
	for start := 0; start < len(msgs); {
		end, size := start, header
		for end < len(msgs) {
			m := msgs[end]
			n := consumeRecordSize + propsSize(&m.Properties)
			if bodies {
				n += len(m.Body)
			}
			if end > start && size+n > limit {
				break
			}
			size += n
			end++
		}
		buf, err := c.input(size)
		if err != nil {
			return h.p.outcome(err, r)
		}
		n := encodeConsume(&c.g.layout, buf, cc, msgs[start:end], after, success, bodies)
		out, err := c.run(n)
		if err != nil {
			return h.p.outcome(err, r)
		}
		switch {
		case after: // after_consume answers nothing
		case start == 0 && end == len(msgs): // one call: nothing to wait for
			if f := applyConsumeEdits(c.g, out, msgs, verdicts); f.failed() {
				return h.p.outcome(c.fail(f), r)
			}
		default: // a later call may fail, which must leave every message as it was
			if f := checkConsumeEdits(c.g, out, msgs[start:end]); f.failed() {
				return h.p.outcome(c.fail(f), r)
			}
			split = append(split, chunkAnswer{bytes.Clone(out), start, end})
		}
		start = end
	}
	for _, a := range split {
		applyCheckedConsumeEdits(c.g, a.out, msgs[a.from:a.to], verdicts[a.from:a.to])
	}
	c.end()
	return nil
}

// encodeConsume writes a before_consume or after_consume input into buf and returns its
// length.
func encodeConsume(l *layout, buf []byte, cc *instance.ConsumeContext, msgs []*message.Ext, after, success, bodies bool) int {
	l.reset(buf, consumeHeader+consumeRecordSize*len(msgs))
	l.ref(0, cc.ConsumerGroup)
	l.ref(8, cc.Queue.Topic)
	l.ref(16, cc.Queue.BrokerName)
	l.put32(24, uint32(cc.Queue.QueueID))
	l.put32(28, 0)
	if cc.Model == "BROADCASTING" {
		l.buf[28] = abi.ModelBroadcasting
	}
	if after {
		l.buf[29] = b2u8(success)
	}
	l.put32(32, uint32(len(msgs)))
	l.put32(36, consumeRecordSize)
	for i, m := range msgs {
		rec := consumeHeader + i*consumeRecordSize
		l.put64(rec, uint64(m.QueueOffset))
		l.put64(rec+8, uint64(m.BornTimestamp))
		l.put64(rec+16, uint64(m.StoreTimestamp))
		l.put32(rec+24, uint32(m.ReconsumeTimes))
		l.put32(rec+28, uint32(m.Flag))
		l.bytesRef(rec+32, m.Body, bodies)
		l.props(rec+40, &m.Properties)
	}
	return l.data
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// applyConsumeEdits checks a before_consume answer whole, then applies it.
func applyConsumeEdits(g *guest, out []byte, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) failure {
	if f := checkConsumeEdits(g, out, msgs); f.failed() {
		return f
	}
	applyCheckedConsumeEdits(g, out, msgs, verdicts)
	return failure{}
}

// checkConsumeEdits checks a before_consume answer whole: its verdicts and edits.
func checkConsumeEdits(g *guest, out []byte, msgs []*message.Ext) failure {
	d := abi.NewDecoder(out)
	if n := d.Count(1); n != len(msgs) {
		return failure{kind: FailBadResult, detail: fmt.Sprintf("%d verdicts for %d messages", n, len(msgs))}
	}
	vs := d.Bytes0(len(msgs))
	for _, v := range vs {
		if v > abi.VerdictRetry {
			return failure{kind: FailBadResult, detail: fmt.Sprintf("unknown verdict %d", v)}
		}
	}
	n := d.Count(abi.SizeU32 + abi.SizeU8 + abi.StrSize(0))
	g.edits.start(n, len(msgs))
	for range n {
		i, op := d.U32(), abi.Op(d.U8())
		if i >= uint32(len(msgs)) {
			return failure{kind: FailBadResult, detail: fmt.Sprintf("edit of message %d in a batch of %d", i, len(msgs))}
		}
		if g.edits.over(i) {
			return tooManyEdits(i)
		}
		switch op {
		case abi.OpSetProperty:
			if msg := checkPropertyEdit(d.Bytes(), d.Bytes()); msg != "" {
				return failure{kind: FailBadResult, detail: msg}
			}
		case abi.OpDeleteProperty:
			if f := checkPropertyDelete(d.Bytes(), d.Err()); f.failed() {
				return f
			}
		case abi.OpSetBody:
			d.Bytes()
		default:
			return failure{kind: FailBadResult, detail: fmt.Sprintf("edit op %d is not a consume hook's", op)}
		}
	}
	if d.Err() != nil || d.Remaining() != 0 {
		return failure{kind: FailBadResult, detail: "malformed before_consume result"}
	}
	return failure{}
}

// applyCheckedConsumeEdits applies a before_consume answer checkConsumeEdits accepted.
func applyCheckedConsumeEdits(g *guest, out []byte, msgs []*message.Ext, verdicts []instance.ConsumeVerdict) {
	d := abi.NewDecoder(out)
	for i, v := range d.Bytes0(int(d.U32())) {
		verdicts[i] = instance.ConsumeVerdict(v)
	}
	for range d.U32() {
		m := msgs[d.U32()]
		switch abi.Op(d.U8()) {
		case abi.OpSetProperty:
			name, value := d.Bytes(), d.Bytes()
			if len(value) == 0 {
				m.Properties.Delete(view(name))
			} else {
				m.Properties.Set(g.intern.get(name), g.intern.get(value))
			}
		case abi.OpDeleteProperty:
			m.Properties.Delete(d.Str())
		case abi.OpSetBody:
			m.Body = bytes.Clone(d.Bytes())
			if m.Body == nil {
				m.Body = []byte{}
			}
		}
	}
}
