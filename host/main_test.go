package host

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/message"
)

// builtins are every plugin the tests load.
var builtins = []string{
	"plugins/averagely", "plugins/circle", "plugins/consistenthash", "plugins/byconfig",
	"plugins/machineroom", "plugins/acl", "plugins/tagfilter", "plugins/enricher", "plugins/redactor",
	"host/testdata/hostile/behaviors", "host/testdata/hostile/badalloc", "host/testdata/hostile/slowinit",
}

// cacheDir is the compilation cache the tests share: compiling a module under the race
// detector takes seconds, and the cache keeps that to the first run.
var cacheDir string

func TestMain(m *testing.M) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	cacheDir = filepath.Join(base, "mqgate", "wazero-test")
	if err := plugintest.BuildAll(builtins...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	baseline = runtime.NumGoroutine()
	code := m.Run()
	if code == 0 && !fuzzing() {
		// Every test closed its runtimes: no goroutine of the host may survive them. (The
		// fuzzing engine leaves a signal handler's.)
		if err := waitGoroutines(baseline, 5*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// fuzzing tells whether the run is go test -fuzz's.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// baseline is the goroutine count before the tests.
var baseline int

// waitGoroutines waits for the goroutine count to fall back to n.
func waitGoroutines(n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines left, want %d:\n%s", got, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer collects what a runtime logs, for tests that read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) count(s string) int { return strings.Count(b.String(), s) }

// newRuntime returns a runtime closed at the end of the test, and what it logs.
func newRuntime(t testing.TB, configure ...func(*Config)) (*Runtime, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := Config{
		CacheDir: cacheDir,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(&cfg)
	}
	r, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, logs
}

// load loads the plugin built from pkg.
func load(t testing.TB, r *Runtime, cfg PluginConfig, pkg string) *Plugin {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = filepath.Base(pkg)
	}
	if cfg.Instances == 0 {
		cfg.Instances = 1
	}
	p, err := r.Load(context.Background(), cfg, plugintest.Build(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func queues(n int) []instance.MessageQueue {
	qs := make([]instance.MessageQueue, n)
	for i := range qs {
		qs[i] = instance.MessageQueue{Topic: "TopicTest", BrokerName: fmt.Sprintf("broker-%c", 'a'+i/16), QueueID: int32(i % 16)}
	}
	return qs
}

func clientIDs(n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = fmt.Sprintf("10.0.%d.%d@%d", i/250, i%250, 4000+i)
	}
	return c
}

// sendEvents returns events of messages with the given bodies and TAGS.
func sendEvents(tags string, bodies ...string) []instance.SendEvent {
	evs := make([]instance.SendEvent, len(bodies))
	for i, b := range bodies {
		m := &message.Message{Topic: "TopicTest", Body: []byte(b)}
		m.SetTags(tags)
		m.SetKeys("k" + fmt.Sprint(i))
		evs[i] = instance.SendEvent{ProducerGroup: "pg", Message: m, Queue: instance.MessageQueue{Topic: "TopicTest", BrokerName: "broker-a", QueueID: int32(i)}, BrokerAddr: "127.0.0.1:10911"}
	}
	return evs
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
