//go:build !race

package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// The race detector's sync.Pool drops what it is given: allocation counts hold without it.

// A produce request's message and its answer cost what they must: the message, its
// property list (once, with room for what the producer adds) and its answer nothing (a
// pooled buffer, a Content-Length net/http counts).
func TestProduceAllocations(t *testing.T) {
	req := produceRequest{body: []byte(strings.Repeat("b", 1024)), bodySet: true, Tags: "TagA", Keys: []string{"order-1"},
		Properties: map[string]string{"source": "test", "region": "eu"}}
	var m0 int
	if n := testing.AllocsPerRun(1000, func() {
		m, err := req.message("Orders", 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		m.Properties.Grow(2) // what the producer adds: UNIQ_KEY, traceparent
		m0 = m.Properties.Len()
	}); n > 2 {
		t.Errorf("a request's message: %v allocations, want 2 (the message, its property list)", n)
	}
	if m0 != 4 {
		t.Fatalf("%d properties, want 4", m0)
	}
	res := sendResult{MessageID: "7F0000010001000000000000000000AB", OffsetMessageID: "7F00000100002A9F0000000000000000",
		Status: "SEND_OK", Queue: queueJSON{Topic: "Orders", Broker: "broker-a", QueueID: 1}}
	w := &discardWriter{h: http.Header{}}
	if n := testing.AllocsPerRun(1000, func() { writeSendResult(w, 200, &res) }); n != 0 {
		t.Errorf("a send's answer: %v allocations, want 0", n)
	}
	if w.n == 0 || w.h.Get("Content-Length") != "" {
		t.Fatalf("wrote %d bytes, Content-Length %q: want an answer net/http counts", w.n, w.h.Get("Content-Length"))
	}
}

// discardWriter is a ResponseWriter that keeps its header map and counts what is written.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
