package main

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// running is the gateway binary, started by startBinary and ready.
type running struct {
	cmd    *exec.Cmd
	ready  string        // its ready line
	stderr *lockedBuffer // its log, readable while it runs
	exited chan error    // Wait's result, once stdout is drained as Wait requires
}

// startBinary starts cmd, the gateway binary, and waits up to 60 s for its ready line;
// the process is killed with the test if it still runs.
func startBinary(t *testing.T, cmd *exec.Cmd) *running {
	t.Helper()
	r := &running{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		r.exited <- cmd.Wait()
	}()
	select {
	case r.ready = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatalf("no ready line in 60s; stderr:\n%s", r.stderr.String())
	}
	return r
}

// stop sends SIGTERM and requires a clean exit within 60 s.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, r.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60s after SIGTERM; stderr:\n%s", r.stderr.String())
	}
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
