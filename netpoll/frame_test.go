package netpoll

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// rawDial connects to addr without the transport, to send what a broken peer would.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// expectClosed reads until the peer closes nc.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	header := func(word uint32, hdr string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(hdr)))
		b = binary.BigEndian.AppendUint32(b, word)
		return append(b, hdr...)
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
		log   string
	}{
		{"frame over the configured maximum", binary.BigEndian.AppendUint32(nil, 4096), "bad frame length"},
		{"frame of 2 GiB declared", binary.BigEndian.AppendUint32(nil, 1<<31-1), "bad frame length"},
		{"negative length", binary.BigEndian.AppendUint32(nil, 0xFFFFFFF0), "bad frame length"},
		{"length below the header word", binary.BigEndian.AppendUint32(nil, 2), "bad frame length"},
		{"unknown serialize type", header(7<<24|2, "{}"), "malformed frame"},
		{"header longer than the frame", header(1<<24|100, "xx"), "malformed frame"},
		{"JSON header that is not JSON", header(0<<24|5, "{code"), "malformed frame"},
		{"truncated ROCKETMQ header", header(1<<24|3, "\x00\x0a\x00"), "malformed frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logRecorder{}
			_, addr := startServer(t, ServerConfig{MaxFrameLength: 1024, Logger: logs.logger()}, nil)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			nc := rawDial(t, addr)
			if _, err := nc.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, nc)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
				t.Errorf("allocated %d bytes for a refused frame", d)
			}
			waitFor(t, "the error to be logged", 2*time.Second, func() bool { return logs.count(tc.log) == 1 })
		})
	}
}

func TestFrameArrivingInPiecesIsDecoded(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, nil)
	req := request(codeEcho, "pieces", remoting.RocketMQ)
	req.Opaque = 7
	req.Body = make([]byte, 100_000) // spans netpoll buffer nodes
	frame, err := req.AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := rawDial(t, addr)
	for _, n := range []int{1, 2, 3, 10, 1000, 50_000} { // the length prefix arrives split too
		if _, err := nc.Write(frame[:n]); err != nil {
			t.Fatal(err)
		}
		frame = frame[n:]
	}
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	var prefix [4]byte
	if _, err := io.ReadFull(nc, prefix[:]); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, binary.BigEndian.Uint32(prefix[:]))
	if _, err := io.ReadFull(nc, payload); err != nil {
		t.Fatal(err)
	}
	var resp remoting.Command
	if err := resp.Decode(payload); err != nil {
		t.Fatal(err)
	}
	if resp.Opaque != 7 || !resp.IsResponse() || len(resp.Body) != 100_000 || resp.Ext.Get("id") != "pieces" {
		t.Errorf("response %v", &resp)
	}
}

// fakeBroker accepts one connection, reads one request and answers with reply(request).
func fakeBroker(t *testing.T, reply func(req *remoting.Command) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		var prefix [4]byte
		if _, err := io.ReadFull(nc, prefix[:]); err != nil {
			return
		}
		payload := make([]byte, binary.BigEndian.Uint32(prefix[:]))
		if _, err := io.ReadFull(nc, payload); err != nil {
			return
		}
		var req remoting.Command
		if err := req.Decode(payload); err != nil {
			return
		}
		_, _ = nc.Write(reply(&req))
		_, _ = io.Copy(io.Discard, nc) // until the client closes
	}()
	return ln.Addr().String()
}

func TestClientClosesConnectionOnBadFrameFromBroker(t *testing.T) {
	t.Run("oversized", func(t *testing.T) {
		addr := fakeBroker(t, func(*remoting.Command) []byte { return binary.BigEndian.AppendUint32(nil, 1<<30) })
		cl := newClient(t, ClientConfig{Logger: (&logRecorder{}).logger()})
		_, err := cl.Invoke(context.Background(), addr, request(codeEcho, "x", remoting.JSON))
		if !errors.Is(err, ErrConnClosed) || !errors.Is(err, remoting.ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrConnClosed caused by ErrFrameTooLarge", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		addr := fakeBroker(t, func(*remoting.Command) []byte {
			return append(binary.BigEndian.AppendUint32(nil, 8), 0, 0, 0, 4, '[', ']', '{', '}')
		})
		cl := newClient(t, ClientConfig{Logger: (&logRecorder{}).logger()})
		_, err := cl.Invoke(context.Background(), addr, request(codeEcho, "x", remoting.JSON))
		if !errors.Is(err, ErrConnClosed) || !errors.Is(err, remoting.ErrMalformedFrame) {
			t.Fatalf("err = %v, want ErrConnClosed caused by a malformed frame", err)
		}
	})
}
