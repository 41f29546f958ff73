package sdk

import (
	"runtime"

	"github.com/mqgate/mqgate/sdk/abi"
)

// reg is what the module registered. A module implements one kind.
var reg struct {
	kind        abi.Kind
	entries     [8]bool // by abi.Entry: the entry points of kind
	after       bool
	headersOnly bool
	allocator   func(AllocateRequest) []int
	send        SendHook
	consume     ConsumeHook
	rpc         RPCHook
	configure   func(config []byte) error
	config      []byte
}

func register(k abi.Kind) {
	if reg.kind != 0 && reg.kind != k {
		panic("sdk: a module implements one plugin kind; " + reg.kind.String() + " is registered, not " + k.String())
	}
	reg.kind = k
	reg.entries = [8]bool{}
	for _, e := range k.Entries() {
		reg.entries[e] = true
	}
}

// RegisteredKind returns the kind of plugin registered so far, or 0.
func RegisteredKind() abi.Kind { return reg.kind }

// Reset forgets what was registered and configured, so that one test binary can register
// several plugins in turn. A module never needs it.
func Reset() {
	reg.kind, reg.entries, reg.after, reg.headersOnly = 0, [8]bool{}, false, false
	reg.allocator, reg.configure, reg.config = nil, nil, nil
	reg.send, reg.consume, reg.rpc = SendHook{}, ConsumeHook{}, RPCHook{}
}

// out is the output buffer, reused by every call: the host reads it before the next one.
var out []byte

// Dispatch runs entry point e over the input in, as the module's exports do, and returns
// the output (valid until the next call). It lets a test drive a plugin through the ABI
// natively: encode an input as ABI.md lays it out, Dispatch it, decode the output.
func Dispatch(e abi.Entry, in []byte) (result []byte) {
	// A closure rather than defer catch(&result): one call fewer on every call.
	defer func() {
		if r := recover(); r != nil {
			result = panicked(r)
		}
	}()
	in = in[:len(in):len(in)] // views must not reach past the input
	switch {
	case e == abi.EntryBeforeSend && reg.entries[abi.EntryBeforeSend]: // the hot path first
		out = handleBeforeSend(in, &out)
	case e == abi.EntryInit:
		out = handleInit(in, out[:0])
	case int(e) >= len(reg.entries) || !reg.entries[e]:
		out = errorResult(out, "module does not implement "+e.Export()+" (it registered "+reg.kind.String()+")")
	case e == abi.EntryAllocate:
		out = handleAllocate(in, out[:0])
	case e == abi.EntryBeforeSend:
		out = handleBeforeSend(in, &out)
	case e == abi.EntryAfterSend:
		out = handleAfterSend(in, &out)
	case e == abi.EntryBeforeConsume:
		out = handleBeforeConsume(in, &out)
	case e == abi.EntryAfterConsume:
		out = handleAfterConsume(in, &out)
	case e == abi.EntryBeforeRequest:
		out = handleBeforeRequest(in, out[:0])
	case e == abi.EntryAfterResponse:
		out = handleAfterResponse(in, out[:0])
	}
	return out
}

// panicked turns a panic of the plugin into the error result of its call.
func panicked(r any) []byte {
	out = errorResult(out, "plugin panicked: "+panicText(r))
	return out
}

func errorResult(out []byte, msg string) []byte {
	return abi.AppendStr(append(out[:0], abi.StatusError), msg)
}

func panicText(r any) string {
	switch v := r.(type) {
	case runtime.Error:
		return v.Error()
	case error:
		return v.Error()
	case string:
		return v
	case interface{ String() string }:
		return v.String()
	}
	return "a value that is neither an error nor a string"
}

// handleInit stores the configuration, runs the Configure function and answers the flags.
func handleInit(in []byte, out []byte) []byte {
	if reg.kind == 0 {
		return errorResult(out, "module registered no plugin: call an sdk.Register function from an init function")
	}
	reg.config = append(reg.config[:0], in...)
	if reg.configure != nil {
		if err := reg.configure(reg.config); err != nil {
			return errorResult(out, "config: "+err.Error())
		}
	}
	var flags uint32
	if reg.after {
		flags |= abi.FlagAfter
	}
	if reg.headersOnly {
		flags |= abi.FlagHeadersOnly
	}
	return abi.AppendU32(append(out, abi.StatusOK), flags)
}
