package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// echoCode is answered by the echo server with the request's extFields and body.
const echoCode = 9001

// TestMain doubles as the echo server: the transport benchmarks start this test binary
// again with MQGATE_BENCH_ECHO=1, so that the server's CPU is not counted as the client's.
func TestMain(m *testing.M) {
	if os.Getenv("MQGATE_BENCH_ECHO") == "1" {
		runEchoServer()
		return
	}
	if os.Getenv("MQGATE_BENCH_HTTPLOAD") == "1" {
		runHTTPLoad()
		return
	}
	os.Exit(m.Run())
}

func runEchoServer() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := netpoll.NewServer(netpoll.ServerConfig{Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	s.Handle(echoCode, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		resp.Ext = req.Ext
		resp.Body = req.Body
		return resp
	})
	addr, err := s.Listen()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("listening", addr)
	// Serve until the parent closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

// startEchoServer runs the echo server in a child process and returns its address.
func startEchoServer(tb testing.TB) string {
	tb.Helper()
	_, stdout := startChild(tb, "MQGATE_BENCH_ECHO")
	line, err := stdout.ReadString('\n')
	if err != nil {
		tb.Fatalf("echo server: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		tb.Fatalf("echo server said %q", line)
	}
	return addr
}

// startChild runs this test binary again as a child whose TestMain the environment
// variable env (set to 1) sends to its work, and returns the child's stdin and stdout.
// The child's stdin is closed, which ends it, and the child waited for with tb.
func startChild(tb testing.TB, env string) (io.Writer, *bufio.Reader) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return stdin, bufio.NewReader(stdout)
}

// cpuClock reads this process's user+system CPU time.
func cpuClock() time.Duration {
	cpu, _ := cpuTimes()
	return cpu
}

// cpuTimes reads this process's user+system CPU time and its system part, in one call.
func cpuTimes() (cpu, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	sys = time.Duration(syscall.TimevalToNsec(ru.Stime))
	return time.Duration(syscall.TimevalToNsec(ru.Utime)) + sys, sys
}
