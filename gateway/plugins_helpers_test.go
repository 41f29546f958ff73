package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mqgate/mqgate/sdk/abi"
)

// The plugin tests' modules: the built-in plugins and host's hostile ones, built from
// their sources, and small hand-written modules that break one rule of the ABI. The
// host's helpers for both (host/internal/plugintest, host/internal/wasmgen) are internal
// to host; this builder keys its cache as plugintest does, so the two share the builds.

var wasmBuilds struct {
	mu   sync.Mutex
	once map[string]*wasmBuild
}

type wasmBuild struct {
	sync.Once
	wasm []byte
	err  error
}

// buildWasm returns the module built from pkg, a directory relative to the module root
// ("plugins/enricher", "host/testdata/hostile/badalloc").
func buildWasm(tb testing.TB, pkg string) []byte {
	tb.Helper()
	wasmBuilds.mu.Lock()
	if wasmBuilds.once == nil {
		wasmBuilds.once = map[string]*wasmBuild{}
	}
	b := wasmBuilds.once[pkg]
	if b == nil {
		b = &wasmBuild{}
		wasmBuilds.once[pkg] = b
	}
	wasmBuilds.mu.Unlock()
	b.Do(func() { b.wasm, b.err = compileWasm(pkg) })
	if b.err != nil {
		tb.Fatalf("building %s: %v", pkg, b.err)
	}
	return b.wasm
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func compileWasm(pkg string) ([]byte, error) {
	root := moduleRoot()
	key, err := wasmSourceHash(root, pkg)
	if err != nil {
		return nil, err
	}
	dir := os.Getenv("MQGATE_PLUGIN_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "mqgate", "plugintest")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_")+"-"+key[:16]+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("go build: %v\n%s", err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// wasmSourceHash is plugintest's key: go.mod, go.sum, the sources of sdk/, plugins/ and
// pkg, and the Go version.
func wasmSourceHash(root, pkg string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), pkg)
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	for _, dir := range []string{"sdk", "plugins", pkg} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			fmt.Fprintln(h, rel, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rawModule is a minimal module that speaks the ABI (every entry point answers status OK
// and nothing else), but for the rule it breaks.
type rawModule struct {
	version int32    // what mqgate_abi_version returns
	kind    abi.Kind // what mqgate_kind returns
	omit    string   // an export left out
	imports []string // WASI functions imported
}

func (m rawModule) bytes() []byte {
	u32 := func(b []byte, v uint32) []byte {
		for {
			c := byte(v & 0x7F)
			v >>= 7
			if v == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	s64 := func(b []byte, v int64) []byte {
		for {
			c := byte(v & 0x7F)
			v >>= 7
			if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	name := func(b []byte, s string) []byte { return append(u32(b, uint32(len(s))), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(u32(append(out, id), uint32(len(body))), body...)
	}
	const i32, i64 = 0x7F, 0x7E
	types := [][2][]byte{{nil, {i32}}, {{i32}, {i32}}, {{i32}, {i64}}, {nil, nil}}
	type fn struct {
		export string
		typ    uint32
		code   []byte
	}
	ok := s64([]byte{0x42}, int64(abi.PackResult(16, 5))) // i64.const: 5 zero bytes at 16
	fns := []fn{
		{abi.ExportABIVersion, 0, s64([]byte{0x41}, int64(m.version))},
		{abi.ExportKind, 0, s64([]byte{0x41}, int64(m.kind))},
		{abi.ExportBuffer, 1, s64([]byte{0x41}, 1024)},
		{abi.EntryInit.Export(), 2, ok},
	}
	entries := m.kind.Entries()
	if len(entries) == 0 {
		entries = abi.KindAllocate.Entries() // an unknown kind: exports as if allocate
	}
	for _, e := range entries[1:] {
		fns = append(fns, fn{e.Export(), 2, ok})
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	b := u32(nil, uint32(len(types)))
	for _, t := range types {
		b = append(u32(append(b, 0x60), uint32(len(t[0]))), t[0]...)
		b = append(u32(b, uint32(len(t[1]))), t[1]...)
	}
	out = section(out, 1, b)
	if len(m.imports) > 0 {
		b = u32(nil, uint32(len(m.imports)))
		for _, im := range m.imports {
			b = u32(append(name(name(b, abi.WASIModule), im), 0), 3)
		}
		out = section(out, 2, b)
	}
	b = u32(nil, uint32(len(fns)))
	for _, f := range fns {
		b = u32(b, f.typ)
	}
	out = section(out, 3, b)
	out = section(out, 5, []byte{1, 1, 1, 1}) // one memory of 1 page, max 1
	var exports [][]byte
	exports = append(exports, append(name(nil, abi.ExportMemory), 2, 0))
	for i, f := range fns {
		if f.export != m.omit {
			exports = append(exports, u32(append(name(nil, f.export), 0), uint32(len(m.imports)+i)))
		}
	}
	b = u32(nil, uint32(len(exports)))
	for _, e := range exports {
		b = append(b, e...)
	}
	out = section(out, 7, b)
	b = u32(nil, uint32(len(fns)))
	for _, f := range fns {
		body := append([]byte{0}, f.code...) // no locals
		body = append(body, 0x0B)
		b = append(u32(b, uint32(len(body))), body...)
	}
	return section(out, 10, b)
}
