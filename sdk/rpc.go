package sdk

import (
	"unsafe"

	"github.com/mqgate/mqgate/sdk/abi"
)

// RPCHook is an RPC hook, as Java's RPCHook: BeforeRequest sees every request the
// gateway sends to a NameServer or broker and may add extFields (an ACL signature, say); AfterResponse sees each response. Either may be nil. An error from
// BeforeRequest fails the request (or, by the slot's policy, sends it unchanged); an error
// from AfterResponse fails the call.
type RPCHook struct {
	BeforeRequest func(r *Request) error
	AfterResponse func(r *Response) error
}

// RegisterRPCHook makes h the module's RPC hook.
func RegisterRPCHook(h RPCHook) {
	register(abi.KindRPC)
	reg.rpc = h
	reg.after = h.AfterResponse != nil
}

// Field is one extFields entry.
type Field struct {
	Key, Value string
}

// Request is a remoting request about to be sent.
type Request struct {
	Addr string // the peer, host:port
	Code int32  // the request code
	Flag int32  // bit 1: oneway
	// Fields are all the extFields the request carries: its typed header's, then the
	// others, as they will be sent. Of a key carried twice the receiver keeps the last.
	Fields []Field
	Body   []byte

	set []Field
}

// Field returns the value of an extFields entry, as set so far by this hook.
func (r *Request) Field(key string) (string, bool) {
	for i := len(r.set) - 1; i >= 0; i-- {
		if r.set[i].Key == key {
			return r.set[i].Value, true
		}
	}
	// From the end: of a key carried twice (a header's field, and an extFields entry an
	// earlier hook set), the receiver keeps the last, and aclsign signs it.
	for i := len(r.Fields) - 1; i >= 0; i-- {
		if r.Fields[i].Key == key {
			return r.Fields[i].Value, true
		}
	}
	return "", false
}

// SetField adds an extFields entry, or replaces its value. A key of the request's typed
// header (topic, queueId, properties, ...) is refused by the host (ABI.md): a hook may add
// to a request, not change what it asks.
func (r *Request) SetField(key, value string) { r.set = append(r.set, Field{key, value}) }

// Set returns the fields set so far, in order; for tests.
func (r *Request) Set() []Field { return r.set }

// Response is the response to a request.
type Response struct {
	Addr        string
	RequestCode int32
	Code        int32 // the response code: 0 is SUCCESS
	Remark      string
	Fields      []Field
	// BodyLen is the length of the response body, which the hook does not see: pull
	// responses carry megabytes.
	BodyLen int
}

var (
	rpcReq  Request
	rpcResp Response
)

func decodeFields(d *abi.Decoder, dst []Field) []Field {
	n := d.Count(2 * abi.StrSize(0))
	dst = dst[:0]
	for range n {
		dst = append(dst, Field{Key: d.Str(), Value: d.Str()})
	}
	return dst
}

// strAt reads the str at in[at:] and returns it and the offset past it, or -1 past the
// end of in. (Inlined: a before_request input holds a few dozen strs, and every call costs
// several nanoseconds in WebAssembly.)
func strAt(in []byte, at int) (string, int) {
	if at < 0 || len(in)-at < 4 {
		return "", -1
	}
	n := int(le32(in, uint32(at)))
	at += 4
	if n > len(in)-at {
		return "", -1
	}
	return unsafe.String(unsafe.SliceData(in[at:]), n), at + n
}

func handleBeforeRequest(in []byte, out []byte) []byte {
	r := &rpcReq
	var at int
	r.Addr, at = strAt(in, 0)
	if at < 0 || len(in)-at < 12 {
		return errorResult(out, "decoding the before_request input: "+abi.ErrTruncated.Error())
	}
	r.Code, r.Flag = int32(le32(in, uint32(at))), int32(le32(in, uint32(at+4)))
	n := int(le32(in, uint32(at+8)))
	at += 12
	if n > (len(in)-at)/8 {
		return errorResult(out, "decoding the before_request input: "+abi.ErrTruncated.Error())
	}
	fields := r.Fields[:0]
	for range n {
		var k, v string
		k, at = strAt(in, at)
		v, at = strAt(in, at)
		fields = append(fields, Field{Key: k, Value: v})
	}
	r.Fields = fields
	var body string
	body, at = strAt(in, at)
	if at < 0 {
		return errorResult(out, "decoding the before_request input: "+abi.ErrTruncated.Error())
	}
	r.Body = unsafe.Slice(unsafe.StringData(body), len(body))
	clear(r.set)
	r.set = r.set[:0]
	if reg.rpc.BeforeRequest != nil {
		if err := reg.rpc.BeforeRequest(r); err != nil {
			return errorResult(out, err.Error())
		}
	}
	out = append(out, abi.StatusOK)
	out = abi.AppendU32(out, uint32(len(r.set)))
	for _, f := range r.set {
		out = abi.AppendStr(abi.AppendStr(out, f.Key), f.Value)
	}
	return out
}

func handleAfterResponse(in []byte, out []byte) []byte {
	d := abi.NewDecoder(in)
	r := &rpcResp
	r.Addr = d.Str()
	r.RequestCode = d.I32()
	r.Code = d.I32()
	r.Remark = d.Str()
	r.Fields = decodeFields(&d, r.Fields)
	r.BodyLen = int(d.U32())
	if d.Err() != nil {
		return errorResult(out, "decoding the after_response input: "+d.Err().Error())
	}
	if reg.rpc.AfterResponse != nil {
		if err := reg.rpc.AfterResponse(r); err != nil {
			return errorResult(out, err.Error())
		}
	}
	return append(out, abi.StatusOK)
}
