package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/plugintest"
)

// A SIGTERM while the gateway starts (a deployment rolled back, systemctl stop) stops
// it as asked: status 0, no error, no ready line.
func TestSIGTERMDuringStartUpExitsCleanly(t *testing.T) {
	var stdout strings.Builder
	cmd, stderr := startSlowly(t, &stdout)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60s after SIGTERM; stderr:\n%s", stderr.String())
	}
	if stdout.Len() > 0 {
		t.Fatalf("the signal landed after Start (test too slow to tell): stdout %q", stdout.String())
	}
	if err != nil {
		t.Errorf("exit %v, want status 0; stderr:\n%s", err, stderr.String())
	}
	if log := stderr.String(); strings.Contains(log, "context canceled") {
		t.Errorf("a requested stop reported as a failure:\n%s", log)
	}
}

// After a first SIGTERM, a second one kills the gateway, also while it starts (doc.go).
func TestSecondSIGTERMDuringStartUpKills(t *testing.T) {
	cmd, stderr := startSlowly(t, io.Discard)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The second signal is sent again and again: one arriving before the first was taken
	// would merge with it.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
				t.Fatalf("exit %v, want killed by the second SIGTERM; stderr:\n%s", err, stderr.String())
			}
			return
		case <-tick.C:
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-timeout:
			t.Fatalf("still running 60s after SIGTERMs; stderr:\n%s", stderr.String())
		}
	}
}

// startSlowly starts the gateway with a plugin that keeps Start busy for a while (a Go
// module compiled without the cache) and returns once New has run: a signal sent then
// lands inside Start. stdout receives the ready line, if any.
func startSlowly(t *testing.T, stdout io.Writer) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	wasm := filepath.Join(t.TempDir(), "enricher.wasm")
	if err := os.WriteFile(wasm, plugintest.Build(t, "plugins/enricher"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `
[http]
listen = "127.0.0.1:0"

[plugins]
cache_dir = "off"

[[plugin]]
name = "enrich"
file = "`+wasm+`"
slot = "send"
config = { properties = { x-gateway = "test" } }

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
`)
	cmd := exec.Command(build(t), "--config", cfg, "--dev", "--log-level", "debug")
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "the admin API is off") {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not get to Start; stderr:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	return cmd, stderr
}
