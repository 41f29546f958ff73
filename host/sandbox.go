package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	mathrand "math/rand"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// moduleConfig is the sandbox of one instance: no arguments, environment, files or
// preopened directories; stdin empty; stdout and stderr to the log. Allocation strategies
// keep wazero's deterministic defaults (a clock that starts at a fixed date and advances
// 1 ms a reading, a fixed-seed random source), so that every gateway computes the same
// answer; hooks get the real clocks and crypto/rand. Sleeping returns at once everywhere:
// a plugin that waits burns its own deadline.
func moduleConfig(g *guest, deterministic bool) wazero.ModuleConfig {
	c := wazero.NewModuleConfig().
		WithName("").         // anonymous: many instances of one module
		WithStartFunctions(). // _initialize runs under its deadline, not at instantiation
		WithStdout(&g.stdout).
		WithStderr(&g.stderr)
	if deterministic {
		// wazero's own fixed-seed source, which every gateway's instance repeats.
		return c.WithRandSource(guestRand{g, mathrand.New(mathrand.NewSource(42))})
	}
	return c.WithSysWalltime().WithSysNanotime().WithRandSource(guestRand{g, rand.Reader})
}

// guestRand is an instance's random source (random_get), which counts a large fill as
// work done for the guest (guest.spent).
type guestRand struct {
	g *guest
	r io.Reader
}

func (r guestRand) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.g.spent(n)
	return n, err
}

// guestKey finds the guest of a host function call in its context.
type guestKey struct{}

// guestContext is the context an instance's calls run under: its parent's values and the
// guest under guestKey. (context.WithValue's would do, but wazero looks a key of its own
// up in it on every call, and walking that chain was ~5% of a send hook's call.)
type guestContext struct {
	context.Context
	g *guest
}

func (c *guestContext) Value(key any) any {
	if _, ok := key.(guestKey); ok {
		return c.g
	}
	return c.Context.Value(key)
}

// hostLog is the mqgate.log host function.
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	g, _ := ctx.Value(guestKey{}).(*guest)
	if g == nil {
		return
	}
	b, ok := mod.Memory().Read(api.DecodeU32(stack[1]), api.DecodeU32(stack[2]))
	if !ok {
		return
	}
	g.logMessage(slog.Level(api.DecodeI32(stack[0])), "log", b)
	g.spent(hostCallWork + len(b))
}

// stream is an instance's stdout or stderr: its lines go to the log, within the call's
// budget, and stderr keeps a tail for the error of a trap (Go's runtime prints its fatal
// errors and panics there).
type stream struct {
	g      *guest
	name   string
	level  slog.Level
	line   []byte
	tail   []byte // the last tailSize bytes written
	isTail bool
}

const tailSize = 2 << 10

func (s *stream) Write(p []byte) (int, error) {
	n := len(p)
	defer s.g.spent(n + 64) // an empty write, of an iovec, costs too
	if s.isTail {
		s.tail = append(s.tail, p...)
		if len(s.tail) > tailSize {
			s.tail = append(s.tail[:0], s.tail[len(s.tail)-tailSize:]...)
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(s.line) < 1<<10 {
				s.line = append(s.line, p[:min(len(p), 1<<10-len(s.line))]...)
			}
			break
		}
		s.line = append(s.line, p[:i]...)
		s.g.logMessage(s.level, s.name, s.line)
		s.line = s.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

// lastLines returns the informative end of the stderr tail on one line: from a Go
// runtime's "panic:" or "fatal error:" line if there is one, else the last lines.
func (s *stream) lastLines() string {
	var lines []string
	for _, l := range strings.Split(string(s.tail), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	from := max(len(lines)-3, 0)
	for i, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			from = i
			break
		}
	}
	lines = lines[from:min(from+3, len(lines))]
	return strings.ToValidUTF8(strings.Join(lines, "; "), "\uFFFD")
}

// logMessage logs what a plugin wrote, if the call's budget allows.
func (g *guest) logMessage(level slog.Level, source string, msg []byte) {
	if len(msg) > g.logLeft {
		g.v.droppedLogs.Add(uint64(len(msg)))
		return
	}
	g.logLeft -= len(msg)
	text := string(msg)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	g.v.p.r.log.Log(context.Background(), level, text, "plugin", g.v.p.name, "version", g.v.seq, "source", source)
}

// memory is an instance's linear memory, refusing to grow past its limit (memory.grow
// then returns -1: Go's runtime dies of "out of memory" and the instance is replaced).
type memory struct {
	buf     []byte
	limit   uint64
	refused atomic.Bool // a memory.grow was refused
	made    bool
}

// newMemoryAllocator returns the allocator of an instance's memory, which it makes in m:
// the host reads and writes the memory through m.buf, without a call.
func newMemoryAllocator(limit int, m *memory) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		m.limit, m.made = min(max, uint64(limit)), true
		return m
	})
}

func (m *memory) Reallocate(size uint64) []byte {
	if size > m.limit && size > uint64(len(m.buf)) {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), max(m.limit, size)))
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

func (m *memory) Free() { m.buf = nil }
