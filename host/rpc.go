package host

import (
	"fmt"
	"strings"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/sdk/abi"
)

// RPCHook is an RPC hook plugin as an instance.RPCHook: BeforeRequest sees every field
// the request will carry (its typed header's and its extFields, remoting.AllFields) and
// its body, and may set extFields; AfterResponse sees the response's code, remark and
// extFields and its body's length. A failed call returns nil (policies Skip and Fallback:
// the request goes as it was) or the error (Fail: the request fails).
type RPCHook struct{ p *Plugin }

var _ instance.RPCHook = (*RPCHook)(nil)

// NewRPCHook adapts p, an RPC hook plugin.
func NewRPCHook(p *Plugin) (*RPCHook, error) {
	if k := p.Kind(); k != KindRPC {
		return nil, fmt.Errorf("plugin %q is a %v plugin, not an RPC hook", p.name, k)
	}
	return &RPCHook{p: p}, nil
}

// Name returns the plugin's name.
func (h *RPCHook) Name() string { return h.p.name }

// BeforeRequest implements instance.RPCHook.
func (h *RPCHook) BeforeRequest(addr string, req *remoting.Command) error {
	return h.beforeRequest(addr, req, nil)
}

func (h *RPCHook) beforeRequest(addr string, req *remoting.Command, r *report) error {
	var c call
	if err := h.p.begin(&c, abi.EntryBeforeRequest); err != nil {
		return h.p.outcome(err, r)
	}
	r.served(&c)
	fields := remoting.AllFields(c.g.rpcFields[:0], req)
	c.g.rpcFields = fields
	header := fields[:len(fields)-len(req.Ext)] // the typed header's fields lead
	size := abi.StrSize(len(addr)) + 3*abi.SizeU32 + abi.StrSize(len(req.Body))
	for _, f := range fields {
		size += abi.StrSize(len(f.Key)) + abi.StrSize(len(f.Value))
	}
	buf, err := c.input(size)
	if err != nil {
		return h.p.outcome(err, r)
	}
	e := abi.Encoder{Buf: buf}
	e.Str(addr)
	e.I32(req.Code)
	e.I32(req.Flag)
	e.U32(uint32(len(fields)))
	for _, f := range fields {
		e.Str(f.Key)
		e.Str(f.Value)
	}
	e.Bytes(req.Body)
	// Pin no strings of the request: the header's keys, its field names, are kept for the
	// check of the answer.
	for i := range header {
		header[i].Value = ""
	}
	clear(fields[len(header):])
	out, err := c.run(size)
	if err != nil {
		return h.p.outcome(err, r)
	}
	d := abi.NewDecoder(out)
	n := d.Count(2 * abi.StrSize(0))
	if n > maxMessageEdits { // each Set scans the fields
		return h.p.outcome(c.fail(failure{kind: FailBadResult, detail: fmt.Sprintf("%d extFields to set, more than %d", n, maxMessageEdits)}), r)
	}
	for range n {
		k, v := d.Bytes(), d.Bytes()
		if len(k) == 0 {
			return h.p.outcome(c.fail(failure{kind: FailBadResult, detail: "empty extFields key"}), r)
		}
		if headerField(header, k) {
			return h.p.outcome(c.fail(failure{kind: FailBadResult, detail: fmt.Sprintf(
				"extFields key %q is the request header's: an RPC hook may add fields, not change the request's", k)}), r)
		}
		_ = v
	}
	if d.Err() != nil || d.Remaining() != 0 {
		return h.p.outcome(c.fail(failure{kind: FailBadResult, detail: "malformed before_request result"}), r)
	}
	d.Reset(out)
	for range d.U32() {
		k, v := d.Bytes(), d.Bytes()
		req.Ext.Set(c.g.intern.get(k), strings.Clone(view(v)))
	}
	c.end()
	return nil
}

// AfterResponse implements instance.RPCHook. A module that registered no
// AfterResponse is not called.
func (h *RPCHook) AfterResponse(addr string, req, resp *remoting.Command) error {
	return h.afterResponse(addr, req, resp, nil)
}

func (h *RPCHook) afterResponse(addr string, req, resp *remoting.Command, r *report) error {
	if v := h.p.active.Load(); v == nil || v.flags&abi.FlagAfter == 0 || resp == nil {
		return nil
	}
	var c call
	if err := h.p.begin(&c, abi.EntryAfterResponse); err != nil {
		return h.p.outcome(err, r)
	}
	r.served(&c)
	size := abi.StrSize(len(addr)) + 2*abi.SizeU32 + abi.StrSize(len(resp.Remark)) + 2*abi.SizeU32
	for _, f := range resp.Ext {
		size += abi.StrSize(len(f.Key)) + abi.StrSize(len(f.Value))
	}
	buf, err := c.input(size)
	if err != nil {
		return h.p.outcome(err, r)
	}
	e := abi.Encoder{Buf: buf}
	e.Str(addr)
	e.I32(req.Code)
	e.I32(resp.Code)
	e.Str(resp.Remark)
	e.U32(uint32(len(resp.Ext)))
	for _, f := range resp.Ext {
		e.Str(f.Key)
		e.Str(f.Value)
	}
	e.U32(uint32(len(resp.Body)))
	if _, err := c.run(size); err != nil {
		return h.p.outcome(err, r)
	}
	c.end()
	return nil
}

// headerField reports whether key names one of the typed header's fields: a field an RPC
// hook set there would follow the header's on the wire and win at the broker (the last of
// a key does), so that a hook could move a send to another topic or queue, or rewrite its
// properties (TRAN_MSG among them) past the send hooks' rules.
func headerField(header remoting.ExtFields, key []byte) bool {
	for _, f := range header {
		if f.Key == view(key) {
			return true
		}
	}
	return false
}
