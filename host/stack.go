package host

import (
	"runtime"
	"slices"
	"sort"

	"github.com/mqgate/mqgate/internal/leb128"
)

// The bound of a module's stack: the depth global, the bound of each function's frame,
// and the code that charges it around calls. instrument.go says why and how.

// depthExport is the export name of the depth global, which the host reads after a trap
// to tell a stack over its limit from other traps (guest.classify).
const depthExport = "mqgate_depth"

// MaxStackLimit bounds PluginConfig.StackLimit: wazero's own ceiling on a stack lies
// past 50 MB.
const MaxStackLimit = 32 << 20

// The bound of a frame, in bytes, of a function wazero's compiler (wazevo, amd64 and
// arm64) compiles: frameFixed, then a stack slot for every value the function computes
// that the compiler may spill (rewriter.spills), then its calls' arguments and results
// on the stack (callArea).
const (
	// memoryBytes: where paths meet and after a call the compiler loads the memory's base
	// and length afresh, for the accesses that follow.
	memoryBytes = 16
	// checkpointBytes, bulkBytes, chargeBytes and entryBytes are the values (i32s) a
	// checkpoint, the charge of a bulk instruction, the charge of a frame around a call
	// and the check of a large frame on entry compute.
	checkpointBytes = 4 * 4
	bulkBytes       = 5 * 4
	chargeBytes     = 6 * 4
	entryBytes      = 3 * 4

	// leafSlack is the frame a function may have and not check on entry that it fits: it
	// adds one frame to a stack, above what the depth counts.
	leafSlack = 16 << 10
)

// frameFixed is what any frame may hold: the return address and frame pointer, the
// stack check's 16 bytes, the callee-saved registers the function may clobber (16 bytes
// each), a vector's zero (the compiler inlines other constants where they are used) and
// alignment.
var frameFixed = 32 + 16*calleeSaved() + 16 + 16

// calleeSaved is how many callee-saved registers wazevo allocates: 5 and 8 vector
// registers on amd64, 9 and 14 on arm64.
func calleeSaved() int64 {
	if runtime.GOARCH == "amd64" {
		return 13
	}
	return 23
}

// valueSize is the stack slot of a value of type t: wazevo spills an i32 to 4 bytes, a
// vector to 16; a reference is a pointer.
func valueSize(t byte) uint8 {
	switch t {
	case 0x7F, 0x7D: // i32, f32
		return 4
	case 0x7B: // v128
		return 16
	}
	return 8
}

// signature is a function type, with the sizes the bound of a frame needs.
type signature struct {
	params, results []byte // value types
	// paramBytes and resultBytes are the values' slots; callBytes what a call's
	// arguments and results take on the stack at most (8 bytes a value, 16 a vector).
	paramBytes, resultBytes, callBytes int64
}

func (s signature) sized() signature {
	for _, t := range s.params {
		s.paramBytes += int64(valueSize(t))
		s.callBytes += max(8, int64(valueSize(t)))
	}
	for _, t := range s.results {
		s.resultBytes += int64(valueSize(t))
		s.callBytes += max(8, int64(valueSize(t)))
	}
	return s
}

// callArea is what a function's frame holds for a call whose arguments and results take
// bytes on the stack, with the return address and frame pointer.
func callArea(bytes int64) int64 { return 16 + 16 + bytes }

// opBytes is the slots of the values an instruction computes and the compiler may spill,
// besides those of calls, blocks and global.get, which the rewriter sizes by their types:
// its result, and a memory access's address (8 bytes, which the compiler may keep for
// later accesses). Control, locals (a local's value is one computed before, or a phi:
// rewriter.assign), drops and constants (which the compiler inlines where they are used)
// compute none; a select of unknown type and the prefixed instructions count at most.
var opBytes = func() (v [256]uint8) {
	set := func(from, to int, n uint8) {
		for op := from; op <= to; op++ {
			v[op] = n
		}
	}
	set(0x1B, 0x1C, 16) // select
	set(0x25, 0x25, 8)  // table.get
	set(0x28, 0x28, 4+8)
	set(0x29, 0x29, 8+8)
	set(0x2A, 0x2A, 4+8)
	set(0x2B, 0x2B, 8+8)
	set(0x2C, 0x2F, 4+8)
	set(0x30, 0x35, 8+8)
	set(0x36, 0x3E, 8)  // stores
	set(0x3F, 0x40, 4)  // memory.size, memory.grow
	set(0x45, 0x78, 4)  // i32 and comparisons
	set(0x79, 0x8A, 8)  // i64
	set(0x8B, 0x98, 4)  // f32
	set(0x99, 0xA6, 8)  // f64
	set(0xA7, 0xAB, 4)  // to i32
	set(0xAC, 0xB1, 8)  // to i64
	set(0xB2, 0xB6, 4)  // to f32
	set(0xB7, 0xBB, 8)  // to f64
	set(0xBC, 0xBF, 8)  // reinterpretations
	set(0xC0, 0xC4, 8)  // sign extensions
	set(0xD0, 0xD4, 8)  // references
	set(0xFC, 0xFC, 16) // saturating truncations, bulk memory and tables
	set(0xFD, 0xFD, 16+8)
	return v
}()

// stack is the rewriter's state for the depth: the module's, then the function's being
// rewritten.
type stack struct {
	depth       uint32 // global index of the depth
	stackLimit  uint32
	sigs        []signature // by type
	funcTypes   []uint32    // by function, imports first (original indices)
	globalSizes []uint8     // by global

	// frameLocal is the index of the local that holds the bound of the frame of the
	// function being rewritten; charges tells whether it charges it around a call.
	frameLocal uint32
	charges    bool
	// spills bounds the bytes of the stack slots of the values the function computes,
	// parameters and phis included; callBytes is the most a call it makes takes on the
	// stack; accesses counts its memory accesses, reloads the places it may load the
	// memory's base and length afresh; pos counts its instructions; vars tells of each
	// local its size and the position it was last assigned at.
	spills            int64
	callBytes         int64
	accesses, reloads int64
	pos               int32
	vars              []local
}

type local struct {
	lastSet int32
	size    uint8
}

// startFrame readies the bound of a function of signature sig and the locals decl
// declares (the code's vector of counts and types, read before), and the added i32s.
func (s *stack) startFrame(sig signature, decl []byte) {
	s.charges = false
	s.spills, s.callBytes, s.pos = sig.paramBytes+sig.resultBytes, 0, 0 // results: the return's phis
	s.accesses, s.reloads = 0, 1
	s.vars = s.vars[:0]
	for _, t := range sig.params {
		s.vars = append(s.vars, local{size: valueSize(t)})
	}
	r := reader{b: decl}
	for range r.count() {
		n, t := r.u32(), r.byte()
		s.vars = append(s.vars, slices.Repeat([]local{{size: valueSize(t)}}, int(n))...)
	}
	s.vars = append(s.vars, local{size: 4}, local{size: 4}) // frameLocal, scratch
}

// globalSize is the stack slot of global i's value: a vector's if it is not known.
func (s *stack) globalSize(i uint32) uint8 {
	if int(i) < len(s.globalSizes) {
		return s.globalSizes[i]
	}
	return 16
}

// called notes a direct call (or tail call) of function i.
func (rw *rewriter) called(i uint32) {
	if int(i) < len(rw.funcTypes) {
		rw.calledType(rw.funcTypes[i])
	}
}

// calledType notes a call of a function of type t: its results, its arguments on the
// stack, and the memory's base and length loaded afresh after it.
func (rw *rewriter) calledType(t uint32) {
	rw.reloads++
	if int(t) < len(rw.sigs) {
		rw.spills += rw.sigs[t].resultBytes
		rw.callBytes = max(rw.callBytes, rw.sigs[t].callBytes)
	}
}

// assign notes an assignment to a local. wazevo builds SSA form, where a local assigned
// within a block, if or loop may take a value of its own where the paths to the block's
// end (or back to the loop's head) meet: a phi, one for each local assigned within it.
// The blocks open since the local was last assigned are those that gain one.
func (rw *rewriter) assign(i uint32) {
	if int(i) >= len(rw.vars) {
		return // out of range: the module is invalid
	}
	l := &rw.vars[i]
	last := l.lastSet
	l.lastSet = rw.pos
	open := rw.labels[min(1, len(rw.labels)):] // the function's body is no block: nothing reads a local past its end
	rw.spills += int64(l.size) * int64(len(open)-sort.Search(len(open), func(i int) bool { return open[i].open > last }))
}

// checkpointed counts a checkpoint, charged a bulk instruction's charge: their values,
// and the call of yield and the end of the if around it, where the memory's base and
// length may be loaded afresh.
func (s *stack) checkpointed() { s.spills, s.reloads = s.spills+checkpointBytes, s.reloads+2 }
func (s *stack) charged()      { s.spills, s.reloads = s.spills+bulkBytes, s.reloads+2 }

// frame returns the bound of the frame of the function just read. A memory's base and
// length loaded afresh are kept for an access at least, or dropped.
func (rw *rewriter) frame() int64 {
	return frameFixed + rw.spills + memoryBytes*min(rw.accesses, rw.reloads) + entryBytes + callArea(rw.callBytes)
}

// appendCharge appends, before a call of a defined function or through a table, depth +=
// frame, and the trap past the limit: the callee's frame goes on the caller's.
func (rw *rewriter) appendCharge(b []byte) []byte {
	rw.charges = true
	rw.spills += chargeBytes
	rw.reloads++                                          // the if
	b = leb128.AppendU32(append(b, 0x23), rw.depth)       // global.get $depth
	b = leb128.AppendU32(append(b, 0x20), rw.frameLocal)  // local.get $frame
	b = leb128.AppendU32(append(b, 0x6A, 0x24), rw.depth) // i32.add, global.set $depth
	b = leb128.AppendU32(append(b, 0x23), rw.depth)
	b = leb128.AppendS64(append(b, 0x41), int64(rw.stackLimit))
	b = rw.appendTrap(append(b, 0x4B, 0x04, 0x40)) // i32.gt_u, if
	return append(b, 0x0B)
}

// appendRefund appends, after the call, depth -= frame: the callee returned.
func (rw *rewriter) appendRefund(b []byte) []byte {
	b = leb128.AppendU32(append(b, 0x23), rw.depth)
	b = leb128.AppendU32(append(b, 0x20), rw.frameLocal)
	return leb128.AppendU32(append(b, 0x6B, 0x24), rw.depth) // i32.sub, global.set $depth
}

// appendTrap appends depth = -1 (over any limit: how the host tells this trap from
// others), unreachable.
func (rw *rewriter) appendTrap(b []byte) []byte {
	b = append(b, 0x41, 0x7F) // i32.const -1
	return append(leb128.AppendU32(append(b, 0x24), rw.depth), 0x00)
}

// appendEntry appends what the function just read runs on entry: its frame's bound into
// frameLocal, if it charges it around calls or checks it, and, if the frame is over
// leafSlack, the trap if it does not fit.
func (rw *rewriter) appendEntry(b []byte, frame int64) []byte {
	w := min(frame, int64(rw.stackLimit)+1) // an i32, which the limit's bound keeps from overflowing
	if !rw.charges && frame <= leafSlack {
		return b
	}
	b = leb128.AppendS64(append(b, 0x41), w)             // i32.const w
	b = leb128.AppendU32(append(b, 0x21), rw.frameLocal) // local.set $frame
	if frame <= leafSlack {
		return b
	}
	b = leb128.AppendU32(append(b, 0x23), rw.depth)
	b = leb128.AppendU32(append(b, 0x20), rw.frameLocal)
	b = leb128.AppendS64(append(b, 0x6A, 0x41), int64(rw.stackLimit)) // i32.add, i32.const limit
	b = rw.appendTrap(append(b, 0x4B, 0x04, 0x40))
	return append(b, 0x0B)
}
