package netpoll

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// Codes the tests' servers answer.
const (
	codeEcho remoting.RequestCode = 9001 // response carries the request's body and ext
	codeGate remoting.RequestCode = 9002 // held until the test opens the gate
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

// logRecorder is a slog.Handler keeping messages, so tests can see what was logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(r) }

func echo(_ context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = req.Body
	resp.Ext = req.Ext
	return resp
}

// gate holds requests until opened, counting arrivals.
type gate struct {
	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) handler(ctx context.Context, _ *Conn, req *remoting.Command) *remoting.Command {
	g.mu.Lock()
	g.arrived++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
	}
	return echo(ctx, nil, req)
}

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.arrived
}

// startServer starts a server on loopback with the echo and gate handlers; it is shut
// down when the test ends.
func startServer(t testing.TB, cfg ServerConfig, g *gate) (*Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle(codeEcho, echo)
	if g != nil {
		s.Handle(codeGate, g.handler)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return s, addr.String()
}

func newClient(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Close(ctx)
	})
	return cl
}

func request(code remoting.RequestCode, id string, ser remoting.SerializeType) *remoting.Command {
	req := &remoting.Command{Code: int32(code), Language: remoting.LanguageGo, Version: 317, Serialize: ser}
	req.Ext.Set("id", id)
	req.Body = []byte("body-" + id)
	return req
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
