//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/mqgate/mqgate/sdk/abi"
)

// The module's exports, as ABI.md specifies them. They exist only in the wasip1 build;
// everything they do is in Dispatch, which the native tests exercise.

// in is the input buffer mqgate_buffer hands the host.
var in []byte

//go:wasmexport mqgate_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport mqgate_kind
func exportKind() int32 { return int32(reg.kind) }

// exportBuffer returns the address of an input buffer of at least size bytes, rounded up
// to 64 KiB; 0 for a negative size. It does not double: the host asks for the size of its
// largest input, rarely, and memory is what a plugin has least of.
//
//go:wasmexport mqgate_buffer
func exportBuffer(size int32) int32 {
	if size < 0 {
		return 0
	}
	if int(size) > cap(in) || cap(in) == 0 {
		in = nil // let the old buffer go before the new one is allocated
		in = make([]byte, (max(int(size), 1)+0xFFFF)&^0xFFFF)
	}
	in = in[:cap(in)]
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

// calls counts the calls, to yield to the runtime's goroutines every yieldEvery of them.
var calls uint32

// yieldEvery: the Go runtime of a c-shared module runs only inside calls, and its other
// goroutines (the garbage collector's workers among them) only when the call's goroutine
// lets them. Without a yield, a plugin that allocates starts collections that never
// finish, and runs out of memory. A yield costs about a microsecond here (the scheduler
// polls the clock through the host), so hooks, which the sdk keeps from allocating, yield
// every 32 calls; rarer entry points, every call.
const yieldEvery = 32

func call(e abi.Entry, n int32) int64 {
	var o []byte
	if n < 0 || int(n) > len(in) {
		o = errorResult(out[:0], "input length out of the buffer")
		out = o
	} else {
		o = Dispatch(e, in[:n:n])
	}
	if calls++; calls%yieldEvery == 0 || e == abi.EntryAllocate || e == abi.EntryInit {
		runtime.Gosched()
	}
	return int64(abi.PackResult(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(o)))), uint32(len(o))))
}

//go:wasmexport mqgate_init
func exportInit(n int32) int64 { return call(abi.EntryInit, n) }

//go:wasmexport mqgate_allocate
func exportAllocate(n int32) int64 { return call(abi.EntryAllocate, n) }

//go:wasmexport mqgate_before_send
func exportBeforeSend(n int32) int64 { return call(abi.EntryBeforeSend, n) }

//go:wasmexport mqgate_after_send
func exportAfterSend(n int32) int64 { return call(abi.EntryAfterSend, n) }

//go:wasmexport mqgate_before_consume
func exportBeforeConsume(n int32) int64 { return call(abi.EntryBeforeConsume, n) }

//go:wasmexport mqgate_after_consume
func exportAfterConsume(n int32) int64 { return call(abi.EntryAfterConsume, n) }

//go:wasmexport mqgate_before_request
func exportBeforeRequest(n int32) int64 { return call(abi.EntryBeforeRequest, n) }

//go:wasmexport mqgate_after_response
func exportAfterResponse(n int32) int64 { return call(abi.EntryAfterResponse, n) }
