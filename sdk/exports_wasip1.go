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
// goroutines (the background sweeper, the finalizers, the garbage collector's workers)
// only when the call's goroutine lets them. A collection started by an allocation within
// a hook is finished by that allocation's assists, so hooks need not yield often; they
// yield every yieldEvery calls to let the others run. A yield costs about a microsecond
// here (the scheduler polls the clock through the host): on every call it would cost a
// single-message send hook more than the hook itself. The rarer entry points (allocate,
// init) yield on every call.
const yieldEvery = 1024

// call runs entry point e over the first n bytes of the input buffer, through Dispatch.
func call(e abi.Entry, n int32) int64 {
	var o []byte
	if uint32(n) > uint32(len(in)) {
		o = badLength()
	} else {
		o = Dispatch(e, in[:n:n])
	}
	if calls++; calls%yieldEvery == 0 || e <= abi.EntryAllocate {
		runtime.Gosched()
	}
	return packed(o)
}

// tick counts a hook's call, and yields every yieldEvery calls.
func tick() {
	if calls++; calls%yieldEvery == 0 {
		runtime.Gosched()
	}
}

func packed(o []byte) int64 {
	return int64(abi.PackResult(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(o)))), uint32(len(o))))
}

func badLength() []byte {
	out = errorResult(out[:0], "input length out of the buffer")
	return out
}

//go:wasmexport mqgate_init
func exportInit(n int32) int64 { return call(abi.EntryInit, n) }

//go:wasmexport mqgate_allocate
func exportAllocate(n int32) int64 { return call(abi.EntryAllocate, n) }

// The per-message hooks' entry points skip call and Dispatch, two function calls of
// several nanoseconds each in WebAssembly, with the same recovery of panics into error
// results.

//go:wasmexport mqgate_before_send
func exportBeforeSend(n int32) (r int64) {
	if uint32(n) > uint32(len(in)) || !reg.entries[abi.EntryBeforeSend] {
		return call(abi.EntryBeforeSend, n)
	}
	defer func() {
		if p := recover(); p != nil {
			r = packed(panicked(p))
		}
	}()
	o := handleBeforeSend(in[:n:n], &out)
	tick()
	return packed(o)
}

//go:wasmexport mqgate_after_send
func exportAfterSend(n int32) int64 { return call(abi.EntryAfterSend, n) }

//go:wasmexport mqgate_before_consume
func exportBeforeConsume(n int32) (r int64) {
	if uint32(n) > uint32(len(in)) || !reg.entries[abi.EntryBeforeConsume] {
		return call(abi.EntryBeforeConsume, n)
	}
	defer func() {
		if p := recover(); p != nil {
			r = packed(panicked(p))
		}
	}()
	o := handleBeforeConsume(in[:n:n], &out)
	tick()
	return packed(o)
}

//go:wasmexport mqgate_after_consume
func exportAfterConsume(n int32) int64 { return call(abi.EntryAfterConsume, n) }

//go:wasmexport mqgate_before_request
func exportBeforeRequest(n int32) int64 { return call(abi.EntryBeforeRequest, n) }

//go:wasmexport mqgate_after_response
func exportAfterResponse(n int32) int64 { return call(abi.EntryAfterResponse, n) }
