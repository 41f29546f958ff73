package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The benchmarks run the broker and its clients in one process over loopback, so the CPU
// per message (getrusage, user + system) is the broker's and the clients' together.

const benchBody = 1024

// benchBroker is a broker over a memory store large enough for the benchmark.
func benchBroker(b *testing.B) *testBroker {
	b.Helper()
	ln, host := listen(b)
	st, err := store.Open(store.Config{StoreHost: host, Logger: quiet, MaxBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	tb := runBroker(b, Config{Listener: ln, Store: st, Logger: quiet})
	tb.createTopic("Bench", 8)
	return tb
}

// cpuMeter reports CPU time per operation and operations per second.
type cpuMeter struct{ before syscall.Rusage }

func startMeter(b *testing.B) *cpuMeter {
	m := &cpuMeter{}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &m.before)
	b.ResetTimer()
	return m
}

func (m *cpuMeter) stop(b *testing.B, msgs int) {
	b.StopTimer()
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(m.before.Utime) +
		syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(m.before.Stime)
	b.ReportMetric(float64(cpu)/float64(msgs), "cpu-ns/msg")
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

// runConcurrently runs b.N calls of f spread over n goroutines.
func runConcurrently(b *testing.B, n int, f func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkSend: synchronous SEND_MESSAGE_V2 of 1 KiB, 64 concurrent senders on one
// connection, as a producer's callers share its connection.
func BenchmarkSend(b *testing.B) {
	tb := benchBroker(b)
	body := make([]byte, benchBody)
	p := props("UNIQ_KEY", "7F00000100010000000000000001", "WAIT", "true", "TAGS", "TagA", "KEYS", "k")
	var q atomic.Int32
	send := func() error {
		req := sendRequest("Bench", q.Add(1)%8, body, p)
		resp, err := tb.cl.Invoke(context.Background(), tb.addr, req)
		if err == nil && resp.Code != 0 {
			b.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
		return err
	}
	if err := send(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	m := startMeter(b)
	runConcurrently(b, 64, send)
	m.stop(b, b.N)
}

// BenchmarkSendBatch: SEND_BATCH_MESSAGE of 32 x 1 KiB, 8 concurrent senders.
func BenchmarkSendBatch(b *testing.B) {
	tb := benchBroker(b)
	msgs := make([]message.Message, 32)
	for i := range msgs {
		msgs[i] = message.Message{Topic: "Bench", Body: make([]byte, benchBody)}
		msgs[i].Properties.Set("UNIQ_KEY", "7F00000100010000000000000001")
		msgs[i].Properties.Set("TAGS", "TagA")
	}
	batch, err := message.AppendBatch(nil, msgs)
	if err != nil {
		b.Fatal(err)
	}
	var q atomic.Int32
	send := func() error {
		req := request(remoting.SendBatchMessage, (&remoting.SendRequest{ProducerGroup: "pg", Topic: "Bench",
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 8, QueueID: q.Add(1) % 8, Properties: props("WAIT", "true"),
			Batch: true}).V2())
		req.Body = batch
		resp, err := tb.cl.Invoke(context.Background(), tb.addr, req)
		if err == nil && resp.Code != 0 {
			b.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
		return err
	}
	b.ReportAllocs()
	m := startMeter(b)
	runConcurrently(b, 8, send)
	m.stop(b, b.N*len(msgs))
}

// BenchmarkPull: PULL_MESSAGE of 32 x 1 KiB per pull, 8 concurrent pullers, each reading
// a queue of its own from the start again when it reaches the end.
func BenchmarkPull(b *testing.B) {
	tb := benchBroker(b)
	const perQueue = 32 * 64
	body := make([]byte, benchBody)
	for q := range int32(8) {
		for range perQueue / 32 {
			exts := make([]message.Ext, 32)
			for i := range exts {
				exts[i] = message.Ext{Message: message.Message{Topic: "Bench", Body: body}, QueueID: q}
				exts[i].Properties.Set("TAGS", "TagA")
			}
			if _, err := tb.store.PutBatch(exts, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	var queues atomic.Int32
	var mu sync.Mutex
	clients := map[int32]*netpoll.Client{}
	for q := range int32(8) {
		clients[q] = newClient(b)
	}
	b.ReportAllocs()
	m := startMeter(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := queues.Add(1) - 1
			mu.Lock()
			cl := clients[q]
			mu.Unlock()
			h := pullHeader("bench_cg", "Bench", q, 0, "*")
			for next.Add(1) <= int64(b.N) {
				resp, err := cl.Invoke(context.Background(), tb.addr, request(remoting.PullMessage, h))
				if err != nil || resp.Code != 0 || len(resp.Body) < 32*benchBody {
					b.Errorf("pull: %v %v", err, resp)
					return
				}
				var ph remoting.PullResponse
				_ = ph.DecodeFields(resp.Ext)
				h.QueueOffset = ph.NextBeginOffset % perQueue
			}
		}()
	}
	wg.Wait()
	m.stop(b, b.N*32)
}
