package main

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// build compiles the command into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "devcluster")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var readyLine = regexp.MustCompile(`^devcluster ready: namesrv (\S+) broker (\S+) \(cluster DefaultCluster, broker broker-a\)$`)

func TestRunsUntilSIGTERMAndExitsCleanly(t *testing.T) {
	cmd := exec.Command(build(t), "-namesrv", "127.0.0.1:0", "-broker", "127.0.0.1:0", "-log-level", "warn",
		"-delay-factor", "0.01", "-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait() // after stdout is drained, as Wait requires
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("no ready line in 30s; stderr:\n%s", stderr.String())
	}
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q", line)
	}

	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, m[1], &remoting.Command{Code: int32(remoting.GetRouteInfoByTopic),
		Version: remoting.Version494, Ext: remoting.ExtFields{{Key: "topic", Value: "TBW102"}}})
	if err != nil || resp.Code != int32(remoting.Success) {
		t.Fatalf("route of TBW102: %v %v", resp, err)
	}
	var route remoting.TopicRouteData
	if err := route.Decode(resp.Body); err != nil || route.Brokers[0].MasterAddr() != m[2] {
		t.Fatalf("route %s: %v", resp.Body, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
	if extra, ok := <-lines; ok {
		t.Errorf("more than one line on stdout: %q", extra)
	}
}

func TestExitStatuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(bad, []byte("accounts: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"unknown flag", []string{"-nope"}, exitUsage},
		{"stray argument", []string{"extra"}, exitUsage},
		{"bad log level", []string{"-log-level", "loud"}, exitUsage},
		{"zero queues", []string{"-queues", "0"}, exitUsage},
		{"negative delay factor", []string{"-delay-factor", "-1"}, exitUsage},
		{"bad address", []string{"-namesrv", "localhost"}, exitUsage},
		{"unreadable ACL file", []string{"-acl", bad}, exitUsage},
		{"help", []string{"-h"}, exitOK},
		{"port that cannot be bound", []string{"-namesrv", "192.0.2.1:0", "-broker", "127.0.0.1:0"}, exitRuntime},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			// A run that wrongly got as far as serving ends with this context, exit 0.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if got := run(ctx, func() {}, tc.args, &stdout, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.want, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}
