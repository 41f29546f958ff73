// Package host runs plugins — WebAssembly modules built against ../sdk — in a wazero
// sandbox and adapts them to the client instance's extension interfaces, so that the
// instance neither knows nor cares whether an allocation strategy, a send or consume hook
// or the RPC hook is native Go or a module loaded from a stranger.
//
// A Runtime is one wazero runtime with an on-disk compilation cache (a Go module takes
// ~0.6 s to compile, once per machine and version). Runtime.Load checks a module against
// ../sdk/ABI.md — size, imports, exports, ABI version, kind, initialization with its
// configuration — and returns a Plugin: a slot holding the active version, a pool of
// pre-created instances on a channel (grown on demand to a bound) and the previous version
// for Rollback. Swap replaces the module atomically; calls in flight finish on the old one.
//
// Calls cost what the ABI measurement promised: inputs are written straight into a buffer
// in the instance's memory, calls go through CallWithStack with a reused stack, answers
// are read in place; a hook allocates nothing on the host per call. Deadlines are enforced
// without a goroutine per call: modules are instrumented at load with a checkpoint at
// every loop head and function entry that, every few thousand passes, calls back into the
// host — a Go safepoint, without which a looping module would stall the garbage collector
// and the whole gateway with it — where a call past its deadline is ended (instrument.go
// says why). Memory is bounded per instance, and the call stack per call: around every
// call the rewriter charges the caller's frame, as bounded, to a depth global and ends a
// call that goes past PluginConfig.StackLimit (default 16 MiB), so that a recursion holds
// at most some 21 MB of the host's memory where wazero alone let it take 150 MB
// (instrument.go). A module gets no filesystem, network, environment or arguments, real
// clocks only if it is a hook, and stdout and stderr go to the log within a per-call
// budget.
//
// A call that traps, runs past its deadline, its memory or its stack, errs or answers
// something the ABI does not allow fails alone: a broken instance is discarded and
// replaced in the background, the failure is counted in Status and logged (once a second
// at most), and the slot's Policy decides — fail what the call was for, skip the plugin,
// or fall back to the built-in strategy. A plugin failing QuarantineAfter times in a row
// is quarantined: its calls go straight to the policy until Swap, Rollback or Resume.
//
// The adapters are AllocateStrategy, SendHook, ConsumeHook and RPCHook.
package host
