package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
)

var (
	testStoreHost = netip.MustParseAddrPort("127.0.0.1:10921")
	testBornHost  = netip.MustParseAddrPort("192.0.2.2:50312")
)

// fakeClock is a settable clock in milliseconds.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := new(fakeClock)
	c.ms.Store(ms)
	return c
}

func (c *fakeClock) now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) set(ms int64)    { c.ms.Store(ms) }
func (c *fakeClock) advance(d int64) { c.ms.Add(d) }

// openStore opens a store with the test store host and closes it at the end of the test.
func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	if !cfg.StoreHost.IsValid() {
		cfg.StoreHost = testStoreHost
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	s, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testLogger logs to the test's log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newMsg returns a message for topic/queue with body and, when tags is not empty, TAGS.
func newMsg(topic string, queueID int32, body []byte, tags string) *message.Ext {
	m := &message.Ext{QueueID: queueID, BornTimestamp: 1700000000000, BornHost: testBornHost}
	m.Topic = topic
	m.Body = body
	m.SetTags(tags)
	m.SetUniqKey("UNIQ" + topic)
	return m
}

// bodyOf returns a body of n bytes naming what it is, so that a reader can check it.
func bodyOf(n int, format string, args ...any) []byte {
	b := make([]byte, n)
	id := fmt.Sprintf(format, args...)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	copy(b, id)
	return b
}

func mustPut(tb testing.TB, s *Store, m *message.Ext) PutResult {
	tb.Helper()
	r, err := s.Put(m)
	if err != nil {
		tb.Fatalf("Put(%s/%d): %v", m.Topic, m.QueueID, err)
	}
	return r
}

// decodeOne decodes one stored message, copying it, and checks its body CRC.
func decodeOne(tb testing.TB, raw []byte) message.Ext {
	tb.Helper()
	msgs, err := message.DecodeStored(raw)
	if err != nil || len(msgs) != 1 {
		tb.Fatalf("decoding a stored message: %d messages, %v", len(msgs), err)
	}
	var d message.Decoder
	d.KeepCompressed = true
	stored, _ := d.DecodeStored(nil, raw)
	if got := message.BodyCRC(stored[0].Body); got != stored[0].BodyCRC {
		tb.Fatalf("body CRC %d, stored %d", got, stored[0].BodyCRC)
	}
	return msgs[0]
}

func tagsIs(tags string) Filter {
	code := TagsCode(tags)
	return TagsCodeFilter(func(c int64) bool { return c == code })
}

func queueOffsets(tb testing.TB, r *GetResult) []int64 {
	tb.Helper()
	var offs []int64
	for _, raw := range r.Messages {
		offs = append(offs, decodeOne(tb, raw).QueueOffset)
	}
	return offs
}

func equalBytes(tb testing.TB, what string, got, want []byte) {
	tb.Helper()
	if !bytes.Equal(got, want) {
		tb.Fatalf("%s differ:\n got %x\nwant %x", what, got, want)
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
