package plugintest

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
)

// Root returns the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	mu    sync.Mutex
	built = map[string]*entry{}
)

type entry struct {
	once sync.Once
	wasm []byte
	err  error
}

// Build returns the module built from pkg, a directory relative to the module root
// ("plugins/averagely", "host/testdata/hostile/loop"), or fails the test.
func Build(tb testing.TB, pkg string) []byte {
	tb.Helper()
	wasm, err := once(pkg, func() ([]byte, error) { return build(pkg) })
	if err != nil {
		tb.Fatalf("building plugin %s: %v", pkg, err)
	}
	return wasm
}

// once builds key's module with make the first time it is asked for in this test binary
// and returns that build's result ever after.
func once(key string, make func() ([]byte, error)) ([]byte, error) {
	mu.Lock()
	e := built[key]
	if e == nil {
		e = &entry{}
		built[key] = e
	}
	mu.Unlock()
	e.once.Do(func() { e.wasm, e.err = make() })
	return e.wasm, e.err
}

// BuildAll builds pkgs concurrently, for a TestMain to pay for them up front.
func BuildAll(pkgs ...string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 2)
	for i, pkg := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = once(pkg, func() ([]byte, error) { return build(pkg) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", pkgs[i], err)
		}
	}
	return nil
}

func build(pkg string) ([]byte, error) {
	root := Root()
	key, err := sourceHash(root, pkg)
	if err != nil {
		return nil, err
	}
	dir, err := cacheDir()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_")+"-"+key[:16]+".wasm")
	return cached(out, "go build", func(tmp string) *exec.Cmd {
		cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+pkg)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
		return cmd
	})
}

// cached returns the module at out, in the cache, or builds it there: the command
// command(tmp) makes (what, in errors), run from the module root, writes tmp, which is
// then renamed to out, so that a build cut short leaves no module behind.
func cached(out, what string, command func(tmp string) *exec.Cmd) ([]byte, error) {
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
	cmd := command(tmp)
	cmd.Dir = Root()
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("%s: %v\n%s", what, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// BuildC returns the module built from the C sources of dir (relative to the module root,
// "plugins/cenricher") with clang for wasm32, freestanding, against sdk/c, as sdk/c/mqgate.h
// says; it skips the test when no clang is installed (CI installs Debian's clang-14 and
// lld-14) and fails it when the build fails.
func BuildC(tb testing.TB, dir string) []byte {
	tb.Helper()
	clang := findClang()
	if clang == "" {
		tb.Skip("no clang that links wasm32 to build " + dir + " with (Debian: apt-get install clang-14 lld-14)")
	}
	wasm, err := once("c:"+dir, func() ([]byte, error) { return buildC(clang, dir) })
	if err != nil {
		tb.Fatalf("building C plugin %s: %v", dir, err)
	}
	return wasm
}

// HaveClang tells whether BuildC can build here.
func HaveClang() bool { return findClang() != "" }

// cFlags build a freestanding wasm32 module against sdk/c (as sdk/c/mqgate.h says).
var cFlags = []string{"--target=wasm32", "-O2", "-ffreestanding", "-fno-builtin", "-nostdlib", "-Wall", "-Werror",
	"-I", "sdk/c", "-Wl,--no-entry"}

// findClang returns the first clang on PATH that links a wasm32 module (some lack the
// target or wasm-ld), newest first, or "".
var findClang = sync.OnceValue(func() string {
	for _, name := range []string{"clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("mqgate-clang-probe-%d.wasm", os.Getpid()))
		cmd := exec.Command(p, "--target=wasm32", "-nostdlib", "-Wl,--no-entry", "-x", "c", "-", "-o", out)
		cmd.Stdin = strings.NewReader("int mqgate_probe(void) { return 1; }\n")
		err = cmd.Run()
		os.Remove(out)
		if err == nil {
			return p
		}
	}
	return ""
})

func buildC(clang, dir string) ([]byte, error) {
	root := Root()
	version, err := exec.Command(clang, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", clang, err)
	}
	h := sha256.New()
	h.Write(version)
	fmt.Fprintln(h, cFlags)
	var sources []string
	for _, d := range []string{"sdk/c", dir} {
		entries, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			return nil, err
		}
		for _, f := range entries {
			if n := f.Name(); strings.HasSuffix(n, ".c") || strings.HasSuffix(n, ".h") {
				b, err := os.ReadFile(filepath.Join(root, d, n))
				if err != nil {
					return nil, err
				}
				fmt.Fprintln(h, d, n, len(b))
				h.Write(b)
				if strings.HasSuffix(n, ".c") {
					sources = append(sources, filepath.Join(d, n))
				}
			}
		}
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(cache, strings.ReplaceAll(dir, "/", "_")+"-c-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	return cached(out, "clang", func(tmp string) *exec.Cmd {
		return exec.Command(clang, append(append(cFlags[:len(cFlags):len(cFlags)], "-o", tmp), sources...)...)
	})
}

// goTool is the go command of the toolchain that built the test binary, which runs where
// it was built (runtime.GOROOT's deprecation is about binaries copied elsewhere); else
// the one on the PATH.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func cacheDir() (string, error) {
	if d := os.Getenv("MQGATE_PLUGIN_CACHE"); d != "" {
		return d, os.MkdirAll(d, 0o755)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	d := filepath.Join(base, "mqgate", "plugintest")
	return d, os.MkdirAll(d, 0o755)
}

// sourceHash hashes what a plugin can depend on within the module: go.mod, go.sum, the
// Go sources of sdk/ and plugins/ and of pkg itself, and the Go version.
func sourceHash(root, pkg string) (string, error) {
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
