package host

import (
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/internal/leb128"
	"github.com/mqgate/mqgate/sdk/abi"
)

// Why instrument: a module that loops must be stoppable, and its loop must not stall the
// gateway. wazero stops a runaway module only when compiled WithCloseOnContextDone, and
// then every call, deadline or not, starts a goroutine and allocates a channel to watch
// the context: ~300 ns and 3 allocations per call here, fifteen times the call itself.
// Worse, code compiled from WebAssembly has no Go safepoints: while a module loops,
// Go's garbage collector cannot stop the world, and every goroutine waits for it (the
// goroutine that would stop the loop included).
//
// So the host rewrites every module before compiling it. It adds a mutable i32 global,
// the budget (exported as budgetExport), an import of the host function mqgate.yield
// (appended to the imports, so that every defined function's index moves up by one and
// every reference to one is renumbered), and, at the entry of every function, the head
// of every loop and along straight-line code, the checkpoint
//
//	budget = budget - 1
//	if budget < 1 { call mqgate.yield }
//
// yield is Go code: a safepoint where the collector can stop the goroutine. It refills
// the budget and fails the call (a panic, which wazero turns into an error) when it is
// past its deadline. A checkpoint is a load, a store and a predictable branch; yield
// runs once every yieldEvery checkpoints, some tens of microseconds of execution.
//
// Function entries and loop heads alone left straight-line code uncounted: a loop whose
// body was 2^17 divisions in a row (a 393 KiB module; the size limit allows eighty
// times that) passed one checkpoint an iteration, a millisecond, and so ran eight
// seconds past a 10 ms deadline, the collector and every goroutine waiting on it. So the
// rewriter also counts instructions, and adds a checkpoint before one that a path could
// reach after more than straightRun since the last checkpoint. The count at an
// instruction is the most over the paths that reach it: a forward branch carries its
// count to the end of its block, where it meets the others; a backward branch goes to a
// loop head, which has a checkpoint; code after a branch, until the end of its block, is
// reached by none. Instructions that only mark out blocks count for nothing, and a call
// for what its callee runs before its own first checkpoint. A checkpoint takes nothing
// from the operand stack and leaves it as it was, so it is valid between any two
// instructions, inside any block, in code no path reaches. A function so runs at most
// straightRun instructions past its last checkpoint, its callees' before their first
// included, and a call about yieldEvery times as many between two yields: a million
// instructions, a millisecond or so (several of slow ones, such as divisions). On the Go
// plugins of the benchmarks this adds a checkpoint a message at most. A return passes no
// checkpoint: a deep recursion unwinds running the code after each frame's call, its
// descent having passed one checkpoint a frame. A million frames ending with 247 square
// roots each unwound for 1.5 s, the collector waiting. So the code after a call that may
// recurse (to a function that calls, or through a table) counts as reached after
// straightRun-tailRun: a frame's unwinding runs at most tailRun instructions before a
// checkpoint, and a recursion's unwinding without one at most tailRun times its depth,
// which the stack limit bounds (below; tens of thousands of the smallest frames).
//
// A function that calls nothing cannot recurse, and one that opens with a loop (as most
// Go functions do: their resumption loop) meets the loop head's checkpoint at once:
// either goes without its entry checkpoint, one too many on every call, if it runs at
// most shortRun instructions before its first checkpoint (entryRun).
//
// An instruction whose cost grows with an operand (memory.fill, memory.copy,
// memory.init and their table counterparts) is charged by it: one unit of budget per
// 1<<bulkShift bytes or elements, spent right after it, with the checkpoint's test. A
// loop around a 16 MiB memory.fill otherwise passed yieldEvery of them, seconds of work,
// between two looks at its deadline. The charge keeps its operand in a local the
// rewriter adds to the function.
//
// Tables are Go memory outside the instance's memory limit, so the rewriter bounds them
// too (maxTableElements). wazero compiles a function in time that grows with the square
// of its basic blocks: 200 KiB of blocks in a row took a minute. A br_table is a block
// (a trampoline) for each of its targets: one of 2^20 targets (1 MiB) took two and a
// half minutes, 800 of 800 each twelve seconds. The rewriter counts them and refuses a
// module past maxFlow; and it spends 20 ns and 8 bytes on a local, which a module
// declares in bytes by the million: it refuses past maxLocals. So too types, functions,
// tables, globals, element and data segments and the rest, each of which costs wazero
// Go memory, most of them in every instance (maxTypes and the others): 2 MiB of empty
// tables took 77 MB and 57 ms an instance.
//
// A module's call stack is Go memory outside its memory limit: wazero's compiler keeps a
// call's stack in a []byte that it doubles while it is short, up to past 50 MB, so a
// recursion without end held some 150 MB (the old stack and its copy) before wazero
// trapped, in every instance, and a deep call that returned left its entry point's stack
// grown for good. wazero has no option to bound it; the rewriter does. It adds a second
// mutable i32 global, the depth (exported as depthExport): the sum of the bounds, in
// bytes, of the frames of the running call below the top. Around every call of a
// defined function or through a table, the caller adds its frame's bound to the depth,
// traps past the limit (depth = -1, then unreachable, which guest.classify tells from
// other traps), and takes it off when the callee returns. Charges and refunds pair up, so a return, by
// whatever path, needs nothing, a call from the host finds the depth at 0 and leaves it
// so, and an export need not be told from other functions; a function pays only for the
// calls it makes. (Charging on entry instead, with the sum kept in a local for the calls,
// cost as much, and needed a wrapper for each export the module also calls, to start
// the depth.) A tail call needs nothing: its callee's frame replaces the caller's, which
// is not charged. A throw skips refunds, which only overcharges (neither proposal is among
// the core features the host compiles). The frame on top, which makes no call, is not
// charged; one over leafSlack checks on entry that it fits. So a call's stack is at most
// the limit (PluginConfig.StackLimit, default 16 MiB) and leafSlack; wazero's []byte for
// it grows to 21 MB at most, 31 MB with the copy it grows from. A trap discards the
// instance and its stacks; a deep call that returns leaves its entry point's stack
// grown, 21 MB at most. A charge and its refund are two loads, two stores, an add, a
// subtraction and a branch: 35 ns (8%) more on a Go hook's single call, whose Go code
// calls much, 2% batched, and nothing measurable on a C hook's or one without a language
// runtime (BenchmarkSendHook).
//
// The bound of a frame has to hold for what wazero's compiler (wazevo) makes of a
// function, and a frame is not the function's locals and operands: wazevo gives every
// value it spills a stack slot of its own for the whole function, and builds SSA form,
// where a local set inside a block, if or loop takes a value of its own (a phi) where
// the block's paths meet. A frame so grows with the values a function computes: 100
// loops nested around 100 locals make a frame of 78 KB of 2 KB of code, where a bound of
// the locals and the operand stack's height would be 1 KB. So the bound (stack.go)
// counts a stack slot for every value a function may compute: each instruction's result
// by its type (4 bytes for an i32, 16 for a vector) but those of constants, which the
// compiler inlines, and of locals, whose values are computed elsewhere; a memory
// access's address; a call's results; a block's values; for each local set inside a
// block, a phi of it; the memory's base and length where they may be loaded afresh;
// then the callee-saved registers, a call's arguments on the stack and the return
// address. TestFrameBoundCoversWazerosFrames measures wazevo's frames against it: 56
// bytes of frame to 392 of bound for the smallest recursion, a third of it for frames of
// spilled locals or operands, 93% for the nested loops. The bound is generous with Go's
// code, whose frames are small because nothing lives across its calls: a Go hook's call
// needs some 290 KB of the limit where it uses 20 KB, and the redactor's body nested 512
// deep, the most it scans, 5.8 MB (11 KB a level, of some 220 bytes used), which sets the
// default: it fits in half of it. A C hook's call needs 6 KB, of 0.3 KB used.
//
// The rewriter decodes every instruction, so it refuses what it cannot decode (the
// threads and GC proposals), a start function (which would run during instantiation,
// before the host can reach the instance) and code that names the added global.

// budgetExport is the export name of the budget global; yieldImport the name of the
// host function the checkpoints call, in module abi.HostModule. straightRun is the most
// instructions a function runs between two checkpoints; shortRun the most one without an
// entry checkpoint runs before its first; tailRun the most after a call that may recurse.
const (
	budgetExport = "mqgate_budget"
	yieldImport  = "yield"
	yieldEvery   = 1 << 12
	bulkShift    = 8
	straightRun  = 256
	shortRun     = 32
	tailRun      = 32

	// maxTableElements bounds the references a module's tables hold together (8 MiB); Go
	// plugins have one table of some 6,000.
	maxTableElements = 1 << 20

	// maxFlow bounds the sum over a module's functions of the square of their basic
	// blocks (rewriter.blocks), in proportion to which wazero's compiler takes time
	// (its dominator and loop passes walk chains as long as a function's blocks): 2 to
	// 25 ns a unit, some 10 s at the bound (800 functions of 800 br_table targets each,
	// 2^29: 11.7 s). The built-in Go plugins come to some 50 million (15 without their
	// br_tables' targets); a Go plugin of 4.8 MB with encoding/json, encoding/xml,
	// regexp, math/big and net/url to 76 million, one of 7 MB to 102 million: the bound
	// leaves such plugins room to grow five times.
	maxFlow = 1 << 29

	// maxLocals bounds the locals (parameters included) of a module's functions together:
	// wazero's compiler spends some 20 ns and 8 bytes on each, and a local costs a byte to
	// declare, a million of them four. A Go plugin's come to some 9,000, 20 at most in a
	// function.
	maxLocals = 1 << 22

	// The most a module may declare of each kind. wazero spends Go memory on each, outside
	// the instance's memory limit, when it compiles the module and, for most kinds, in
	// every instance again; a declaration costs the module a few bytes. Measured: 100 to
	// 300 bytes a type, function, import or export, and a few microseconds a type or
	// function, to compile; 110 bytes and 80 ns a table, 90 a global, 40 an entry of a
	// passive element segment, 24 a data segment, in every instance. So a bound costs at
	// most some 60 MB to compile (functions) and 13 MB an instance (data segments), all
	// of them together about twice that. A Go plugin declares 14 types, 16 imports,
	// 2,300 functions and element entries, 1 table, 8 globals, 13 exports and 11 data
	// segments a KiB of module (39,000).
	maxTypes        = 1 << 16
	maxImports      = 1 << 10
	maxFunctions    = 1 << 18
	maxTables       = 1 << 10
	maxGlobals      = 1 << 14
	maxExports      = 1 << 14
	maxElements     = 1 << 17 // segments and their entries, together
	maxDataSegments = 1 << 19
)

// tooMany is the error of a module that declares n of what, over max.
func tooMany(n, max uint32, what string) error {
	return fmt.Errorf("module declares %d %s, over the %d the host allows", n, what, max)
}

// declBounds bounds the entries of the sections that open with their count.
var declBounds = map[byte]struct {
	max  uint32
	what string
}{
	secType: {maxTypes, "types"}, secImport: {maxImports, "imports"}, secFunction: {maxFunctions, "functions"},
	secTable: {maxTables, "tables"}, secGlobal: {maxGlobals, "globals"}, secExport: {maxExports, "exports"},
	secData: {maxDataSegments, "data segments"},
}

// instrumented is a module after instrumentation, with what the rewriter learnt of it.
type instrumented struct {
	wasm    []byte
	imports []importEntry
	// minPages is the initial size of the module's memory, in 64 KiB pages.
	minPages uint32
	hasStart bool
	flow     int64 // the sum of the squares of the functions' basic blocks (maxFlow)
}

type importEntry struct {
	module, name string
	kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
}

func (i importEntry) String() string { return i.module + "." + i.name }

// instrument returns wasm with the budget global, the yield import and the checkpoints
// added, and the depth global and its charges, which bound the module's stack to
// stackLimit bytes (stack.go). Its errors say what is wrong and where, for a LoadError.
func instrument(wasm []byte, stackLimit int) (*instrumented, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, errNotWasm
	}
	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	r := reader{b: wasm, off: 8}
	lastRank := 0
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("section at offset %d: %w", r.off, r.err)
		}
		if id != secCustom {
			rank, ok := sectionRank[id]
			if !ok {
				return nil, fmt.Errorf("unknown section id %d", id)
			}
			if rank <= lastRank {
				return nil, fmt.Errorf("section %d out of order or repeated", id)
			}
			lastRank = rank
		}
		sections = append(sections, section{id, body})
	}

	out := &instrumented{}
	var (
		types                        uint32 // entries of the type section
		voidType                     = -1   // index of the type () -> (), if any
		typeParams                   []uint32
		sigs                         []signature // by type
		globalSizes                  []uint8     // of the imported globals' values
		funcTypes                    []uint32    // by function, imports first
		funcImports, importedGlobals uint32
		definedGlobals               uint32
		hasExports                   bool
	)
	for _, s := range sections {
		sr := reader{b: s.body}
		if b, ok := declBounds[s.id]; ok {
			peek := sr
			if n := peek.count(); n > b.max {
				return nil, tooMany(n, b.max, b.what)
			}
		}
		switch s.id {
		case secType:
			types = sr.count()
			for i := range types {
				if form := sr.byte(); form != 0x60 {
					return nil, fmt.Errorf("type %d: unsupported form 0x%02X", i, form)
				}
				params := sr.count()
				start := sr.off
				for range params {
					sr.valType()
				}
				sig := signature{params: sr.b[start:sr.off]}
				typeParams = append(typeParams, params)
				results := sr.count()
				start = sr.off
				for range results {
					sr.valType()
				}
				sig.results = sr.b[start:sr.off]
				sigs = append(sigs, sig.sized())
				if params == 0 && results == 0 && voidType < 0 {
					voidType = int(i)
				}
			}
		case secImport:
			for range sr.count() {
				e := importEntry{module: sr.name(), name: sr.name(), kind: sr.byte()}
				switch e.kind {
				case 0:
					funcTypes = append(funcTypes, sr.u32())
					funcImports++
				case 1:
					sr.byte()
					sr.limits()
				case 2:
					sr.limits()
				case 3:
					globalSizes = append(globalSizes, valueSize(sr.byte()))
					sr.byte()
					importedGlobals++
				case 4:
					sr.byte()
					sr.u32()
				default:
					return nil, fmt.Errorf("import %s: unknown kind %d", e, e.kind)
				}
				out.imports = append(out.imports, e)
			}
		case secFunction:
			for range sr.count() {
				funcTypes = append(funcTypes, sr.u32())
				if sr.err != nil {
					break
				}
			}
		case secMemory:
			if sr.u32() > 0 {
				sr.byte()
				out.minPages = sr.u32()
			}
		case secGlobal:
			definedGlobals = sr.count()
		case secExport:
			hasExports = true
			for range sr.count() {
				if name := sr.name(); name == budgetExport || name == depthExport {
					return nil, fmt.Errorf("module already exports %q, a name the host reserves", name)
				}
				sr.byte()
				sr.u32()
			}
		case secStart:
			out.hasStart = true
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
	}
	if !hasExports {
		return nil, errors.New("module exports nothing")
	}
	if out.hasStart {
		return out, nil // refused by the caller, which names the reason
	}

	rw := rewriter{
		shiftFrom: funcImports,                      // defined functions move up by one
		yield:     funcImports,                      // the added import's index
		budget:    importedGlobals + definedGlobals, // the added globals' indices
		nGlobals:  importedGlobals + definedGlobals,
		stack: stack{depth: importedGlobals + definedGlobals + 1, stackLimit: uint32(stackLimit),
			sigs: sigs, funcTypes: funcTypes, globalSizes: globalSizes},
	}
	for _, t := range funcTypes {
		if t >= uint32(len(typeParams)) {
			return nil, fmt.Errorf("function type %d out of range", t)
		}
	}
	for _, t := range funcTypes[funcImports:] {
		rw.params = append(rw.params, typeParams[t])
	}
	yieldType := uint32(voidType)
	if voidType < 0 {
		yieldType = types
	}
	rw.checkpoint = rw.makeCheckpoint()

	w := append([]byte(nil), wasm[:8]...)
	emit := func(id byte, body []byte) {
		w = append(w, id)
		w = leb128.AppendU32(w, uint32(len(body)))
		w = append(w, body...)
	}
	// The added globals: mutable i32s, a full budget and a depth of 0.
	newGlobals := append([]byte{0x7F, 0x01, 0x41}, leb128.AppendS64(nil, yieldEvery)...)
	newGlobals = append(newGlobals, 0x0B, 0x7F, 0x01, 0x41, 0x00, 0x0B)
	yieldEntry := appendName(appendName(nil, abi.HostModule), yieldImport)
	yieldEntry = leb128.AppendU32(append(yieldEntry, 0x00), yieldType)
	added := map[byte]bool{}
	// addBefore emits the sections the module lacks ahead of the first section that must
	// follow them.
	addBefore := func(rank int) {
		if !added[secType] && voidType < 0 && rank > sectionRank[secType] {
			added[secType] = true
			emit(secType, append(leb128.AppendU32(nil, 1), 0x60, 0x00, 0x00))
		}
		if !added[secImport] && rank > sectionRank[secImport] {
			added[secImport] = true
			emit(secImport, append(leb128.AppendU32(nil, 1), yieldEntry...))
		}
		if !added[secGlobal] && rank > sectionRank[secGlobal] {
			added[secGlobal] = true
			emit(secGlobal, append(leb128.AppendU32(nil, 2), newGlobals...))
		}
	}
	for _, s := range sections {
		if s.id != secCustom {
			addBefore(sectionRank[s.id])
		}
		var body []byte
		var err error
		switch s.id {
		case secType:
			added[secType] = true
			body = s.body
			if voidType < 0 {
				body = appendVec(s.body, []byte{0x60, 0x00, 0x00})
			}
		case secImport:
			added[secImport] = true
			body = appendVec(s.body, yieldEntry)
		case secGlobal:
			added[secGlobal] = true
			body, err = rw.globals(s.body, newGlobals)
		case secExport:
			body, err = rw.exports(s.body)
		case secElement:
			body, err = rw.elements(s.body)
		case secCode:
			body, err = rw.code(s.body)
		case secTable:
			body, err = rw.tables(s.body)
		case secCustom:
			if body = rw.names(s.body); body == nil {
				continue
			}
		default:
			body = s.body
		}
		if err != nil {
			return nil, err
		}
		emit(s.id, body)
	}
	addBefore(len(sectionRank) + 1) // past every known section
	out.wasm, out.flow = w, rw.flow
	return out, nil
}

// appendVec appends elem to the vector sec (count, then entries), counting it.
func appendVec(sec, elem []byte) []byte {
	r := reader{b: sec}
	n := r.u32()
	body := leb128.AppendU32(nil, n+1)
	body = append(body, sec[r.off:]...)
	return append(body, elem...)
}

// rewriter renumbers the functions a module names, past the added import, and inserts
// the checkpoints.
type rewriter struct {
	shiftFrom  uint32 // function indices from here move up by one
	yield      uint32 // function index of mqgate.yield
	budget     uint32 // global index of the budget
	nGlobals   uint32 // global indices the module may name (below budget)
	checkpoint []byte
	calls      bool     // the function being rewritten calls (directly, indirectly, by reference)
	params     []uint32 // parameters of each defined function
	scratch    uint32   // index of the local that holds a bulk instruction's length
	bulk       bool     // the function being rewritten has a bulk instruction
	ins        []byte   // the instructions of the function being rewritten

	stack // the depth and its charges (stack.go)

	// The count of straight-line instructions (see straightRun) in the function being
	// rewritten: run is the most instructions a path to here can have run since the last
	// checkpoint, -1 where none reaches (after a branch, until the end of its block);
	// labels are the blocks open here, innermost last, the function's body first; size
	// counts the instructions of the function.
	run    int
	labels []label
	size   int
	locals int // where the instructions of the function start, past its locals

	// blocks counts the basic blocks of the function being rewritten, checkpoints
	// included (blocks, loops, ifs, conditional branches, br_table targets); flow sums
	// their squares over the functions rewritten (maxFlow).
	blocks int
	flow   int64
	// declared counts the locals (parameters included) of the function being rewritten,
	// allLocals those of the functions read so far (maxLocals).
	declared, allLocals uint64

	// entry is what each defined function runs before its first checkpoint, -1 for one
	// that has its entry checkpoint (entryRun); anyEntry the most of them.
	entry    []int
	anyEntry int
	// leaf tells of each defined function whether it calls nothing (so cannot recurse).
	leaf []bool
}

// label is a block open around the instruction being rewritten.
type label struct {
	loop bool // a branch to a loop goes back to its head, which has a checkpoint
	// open is the position (rewriter.pos) of the instruction that opened the block, for
	// the bound of its phis (rewriter.assign).
	open int32
	// end is the most instructions since a checkpoint with which a branch (or an if's
	// then-arm, at its else) reaches the end of the block, -1 if none; skip the count on
	// the path past an if's condition that skips its then-arm (-1 for other blocks, and
	// for an if once its else is reached).
	end, skip int
}

// weight is what the instruction at r counts for among straight-line instructions:
// nothing for those that only mark out blocks, 1 for others, and for a call what the
// callee runs before its first checkpoint (for a call through a table or a reference,
// the most any function does) more.
func (rw *rewriter) weight(r *reader) int {
	switch op := r.b[r.off]; op {
	case 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x0B, 0x18, 0x19, 0x1F:
		return 0 // nop, block, loop, else, try, catch, end, delegate, catch_all, try_table
	case 0x10, 0x12: // call, return_call
		ir := reader{b: r.b, off: r.off + 1}
		if i := ir.u32(); i < rw.shiftFrom {
			return 1 // an import: the host's
		} else if i -= rw.shiftFrom; i < uint32(len(rw.entry)) {
			return 1 + max(rw.entry[i], 0)
		}
		return 1 + shortRun // the first pass, or an index out of range
	case 0x11, 0x13, 0x14, 0x15: // call_indirect, return_call_indirect, call_ref, return_call_ref
		return 1 + rw.anyEntry
	}
	return 1
}

// returned counts what follows a call to function i (an index out of range for a call
// through a table or a reference) as the tail of a frame that a deep recursion's
// unwinding runs without passing a checkpoint: at most tailRun instructions before the
// next, unless i is the host's or calls nothing.
func (rw *rewriter) returned(i uint32) {
	if i < rw.shiftFrom {
		return // an import: the host's
	}
	if i -= rw.shiftFrom; i < uint32(len(rw.leaf)) && rw.leaf[i] {
		return
	}
	if rw.run >= 0 {
		rw.run = max(rw.run, straightRun-tailRun)
	}
}

// branch notes a branch to the label of depth l from here.
func (rw *rewriter) branch(l uint32) {
	if l < uint32(len(rw.labels)) {
		if b := &rw.labels[len(rw.labels)-1-int(l)]; !b.loop {
			b.end = max(b.end, rw.run)
		}
	}
}

func (rw *rewriter) fn(i uint32) uint32 {
	if i >= rw.shiftFrom {
		return i + 1
	}
	return i
}

func (rw *rewriter) makeCheckpoint() []byte {
	b := leb128.AppendU32([]byte{0x23}, rw.budget) // global.get $budget
	b = append(b, 0x41, 0x01, 0x6B)                // i32.const 1, i32.sub
	b = leb128.AppendU32(append(b, 0x24), rw.budget)
	b = leb128.AppendU32(append(b, 0x23), rw.budget)
	b = append(b, 0x41, 0x01, 0x48, 0x04, 0x40)     // i32.const 1, i32.lt_s, if
	b = leb128.AppendU32(append(b, 0x10), rw.yield) // call $yield
	return append(b, 0x0B)                          // end
}

// appendBulkCharge appends what follows a bulk instruction whose length is in the scratch
// local: budget -= length >> shift, and the checkpoint's test. The test right after each
// charge keeps the budget from wrapping around however many bulk instructions run
// straight.
func (rw *rewriter) appendBulkCharge(b []byte, shift byte) []byte {
	b = leb128.AppendU32(append(b, 0x23), rw.budget)  // global.get $budget
	b = leb128.AppendU32(append(b, 0x20), rw.scratch) // local.get $scratch
	b = append(b, 0x41, shift, 0x76, 0x6B)            // i32.const shift, i32.shr_u, i32.sub
	b = leb128.AppendU32(append(b, 0x24), rw.budget)
	return append(b, rw.checkpointTest()...)
}

// checkpointTest is the tail of the checkpoint from its reading of the budget: if budget
// < 1 { call $yield }.
func (rw *rewriter) checkpointTest() []byte {
	b := leb128.AppendU32([]byte{0x23}, rw.budget)
	b = append(b, 0x41, 0x01, 0x48, 0x04, 0x40)
	b = leb128.AppendU32(append(b, 0x10), rw.yield)
	return append(b, 0x0B)
}

// globals appends the budget and the depth to the global section, renumbering functions
// in the initializers, and notes the globals' sizes.
func (rw *rewriter) globals(sec, newGlobals []byte) ([]byte, error) {
	r := reader{b: sec}
	n := r.count()
	out := leb128.AppendU32(nil, n+2)
	for i := range n {
		start := r.off
		r.valType()
		if start < len(sec) {
			rw.globalSizes = append(rw.globalSizes, valueSize(sec[start]))
		}
		r.byte() // mutability
		out = append(out, sec[start:r.off]...)
		var err error
		if out, err = rw.constExpr(out, &r); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	if r.err != nil || r.off != len(sec) {
		return nil, errors.New("global section: malformed")
	}
	return append(out, newGlobals...), nil
}

// exports renumbers exported functions and exports the budget and the depth.
func (rw *rewriter) exports(sec []byte) ([]byte, error) {
	r := reader{b: sec}
	n := r.count()
	out := leb128.AppendU32(nil, n+2)
	for range n {
		name := r.name()
		kind := r.byte()
		idx := r.u32()
		if kind == 0 {
			idx = rw.fn(idx)
		}
		out = leb128.AppendU32(append(appendName(out, name), kind), idx)
	}
	if r.err != nil {
		return nil, fmt.Errorf("export section: %w", r.err)
	}
	out = leb128.AppendU32(append(appendName(out, budgetExport), 0x03), rw.budget)
	return leb128.AppendU32(append(appendName(out, depthExport), 0x03), rw.depth), nil
}

// tables refuses table initializers (typed function references), which would name
// functions, and bounds the tables: together they may hold at most maxTableElements
// references, each table's maximum lowered to what the tables before it left. Tables are
// Go memory outside the instance's memory limit: without a maximum, one table.grow
// asked wazero for 2^31 references, 16 GiB, and a module could declare any number of
// tables of 2^27 references each.
func (rw *rewriter) tables(sec []byte) ([]byte, error) {
	r := reader{b: sec}
	n := r.count()
	out := leb128.AppendU32(nil, n)
	var left uint32 = maxTableElements
	for i := range n {
		if r.off < len(sec) && sec[r.off] == 0x40 {
			return nil, errors.New("table with an initializer expression: unsupported")
		}
		refType, flags, least := r.byte(), r.byte(), r.u32()
		max := left
		switch flags {
		case 0x00:
		case 0x01:
			max = min(r.u32(), left)
		default:
			return nil, fmt.Errorf("table %d: unsupported limits flags 0x%02X", i, flags)
		}
		if r.err != nil {
			break
		}
		if least > max {
			return nil, fmt.Errorf("table %d: %d elements at start: tables may hold %d in all", i, least, maxTableElements)
		}
		left -= max
		out = leb128.AppendU32(leb128.AppendU32(append(out, refType, 0x01), least), max)
	}
	if r.err != nil || r.off != len(sec) {
		return nil, errors.New("table section: malformed")
	}
	return out, nil
}

// elements renumbers the functions of element segments.
func (rw *rewriter) elements(sec []byte) ([]byte, error) {
	r := reader{b: sec}
	n := r.count()
	out := leb128.AppendU32(nil, n)
	declared := n // segments and their entries (maxElements)
	for i := range n {
		flags := r.u32()
		out = leb128.AppendU32(out, flags)
		if flags > 7 {
			return nil, fmt.Errorf("element segment %d: unknown flags %d", i, flags)
		}
		var err error
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			out = leb128.AppendU32(out, r.u32())
		}
		if flags&1 == 0 { // active: an offset expression
			if out, err = rw.constExpr(out, &r); err != nil {
				return nil, fmt.Errorf("element segment %d: %w", i, err)
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			out = append(out, r.byte())
		}
		count := r.count()
		if declared += count; declared > maxElements {
			return nil, tooMany(declared, maxElements, "element segments and entries")
		}
		out = leb128.AppendU32(out, count)
		for range count {
			if flags&4 == 0 {
				out = leb128.AppendU32(out, rw.fn(r.u32()))
			} else if out, err = rw.constExpr(out, &r); err != nil {
				return nil, fmt.Errorf("element segment %d: %w", i, err)
			}
		}
	}
	if r.err != nil || r.off != len(sec) {
		return nil, errors.New("element section: malformed")
	}
	return out, nil
}

// constExpr copies a constant expression, renumbering ref.func.
func (rw *rewriter) constExpr(out []byte, r *reader) ([]byte, error) {
	for {
		op := r.byte()
		if r.err != nil {
			return nil, r.err
		}
		switch {
		case op == 0x0B:
			return append(out, op), nil
		case op == 0xD2:
			out = leb128.AppendU32(append(out, op), rw.fn(r.u32()))
		case op == 0x23:
			i := r.u32()
			if i >= rw.nGlobals {
				return nil, fmt.Errorf("global index %d out of range", i)
			}
			out = leb128.AppendU32(append(out, op), i)
		case op == 0x41 || op == 0x42 || op == 0xD0:
			start := r.off
			r.s64()
			out = append(append(out, op), r.b[start:r.off]...)
		case op == 0x43:
			out = append(append(out, op), r.bytes(4)...)
		case op == 0x44:
			out = append(append(out, op), r.bytes(8)...)
		case op == 0x6A || op == 0x6B || op == 0x6C || op == 0x7C || op == 0x7D || op == 0x7E: // extended const
			out = append(out, op)
		default:
			return nil, fmt.Errorf("unsupported instruction 0x%02X in a constant expression", op)
		}
	}
}

// names renumbers the function and local names of a "name" custom section; any other
// custom section is kept as it is. A name section it cannot read is dropped (nil).
func (rw *rewriter) names(sec []byte) []byte {
	r := reader{b: sec}
	if r.name() != "name" || r.err != nil {
		return sec
	}
	out := append([]byte(nil), sec[:r.off]...)
	for r.off < len(sec) {
		id := r.byte()
		body := r.bytes(int(r.u32()))
		if r.err != nil {
			return nil
		}
		if id == 1 || id == 2 {
			br := reader{b: body}
			n := br.count()
			nb := leb128.AppendU32(nil, n)
			for range n {
				nb = leb128.AppendU32(nb, rw.fn(br.u32()))
				if id == 1 {
					nb = appendName(nb, br.name())
					continue
				}
				m := br.count()
				nb = leb128.AppendU32(nb, m)
				for range m {
					nb = appendName(leb128.AppendU32(nb, br.u32()), br.name())
				}
			}
			if br.err != nil {
				return nil
			}
			body = nb
		}
		out = append(leb128.AppendU32(append(out, id), uint32(len(body))), body...)
	}
	return out
}

// code rewrites the code section: the checkpoints, functions renumbered. It reads the
// section twice: first to learn what each function runs before its first checkpoint,
// which a call to it counts for in its caller (straightRun), then to rewrite it.
func (rw *rewriter) code(sec []byte) ([]byte, error) {
	var out, body []byte
	rw.entry, rw.anyEntry, rw.leaf, rw.allLocals = rw.entry[:0], 0, rw.leaf[:0], 0
	for pass := range 2 {
		r := reader{b: sec}
		n := r.count()
		if pass == 1 {
			out = leb128.AppendU32(make([]byte, 0, len(sec)+len(sec)/4), n)
		}
		for f := range n {
			size := r.u32()
			fb := r.bytes(int(size))
			if r.err != nil {
				return nil, fmt.Errorf("code of function %d: %w", f, r.err)
			}
			var err error
			if pass == 0 {
				if body, err = rw.function(body[:0], f, fb, false); err != nil {
					return nil, err
				}
				if rw.allLocals += rw.declared; rw.allLocals > maxLocals {
					return nil, fmt.Errorf("function %d (of the code section) has %d locals: the functions so far have %d, over the %d the host compiles", f, rw.declared, rw.allLocals, maxLocals)
				}
				rw.entry = append(rw.entry, rw.entryRun(fb[rw.locals:]))
				rw.leaf = append(rw.leaf, !rw.calls)
				rw.anyEntry = max(rw.anyEntry, rw.entry[f])
				continue
			}
			if body, err = rw.function(body[:0], f, fb, rw.entry[f] < 0); err != nil {
				return nil, err
			}
			if rw.flow += int64(rw.blocks) * int64(rw.blocks); rw.flow > maxFlow {
				return nil, fmt.Errorf("function %d (of the code section) has %d basic blocks: the functions so far have %d squared in all, over the %d that compile in seconds", f, rw.blocks, rw.flow, int64(maxFlow))
			}
			out = leb128.AppendU32(out, uint32(len(body)))
			out = append(out, body...)
		}
		if r.off != len(r.b) {
			return nil, errors.New("code section: trailing bytes")
		}
	}
	return out, nil
}

// function appends the rewritten code of defined function f (locals and instructions),
// with the entry checkpoint if entry and the depth's charges. It leaves in rw whether f
// calls, its size and where its instructions start.
func (rw *rewriter) function(body []byte, f uint32, fb []byte, entry bool) ([]byte, error) {
	fr := reader{b: fb}
	entries := fr.count()
	entriesEnd := fr.off
	var nLocals uint64
	if int(f) < len(rw.params) {
		nLocals = uint64(rw.params[f])
	}
	for range entries { // locals
		nLocals += uint64(fr.u32())
		fr.valType()
	}
	if fr.err != nil {
		return nil, fmt.Errorf("locals of function %d: %w", f, fr.err)
	}
	if nLocals > maxLocals { // before the bound of its frame counts them (code checks them all)
		return nil, fmt.Errorf("function %d (of the code section) has %d locals, over the %d the host compiles", f, nLocals, maxLocals)
	}
	rw.declared = nLocals
	// The locals the rewriter adds, past the function's: the frame's bound (stack.go),
	// then the length of a bulk instruction.
	rw.frameLocal, rw.scratch = uint32(nLocals), uint32(nLocals)+1
	rw.locals = fr.off
	sig := signature{}
	if t := rw.shiftFrom + f; int(t) < len(rw.funcTypes) && int(rw.funcTypes[t]) < len(rw.sigs) {
		sig = rw.sigs[rw.funcTypes[t]]
	}
	rw.startFrame(sig, fb[:rw.locals])
	rw.blocks = 0
	ins := rw.ins[:0]
	if entry {
		ins = append(ins, rw.checkpoint...)
		rw.blocks++
		rw.checkpointed()
	}
	rw.calls, rw.bulk = false, false
	var err error
	ins, err = rw.expr(ins, &fr)
	rw.ins = ins
	if err != nil {
		return nil, fmt.Errorf("function %d (of the code section), offset %d: %w", f, fr.off, err)
	}
	frame := rw.frame()
	var added uint32
	switch {
	case rw.bulk:
		added = 2
	case rw.charges || frame > leafSlack:
		added = 1
	}
	body = leb128.AppendU32(body, entries+added)
	body = append(body, fb[entriesEnd:rw.locals]...)
	for range added { // one i32 each
		body = append(body, 0x01, 0x7F)
	}
	body = rw.appendEntry(body, frame)
	return append(body, ins...), nil
}

// entryRun tells, of the function just read whose instructions are code, -1 if it keeps
// its entry checkpoint, else the most instructions it runs before its first checkpoint,
// which a call to it counts for in its caller. The entry checkpoint bounds recursion and
// what runs before the first loop: a function that calls nothing and is at most shortRun
// instructions long goes without, as does one that opens with a loop after at most
// shortRun.
func (rw *rewriter) entryRun(code []byte) int {
	if n := opensWithLoop(code); n >= 0 {
		return n
	}
	if !rw.calls && rw.size <= shortRun {
		return rw.size
	}
	return -1
}

// opensWithLoop tells how many instructions code runs before a loop head it reaches on
// every path from its start, if at most shortRun, else -1: straight-line instructions
// (opening blocks, reading and writing locals and globals, constants) before the first
// loop, no branch, call or end that could leave before it.
func opensWithLoop(code []byte) int {
	r := reader{b: code}
	for n := 0; n <= shortRun && r.off < len(r.b); {
		switch op := r.byte(); op {
		case 0x03: // loop
			if r.err != nil {
				return -1
			}
			return n
		case 0x02: // block
			r.blockType()
			continue
		case 0x20, 0x21, 0x22, 0x23, 0x24: // local.get/set/tee, global.get/set
			r.u32()
		case 0x41, 0x42: // i32.const, i64.const
			r.s64()
		default:
			return -1
		}
		n++
	}
	return -1
}

// expr copies the instructions of r to out, renumbering functions and inserting the
// checkpoint after each loop's block type and wherever a path could otherwise run more
// than straightRun instructions since the last checkpoint.
func (rw *rewriter) expr(out []byte, r *reader) ([]byte, error) {
	rw.run, rw.size = 0, 0
	rw.labels = append(rw.labels[:0], label{end: -1, skip: -1})
	charged := false // the instruction is a call the frame is charged around
	for r.off < len(r.b) {
		start := r.off
		op := r.b[r.off]
		if w := rw.weight(r); w > 0 {
			rw.size += w
			if rw.run+w > straightRun {
				out = append(out, rw.checkpoint...)
				rw.blocks++
				rw.checkpointed()
				rw.run = 0
			}
			if rw.run >= 0 {
				rw.run += w
			}
		}
		r.off++
		rw.pos++
		rw.spills += int64(opBytes[op])
		switch {
		case op >= 0x28 && op <= 0x3E || op == 0xFC || op == 0xFD: // loads, stores, bulk, vectors
			rw.accesses++
		case op == 0x40: // memory.grow
			rw.reloads++
		}
		switch {
		case op == 0x10 || op == 0x12 || op == 0xD2: // call, return_call, ref.func
			rw.calls = rw.calls || op != 0xD2
			i := r.u32()
			if op == 0x12 {
				rw.run = -1
			} else if op == 0x10 {
				rw.returned(i)
			}
			if op != 0xD2 {
				rw.called(i)
			}
			charged = op == 0x10 && i >= rw.shiftFrom // a call of a defined function
			if charged {
				out = rw.appendCharge(out)
			}
			out = leb128.AppendU32(append(out, op), rw.fn(i))
			if charged {
				out, charged = rw.appendRefund(out), false
			}
			if r.err != nil {
				return nil, r.err
			}
			continue
		case op == 0x03: // loop
			rw.spills += r.blockBytes(rw.sigs)
			rw.reloads++
			if r.err != nil {
				return nil, r.err
			}
			rw.labels = append(rw.labels, label{loop: true, end: -1, skip: -1, open: rw.pos})
			if rw.run >= 0 {
				rw.run = 0
			}
			out = append(append(out, r.b[start:r.off]...), rw.checkpoint...)
			rw.blocks += 2
			rw.checkpointed()
			continue
		case op == 0x02 || op == 0x06: // block, try
			rw.blocks++
			rw.spills += r.blockBytes(rw.sigs)
			rw.reloads++
			rw.labels = append(rw.labels, label{end: -1, skip: -1, open: rw.pos})
		case op == 0x04: // if
			rw.blocks++
			rw.spills += r.blockBytes(rw.sigs)
			rw.reloads++
			rw.labels = append(rw.labels, label{end: -1, skip: rw.run, open: rw.pos})
		case op == 0x05: // else: the then-arm goes to the end, the else-arm starts as the if skipped
			if n := len(rw.labels); n > 1 {
				b := &rw.labels[n-1]
				b.end = max(b.end, rw.run)
				rw.run, b.skip = b.skip, -1
			}
		case op == 0x07 || op == 0x19: // catch, catch_all
			if op == 0x07 {
				r.u32()
			}
			if n := len(rw.labels); n > 1 {
				b := &rw.labels[n-1]
				b.end = max(b.end, rw.run)
			}
			// A catch is reached from wherever its try may throw: count it as reached
			// after as much straight-line code as any path may run.
			rw.run = straightRun
		case op == 0x0B || op == 0x18: // end, delegate
			if op == 0x18 {
				r.u32()
			}
			if n := len(rw.labels); n > 0 {
				b := rw.labels[n-1]
				rw.labels = rw.labels[:n-1]
				if !b.loop {
					rw.run = max(rw.run, b.end, b.skip)
				}
			}
		case op == 0x0C || op == 0x0D || op == 0xD5 || op == 0xD6: // br, br_if, br_on_null, br_on_non_null
			rw.branch(r.u32())
			if op == 0x0C {
				rw.run = -1
			} else {
				rw.blocks++
			}
		case op == 0x14 || op == 0x15: // call_ref, return_call_ref
			rw.calls = true
			rw.calledType(r.u32())
			if op == 0x15 {
				rw.run = -1
			} else {
				rw.returned(rw.shiftFrom + uint32(len(rw.leaf)))
				charged = true
				out = rw.appendCharge(out)
			}
		case op == 0x08 || op == 0x09: // throw, rethrow
			r.u32()
			rw.run = -1
		case op == 0x21 || op == 0x22: // local.set, local.tee
			rw.assign(r.u32())
		case op == 0x20 || op == 0x25 || op == 0x26: // local.get, table.get/set
			r.u32()
		case op == 0x23 || op == 0x24: // global.get, global.set
			i := r.u32()
			if i >= rw.nGlobals {
				return nil, fmt.Errorf("global index %d out of range", i)
			}
			if op == 0x23 {
				rw.spills += int64(rw.globalSize(i))
			}
		case op == 0x0E: // br_table: to wazero, a block for each target (a trampoline)
			n := r.count()
			rw.blocks += int(n) + 2
			for range n {
				rw.branch(r.u32())
			}
			rw.branch(r.u32())
			rw.run = -1
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			rw.calls = true
			rw.calledType(r.u32())
			r.u32()
			if op == 0x13 {
				rw.run = -1
			} else {
				rw.returned(rw.shiftFrom + uint32(len(rw.leaf)))
				charged = true
				out = rw.appendCharge(out)
			}
		case op == 0x1C: // select t*
			for range r.count() {
				r.valType()
			}
		case op == 0x1F: // try_table
			rw.spills += r.blockBytes(rw.sigs)
			rw.reloads++
			catches := r.count()
			for range catches {
				if kind := r.byte(); kind <= 1 {
					r.u32()
				}
				r.u32()
			}
			rw.labels = append(rw.labels, label{end: -1, skip: -1, open: rw.pos})
			if catches > 0 {
				// Its catches branch to their labels from wherever the body may throw:
				// as if from as much straight-line code as any.
				for i := range rw.labels {
					rw.labels[i].end = straightRun
				}
			}
		case op >= 0x28 && op <= 0x3E:
			r.memArg()
		case op == 0x3F || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41 || op == 0x42 || op == 0xD0: // i32.const, i64.const, ref.null
			r.s64()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0xFC:
			sub := reader{b: r.b, off: r.off}
			if err := r.prefixFC(); err != nil {
				return nil, err
			}
			var shift byte
			switch sub.u32() {
			case 8, 10, 11: // memory.init, memory.copy, memory.fill: a length in bytes
				shift = bulkShift
			case 12, 14, 17: // table.init, table.copy, table.fill: a count of references
				shift = bulkShift - 3
			default:
				out = append(out, r.b[start:r.off]...)
				continue
			}
			rw.bulk = true
			rw.blocks++
			rw.charged()
			rw.assign(rw.scratch)
			out = leb128.AppendU32(append(out, 0x22), rw.scratch) // local.tee $scratch
			out = rw.appendBulkCharge(append(out, r.b[start:r.off]...), shift)
			continue
		case op == 0xFD:
			if err := r.prefixFD(); err != nil {
				return nil, err
			}
		case op == 0x00 || op == 0x0A || op == 0x0F: // unreachable, throw_ref, return
			rw.run = -1
		case op == 0x01 || op == 0x1A || op == 0x1B || op >= 0x45 && op <= 0xC4 || op == 0xD1 || op == 0xD3 || op == 0xD4:
			// no immediates
		default:
			return nil, fmt.Errorf("unsupported instruction 0x%02X", op)
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.b[start:r.off]...)
		if charged {
			out, charged = rw.appendRefund(out), false
		}
	}
	return out, nil
}
