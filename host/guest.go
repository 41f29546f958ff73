package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/sdk/abi"
)

// guest is one instance of a plugin version. One goroutine at a time uses it: the one
// that took it from the pool.
type guest struct {
	// A call's fields first, together: between two calls of a hook on the send path the
	// caches forget them, and each line and each pointer followed is a wait. So the
	// memory, the stack and the context live in the guest itself, not behind pointers.
	lin        memory          // the module's memory (sandbox.go): read without a call on the hot path
	stack      []uint64        // stackWords
	stackWords [2]uint64       // the call's parameters and results
	ctx        context.Context // &gctx
	entries    [8]api.Function // by abi.Entry
	inPtr      uint32          // the guest's input buffer
	inCap      uint32
	maxOutput  uint32
	flags      uint32
	logLeft    int
	logLimit   int

	// state is idle, unclocked, the clock tick the running call's deadline counts from
	// (checkDeadline), or interrupted; limitTicks is the running call's deadline, ranTicks
	// how long an interrupted call ran. Plain fields: only the goroutine running the call
	// uses them (yield runs within it).
	state      int64
	limitTicks int64
	ranTicks   int64
	work       int         // bytes of host work since the last look at the deadline (spent)
	calls      uint64      // made on this instance, for sampling their times: only its caller uses it
	edit       lastEdit    // a send hook's last property edit, checked
	edits      editCounter // a send or consume answer's edits per message
	layout     layout      // a send or consume input being written

	v      *version
	mod    api.Module
	mem    api.Memory
	buffer api.Function
	budget api.MutableGlobal // the checkpoints' budget (instrument.go)
	depth  api.Global        // the stack's depth (stack.go), read after a trap
	gctx   guestContext

	stdout, stderr stream
	clock          *deadlineClock
	fail           failure // why the last call failed
	kind           Kind

	slot      uint64 // in its pool, + 1
	intern    intern
	scratch   []byte             // per-adapter reusable memory (bitsets, fields)
	rpcFields remoting.ExtFields // an RPC hook's request fields
	mac       keyedMAC           // mqgate.hmac_sha1's state (RPC hooks)
}

// inputShare: a batch is split into calls whose input fits 1/inputShare of the plugin's
// memory, leaving the rest to the module's code, heap and garbage collector.
const inputShare = 8

// failure describes a failed call; a zero failure is success.
type failure struct {
	kind    Failure
	detail  string
	discard bool // the instance cannot serve again
}

func (f failure) failed() bool { return f.kind != 0 }

// newGuest instantiates and initializes an instance: runs the module's _initialize,
// checks its ABI version and kind, hands it its configuration. Errors are *LoadErrors.
func (v *version) newGuest(ctx context.Context, deterministic bool) (*guest, error) {
	r := v.p.r
	g := &guest{v: v}
	g.stack = g.stackWords[:]
	g.stdout = stream{g: g, name: "stdout", level: slog.LevelInfo}
	g.stderr = stream{g: g, name: "stderr", level: slog.LevelWarn, isTail: true}
	g.gctx = guestContext{Context: r.ctx, g: g}
	g.ctx = &g.gctx
	g.logLeft, g.logLimit, g.maxOutput, g.clock = v.cfg.LogLimit, v.cfg.LogLimit, uint32(min(v.cfg.MaxOutput, 1<<31)), &r.clock
	ictx := experimental.WithMemoryAllocator(g.ctx, newMemoryAllocator(v.cfg.MemoryLimit, &g.lin))
	mod, err := r.wz.InstantiateModule(ictx, v.mod.compiled, moduleConfig(g, deterministic))
	if err != nil {
		return nil, v.refuse(ErrInvalidModule, "cannot instantiate", err)
	}
	g.mod = mod
	g.mem = mod.Memory()
	g.budget, _ = mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
	g.depth = mod.ExportedGlobal(depthExport)
	g.buffer = mod.ExportedFunction(abi.ExportBuffer)
	if g.mem == nil || !g.lin.made || g.budget == nil || g.depth == nil || g.buffer == nil {
		mod.Close(ctx)
		return nil, v.refuse(ErrInvalidModule, "instance lacks its memory, buffer, budget or depth global", nil)
	}
	g.limitTicks = r.ticks(v.cfg.InitDeadline)
	if err := g.initialize(); err != nil {
		g.close()
		return nil, err
	}
	g.limitTicks = r.ticks(v.cfg.Deadline)
	return g, nil
}

// initialize runs the handshake of ABI.md: _initialize, version, kind, init.
func (g *guest) initialize() error {
	v := g.v
	run := func(name string, params ...uint64) (uint64, error) {
		f := g.mod.ExportedFunction(name)
		copy(g.stack, params)
		if !g.run(f) {
			return 0, v.refuse(ErrInitFailed, name+": "+g.fail.kind.String(), errors.New(g.fail.detail))
		}
		return g.stack[0], nil
	}
	if g.mod.ExportedFunction(abi.ExportInitialize) != nil {
		if _, err := run(abi.ExportInitialize); err != nil {
			return err
		}
	}
	ver, err := run(abi.ExportABIVersion)
	if err != nil {
		return err
	}
	if ver := int32(ver); ver != abi.Version {
		return v.refuse(ErrABIVersion, fmt.Sprintf("%s returned %d; this gateway speaks ABI version %d", abi.ExportABIVersion, ver, abi.Version), nil)
	}
	k, err := run(abi.ExportKind)
	if err != nil {
		return err
	}
	g.kind = Kind(uint32(k))
	if g.kind.Entries() == nil {
		return v.refuse(ErrUnknownKind, fmt.Sprintf("%s returned %d, which is no plugin kind of ABI v%d (1 allocate, 2 send, 3 consume, 4 rpc)", abi.ExportKind, uint32(k), abi.Version), nil)
	}
	if v.kind != 0 && g.kind != v.kind {
		return v.refuse(ErrWrongKind, fmt.Sprintf("module is a plugin of kind %v, the slot takes kind %v", g.kind, v.kind), nil)
	}
	if v.mod.hmac && g.kind != KindRPC {
		return v.refuse(ErrForbiddenImport, fmt.Sprintf("imports %s.%s, which ABI v%d grants to RPC hooks only, and is a plugin of kind %v", abi.HostModule, abi.HostHMACSHA1, abi.Version, g.kind), nil)
	}
	if err := checkKindExports(v.mod.compiled, g.kind); err != nil {
		return v.refuse(ErrMissingExport, err.Error(), nil)
	}
	for _, e := range g.kind.Entries() {
		g.entries[e] = g.mod.ExportedFunction(e.Export())
	}
	in, ok := g.input(len(v.config))
	if !ok {
		return v.refuse(ErrInitFailed, "mqgate_buffer: "+g.fail.kind.String(), errors.New(g.fail.detail))
	}
	copy(in, v.config)
	out, ok := g.call(abi.EntryInit, len(v.config))
	if !ok {
		return v.refuse(ErrInitFailed, "mqgate_init: "+g.fail.kind.String(), errors.New(g.fail.detail))
	}
	d := abi.NewDecoder(out)
	g.flags = d.U32()
	if d.Err() != nil {
		return v.refuse(ErrInitFailed, "mqgate_init: malformed result", d.Err())
	}
	return nil
}

// run calls f with g.stack under its deadline. It reports success; on failure g.fail
// says what went wrong. (A flag and a field rather than a returned struct: this is the
// hot path, and the failure is rare.)
func (g *guest) run(f api.Function) bool {
	g.state = unclocked
	g.logLeft = g.logLimit
	err := f.CallWithStack(g.ctx, g.stack)
	if g.state != interrupted && err == nil {
		g.state = idle
		if g.lin.refused.Load() { // a refused memory.grow the module got over
			g.lin.refused.Store(false)
		}
		return true
	}
	g.fail = g.classify(err)
	return false
}

func (g *guest) classify(err error) failure {
	if g.state == interrupted {
		return failure{kind: FailDeadline, discard: true, detail: fmt.Sprintf("interrupted after about %v", time.Duration(g.ranTicks)*g.clock.tick)}
	}
	// The depth is over the limit only once a charge failed, which traps at once.
	if limit := g.v.cfg.StackLimit; uint32(g.depth.Get()) > uint32(limit) {
		return failure{kind: FailStack, discard: true, detail: fmt.Sprintf("its calls went deeper than its %d KiB stack limit", limit>>10)}
	}
	if g.lin.refused.Load() {
		return failure{kind: FailMemory, discard: true, detail: fmt.Sprintf("the module asked for more than its %d MiB of memory", g.v.cfg.MemoryLimit>>20)}
	}
	detail := firstLine(err.Error())
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		detail = fmt.Sprintf("module exited with code %d", exit.ExitCode())
	}
	if t := g.stderr.lastLines(); t != "" {
		detail += "; stderr: " + t
	}
	return failure{kind: FailTrap, discard: true, detail: detail}
}

// failed records f as the failure of the running call and reports false.
func (g *guest) failed(f failure) bool {
	g.fail = f
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// input returns a view of n bytes of the guest's input buffer, growing it if needed.
// The view is valid until the next call into the guest. On failure g.fail says why.
func (g *guest) input(n int) ([]byte, bool) {
	if uint32(n) > g.inCap || g.inPtr == 0 {
		if n > g.v.cfg.MemoryLimit {
			return nil, g.failed(failure{kind: FailMemory, detail: fmt.Sprintf("input of %d bytes exceeds the memory limit", n)})
		}
		g.stack[0] = uint64(n)
		if !g.run(g.buffer) {
			return nil, false
		}
		ptr := uint32(g.stack[0])
		if ptr == 0 {
			return nil, g.failed(failure{kind: FailBadResult, detail: fmt.Sprintf("%s(%d) returned 0", abi.ExportBuffer, n)})
		}
		g.inPtr, g.inCap = ptr, uint32(n)
	}
	b, ok := g.read(g.inPtr, uint32(n))
	if !ok {
		return nil, g.failed(failure{kind: FailBadResult, detail: fmt.Sprintf("input buffer at %#x+%d is outside memory", g.inPtr, n)})
	}
	return b, true
}

// read returns a view of n bytes of the instance's memory at ptr, valid until the next
// call into it.
func (g *guest) read(ptr, n uint32) ([]byte, bool) {
	buf := g.lin.buf
	if uint64(ptr)+uint64(n) > uint64(len(buf)) {
		return nil, false
	}
	return buf[ptr : ptr+n : ptr+n], true
}

// call runs entry point e over the n bytes written to the input buffer and returns its
// output past the status byte: a view of guest memory, valid until the next call. On
// failure g.fail says why.
func (g *guest) call(e abi.Entry, n int) ([]byte, bool) {
	g.stack[0] = uint64(n)
	if !g.run(g.entries[e]) {
		return nil, false
	}
	ptr, size := abi.UnpackResult(g.stack[0])
	if size == 0 || size > g.maxOutput {
		if size == 0 {
			return nil, g.failed(failure{kind: FailBadResult, detail: "empty result"})
		}
		return nil, g.failed(failure{kind: FailBadResult, detail: fmt.Sprintf("result of %d bytes exceeds the limit of %d", size, g.maxOutput)})
	}
	out, ok := g.read(ptr, size)
	if !ok {
		return nil, g.failed(failure{kind: FailBadResult, detail: fmt.Sprintf("result [%#x, +%d) is outside the module's %d bytes of memory", ptr, size, g.mem.Size())})
	}
	if out[0] == abi.StatusOK {
		return out[1:], true
	}
	if out[0] == abi.StatusError {
		d := abi.NewDecoder(out[1:])
		msg := d.Str()
		if len(msg) > 1<<10 {
			msg = msg[:1<<10] + "..."
		}
		return nil, g.failed(failure{kind: FailError, detail: strings.ToValidUTF8(strings.Clone(msg), "\uFFFD")})
	}
	return nil, g.failed(failure{kind: FailBadResult, detail: fmt.Sprintf("unknown status byte %d", out[0])})
}

// close releases the instance.
func (g *guest) close() { g.mod.Close(context.Background()) }

// lastEdit is the last property edit a send hook answered, as the bytes of its record from
// the op on, with its name and value as Go strings. A hook that adds a header answers the
// same edit call after call: it is checked and converted once, not once a call.
// The record is kept in the guest, not in a slice of its own: one pointer fewer to follow
// on a cold call.
type lastEdit struct {
	n           int // the record's length; 0: none
	name, value string
	bytes       [maxLastEdit]byte
}

// record returns the last edit's record, empty if there is none.
func (e *lastEdit) record() []byte { return e.bytes[:e.n] }

// keep remembers rec, the record of the edit of name and value, unless it is too long to.
func (e *lastEdit) keep(rec []byte, name, value string) {
	e.n, e.name, e.value = 0, name, value
	if len(rec) <= maxLastEdit {
		e.n = copy(e.bytes[:], rec)
	}
}

// maxMessageEdits bounds the edits one answer makes to one message. Setting or deleting a
// property scans the message's properties, so an answer of many edits of one message
// would cost the host quadratic time, after the call's deadline; a message carries a few
// dozen properties (the broker refuses more than 32767 bytes of them).
const maxMessageEdits = 256

// editCounter counts an answer's edits per message against maxMessageEdits. An answer of
// no more edits in all cannot break the bound and is not counted.
type editCounter struct {
	on bool
	n  []uint16
}

// start readies the counter for an answer of edits edits of msgs messages.
func (c *editCounter) start(edits, msgs int) {
	if c.on = edits > maxMessageEdits; !c.on {
		return
	}
	if cap(c.n) < msgs {
		c.n = make([]uint16, msgs)
	}
	c.n = c.n[:msgs]
	clear(c.n)
}

// over counts an edit of message i (in range) and reports whether it is one too many.
func (c *editCounter) over(i uint32) bool {
	if !c.on {
		return false
	}
	c.n[i]++
	return c.n[i] > maxMessageEdits
}

// tooManyEdits is the failure of an answer that edits message i too often.
func tooManyEdits(i uint32) failure {
	return failure{kind: FailBadResult, detail: fmt.Sprintf("more than %d edits of message %d", maxMessageEdits, i)}
}

// maxLastEdit bounds the edit an instance remembers, as intern bounds the strings it
// keeps.
const maxLastEdit = 512

// intern turns the short strings a plugin answers (property names, a header's value) into
// Go strings, reusing the last few: a hook that sets the same property on every message
// allocates nothing.
type intern struct {
	s    [8]string
	next int
}

func (in *intern) get(b []byte) string {
	for _, s := range in.s {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(s) <= 128 {
		in.s[in.next] = s
		in.next = (in.next + 1) % len(in.s)
	}
	return s
}
